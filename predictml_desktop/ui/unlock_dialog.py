"""The admin's identity screens: create the account, unlock, re-enter the password, change it.

The core decides everything (`core.governance`): the password policy and its reasons, the lockout
and how long it lasts, whether a session is open. These widgets show what it says and run every
call that hashes (about 0.2 s on purpose) on a worker thread. Password fields allow paste (NIST
SP 800-63B: password managers must work); nothing here ever stores or logs a password.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.governance import (
    FREE_FAILURES,
    LOCKOUT_S,
    MIN_PASSWORD_CHARS,
    AdminSession,
    Governance,
    LockedOutError,
    LockoutState,
    PasswordPolicyError,
    check_password_policy,
    load_blocklist,
)
from predictml_desktop.ui.governance_calls import Outcome, attempt
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import heading

ERROR_STYLE = "color: #b3261e;"
OK_STYLE = "color: #1e7b34;"

POLICY_TEXT = (
    f"Choose a password of at least {MIN_PASSWORD_CHARS} characters. Any characters count, spaces too; "
    "there are no rules about digits or symbols. A few unrelated words make a long password that is easy "
    "to remember. Common passwords and your own name are refused. Pasting from a password manager works."
)


def wait_text(seconds: float) -> str:
    """Return how long a lockout still lasts: ``5 min`` (rounded up), or ``40 s`` under a minute."""
    seconds = max(0.0, seconds)
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)} min"
    return f"{max(1, math.ceil(seconds))} s"


def lockout_text(retry_after_s: float) -> str:
    """Return the sentence shown while unlocking is locked."""
    until = time.strftime("%H:%M", time.localtime(time.time() + retry_after_s))
    return (f"Too many wrong passwords: unlocking is locked for {wait_text(retry_after_s)} "
            f"(until about {until}).")


def password_field(name: str) -> QLineEdit:
    """Return a password line edit (masked; paste allowed, as Qt allows it in password mode)."""
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setAccessibleName(name)
    # Long passphrases are the point; the core accepts up to 1,024 characters.
    field.setMaxLength(1024)
    return field


def message_label(name: str) -> QLabel:
    """Return a wrapped, selectable label for an inline message."""
    label = QLabel()
    label.setWordWrap(True)
    label.setAccessibleName(name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class CreateAdminPage(QWidget):
    """First use: create the one admin account (name or e-mail, password twice, reasons shown inline).

    Parameters
    ----------
    governance
        The core's governance object of the data home.
    """

    created = Signal(object)
    """The account was created; carries the unlocked `AdminSession`."""

    refused = Signal(str)
    """Creating the account was refused; carries the sentence shown."""

    def __init__(self, governance: Governance, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.governance = governance
        self.tasks = Tasks(self)
        self._blocklist_ready = False
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Create the admin account"))
        intro = QLabel(
            "No administrator exists yet. The administrator reviews trained models and decides which ones "
            "answer predictions. There is no default password: choose one now. " + POLICY_TEXT
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.previous_label = message_label("Earlier admin account")
        self.previous_label.setStyleSheet(ERROR_STYLE)
        self.previous_label.hide()
        layout.addWidget(self.previous_label)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Admin name or e-mail")
        self.name_edit.setPlaceholderText("name or e-mail address")
        self.password_edit = password_field("New admin password")
        self.confirm_edit = password_field("Repeat the admin password")
        self.show_check = QCheckBox("&Show the password")
        self.show_check.setAccessibleName("Show the password")
        self.show_check.toggled.connect(self._on_show_toggled)
        form.addRow("&Name or e-mail:", self.name_edit)
        form.addRow("&Password:", self.password_edit)
        form.addRow("&Repeat it:", self.confirm_edit)
        form.addRow("", self.show_check)
        layout.addLayout(form)
        self.reason_label = message_label("Password check")
        layout.addWidget(self.reason_label)
        self.create_button = QPushButton("&Create the admin account")
        self.create_button.setAccessibleName("Create the admin account")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(self.submit)
        layout.addWidget(self.create_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        for edit in (self.name_edit, self.password_edit, self.confirm_edit):
            edit.textChanged.connect(self._update)
            edit.returnPressed.connect(self.submit)
        self._busy = False
        # The list of 30,000 common passwords takes a noticeable moment to read the first time.
        self.tasks.start(load_blocklist, on_result=self._on_blocklist_loaded, on_error=self._on_blocklist_failed)
        self.tasks.start(governance.previous_admin, on_result=self._on_previous_admin)
        self._update()

    def _on_previous_admin(self, previous: str | None) -> None:
        if previous:
            self.previous_label.setText(
                f"The audit trail records an earlier admin account ({previous}), but its file (admin.json) is "
                "missing from the data folder. If you did not remove it, someone else may have: restore it from "
                "a backup instead. A new account is recorded in the audit trail as replacing it.")
            self.previous_label.show()

    def _on_blocklist_loaded(self, _blocklist: object) -> None:
        self._blocklist_ready = True
        self._update()

    def _on_blocklist_failed(self, message: str) -> None:
        self.reason_label.setStyleSheet(ERROR_STYLE)
        self.reason_label.setText(message)

    def _on_show_toggled(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.password_edit.setEchoMode(mode)
        self.confirm_edit.setEchoMode(mode)

    def problem(self) -> str | None:
        """Return what stops the account from being created now (the first reason), or None."""
        name = self.name_edit.text().strip()
        password = self.password_edit.text()
        if not name:
            return "Enter the administrator's name or e-mail address."
        if not password:
            return f"Choose a password of at least {MIN_PASSWORD_CHARS} characters."
        if not self._blocklist_ready:
            return "Loading the list of common passwords…"
        try:
            check_password_policy(password, name=name)
        except PasswordPolicyError as exc:
            return str(exc)
        if password != self.confirm_edit.text():
            return "The two passwords differ." if self.confirm_edit.text() else "Repeat the password to confirm it."
        return None

    def _update(self) -> None:
        problem = self.problem()
        if problem is None:
            self.reason_label.setStyleSheet(OK_STYLE)
            self.reason_label.setText("The password meets the policy.")
        else:
            self.reason_label.setStyleSheet(ERROR_STYLE if self.password_edit.text() else "")
            self.reason_label.setText(problem)
        self.create_button.setEnabled(problem is None and not self._busy)

    def submit(self) -> None:
        """Create the account (off the GUI thread); the core checks the policy again."""
        if self._busy or self.problem() is not None:
            return
        self._busy = True
        self.create_button.setEnabled(False)
        self.reason_label.setStyleSheet("")
        self.reason_label.setText("Creating the account…")
        self.tasks.start(attempt, self.governance.create_admin, self.name_edit.text(), self.password_edit.text(),
                         on_result=self._on_create_result, on_error=self._on_create_error)

    def _on_create_result(self, outcome: Outcome) -> None:
        self._busy = False
        if outcome.ok:
            self.password_edit.clear()
            self.confirm_edit.clear()
            self.created.emit(outcome.value)
        else:
            self._show_refusal(str(outcome.error))

    def _on_create_error(self, message: str) -> None:
        self._busy = False
        self._show_refusal(message)

    def _show_refusal(self, message: str) -> None:
        self._update()
        self.reason_label.setStyleSheet(ERROR_STYLE)
        self.reason_label.setText(message)
        self.refused.emit(message)


def unlock_state(governance: Governance, name: str | None) -> tuple[list[str], LockoutState]:
    """Return the admins' names and the chosen one's lockout (runs off the GUI thread)."""
    names = governance.admin_names()
    if name not in names:
        name = names[0] if len(names) == 1 else None
    return names, governance.lockout_state(name)


class UnlockPage(QWidget):
    """The locked Admin view: who you are (with several admins), the password, "wrong password" and lockout messages.

    Parameters
    ----------
    governance
        The core's governance object of the data home.
    """

    unlocked = Signal(object)
    """The password was right; carries the new `AdminSession`."""

    refused = Signal(str)
    """Unlocking was refused (wrong password, locked); carries the sentence shown."""

    lockout_checked = Signal()
    """The lockout state was read (the page shows whether unlocking is possible)."""

    def __init__(self, governance: Governance, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.governance = governance
        self.tasks = Tasks(self)
        self._locked_until: float | None = None
        """Monotonic time when the lockout ends (None when not locked)."""
        self._busy = False
        self._refresh_generation = 0
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Admin view locked"))
        self.intro = QLabel("Enter the admin password to review and approve models.")
        self.intro.setWordWrap(True)
        self.intro.setAccessibleName("Why the view is locked")
        layout.addWidget(self.intro)
        form = QFormLayout()
        # Shown only when several admins exist: each unlocks with their own password and lockout.
        self.name_label = QLabel("&Admin:")
        self.name_combo = QComboBox()
        self.name_combo.setAccessibleName("Which admin you are")
        self.name_label.setBuddy(self.name_combo)
        self.name_combo.activated.connect(lambda _index: self.refresh())
        form.addRow(self.name_label, self.name_combo)
        self.password_edit = password_field("Admin password")
        self.password_edit.returnPressed.connect(self.submit)
        self.password_edit.textChanged.connect(self._update_button)
        form.addRow("&Password:", self.password_edit)
        layout.addLayout(form)
        for widget in (self.name_label, self.name_combo):
            widget.hide()
        self.unlock_button = QPushButton("&Unlock")
        self.unlock_button.setAccessibleName("Unlock the admin view")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self.submit)
        layout.addWidget(self.unlock_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.message = message_label("Unlock message")
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._on_countdown)
        self._update_button()

    @property
    def locked_out(self) -> bool:
        """True while the core refuses to unlock (too many wrong passwords)."""
        return self._locked_until is not None

    def set_reason(self, text: str) -> None:
        """Say why the view is locked (idle, locked by the admin, first start)."""
        self.intro.setText(text)

    def refresh(self) -> None:
        """Read the lockout state (off the GUI thread) and show it."""
        self._refresh_generation += 1
        generation = self._refresh_generation
        self.tasks.start(attempt, unlock_state, self.governance, self.admin_name,
                         on_result=lambda outcome: self._on_lockout_state(outcome, generation),
                         on_error=self._show_error)

    def _on_lockout_state(self, outcome: Outcome, generation: int) -> None:
        if generation != self._refresh_generation:
            return  # an older read, overtaken by a newer one
        if outcome.ok:
            names, state = outcome.value
            self._set_names(names)
            if state.locked:
                self._start_lockout(state.retry_after_s)
            else:
                self._end_lockout(clear_message=False)
        else:
            self._show_error(str(outcome.error))
        self.lockout_checked.emit()

    @property
    def admin_name(self) -> str | None:
        """The admin chosen in the list (None while a single admin exists)."""
        return self.name_combo.currentText() or None if self.name_combo.count() > 1 else None

    def _set_names(self, names: list[str]) -> None:
        current = self.name_combo.currentText()
        if [self.name_combo.itemText(i) for i in range(self.name_combo.count())] != names:
            self.name_combo.clear()
            self.name_combo.addItems(names)
            if current in names:
                self.name_combo.setCurrentText(current)
        several = len(names) > 1
        self.name_label.setVisible(several)
        self.name_combo.setVisible(several)

    def _update_button(self) -> None:
        self.unlock_button.setEnabled(bool(self.password_edit.text()) and not self._busy and not self.locked_out)

    def submit(self) -> None:
        """Check the password (off the GUI thread)."""
        if self._busy or self.locked_out or not self.password_edit.text():
            return
        self._busy = True
        self._update_button()
        self.message.setStyleSheet("")
        self.message.setText("Checking…")
        password = self.password_edit.text()
        self.tasks.start(attempt, self.governance.unlock, password, self.admin_name,
                         on_result=self._on_unlock_result,
                         on_error=self._show_error)

    def _on_unlock_result(self, outcome: Outcome) -> None:
        self._busy = False
        self.password_edit.clear()
        if outcome.ok:
            self.message.clear()
            self.unlocked.emit(outcome.value)
            return
        error = outcome.error
        if isinstance(error, LockedOutError):
            self._start_lockout(float(error.retry_after_s))
            self.refused.emit(self.message.text())
            return
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(str(error))
        self._update_button()
        self.refused.emit(str(error))
        # Say how many tries are left before the lock, from the count the core persisted.
        self.tasks.start(attempt, self.governance.lockout_state, self.admin_name,
                         on_result=self._on_failures_counted)

    def _on_failures_counted(self, outcome: Outcome) -> None:
        if not outcome.ok or self.locked_out:
            return
        state: LockoutState = outcome.value
        left = FREE_FAILURES - state.failed_attempts
        if 0 < left < FREE_FAILURES:
            tries = "try" if left == 1 else "tries"
            self.message.setText(f"{self.message.text()} {left} more wrong {tries} lock unlocking for "
                                 f"{wait_text(LOCKOUT_S)}.")

    def _show_error(self, message: str) -> None:
        self._busy = False
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(message)
        self._update_button()

    def _start_lockout(self, retry_after_s: float) -> None:
        self._locked_until = time.monotonic() + retry_after_s
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(lockout_text(retry_after_s))
        self._countdown.start()
        self._update_button()

    def _end_lockout(self, *, clear_message: bool = True) -> None:
        was_locked = self._locked_until is not None
        self._locked_until = None
        self._countdown.stop()
        if was_locked and clear_message:
            self.message.setStyleSheet("")
            self.message.setText("You can try the password again.")
        self._update_button()

    def _on_countdown(self) -> None:
        if self._locked_until is None:
            self._countdown.stop()
            return
        left = self._locked_until - time.monotonic()
        if left <= 0:
            # The core has the last word: ask it whether the lock really ended.
            self._end_lockout()
            self.refresh()
        else:
            self.message.setText(lockout_text(left))


class PasswordDialog(QDialog):
    """Re-enter the admin password before an approval or a rollback (step-up), in a window-modal dialog.

    Open it with ``open()`` (never ``exec()``: the event loop keeps running) and continue on
    ``accepted``. The password is checked by the core; wrong tries count towards the lockout.

    Parameters
    ----------
    governance
        The core's governance object.
    session
        The open admin session.
    action
        What the password confirms ("approve training_3 for Local").
    """

    def __init__(self, governance: Governance, session: AdminSession, action: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.governance = governance
        self.session = session
        self.tasks = Tasks(self)
        self.setWindowTitle("Confirm with the admin password")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        layout = QVBoxLayout(self)
        text = QLabel(f"Enter the password of {session.name} again to {action}.")
        text.setWordWrap(True)
        layout.addWidget(text)
        self.password_edit = password_field("Admin password")
        layout.addWidget(self.password_edit)
        self.message = message_label("Password message")
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Confirm")
        self.ok_button.setAccessibleName("Confirm with the password")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._busy = False

    def submit(self) -> None:
        """Check the password with the core (off the GUI thread); accept when it is right."""
        if self._busy or not self.password_edit.text():
            return
        self._busy = True
        self.ok_button.setEnabled(False)
        self.message.setStyleSheet("")
        self.message.setText("Checking…")
        self.tasks.start(attempt, self.governance.confirm_password, self.session, self.password_edit.text(),
                         on_result=self._on_result, on_error=self._on_error)

    def _on_result(self, outcome: Outcome) -> None:
        self._busy = False
        self.ok_button.setEnabled(True)
        self.password_edit.clear()
        if outcome.ok:
            self.accept()
            return
        error = outcome.error
        self._on_error(lockout_text(error.retry_after_s) if isinstance(error, LockedOutError) else str(error))

    def _on_error(self, message: str) -> None:
        self._busy = False
        self.ok_button.setEnabled(True)
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(message)


class ChangePasswordDialog(QDialog):
    """Change the admin password: the old one, the new one twice; the core checks both.

    Parameters
    ----------
    governance
        The core's governance object.
    session
        The open admin session.
    """

    def __init__(self, governance: Governance, session: AdminSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.governance = governance
        self.session = session
        self.tasks = Tasks(self)
        self.setWindowTitle("Change the admin password")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        layout = QVBoxLayout(self)
        intro = QLabel(POLICY_TEXT)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.old_edit = password_field("Current admin password")
        self.new_edit = password_field("New admin password")
        self.confirm_edit = password_field("Repeat the new admin password")
        form.addRow("&Current password:", self.old_edit)
        form.addRow("&New password:", self.new_edit)
        form.addRow("&Repeat it:", self.confirm_edit)
        layout.addLayout(form)
        self.message = message_label("Password change message")
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Change password")
        self.ok_button.setAccessibleName("Change the password")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._busy = False

    def submit(self) -> None:
        """Change the password (off the GUI thread) once the two new entries match."""
        if self._busy:
            return
        if self.new_edit.text() != self.confirm_edit.text():
            self._on_error("The two new passwords differ.")
            return
        self._busy = True
        self.ok_button.setEnabled(False)
        self.message.setStyleSheet("")
        self.message.setText("Changing the password…")
        self.tasks.start(attempt, self.governance.change_password, self.session, self.old_edit.text(),
                         self.new_edit.text(), on_result=self._on_result, on_error=self._on_error)

    def _on_result(self, outcome: Outcome) -> None:
        self._busy = False
        self.ok_button.setEnabled(True)
        if outcome.ok:
            for edit in (self.old_edit, self.new_edit, self.confirm_edit):
                edit.clear()
            self.accept()
            return
        error = outcome.error
        self._on_error(lockout_text(error.retry_after_s) if isinstance(error, LockedOutError) else str(error))

    def _on_error(self, message: str) -> None:
        self._busy = False
        self.ok_button.setEnabled(True)
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(message)
