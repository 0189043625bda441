"""The Admin view: create the admin account or unlock, then review, deployments and the audit trail.

The core (`core.governance`) owns identity, lockout and sessions; this view shows its state. An
open session locks again after 15 idle minutes (the core's `AdminSession.active` decides; a timer
here and every action ask it), when the admin presses Lock, and when the app closes. Key presses
and clicks inside the view count as activity and keep the session open.
"""

from __future__ import annotations

import importlib

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.governance import AdminSession, Governance
from predictml_desktop.ui.admin_accounts import AdminAccountsPanel
from predictml_desktop.ui.audit_view import AuditView
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.deployments_panel import DeploymentsPanel
from predictml_desktop.ui.governance_calls import Outcome, attempt
from predictml_desktop.ui.review_view import ReviewView
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.unlock_dialog import ChangePasswordDialog, CreateAdminPage, UnlockPage
from predictml_desktop.ui.widgets import Banner, heading

SESSION_CHECK_MS = 1000
"""How often the view asks the core whether the session is still open."""

IDLE_LOCK_MESSAGE = "The Admin view locked itself after 15 idle minutes. Enter the password to continue."
ACTIVITY_EVENTS = frozenset({QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.Wheel})

PAGE_LOADING, PAGE_CREATE, PAGE_UNLOCK, PAGE_OPEN = range(4)


REVIEW_IMPORTS = ("matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.backends.backend_qtagg",
                  "predictml_desktop.core.model_card", "predictml_desktop.core.training.metrics")


def warm_up_review_imports() -> None:
    """Import what the review needs (matplotlib, the engine's metric table, the model card) on a worker.

    Run while the admin types the password: the same imports right after unlocking kept the
    interpreter busy enough to stall the event loop for over 100 ms on the 2-core CI box.
    """
    for module in REVIEW_IMPORTS:
        importlib.import_module(module)


class _ActivityFilter(QObject):
    """Sees key presses, clicks and wheel turns anywhere in the app; reports those inside the view."""

    def __init__(self, view: AdminTab) -> None:
        super().__init__(view)
        self.view = view

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in ACTIVITY_EVENTS and isinstance(watched, QWidget) \
                and (watched is self.view or self.view.isAncestorOf(watched)):
            self.view.note_activity()
        return False


