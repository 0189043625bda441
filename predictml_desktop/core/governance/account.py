"""The admin accounts file (``admin.json``), the lockout rule and the in-memory admin session.

Several named admins (issue 14), each with their own argon2id password hash, failure count and
lockout. Five wrong passwords in a row lock that admin's unlocking for five minutes, each further
failure doubles the wait (capped at one hour; never permanent); the count and the lock live in
``admin.json``, so a restart does not reset them. A session locks after 15 idle minutes and 12 hours
after it was opened; approving needs the password to have been entered in the last 5 minutes (step-up).

Versions of ``admin.json``: 1 held the one admin's fields at the top level; 2 holds ``admins``, a list
of them. `migrate_admin_document` turns a version-1 file into version 2 in memory; it is written as
version 2 at the next change (no copy of the old file is kept: it would keep a password hash alive
after the password is changed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predictml_desktop.core.governance.errors import GovernanceError
from predictml_desktop.core.records import now_iso

ADMIN_SCHEMA_VERSION = 2

FREE_FAILURES = 5
"""Wrong passwords in a row before unlocking is locked."""
LOCKOUT_S = 300.0
MAX_LOCKOUT_S = 3600.0
IDLE_TIMEOUT_S = 15 * 60.0
"""CIS 2.3.7.4 / NIST AAL3 inactivity: 900 s."""
ABSOLUTE_TIMEOUT_S = 12 * 3600.0
STEP_UP_S = 5 * 60.0
"""An approval needs the password to have been entered this recently."""


@dataclass
class AdminAccount:
    """The admin account and its lockout state, as stored in ``admin.json``."""

    name: str
    password_hash: str
    created_at: str = field(default_factory=now_iso)
    password_changed_at: str = field(default_factory=now_iso)
    failed_attempts: int = 0
    """Consecutive wrong passwords since the last success."""
    locked_until: float | None = None
    """Epoch seconds (governance clock) until which unlocking is refused."""
    last_failure_at: float | None = None
    created_by: str | None = None
    """The admin who added this one (None for the first account)."""

    def to_dict(self) -> dict[str, Any]:
        """Return this admin's entry of ``admin.json``."""
        return {
            "name": self.name,
            "createdBy": self.created_by,
            "passwordHash": self.password_hash,
            "createdAt": self.created_at,
            "passwordChangedAt": self.password_changed_at,
            "failedAttempts": self.failed_attempts,
            "lockedUntil": self.locked_until,
            "lastFailureAt": self.last_failure_at,
        }

    @classmethod
    def from_dict(cls, doc: Any, path: Path) -> AdminAccount:
        """Build one admin from its entry of ``admin.json``.

        Raises
        ------
        GovernanceError
            If the file does not have the expected shape (it is never overwritten then).
        """
        def bad(detail: str) -> GovernanceError:
            return GovernanceError(
                f"The admin account file {path} is damaged ({detail}). It has not been changed; "
                "restore it from a backup, or remove it to create a new admin account."
            )

        if not isinstance(doc, dict):
            raise bad("not a JSON object")
        if not isinstance(doc.get("name"), str) or not isinstance(doc.get("passwordHash"), str):
            raise bad("no name or password hash")
        if not doc["passwordHash"].startswith("$argon2"):
            raise bad("the password hash is not an argon2 hash")
        failed = doc.get("failedAttempts", 0)
        locked = doc.get("lockedUntil")
        last = doc.get("lastFailureAt")
        if not isinstance(failed, int) or isinstance(failed, bool) or failed < 0:
            raise bad("failedAttempts is not a count")
        for value, label in ((locked, "lockedUntil"), (last, "lastFailureAt")):
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise bad(f"{label} is not a time")
        return cls(
            name=doc["name"],
            password_hash=doc["passwordHash"],
            created_at=str(doc.get("createdAt") or now_iso()),
            password_changed_at=str(doc.get("passwordChangedAt") or now_iso()),
            failed_attempts=failed,
            locked_until=float(locked) if locked is not None else None,
            last_failure_at=float(last) if last is not None else None,
            created_by=doc["createdBy"] if isinstance(doc.get("createdBy"), str) else None,
        )


def _damaged(path: Path, detail: str) -> GovernanceError:
    return GovernanceError(
        f"The admin account file {path} is damaged ({detail}). It has not been changed; "
        "restore it from a backup, or remove it to create a new admin account."
    )


