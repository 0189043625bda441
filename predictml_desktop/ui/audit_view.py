"""The audit trail (``audit.jsonl``): read, filter by action, job, who and date, export as CSV or JSON lines.

Reading and filtering run on a worker thread through the core (`core.audit.AuditLog`), so a long
trail never stalls the window; the export is the core's too (formula-like CSV cells neutralised).
Inside the Admin view, the chain's verification sits above the table (`audit_integrity`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.audit import AuditAction, AuditEvent, AuditLog
from predictml_desktop.core.governance import Governance
from predictml_desktop.core.paths import Paths
from predictml_desktop.ui.formatting import format_timestamp
from predictml_desktop.ui.table_models import Column, RecordTableModel
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import Banner

EXPORT_FILTER = "CSV (*.csv);;JSON lines (*.jsonl)"

ACTION_LABELS = {
    AuditAction.ADMIN_CREATED: "Admin account created",
    AuditAction.UNLOCKED: "Unlocked",
    AuditAction.UNLOCK_FAILED: "Wrong password",
    AuditAction.LOCKED_OUT: "Locked out",
    AuditAction.LOCKED: "Locked",
    AuditAction.PASSWORD_CONFIRMED: "Password confirmed",
    AuditAction.PASSWORD_CHANGED: "Password changed",
    AuditAction.PASSWORD_CHANGE_FAILED: "Password change refused",
    AuditAction.PASSWORD_REHASHED: "Password re-hashed",
    AuditAction.APPROVED: "Approved",
    AuditAction.REJECTED: "Rejected",
    AuditAction.ARCHIVED: "Archived",
    AuditAction.DELETED: "Deleted",
    AuditAction.UNDEPLOYED: "Undeployed",
    AuditAction.ROLLED_BACK: "Rolled back",
    AuditAction.POLICY_CHANGED: "Policy changed",
    AuditAction.APPROVAL_RECORDED: "First approval (waits for a second admin)",
    AuditAction.ADMIN_ADDED: "Admin added",
    AuditAction.ADMIN_REMOVED: "Admin removed",
    AuditAction.SETTINGS_ADOPTED: "Settings adopted (signed)",
    AuditAction.SETTINGS_CHANGED: "Settings changed",
    AuditAction.SETTINGS_CONFIRMED: "Edited settings confirmed",
    AuditAction.SETTINGS_DISCARDED: "Edited settings discarded",
    AuditAction.CHAIN_STARTED: "Chain started",
    AuditAction.AUDIT_BREAK_DETECTED: "Break in the trail found",
    AuditAction.AUDIT_ACKNOWLEDGED: "Break acknowledged",
}
FILTER_DEBOUNCE_MS = 150


def action_label(action: str) -> str:
    """Return an audit action in words."""
    try:
        return ACTION_LABELS[AuditAction(action)]
    except ValueError:
        return action.replace("_", " ").capitalize()


@dataclass
class AuditFilter:
    """What the admin filters the trail by (None = any)."""

    action: str | None = None
    actor: str | None = None
    job_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None


@dataclass
class AuditPage:
    """The result of reading and filtering the trail once."""

    events: list[AuditEvent]
    """The matching events, newest first."""
    total: int
    skipped_lines: int
    actors: list[str]
    job_ids: list[str]


def read_audit(paths: Paths, wanted: AuditFilter) -> AuditPage:
    """Read ``audit.jsonl`` and apply ``wanted`` (runs off the GUI thread)."""
    log = AuditLog(paths)
    result = log.read()
    events = AuditLog.filter(
        result.events,
        actions=[wanted.action] if wanted.action else None,
        actor=wanted.actor,
        job_id=wanted.job_id,
        since=wanted.since,
        until=wanted.until,
        text=wanted.text or None,
    )
    events.reverse()
    actors = sorted({e.actor for e in result.events})
    jobs = sorted({e.job_id for e in result.events if e.job_id})
    return AuditPage(events, len(result.events), result.skipped_lines, actors, jobs)


def _day(edit: QDateEdit) -> date:
    qdate = edit.date()
    return date(qdate.year(), qdate.month(), qdate.day())


def _details_text(event: AuditEvent) -> str:
    return json.dumps(event.details, ensure_ascii=False, sort_keys=True) if event.details else ""


class AuditView(QWidget):
    """The audit trail as a filterable table, with CSV/JSON export of what is shown.

    Parameters
    ----------
    paths
        The data home.
    governance, session_provider
        Inside the Admin view: verify the chain above the table, and let the admin acknowledge a
        break (`audit_integrity.AuditIntegrityBar`).
    """

    loaded = Signal()
    """The trail was read and filtered; the table shows the result."""

    exported = Signal(str)
    """The shown events were written; carries the path."""

    def __init__(self, paths: Paths, parent: QWidget | None = None, *, governance: Governance | None = None,
                 session_provider: Any = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.integrity: Any = None
        if governance is not None:
            from predictml_desktop.ui.audit_integrity import AuditIntegrityBar

            self.integrity = AuditIntegrityBar(governance, session_provider or (lambda: None))
            self.integrity.acknowledged.connect(self.reload)
        self.tasks = Tasks(self)
        self.page: AuditPage | None = None
        self._generation = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(FILTER_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.reload)
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = Banner(name="Audit message")
        layout.addWidget(self.banner)
        if self.integrity is not None:
            layout.addWidget(self.integrity)
        layout.addLayout(self._build_filters())
        layout.addLayout(self._build_buttons())
        layout.addWidget(self._build_table(), 1)

    def _build_filters(self) -> QGridLayout:
        grid = QGridLayout()
        self.action_combo = QComboBox()
        self.action_combo.setAccessibleName("Filter by action")
        self.action_combo.addItem("Any action", None)
        for action in AuditAction:
            self.action_combo.addItem(ACTION_LABELS.get(action, action.value), action.value)
        self.actor_combo = QComboBox()
        self.actor_combo.setAccessibleName("Filter by who")
        self.actor_combo.addItem("Anyone", None)
        self.job_combo = QComboBox()
        self.job_combo.setAccessibleName("Filter by job")
        self.job_combo.addItem("Any job", None)
        self.text_edit = QLineEdit()
        self.text_edit.setAccessibleName("Search the audit trail")
        self.text_edit.setPlaceholderText("search reasons and details")
        self.text_edit.setClearButtonEnabled(True)
        for button in self.text_edit.findChildren(QToolButton):
            button.setAccessibleName("Clear the search")
        self.dates_check = QCheckBox("&Between")
        self.dates_check.setAccessibleName("Filter by date")
        today = QDate.currentDate()
        self.since_edit = QDateEdit(today.addDays(-30))
        self.since_edit.setAccessibleName("From date")
        self.until_edit = QDateEdit(today)
        self.until_edit.setAccessibleName("To date (inclusive)")
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            edit.dateChanged.connect(self._schedule)
        self.dates_check.toggled.connect(self._on_dates_toggled)
        for combo in (self.action_combo, self.actor_combo, self.job_combo):
            combo.currentIndexChanged.connect(self._schedule)
        self.text_edit.textChanged.connect(self._schedule)
        for column, (text, widget) in enumerate((("&Action:", self.action_combo), ("&Who:", self.actor_combo),
                                                 ("&Job:", self.job_combo))):
            label = QLabel(text)
            label.setBuddy(widget)
            grid.addWidget(label, 0, 2 * column)
            grid.addWidget(widget, 0, 2 * column + 1)
        search_label = QLabel("&Search:")
        search_label.setBuddy(self.text_edit)
        grid.addWidget(search_label, 1, 0)
        grid.addWidget(self.text_edit, 1, 1)
        grid.addWidget(self.dates_check, 1, 2)
        dates = QHBoxLayout()
        dates.addWidget(self.since_edit)
        dates.addWidget(QLabel("and"))
        dates.addWidget(self.until_edit)
        grid.addLayout(dates, 1, 3, 1, 3)
        return grid

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Audit events shown")
        buttons.addWidget(self.count_label, 1)
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setAccessibleName("Refresh the audit trail")
        self.refresh_button.clicked.connect(self.reload)
        self.export_button = QPushButton("E&xport…")
        self.export_button.setAccessibleName("Export the shown audit events")
        self.export_button.clicked.connect(self.export)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.export_button)
        return buttons

    def _build_table(self) -> QTableView:
        self.model = RecordTableModel([
            Column("Line", lambda e: e.line, numeric=True,
                   tooltip=lambda e: f"entry {e.seq} of the chain" if e.seq else "from before the chain"),
            Column("When", lambda e: format_timestamp(e.at), tooltip=lambda e: e.at),
            Column("Who", lambda e: e.actor),
            Column("Action", lambda e: action_label(e.action)),
            Column("Job", lambda e: e.job_id or ""),
            Column("Dataset", lambda e: e.dataset_id or ""),
            Column("Deployment", lambda e: e.deployment_id or ""),
            Column("Reason", lambda e: e.reason or "", tooltip=lambda e: e.reason or ""),
            Column("Details", _details_text, tooltip=_details_text),
        ], parent=self)
        self.table = QTableView()
        self.table.setAccessibleName("Audit trail")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        return self.table

    # ------------------------------------------------------------------ filtering

    def current_filter(self) -> AuditFilter:
        """Return the filter the controls describe."""
        since = until = None
        if self.dates_check.isChecked():
            local = datetime.now().astimezone().tzinfo
            since = datetime.combine(_day(self.since_edit), time.min, local)
            # "to" is inclusive: up to the start of the next day.
            until = datetime.combine(_day(self.until_edit), time.min, local) + timedelta(days=1)
        return AuditFilter(
            action=self.action_combo.currentData(),
            actor=self.actor_combo.currentData(),
            job_id=self.job_combo.currentData(),
            since=since,
            until=until,
            text=self.text_edit.text().strip() or None,
        )

    def set_filter(self, *, action: str | None = None, actor: str | None = None, job_id: str | None = None,
                   text: str = "") -> None:
        """Set the filter controls (choices that are not listed are added) and reload."""
        for combo, value in ((self.action_combo, action), (self.actor_combo, actor), (self.job_combo, job_id)):
            combo.blockSignals(True)
            index = combo.findData(value)
            if index < 0:
                combo.addItem(str(value), value)
                index = combo.count() - 1
            combo.setCurrentIndex(index)
            combo.blockSignals(False)
        self.text_edit.blockSignals(True)
        self.text_edit.setText(text)
        self.text_edit.blockSignals(False)
        self.reload()

    def _on_dates_toggled(self, checked: bool) -> None:
        self.since_edit.setEnabled(checked)
        self.until_edit.setEnabled(checked)
        self._schedule()

    def _schedule(self, *_args: Any) -> None:
        self._debounce.start()

    def reload(self) -> None:
        """Read and filter the trail off the GUI thread."""
        self._debounce.stop()
        if self.integrity is not None:
            self.integrity.verify()
        self._generation += 1
        generation = self._generation
        self.tasks.start(read_audit, self.paths, self.current_filter(),
                         on_result=lambda page: self._on_loaded(page, generation),
                         on_error=lambda message: self.banner.show_message("error", message))

    def _on_loaded(self, page: AuditPage, generation: int) -> None:
        if generation != self._generation:
            return  # a newer filter is being applied
        self.page = page
        self.model.set_rows(page.events)
        self._refill(self.actor_combo, page.actors, "Anyone")
        self._refill(self.job_combo, page.job_ids, "Any job")
        shown = len(page.events)
        self.count_label.setText(f"{shown} of {page.total} events" if shown != page.total else f"{shown} events")
        if page.skipped_lines:
            self.banner.show_message(
                "warning",
                f"{page.skipped_lines} line{'s' if page.skipped_lines > 1 else ''} of {self.paths.audit_file} "
                "could not be read (a crash can leave a partial last line); the rest is shown.")
        else:
            self.banner.clear()
        self.export_button.setEnabled(bool(page.events))
        self.loaded.emit()

    @staticmethod
    def _refill(combo: QComboBox, values: list[str], any_text: str) -> None:
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(any_text, None)
        for value in values:
            combo.addItem(value, value)
        index = combo.findData(current)
        if index < 0 and current is not None:
            combo.addItem(str(current), current)
            index = combo.count() - 1
        combo.setCurrentIndex(max(0, index))
        combo.blockSignals(False)

    def shown_events(self) -> list[AuditEvent]:
        """Return the events the table shows, newest first."""
        return list(self.model.rows)

    # ------------------------------------------------------------------ export

    def ask_export_path(self) -> Path | None:
        """Ask where to export (tests replace this method)."""
        start = str(Path.home() / "predictml-audit.csv")
        name, chosen = QFileDialog.getSaveFileName(self, "Export the audit trail", start, EXPORT_FILTER)
        if not name:
            return None
        path = Path(name)
        if path.suffix.lower() not in (".csv", ".jsonl", ".json"):
            path = path.with_suffix(".jsonl" if "JSON" in chosen else ".csv")
        return path

    def export(self) -> None:
        """Write the shown events as CSV or JSON lines (by the file's suffix), off the GUI thread."""
        events = self.shown_events()
        if not events:
            return
        path = self.ask_export_path()
        if path is None:
            return
        self.export_button.setEnabled(False)
        # Oldest first in the file, as in audit.jsonl.
        self.tasks.start(AuditLog.export, list(reversed(events)), path, on_result=self._on_exported,
                         on_error=self._on_export_failed)

    def _on_exported(self, path: Path) -> None:
        self.export_button.setEnabled(True)
        self.banner.show_message("success", f"{self.model.rowCount()} events exported to {path}.")
        self.exported.emit(str(path))

    def _on_export_failed(self, message: str) -> None:
        self.export_button.setEnabled(True)
        self.banner.show_message("error", f"The export failed: {message}")

