"""The Admins section of the Admin view: every admin account, Add admin… and Remove.

The core (`Governance.add_admin`, ``remove_admin``) decides: a new admin's password policy, never
removing the last admin, the acting admin's password entered in the last minutes (asked again here
when needed, through `DecisionRunner`). Each admin has their own password, lockout and session; the
list shows each one's failures and lockout, never a hash.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.governance import AdminInfo, Governance, PasswordPolicyError, check_password_policy
from predictml_desktop.ui import widgets
from predictml_desktop.ui.decisions import DecisionRunner, SessionProvider
from predictml_desktop.ui.formatting import format_timestamp
from predictml_desktop.ui.table_models import Column, RecordTableModel
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.unlock_dialog import ERROR_STYLE, OK_STYLE, POLICY_TEXT, message_label, password_field
from predictml_desktop.ui.widgets import Banner, table_view


def _lock_text(info: AdminInfo) -> str:
    if info.locked_for_s > 0:
        return f"locked for {max(1, round(info.locked_for_s / 60))} min"
    return f"{info.failed_attempts} wrong in a row" if info.failed_attempts else "open"


class AddAdminDialog(QDialog):
    """Ask for the new admin's name and password (twice); the core checks the policy again on Add.

    Open with ``open()``; read `name` and `password` on ``accepted``.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add an admin")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        layout = QVBoxLayout(self)
        intro = QLabel("The new admin reviews and approves models with their own password; every decision is "
                       "recorded under their name. " + POLICY_TEXT)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("New admin's name or e-mail")
        self.password_edit = password_field("New admin's password")
        self.confirm_edit = password_field("Repeat the new admin's password")
        form.addRow("&Name or e-mail:", self.name_edit)
        form.addRow("&Password:", self.password_edit)
        form.addRow("&Repeat it:", self.confirm_edit)
        layout.addLayout(form)
        self.message = message_label("New admin password check")
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Add admin")
        self.ok_button.setAccessibleName("Add the admin")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for edit in (self.name_edit, self.password_edit, self.confirm_edit):
            edit.textChanged.connect(self._update)
        self._update()

    @property
    def name(self) -> str:
        """The new admin's name as typed."""
        return self.name_edit.text().strip()

    @property
    def password(self) -> str:
        """The new admin's password as typed."""
        return self.password_edit.text()

    def problem(self) -> str | None:
        """Return what stops adding the admin now, or None."""
        if not self.name:
            return "Enter the new admin's name or e-mail address."
        try:
            check_password_policy(self.password, name=self.name)
        except PasswordPolicyError as exc:
            return str(exc)
        if self.password != self.confirm_edit.text():
            return "The two passwords differ." if self.confirm_edit.text() else "Repeat the password to confirm it."
        return None

    def _update(self) -> None:
        problem = self.problem()
        self.message.setStyleSheet(OK_STYLE if problem is None else (ERROR_STYLE if self.password else ""))
        self.message.setText("The password meets the policy." if problem is None else problem)
        self.ok_button.setEnabled(problem is None)

    def _on_ok(self) -> None:
        if self.problem() is None:
            self.accept()


