"""The admins' identities: several named accounts, unlocking under the lockout rule, sessions, password changes.

Sessions live in memory only (`AdminSession`); the accounts and their failure counts live in
``admin.json``, written atomically under the store's lock. Every password and account event is
appended to the audit trail under the admin's name. Unlocking hashes for about 0.2 s on purpose:
call it off the GUI thread. An admin adds and removes other admins (never the last one); a removed
admin's open sessions end at their next action.

The first admin action after an upgrade (creating the account or an unlock) adopts a settings file
from before signed settings: it is signed, and its content is recorded (``settings_adopted``).

Accepted risk: someone who can write the user's files can delete ``admin.json`` and create a new
admin. The deployment signatures (`core.deployment`) still stop hand-edited records from being
served; the Admin view warns that the audit trail records an earlier admin (`previous_admin`), and
the new admin's creation is recorded as replacing it.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from predictml_desktop.core import settings as settings_file
from predictml_desktop.core.audit import AuditAction, AuditEvent, AuditLog
from predictml_desktop.core.governance.account import (
    MAX_LOCKOUT_S,
    AdminAccount,
    AdminSession,
    LockoutState,
    admin_document,
    lockout_duration,
    parse_admin_document,
)
from predictml_desktop.core.governance.errors import (
    AdminExistsError,
    AdminNameRequiredError,
    AuthenticationError,
    GovernanceError,
    LockedOutError,
    NoAdminError,
    PasswordPolicyError,
    SessionError,
    StepUpRequiredError,
)
from predictml_desktop.core.governance.passwords import (
    check_admin_name,
    check_password_policy,
    normalise_password,
    production_hasher,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import now_iso
from predictml_desktop.core.store import Store, StoreError, atomic_write_bytes, encode_document

log = logging.getLogger(__name__)

ACCOUNT_ACTIONS = (AuditAction.ADMIN_CREATED, AuditAction.ADMIN_ADDED)


@dataclass
class AdminInfo:
    """What the admin list shows of one account (never its hash)."""

    name: str
    created_at: str
    created_by: str | None
    password_changed_at: str
    failed_attempts: int
    locked_for_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``predictml admin list --json``)."""
        return {"name": self.name, "createdAt": self.created_at, "createdBy": self.created_by,
                "passwordChangedAt": self.password_changed_at, "failedAttempts": self.failed_attempts,
                "lockedForSeconds": round(self.locked_for_s)}