class AdminTab(QWidget):
    """The Admin view (seed phase 4), behind the admin password.

    Parameters
    ----------
    context
        The app's shared state.
    governance
        The core's governance object; `Governance(context.paths)` if None (tests pass one with an
        injected clock and a cheap hasher).
    """

    unlocked = Signal()
    """An admin session opened (account created or password accepted)."""

    locked = Signal(str)
    """The session ended; carries why (Lock button, idle, expired)."""

    state_checked = Signal()
    """The view knows whether an admin account exists and shows the right page."""

    def __init__(self, context: AppContext, parent: QWidget | None = None, *,
                 governance: Governance | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.governance = governance or Governance(context.paths)
        self.tasks = Tasks(self)
        self._session: AdminSession | None = None
        self.password_dialog: ChangePasswordDialog | None = None
        self.settings_dialog: QWidget | None = None
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(SESSION_CHECK_MS)
        self._timer.timeout.connect(self.check_session)
        self._activity = _ActivityFilter(self)
        context.records_changed.connect(self._on_records_changed)
        self.check_state()
        self.tasks.start(warm_up_review_imports, on_error=lambda message: None)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = Banner(name="Admin message")
        layout.addWidget(self.banner)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)

        loading = QWidget()
        loading_layout = QVBoxLayout(loading)
        loading_layout.addWidget(heading("Admin"))
        self.loading_label = QLabel("Reading the admin account…")
        self.loading_label.setWordWrap(True)
        self.loading_label.setAccessibleName("Admin account state")
        loading_layout.addWidget(self.loading_label)
        self.retry_button = QPushButton("&Check again")
        self.retry_button.setAccessibleName("Check the admin account again")
        self.retry_button.clicked.connect(self.check_state)
        self.retry_button.hide()
        loading_layout.addWidget(self.retry_button)
        loading_layout.addStretch(1)
        self.pages.addWidget(loading)

        self.create_page = CreateAdminPage(self.governance)
        self.create_page.created.connect(self._on_session_opened)
        self.pages.addWidget(self.create_page)
        self.unlock_page = UnlockPage(self.governance)
        self.unlock_page.unlocked.connect(self._on_session_opened)
        self.pages.addWidget(self.unlock_page)

        open_page = QWidget()
        open_layout = QVBoxLayout(open_page)
        open_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(heading("Admin"))
        self.who_label = QLabel()
        self.who_label.setAccessibleName("Signed in as")
        top.addWidget(self.who_label)
        top.addStretch(1)
        self.idle_label = QLabel()
        self.idle_label.setAccessibleName("Time until the view locks")
        top.addWidget(self.idle_label)
        self.settings_button = QPushButton("&Settings…")
        self.settings_button.setAccessibleName("Settings and approval policy")
        self.settings_button.clicked.connect(self.open_settings)
        self.password_button = QPushButton("Change &password…")
        self.password_button.setAccessibleName("Change the admin password")
        self.password_button.clicked.connect(self.change_password)
        self.lock_button = QPushButton("&Lock")
        self.lock_button.setAccessibleName("Lock the admin view")
        self.lock_button.clicked.connect(self.lock)
        for button in (self.settings_button, self.password_button, self.lock_button):
            top.addWidget(button)
        open_layout.addLayout(top)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Admin sections")
        self.review = ReviewView(self.context, self.governance, self._session_or_none)
        self.review.decisions.session_expired.connect(self._on_session_expired)
        self.review.rollback_requested.connect(self._on_rollback_requested)
        self.review.decided.connect(self._on_decided)
        self.deployments = DeploymentsPanel(self.context, self.governance, self._session_or_none)
        self.deployments.decisions.session_expired.connect(self._on_session_expired)
        self.audit = AuditView(self.context.paths, governance=self.governance,
                               session_provider=self._session_or_none)
        self.audit.integrity.decisions.session_expired.connect(self._on_session_expired)
        self.admins = AdminAccountsPanel(self.governance, self._session_or_none)
        self.admins.decisions.session_expired.connect(self._on_session_expired)
        self.admins.changed.connect(lambda _what: self.audit.reload())
        self.tabs.addTab(self.review, "Review")
        self.tabs.addTab(self.deployments, "Deployments")
        self.tabs.addTab(self.audit, "Audit trail")
        self.tabs.addTab(self.admins, "Admins")
        from predictml_desktop.ui.monitoring_view import MonitoringView

        self.monitoring = MonitoringView(self.context)
        self.tabs.addTab(self.monitoring, "Monitoring")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        open_layout.addWidget(self.tabs, 1)
        self.pages.addWidget(open_page)

    # ------------------------------------------------------------------ account state

    def check_state(self) -> None:
        """Ask the core (off the GUI thread) whether an admin exists; show creation or unlocking."""
        self.retry_button.hide()
        self.loading_label.setText("Reading the admin account…")
        self.pages.setCurrentIndex(PAGE_LOADING)
        self.tasks.start(attempt, self.governance.has_admin, on_result=self._on_state,
                         on_error=self._on_state_error)

    def _on_state(self, outcome: Outcome) -> None:
        if not outcome.ok:
            self._on_state_error(str(outcome.error))
            return
        if self.session is not None:
            self.pages.setCurrentIndex(PAGE_OPEN)
        elif outcome.value:
            self._show_unlock("Enter the admin password to review and approve models.")
        else:
            self.pages.setCurrentIndex(PAGE_CREATE)
        self.state_checked.emit()

    def _on_state_error(self, message: str) -> None:
        # A damaged admin.json is never taken for "no admin": say so and offer a retry.
        self.loading_label.setText(message)
        self.retry_button.show()
        self.pages.setCurrentIndex(PAGE_LOADING)
        self.state_checked.emit()

    def _show_unlock(self, reason: str) -> None:
        self.unlock_page.set_reason(reason)
        self.pages.setCurrentIndex(PAGE_UNLOCK)
        self.unlock_page.refresh()
        self.unlock_page.password_edit.setFocus()

    # ------------------------------------------------------------------ session

    @property
    def session(self) -> AdminSession | None:
        """The open admin session, or None (locked, idle or never unlocked)."""
        if self._session is not None and self._session.active:
            return self._session
        return None

    def _session_or_none(self) -> AdminSession | None:
        session = self.session
        if session is None and self._session is not None:
            # The core says the session ended since the last check: lock now, not at the next tick.
            QTimer.singleShot(0, self.check_session)
        return session

    def _on_session_opened(self, session: AdminSession) -> None:
        self._session = session
        self.who_label.setText(f"Signed in as {session.name}")
        self.banner.clear()
        self.pages.setCurrentIndex(PAGE_OPEN)
        self._update_idle()
        self._timer.start()
        self._watch_activity(True)
        self.review.reload()
        self.deployments.reload()
        self.audit.reload()
        self.admins.reload()
        self.unlocked.emit()

    def _watch_activity(self, on: bool) -> None:
        # Only while a session is open: an application-wide filter sees every event of the app.
        app = QApplication.instance()
        if app is None:
            return
        if on:
            app.installEventFilter(self._activity)
        else:
            app.removeEventFilter(self._activity)

    def note_activity(self) -> None:
        """Record the admin's activity in the view (keeps the session open)."""
        if self._session is not None and self._session.touch():
            self._update_idle()

    def check_session(self) -> None:
        """Lock the view if the core says the session ended; otherwise show the time left."""
        if self._session is None:
            self._timer.stop()
            return
        if not self._session.active:
            self._end_session(IDLE_LOCK_MESSAGE)
            return
        self._update_idle()

    def _update_idle(self) -> None:
        session = self._session
        if session is None:
            return
        left = session.idle_remaining_s
        minutes, seconds = divmod(int(left), 60)
        self.idle_label.setText(f"Locks after {minutes}:{seconds:02d} idle")

    def lock(self) -> None:
        """End the session now (the Lock button); the audit line is written off the GUI thread."""
        session = self._session
        if session is None:
            return
        # Governance.lock closes the session and records it (only an open session is recorded).
        self.tasks.start(self.governance.lock, session, on_error=lambda message: None)
        self._end_session("The Admin view is locked. Enter the password to continue.", close=False)

    def _end_session(self, reason: str, *, close: bool = True) -> None:
        session, self._session = self._session, None
        self._timer.stop()
        self._watch_activity(False)
        if session is not None and close:
            session.close()
        self.idle_label.clear()
        for dialog in (self.password_dialog, self.settings_dialog, self.review.comparison_dialog,
                       self.review.decisions.password_dialog, self.deployments.decisions.password_dialog,
                       self.admins.add_dialog, self.admins.decisions.password_dialog,
                       self.audit.integrity.decisions.password_dialog):
            if dialog is not None:
                dialog.close()
        self._show_unlock(reason)
        self.locked.emit(reason)

    def _on_session_expired(self, message: str) -> None:
        if self._session is not None:
            self._end_session(message)

    # ------------------------------------------------------------------ sections

    def _on_tab_changed(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if widget is self.audit:
            self.audit.reload()
        elif widget is self.deployments:
            self.deployments.reload()
        elif widget is self.admins:
            self.admins.reload()
        elif widget is self.monitoring:
            self.monitoring.reload()

    def _on_records_changed(self) -> None:
        if self.session is not None:
            self.review.reload()
            self.deployments.reload()

    def _on_decided(self, _action: str, _job_id: str) -> None:
        self.deployments.reload()
        self.audit.reload()

    def _on_rollback_requested(self, dataset_id: str) -> None:
        self.tabs.setCurrentWidget(self.deployments)
        self.deployments.rollback(dataset_id)

    def activated(self) -> None:
        """Re-check the session and reload what may be stale (the view was just shown)."""
        if self._session is None:
            if self.pages.currentIndex() == PAGE_UNLOCK:
                self.unlock_page.refresh()
            return
        self.check_session()
        if self.session is not None:
            self.review.reload()

    # ------------------------------------------------------------------ dialogs

    def change_password(self) -> None:
        """Open the Change password dialog."""
        session = self.session
        if session is None:
            self.check_session()
            return
        dialog = ChangePasswordDialog(self.governance, session, self)
        self.password_dialog = dialog

        def finished(result: int) -> None:
            self.password_dialog = None
            dialog.deleteLater()
            if result:
                self.banner.show_message("success", "The admin password is changed.")
                self.audit.reload()

        dialog.finished.connect(finished)
        dialog.open()

    def open_settings(self) -> None:
        """Open Settings with this session, so the approval policy can be changed."""
        from predictml_desktop.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.context.paths, self.governance, self.session, self)
        self.settings_dialog = dialog

        def finished(_result: int) -> None:
            self.settings_dialog = None
            dialog.deleteLater()
            self.review.reload()
            self.audit.reload()

        dialog.finished.connect(finished)
        dialog.open()

    # ------------------------------------------------------------------ closing

    def shutdown(self) -> bool:
        """End the session when the app closes (a session never outlives the window)."""
        if self._session is not None and self._session.active:
            session = self._session
            self._session = None
            self._timer.stop()
            self._watch_activity(False)
            # Recorded in the audit trail; the app waits for background jobs before it exits.
            self.tasks.start(self.governance.lock, session, on_error=lambda message: None)
        return True