class AdminAccountsPanel(QWidget):
    """The list of admin accounts with Add admin… and Remove.

    Parameters
    ----------
    governance
        The core's governance object.
    session_provider
        Returns the admin tab's open session (None when locked).
    """

    reloaded = Signal()
    """The list was read again."""

    changed = Signal(str)
    """An admin was added or removed; carries what was done (for the audit view to reload)."""

    def __init__(self, governance: Governance, session_provider: SessionProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.governance = governance
        self.tasks = Tasks(self)
        self.banner = Banner(name="Admins message")
        self.decisions = DecisionRunner(governance, session_provider, self)
        self.decisions.started.connect(lambda text: self.banner.show_message("info", text))
        self.decisions.failed.connect(lambda _action, message: self.banner.show_message("error", message))
        self.add_dialog: AddAdminDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        note = QLabel("Each admin has their own password, lockout and session; every decision is recorded under "
                      "the deciding admin's name. The last admin cannot be removed.")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QHBoxLayout()
        self.add_button = widgets.button("&Add admin…", self.add_admin, name="Add an admin")
        self.remove_button = widgets.button("Re&move", self.remove_selected, name="Remove the selected admin")
        self.reason_edit = QLineEdit()
        self.reason_edit.setAccessibleName("Why the admin is removed")
        self.reason_edit.setPlaceholderText("why (recorded when removing)")
        self.reason_edit.setMinimumWidth(260)
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setAccessibleName("Refresh the admin list")
        self.refresh_button.clicked.connect(self.reload)
        for widget in (self.add_button, self.remove_button, self.reason_edit):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout.addLayout(buttons)
        self.model = RecordTableModel([
            Column("Admin", lambda a: a.name),
            Column("Added", lambda a: format_timestamp(a.created_at), tooltip=lambda a: a.created_at),
            Column("Added by", lambda a: a.created_by or "(first admin)"),
            Column("Password changed", lambda a: format_timestamp(a.password_changed_at)),
            Column("Unlocking", _lock_text),
        ], parent=self)
        self.table = table_view(self.model, "Admin accounts")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        """Read the admin accounts again off the GUI thread."""
        self.tasks.start(self.governance.admins, on_result=self._on_loaded,
                         on_error=lambda message: self.banner.show_message("error", message))

    def _on_loaded(self, admins: list[AdminInfo]) -> None:
        selected = self.selected()
        self.model.set_rows(admins)
        if selected is not None:
            for row, info in enumerate(admins):
                if info.name == selected.name:
                    self.table.selectRow(row)
        self._update_buttons()
        self.reloaded.emit()

    def names(self) -> list[str]:
        """Return the listed admins' names."""
        return [a.name for a in self.model.rows]

    def selected(self) -> AdminInfo | None:
        """Return the selected admin, or None."""
        index = self.table.currentIndex()
        if not index.isValid() or index.row() >= len(self.model.rows):
            return None
        row: AdminInfo = self.model.rows[index.row()]
        return row

    def select(self, name: str) -> bool:
        """Select the admin named ``name``; return whether it is listed."""
        for row, info in enumerate(self.model.rows):
            if info.name == name:
                self.table.selectRow(row)
                return True
        return False

    def _on_current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.decisions.busy
        self.add_button.setEnabled(not busy)
        # The core refuses removing the last admin; the button says so before it is pressed.
        removable = self.selected() is not None and len(self.model.rows) > 1
        self.remove_button.setEnabled(removable and not busy)
        self.remove_button.setToolTip("" if len(self.model.rows) > 1 else "The last admin cannot be removed.")

    # ------------------------------------------------------------------ changes

    def add_admin(self) -> None:
        """Ask for the new admin's name and password, then add them (the acting admin's password may be asked)."""
        dialog = AddAdminDialog(self)
        self.add_dialog = dialog

        def accepted() -> None:
            name, password = dialog.name, dialog.password
            self._close_dialog(dialog)

            def done(info: Any) -> None:
                self.banner.show_message("success", f"{info.name} is an admin now; they unlock with their own "
                                                    "password.")
                self.reload()
                self.changed.emit("admin_added")

            self.decisions.run("add_admin", f"add {name} as an admin",
                               lambda session: self.governance.add_admin(session, name, password),
                               step_up=True, on_success=done)
            self._update_buttons()

        dialog.accepted.connect(accepted)
        dialog.rejected.connect(lambda: self._close_dialog(dialog))
        dialog.open()

    def _close_dialog(self, dialog: AddAdminDialog) -> None:
        if self.add_dialog is dialog:
            self.add_dialog = None
        dialog.deleteLater()

    def remove_selected(self) -> None:
        """Remove the selected admin after a confirmation (the acting admin's password may be asked)."""
        info = self.selected()
        if info is None:
            return
        session = self.decisions.session_provider()
        yourself = session is not None and session.name == info.name
        question = (f"Remove your own admin account ({info.name})? Your session ends at once." if yourself else
                    f"Remove the admin {info.name}? They can no longer unlock the Admin view.")
        if not widgets.confirm(self, "Remove an admin?", question, yes="Remove", no="Keep"):
            return
        reason = self.reason_edit.text().strip() or None

        def done(_result: Any) -> None:
            self.reason_edit.clear()
            self.banner.show_message("success", f"{info.name} is no longer an admin.")
            self.reload()
            self.changed.emit("admin_removed")
            if yourself:
                self.decisions.session_expired.emit("Your admin account was removed; the session has ended.")

        self.decisions.run("remove_admin", f"remove the admin {info.name}",
                           lambda s: self.governance.remove_admin(s, info.name, reason), step_up=True,
                           on_success=done)
        self._update_buttons()
