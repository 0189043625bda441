"""Admin decisions run off the GUI thread, with the session checks and the password step-up in one place.

Every decision goes through `DecisionRunner.run`: it asks the admin tab for the open session (a
locked or idle session locks the view instead), asks for the password again when the core wants
a recent one (`StepUpRequiredError`, approvals and rollbacks), runs the core call on a worker
thread, and reports the result. The core enforces all of it again; the runner only makes the
refusals pleasant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from predictml_desktop.core.governance import (
    AdminSession,
    AwaitingSecondApprovalError,
    Governance,
    SessionError,
    StepUpRequiredError,
)
from predictml_desktop.ui.governance_calls import Outcome, attempt
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.unlock_dialog import PasswordDialog

SessionProvider = Callable[[], AdminSession | None]


class DecisionRunner(QObject):
    """Runs admin decisions for one view.

    Parameters
    ----------
    governance
        The core's governance object.
    session_provider
        Returns the admin tab's open session, or None when the view is locked.
    parent
        The view: dialogs are shown over it, and results are dropped once it is gone.
    """

    started = Signal(str)
    """A decision started; carries what is being done ("Approving training_3 for Local…")."""

    succeeded = Signal(str, object)
    """A decision succeeded; carries its action key and the core's return value."""

    failed = Signal(str, str)
    """The core refused a decision or it failed; carries its action key and the sentence shown."""

    session_expired = Signal(str)
    """The session is locked or idle; the admin tab should lock. Carries the sentence."""

    recorded = Signal(str, str)
    """A first approval was recorded and waits for a second admin (two-person rule); carries the action key
    and the core's sentence. Not a failure: nothing more can be done by this admin."""

    def __init__(self, governance: Governance, session_provider: SessionProvider, parent: QWidget) -> None:
        super().__init__(parent)
        self.governance = governance
        self.session_provider = session_provider
        self.view = parent
        self.tasks = Tasks(self)
        self.password_dialog: PasswordDialog | None = None
        """The step-up dialog while it is open (tests answer it)."""
        self.running: str | None = None
        """The action key of the decision running now."""

    @property
    def busy(self) -> bool:
        """True while a decision runs or waits for the password."""
        return self.running is not None or self.password_dialog is not None

    def session(self) -> AdminSession | None:
        """Return the open session, or emit `session_expired` and return None."""
        session = self.session_provider()
        if session is None or not session.active:
            self.session_expired.emit("The admin session has ended; unlock the Admin view again.")
            return None
        return session

    def run(
        self,
        action: str,
        label: str,
        call: Callable[[AdminSession], Any],
        *,
        step_up: bool = False,
        on_success: Callable[[Any], Any] | None = None,
    ) -> bool:
        """Run ``call(session)`` on a worker thread; return False if it could not start.

        Parameters
        ----------
        action
            A key for the decision (``approve``, ``reject``...), carried by the signals.
        label
            What the decision does, for the password prompt and the progress message
            ("approve training_3 for Local").
        call
            The core call, given the session.
        step_up
            The core wants the password entered in the last minutes: ask for it first if needed.
        on_success
            Called on the GUI thread with the core's return value (before `succeeded`).
        """
        if self.busy:
            return False
        session = self.session()
        if session is None:
            return False
        if step_up and not session.recently_authenticated():
            self._ask_password(session, action, label, call, on_success)
            return True
        self.running = action
        self.started.emit(f"{label[:1].upper()}{label[1:]}…")
        self.tasks.start(
            attempt, call, session,
            on_result=lambda outcome: self._on_result(outcome, action, label, call, on_success),
            on_error=lambda message: self._on_error(action, message),
        )
        return True

    def _ask_password(self, session: AdminSession, action: str, label: str, call: Callable[[AdminSession], Any],
                      on_success: Callable[[Any], Any] | None) -> None:
        dialog = PasswordDialog(self.governance, session, label, self.view)
        self.password_dialog = dialog

        def accepted() -> None:
            self._close_dialog(dialog)
            self.run(action, label, call, step_up=False, on_success=on_success)

        def rejected() -> None:
            self._close_dialog(dialog)
            self.failed.emit(action, "Cancelled: the password was not entered.")

        dialog.accepted.connect(accepted)
        dialog.rejected.connect(rejected)
        dialog.open()

    def _close_dialog(self, dialog: PasswordDialog) -> None:
        if self.password_dialog is dialog:
            self.password_dialog = None
        dialog.deleteLater()

    def _on_result(self, outcome: Outcome, action: str, label: str, call: Callable[[AdminSession], Any],
                   on_success: Callable[[Any], Any] | None) -> None:
        self.running = None
        if outcome.ok:
            if on_success is not None:
                on_success(outcome.value)
            self.succeeded.emit(action, outcome.value)
            return
        error = outcome.error
        if isinstance(error, AwaitingSecondApprovalError):
            self.recorded.emit(action, str(error))
            return
        if isinstance(error, StepUpRequiredError):
            session = self.session()
            if session is not None:
                self._ask_password(session, action, label, call, on_success)
            return
        if isinstance(error, SessionError):
            self.session_expired.emit(str(error))
            self.failed.emit(action, str(error))
            return
        self.failed.emit(action, str(error))

    def _on_error(self, action: str, message: str) -> None:
        self.running = None
        self.failed.emit(action, message)