class AdminIdentity:
    """The admin accounts, unlocking and sessions; `Governance` adds the decisions on top.

    Parameters
    ----------
    paths
        The data home.
    clock
        Returns epoch seconds; tests inject a fake one to step through lockouts and idle locks.
    hasher
        The argon2 hasher for new hashes; `production_hasher()` if None. Tests may pass
        `cheap_hasher_for_tests()` explicitly.
    """

    def __init__(
        self,
        paths: Paths | None = None,
        *,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = Store(paths)
        self.paths = self.store.paths
        self.clock = clock
        self.hasher = hasher or production_hasher()
        self.audit = AuditLog(self.paths)

    # ----------------------------------------------------------------- account file

    def _read_accounts(self) -> list[AdminAccount] | None:
        """Return the admins (oldest first), or None when ``admin.json`` does not exist."""
        path = self.paths.admin_file
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise GovernanceError(f"The admin account file {path} cannot be read: {exc.strerror or exc}.") from exc
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None  # reported as damaged just below
        return parse_admin_document(doc, path)

    def _write_accounts(self, accounts: list[AdminAccount]) -> None:
        # No .bak: a backup would keep an old password's hash alive after a change.
        atomic_write_bytes(self.paths.admin_file, encode_document(admin_document(accounts)), keep_backup=False)

    def _accounts(self) -> list[AdminAccount]:
        accounts = self._read_accounts()
        if not accounts:
            raise NoAdminError("No admin account exists yet; create one first (predictml admin set-password).")
        return accounts

    @staticmethod
    def _find(accounts: list[AdminAccount], name: str | None) -> AdminAccount:
        if name is None:
            if len(accounts) > 1:
                raise AdminNameRequiredError("Several admins exist: choose your name, then enter your password.")
            return accounts[0]
        folded = name.strip().casefold()
        for account in accounts:
            if account.name.casefold() == folded:
                return account
        raise AuthenticationError(f"There is no admin named {name.strip()!r}.")

    def _log(self, action: AuditAction, actor: str, **kwargs: Any) -> None:
        try:
            self.audit.append(AuditEvent(action=str(action), actor=actor, **kwargs), at=self.clock())
        except StoreError:
            log.exception("could not append %s to the audit trail", action)
            raise

    # ----------------------------------------------------------------- identity

    def has_admin(self) -> bool:
        """Return True once an admin account exists.

        Raises
        ------
        GovernanceError
            If ``admin.json`` exists but is damaged (it is never treated as "no admin").
        """
        return bool(self._read_accounts())

    def admin_name(self) -> str | None:
        """Return the first admin's name, or None before any account exists."""
        accounts = self._read_accounts()
        return accounts[0].name if accounts else None

    def admin_names(self) -> list[str]:
        """Return every admin's name, oldest account first (empty before the first one)."""
        return [a.name for a in self._read_accounts() or []]

    def admins(self) -> list[AdminInfo]:
        """Return the admin accounts as the admin list shows them (names, dates, lockout; never hashes)."""
        return [AdminInfo(a.name, a.created_at, a.created_by, a.password_changed_at, a.failed_attempts,
                          self._retry_after(a)) for a in self._read_accounts() or []]

    def previous_admin(self) -> str | None:
        """Return the last admin the audit trail records while no account exists (``admin.json`` gone), or None."""
        return None if self._read_accounts() else self._last_recorded_admin()

    def _last_recorded_admin(self) -> str | None:
        found = [e for e in self.audit.events() if e.action in ACCOUNT_ACTIONS]
        if not found:
            return None
        last = found[-1]
        added = last.details.get("admin") if last.action == AuditAction.ADMIN_ADDED else None
        return str(added) if isinstance(added, str) else last.actor

    def create_admin(self, name: str, password: str) -> AdminSession:
        """Create the first admin account and return an unlocked session.

        Raises
        ------
        AdminExistsError
            If an admin already exists (further admins are added by an admin: `add_admin`).
        PasswordPolicyError
            If the password is refused (the reason is in the message).
        """
        clean_name = check_admin_name(name)
        normal = check_password_policy(password, name=clean_name)
        with self.store.locked():
            if self._read_accounts():
                raise AdminExistsError("An admin account already exists; an admin adds further admins from the "
                                       "Admin view (Admins).")
            previous = self._last_recorded_admin()  # no account exists here (checked just above)
            account = AdminAccount(name=clean_name, password_hash=self.hasher.hash(normal))
            self._write_accounts([account])
        if previous is None:
            self._log(AuditAction.ADMIN_CREATED, clean_name)
        else:
            self._log(AuditAction.ADMIN_CREATED, clean_name, details={"replaces": previous},
                      reason=f"admin.json was missing; the audit trail recorded the admin {previous!r}")
        return self._open_session(clean_name)

    def add_admin(self, session: AdminSession, name: str, password: str) -> AdminInfo:
        """Add another admin with their own password; needs the acting admin's password in the last 5 minutes.

        Raises
        ------
        SessionError, StepUpRequiredError
            Without an active, recently authenticated session.
        GovernanceError
            If an admin of that name exists (names are compared without case).
        PasswordPolicyError
            If the new admin's password is refused.
        """
        actor = self._require(session, step_up=True)
        clean_name = check_admin_name(name)
        normal = check_password_policy(password, name=clean_name)
        with self.store.locked():
            accounts = self._accounts()
            if any(a.name.casefold() == clean_name.casefold() for a in accounts):
                raise GovernanceError(f"An admin named {clean_name!r} already exists.")
            account = AdminAccount(name=clean_name, password_hash=self.hasher.hash(normal), created_by=actor)
            self._write_accounts([*accounts, account])
        self._log(AuditAction.ADMIN_ADDED, actor, details={"admin": clean_name})
        return AdminInfo(account.name, account.created_at, actor, account.password_changed_at, 0, 0.0)

    def remove_admin(self, session: AdminSession, name: str, reason: str | None = None) -> None:
        """Remove an admin account (never the last one); needs a recent password. Removing oneself ends the session.

        Raises
        ------
        SessionError, StepUpRequiredError
            Without an active, recently authenticated session.
        AuthenticationError
            If there is no admin of that name.
        GovernanceError
            If it is the last admin.
        """
        actor = self._require(session, step_up=True)
        with self.store.locked():
            accounts = self._accounts()
            target = self._find(accounts, name)
            if len(accounts) == 1:
                raise GovernanceError("The last admin cannot be removed: add another admin first.")
            self._write_accounts([a for a in accounts if a is not target])
        self._log(AuditAction.ADMIN_REMOVED, actor, details={"admin": target.name},
                  reason=(reason or "").strip() or None)
        if target.name == actor:
            session.close()

    def lockout_state(self, name: str | None = None) -> LockoutState:
        """Return an admin's failure count and how long their unlocking stays locked.

        With ``name`` None and several admins, the state of the one locked longest (0 when none is).
        """
        accounts = self._read_accounts()
        if not accounts:
            return LockoutState(0, 0.0)
        if name is None:
            worst = max(accounts, key=lambda a: (self._retry_after(a), a.failed_attempts))
            return LockoutState(worst.failed_attempts, self._retry_after(worst))
        try:
            account = self._find(accounts, name)
        except AuthenticationError:
            return LockoutState(0, 0.0)
        return LockoutState(account.failed_attempts, self._retry_after(account))

    def _retry_after(self, account: AdminAccount) -> float:
        if account.locked_until is None:
            return 0.0
        # A clock set back must not stretch a lock beyond its longest possible length.
        return max(0.0, min(account.locked_until - self.clock(), MAX_LOCKOUT_S))

    def _verify(self, account: AdminAccount, password: str) -> bool:
        try:
            return bool(self.hasher.verify(account.password_hash, normalise_password(password)))
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError) as exc:
            raise GovernanceError(
                f"The stored password hash of {account.name} in {self.paths.admin_file} cannot be checked "
                f"({type(exc).__name__}); restore the file from a backup, or have another admin re-add the account."
            ) from None

    def _check_password(self, password: str, *, name: str | None, action: AuditAction) -> AdminAccount:
        """Verify ``name``'s ``password`` under the lockout rules; record failures; return the account."""
        if not isinstance(password, str):
            raise AuthenticationError("Wrong password.")
        with self.store.locked():
            accounts = self._accounts()
            account = self._find(accounts, name)
            wait = self._retry_after(account)
            if wait > 0:
                raise LockedOutError(wait)
            ok = self._verify(account, password)
            now = self.clock()
            if ok:
                changed = account.failed_attempts != 0 or account.locked_until is not None
                account.failed_attempts, account.locked_until, account.last_failure_at = 0, None, None
                rehashed = self.hasher.check_needs_rehash(account.password_hash)
                if rehashed:
                    account.password_hash = self.hasher.hash(normalise_password(password))
                if changed or rehashed:
                    self._write_accounts(accounts)
            else:
                account.failed_attempts += 1
                account.last_failure_at = now
                lock = lockout_duration(account.failed_attempts)
                account.locked_until = now + lock if lock else None
                self._write_accounts(accounts)
        if not ok:
            self._log(action, account.name, details={"failedAttempts": account.failed_attempts})
            if account.locked_until is not None:
                self._log(AuditAction.LOCKED_OUT, account.name,
                          details={"failedAttempts": account.failed_attempts,
                                   "lockSeconds": lockout_duration(account.failed_attempts)})
                raise LockedOutError(account.locked_until - now)
            raise AuthenticationError("Wrong password.")
        if rehashed:
            self._log(AuditAction.PASSWORD_REHASHED, account.name)
        return account

    def unlock(self, password: str, name: str | None = None) -> AdminSession:
        """Open an admin session with an admin's password.

        Parameters
        ----------
        password
            The admin's password.
        name
            Which admin (needed when there are several; case does not matter).

        Raises
        ------
        NoAdminError
            If no admin account exists.
        AdminNameRequiredError
            If several admins exist and ``name`` is None.
        LockedOutError
            While that admin's unlocking is locked ("locked for N s"), or when this failure starts a lock.
        AuthenticationError
            For a wrong password ("Wrong password.") or an unknown name.
        """
        account = self._check_password(password, name=name, action=AuditAction.UNLOCK_FAILED)
        self._log(AuditAction.UNLOCKED, account.name)
        return self._open_session(account.name)

    def _open_session(self, name: str) -> AdminSession:
        session = AdminSession(name, self.clock)
        self._adopt_unsigned_settings(name)
        return session

    def _adopt_unsigned_settings(self, actor: str) -> None:
        """Sign a settings file from before signed settings, on the first admin action after the upgrade."""
        try:
            with self.store.locked():
                read = settings_file.read_settings(self.paths)
                if read.status.state != "unsigned":
                    return
                keep = self.paths.settings_file.with_name(self.paths.settings_file.name + ".v1.bak")
                if not keep.exists():
                    shutil.copyfile(self.paths.settings_file, keep)
                settings_file.write_signed(self.paths, read.settings, signed_by=actor)
        except (StoreError, OSError) as exc:
            # Unlocking must not fail on it; the file stays unsigned and is adopted at the next unlock.
            log.warning("could not adopt the unsigned settings file: %s", exc)
            return
        self._log(AuditAction.SETTINGS_ADOPTED, actor,
                  reason="settings.json from an earlier version, signed on the first admin action after the upgrade",
                  details={"unsignedSha256": read.status.file_sha256, "keptAs": keep.name,
                           "policy": read.settings.policy})

    def lock(self, session: AdminSession) -> None:
        """End a session (the Lock button, or closing the Admin view)."""
        was_active = session.active
        session.close()
        if was_active:
            self._log(AuditAction.LOCKED, session.name)

    def confirm_password(self, session: AdminSession, password: str) -> None:
        """Re-enter the session's admin's password (step-up before approving).

        Raises
        ------
        SessionError
            If the session is no longer active.
        AuthenticationError, LockedOutError
            As for `unlock`; failures count towards that admin's lockout.
        """
        self._require(session, step_up=False)
        self._check_password(password, name=session.name, action=AuditAction.UNLOCK_FAILED)
        session.authenticated_at = self.clock()
        session.touch()
        self._log(AuditAction.PASSWORD_CONFIRMED, session.name)

    def change_password(self, session: AdminSession, old: str, new: str) -> None:
        """Change the session's admin's own password; the old one is required.

        Raises
        ------
        SessionError
            Without an active session.
        AuthenticationError, LockedOutError
            If ``old`` is wrong (counts towards the lockout).
        PasswordPolicyError
            If ``new`` is refused, or equals the old one.
        """
        name = self._require(session, step_up=False)
        normal = check_password_policy(new, name=name)
        self._check_password(old, name=name, action=AuditAction.PASSWORD_CHANGE_FAILED)
        if normalise_password(old) == normal:
            raise PasswordPolicyError("The new password is the same as the old one.")
        with self.store.locked():
            accounts = self._accounts()
            account = self._find(accounts, name)
            account.password_hash = self.hasher.hash(normal)
            account.password_changed_at = now_iso()
            self._write_accounts(accounts)
        session.authenticated_at = self.clock()
        session.touch()
        self._log(AuditAction.PASSWORD_CHANGED, session.name)

    # ----------------------------------------------------------------- session checks

    def _require(self, session: AdminSession | None, *, step_up: bool) -> str:
        if not isinstance(session, AdminSession) or not session.active:
            raise SessionError("The admin view is locked; unlock it with the admin password first.")
        accounts = self._read_accounts() or []
        if not any(a.name == session.name for a in accounts):
            session.close()
            raise SessionError(f"The admin account {session.name!r} no longer exists; the session has ended.")
        if step_up and not session.recently_authenticated():
            raise StepUpRequiredError("Enter your admin password again to confirm this.")
        session.touch()
        return session.name