def migrate_admin_document(doc: Any, path: Path) -> dict[str, Any]:
    """Return ``admin.json``'s document in the current version (version 1: one admin at the top level).

    Raises
    ------
    GovernanceError
        If the file is not an object, or comes from a newer PredictML (it is never rewritten then).
    """
    if not isinstance(doc, dict):
        raise _damaged(path, "not a JSON object")
    version = doc.get("schemaVersion", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise _damaged(path, f"its schemaVersion {version!r} is not a version number")
    if version > ADMIN_SCHEMA_VERSION:
        raise GovernanceError(f"The admin account file {path} was written by a newer PredictML; this version does "
                              "not read it.")
    if version <= 1:
        entry = {k: v for k, v in doc.items() if k != "schemaVersion"}
        doc = {"schemaVersion": 2, "admins": [entry]}
    return doc


def parse_admin_document(doc: Any, path: Path) -> list[AdminAccount]:
    """Return the admins of an ``admin.json`` document (any version), oldest first.

    Raises
    ------
    GovernanceError
        If the file does not have the expected shape (it is never overwritten then).
    """
    doc = migrate_admin_document(doc, path)
    entries = doc.get("admins")
    if not isinstance(entries, list):
        raise _damaged(path, "its 'admins' entry is not a list")
    accounts = [AdminAccount.from_dict(entry, path) for entry in entries]
    seen: set[str] = set()
    for account in accounts:
        folded = account.name.casefold()
        if folded in seen:
            raise _damaged(path, f"the admin {account.name!r} appears twice")
        seen.add(folded)
    return accounts


def admin_document(accounts: list[AdminAccount]) -> dict[str, Any]:
    """Return the ``admin.json`` document (current version) of ``accounts``."""
    return {"schemaVersion": ADMIN_SCHEMA_VERSION, "admins": [a.to_dict() for a in accounts]}


@dataclass
class LockoutState:
    """What the unlock screen shows: failures so far and how long unlocking stays locked."""

    failed_attempts: int
    retry_after_s: float
    """0 when unlocking is possible now."""

    @property
    def locked(self) -> bool:
        """True while unlocking is refused."""
        return self.retry_after_s > 0


def lockout_duration(failed_attempts: int) -> float:
    """Return the lock after ``failed_attempts`` consecutive failures: 0, then 5 min doubling to 1 h."""
    if failed_attempts < FREE_FAILURES:
        return 0.0
    return float(min(LOCKOUT_S * 2 ** (failed_attempts - FREE_FAILURES), MAX_LOCKOUT_S))


# --------------------------------------------------------------------------- sessions


class AdminSession:
    """An unlocked admin session. Ask `active` before showing admin controls; call `touch` on activity.

    Sessions live in memory only: a restart, `Governance.lock`, 15 idle minutes or 12 hours end them.
    """

    def __init__(self, name: str, clock: Callable[[], float]) -> None:
        self.name = name
        self._clock = clock
        now = clock()
        self.opened_at = now
        self.last_activity = now
        self.authenticated_at = now
        self._closed = False

    @property
    def active(self) -> bool:
        """True while the session is open, not idle for 15 minutes, and younger than 12 hours."""
        if self._closed:
            return False
        now = self._clock()
        return now - self.last_activity < IDLE_TIMEOUT_S and now - self.opened_at < ABSOLUTE_TIMEOUT_S

    @property
    def idle_remaining_s(self) -> float:
        """Seconds left before the idle lock (0 when no longer active)."""
        if not self.active:
            return 0.0
        return max(0.0, IDLE_TIMEOUT_S - (self._clock() - self.last_activity))

    def touch(self) -> bool:
        """Record activity (keeps the session open); return whether the session is still active."""
        if not self.active:
            return False
        self.last_activity = self._clock()
        return True

    def recently_authenticated(self, within_s: float = STEP_UP_S) -> bool:
        """Return True if the password was entered in the last ``within_s`` seconds."""
        return self.active and self._clock() - self.authenticated_at < within_s

    def close(self) -> None:
        """End the session."""
        self._closed = True

    def __repr__(self) -> str:
        return f"AdminSession(name={self.name!r}, active={self.active})"
