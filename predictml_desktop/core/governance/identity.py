"""The admin's identity: the one account, unlocking under the lockout rule, sessions, password changes.

Sessions live in memory only (`AdminSession`); the account and its failure count live in
``admin.json``, written atomically under the store's lock. Every password event is appended to
``audit.jsonl``. Unlocking hashes for about 0.2 s on purpose: call it off the GUI thread.

Accepted risk: someone who can write the user's files can delete ``admin.json`` and create a new
admin. The deployment signatures (`core.deployment`) still stop hand-edited records from being
served; the Admin view warns that the audit trail records an earlier admin (`previous_admin`), and
the new admin's creation is recorded as replacing it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from predictml_desktop.core.audit import AuditAction, AuditEvent, AuditLog
from predictml_desktop.core.governance.account import (
    MAX_LOCKOUT_S,
    AdminAccount,
    AdminSession,
    LockoutState,
    lockout_duration,
)
from predictml_desktop.core.governance.errors import (
    AdminExistsError,
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
from predictml_desktop.core.store import Store, StoreWriteError, atomic_write_bytes, encode_document

log = logging.getLogger(__name__)


class AdminIdentity:
    """The admin account, unlocking and sessions; `Governance` adds the decisions on top.

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


    def _read_account(self) -> AdminAccount | None:
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
            doc = None  # from_dict reports the file as damaged
        return AdminAccount.from_dict(doc, path)

    def _write_account(self, account: AdminAccount) -> None:
        # No .bak: a backup would keep an old password's hash alive after a change.
        atomic_write_bytes(self.paths.admin_file, encode_document(account.to_dict()), keep_backup=False)

    def _account(self) -> AdminAccount:
        account = self._read_account()
        if account is None:
            raise NoAdminError("No admin account exists yet; create one first (predictml admin set-password).")
        return account

    def _log(self, action: AuditAction, actor: str, **kwargs: Any) -> None:
        try:
            self.audit.append(AuditEvent(action=str(action), actor=actor, **kwargs), at=self.clock())
        except StoreWriteError:
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
        return self._read_account() is not None

    def admin_name(self) -> str | None:
        """Return the admin's name, or None before the account exists."""
        account = self._read_account()
        return account.name if account else None

    def previous_admin(self) -> str | None:
        """Return the last admin the audit trail records while no account exists (``admin.json`` gone), or None."""
        return None if self._read_account() is not None else self._last_recorded_admin()

    def _last_recorded_admin(self) -> str | None:
        created = [e for e in self.audit.events() if e.action == AuditAction.ADMIN_CREATED]
        return created[-1].actor if created else None

    def create_admin(self, name: str, password: str) -> AdminSession:
        """Create the one admin account and return an unlocked session.

        Raises
        ------
        AdminExistsError
            If an admin already exists.
        PasswordPolicyError
            If the password is refused (the reason is in the message).
        """
        clean_name = check_admin_name(name)
        normal = check_password_policy(password, name=clean_name)
        with self.store.locked():
            if self._read_account() is not None:
                raise AdminExistsError("An admin account already exists; change its password from the Admin view.")
            previous = self._last_recorded_admin()  # no account exists here (checked just above)
            account = AdminAccount(name=clean_name, password_hash=self.hasher.hash(normal))
            self._write_account(account)
        if previous is None:
            self._log(AuditAction.ADMIN_CREATED, clean_name)
        else:
            self._log(AuditAction.ADMIN_CREATED, clean_name, details={"replaces": previous},
                      reason=f"admin.json was missing; the audit trail recorded the admin {previous!r}")
        return AdminSession(clean_name, self.clock)

    def lockout_state(self) -> LockoutState:
        """Return the current failure count and how long unlocking stays locked."""
        account = self._read_account()
        if account is None:
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
                f"The stored password hash in {self.paths.admin_file} cannot be checked ({type(exc).__name__}); "
                "restore the file from a backup, or remove it to create a new admin account."
            ) from None

    def _check_password(self, password: str, *, action: AuditAction) -> AdminAccount:
        """Verify ``password`` under the lockout rules; record failures; return the account."""
        if not isinstance(password, str):
            raise AuthenticationError("Wrong password.")
        with self.store.locked():
            account = self._account()
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
                    self._write_account(account)
            else:
                account.failed_attempts += 1
                account.last_failure_at = now
                lock = lockout_duration(account.failed_attempts)
                account.locked_until = now + lock if lock else None
                self._write_account(account)
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

    def unlock(self, password: str) -> AdminSession:
        """Open an admin session with the password.

        Raises
        ------
        NoAdminError
            If no admin account exists.
        LockedOutError
            While unlocking is locked ("locked for N s"), or when this failure starts a lock.
        AuthenticationError
            For a wrong password ("Wrong password.").
        """
        account = self._check_password(password, action=AuditAction.UNLOCK_FAILED)
        self._log(AuditAction.UNLOCKED, account.name)
        return AdminSession(account.name, self.clock)

    def lock(self, session: AdminSession) -> None:
        """End a session (the Lock button, or closing the Admin view)."""
        was_active = session.active
        session.close()
        if was_active:
            self._log(AuditAction.LOCKED, session.name)

    def confirm_password(self, session: AdminSession, password: str) -> None:
        """Re-enter the password in an open session (step-up before approving).

        Raises
        ------
        SessionError
            If the session is no longer active.
        AuthenticationError, LockedOutError
            As for `unlock`; failures count towards the lockout.
        """
        self._require(session, step_up=False)
        self._check_password(password, action=AuditAction.UNLOCK_FAILED)
        session.authenticated_at = self.clock()
        session.touch()
        self._log(AuditAction.PASSWORD_CONFIRMED, session.name)

    def change_password(self, session: AdminSession, old: str, new: str) -> None:
        """Change the admin password; the old one is required.

        Raises
        ------
        SessionError
            Without an active session.
        AuthenticationError, LockedOutError
            If ``old`` is wrong (counts towards the lockout).
        PasswordPolicyError
            If ``new`` is refused, or equals the old one.
        """
        self._require(session, step_up=False)
        account = self._account()
        normal = check_password_policy(new, name=account.name)
        self._check_password(old, action=AuditAction.PASSWORD_CHANGE_FAILED)
        if normalise_password(old) == normal:
            raise PasswordPolicyError("The new password is the same as the old one.")
        with self.store.locked():
            account = self._account()
            account.password_hash = self.hasher.hash(normal)
            account.password_changed_at = now_iso()
            self._write_account(account)
        session.authenticated_at = self.clock()
        session.touch()
        self._log(AuditAction.PASSWORD_CHANGED, session.name)

    # ----------------------------------------------------------------- session checks

    def _require(self, session: AdminSession | None, *, step_up: bool) -> str:
        if not isinstance(session, AdminSession) or not session.active:
            raise SessionError("The admin view is locked; unlock it with the admin password first.")
        if step_up and not session.recently_authenticated():
            raise StepUpRequiredError("Enter the admin password again to confirm this approval.")
        session.touch()
        return session.name

