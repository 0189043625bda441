"""The admin's review of trained models (seed phase 4): details, plots, policy gates, decisions, model card.

For the job chosen on the left the view shows what an admin needs to decide: the model, dataset,
metrics with a plain-language reading, samples, features and duration, the leaderboard, the data
warnings, the plots (`ReviewDetailsPanel`), and the policy gates (pass / warn / block with their
sentences). Which decision a job allows is the core's (`Governance.allowed_decisions`, read with the
details off the GUI thread, `core.status.JOB_DECISIONS`); the decisions are the core's too
(`Governance.approve`, ``reject``, ``archive``, ``delete``), run off the GUI thread through
`DecisionRunner`; the core refuses them without an open session whatever this view shows.

Just over 600 lines: the details panel (`review_details`), the decisions' rules and runner
(`core.status`, `decisions`) and the plots (`plots`) already stand apart; what remains is the one
job list and the one selected job that every part of the view follows.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.governance import GateOutcome, GateResult, Governance, ModelSummary
from predictml_desktop.core.records import Dataset, Deployment, TrainingJob
from predictml_desktop.core.status import Decision, JobStatus
from predictml_desktop.ui import widgets
from predictml_desktop.ui.comparison_dialog import ComparisonDialog
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.decisions import DecisionRunner, SessionProvider
from predictml_desktop.ui.formatting import format_timestamp, headline_metric, status_label
from predictml_desktop.ui.plots import load_plots
from predictml_desktop.ui.review_data import ReviewDetails, export_pdf, load_details, load_review_list
from predictml_desktop.ui.review_details import ReviewDetailsPanel
from predictml_desktop.ui.table_models import Column, RecordTableModel, StatusFilter
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import Banner, Card, heading

PDF_FILTER = "PDF document (*.pdf)"

REVIEW_FILTERS = (("Waiting for review", JobStatus.PENDING_REVIEW.value), ("All finished jobs", None))

_GATE_STYLE = {
    GateOutcome.PASS: ("✔", "#1e7b34", "Pass"),
    GateOutcome.WARN: ("⚠", "#b26a00", "Warning"),
    GateOutcome.BLOCK: ("✖", "#b3261e", "Blocks approval"),
}


class ReviewView(QWidget):
    """Jobs to review on the left; the chosen job's details, gates and decisions on the right.

    Parameters
    ----------
    context
        The app's shared state.
    governance
        The core's governance object.
    session_provider
        Returns the admin tab's open session (None when locked).
    """

    reloaded = Signal()
    """The job list was read again."""

    details_loaded = Signal(str)
    """The details of a job are shown; carries its id."""

    plots_loaded = Signal(str)
    """The plots of a job are drawn (or their absence explained); carries its id."""

    decided = Signal(str, str)
    """A decision succeeded; carries the action (``approve_local``, ``reject``...) and the job id."""

    decision_failed = Signal(str)
    """A decision was refused or failed; carries the sentence shown."""

    pdf_exported = Signal(str)
    """The model card was written as PDF; carries the path."""

    rollback_requested = Signal(str)
    """The admin asked to restore a dataset's previous deployment; carries the dataset id."""

    def __init__(self, context: AppContext, governance: Governance, session_provider: SessionProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.governance = governance
        self.tasks = Tasks(self)
        self.decisions = DecisionRunner(governance, session_provider, self)
        self.decisions.started.connect(lambda text: self.banner.show_message("info", text))
        self.decisions.failed.connect(self._on_decision_failed)
        self.decisions.recorded.connect(self._on_approval_recorded)
        self.datasets: dict[str, Dataset] = {}
        self.details: ReviewDetails | None = None
        self.comparison_dialog: ComparisonDialog | None = None
        self._selected_id: str | None = None
        self._details_generation = 0
        self._plots_generation = 0
        self.plots_job: str | None = None
        """The job whose plots are shown or loading."""
        self._build()
        self._show_details(None)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.title = heading("Select a job to review", 2)
        right_layout.addWidget(self.title)
        self.banner = Banner(name="Review message")
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self._build_gates_card())
        right_layout.addWidget(self._build_actions())
        self.details_panel = ReviewDetailsPanel()
        self.details_panel.export_pdf_button.clicked.connect(self.export_model_card)
        right_layout.addWidget(self.details_panel, 1)
        # The panel's parts, by the names the rest of the app and the tests use.
        panel = self.details_panel
        self.tabs, self.plots, self.card_browser = panel, panel.plots, panel.card_browser
        self.metrics_model, self.board_model, self.warnings_model = (panel.metrics_model, panel.board_model,
                                                                     panel.warnings_model)
        self.export_pdf_button = panel.export_pdf_button

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_job_list())
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout.addWidget(splitter, 1)

    def _build_job_list(self) -> QWidget:
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        show_label = QLabel("&Show:")
        self.filter_combo = QComboBox()
        self.filter_combo.setAccessibleName("Which jobs to review")
        show_label.setBuddy(self.filter_combo)
        for title, status in REVIEW_FILTERS:
            self.filter_combo.addItem(title, status)
        self.filter_combo.currentIndexChanged.connect(self._on_filter_changed)
        top.addWidget(show_label)
        top.addWidget(self.filter_combo, 1)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("Refresh the jobs to review")
        self.refresh_button.clicked.connect(self.reload)
        top.addWidget(self.refresh_button)
        left_layout.addLayout(top)
        self.model = RecordTableModel([
            Column("Job", lambda j: j.id),
            Column("Dataset", self._dataset_name),
            Column("Model", lambda j: j.model_name or ""),
            Column("Score", self._score_text, numeric=True),
            Column("Status", lambda j: status_label(j.status)),
            Column("Finished", lambda j: format_timestamp(j.finished_at)),
        ], parent=self)
        self.proxy = StatusFilter(self, JobStatus.PENDING_REVIEW.value)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setAccessibleName("Jobs to review")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_changed)
        left_layout.addWidget(self.table, 1)
        self.empty_label = QLabel("No job is waiting for review.")
        self.empty_label.setWordWrap(True)
        left_layout.addWidget(self.empty_label)
        return left

    def _build_gates_card(self) -> QWidget:
        self.gates_card = Card("Policy gates")
        self.gates_layout = QVBoxLayout()
        self.gates_card.body.addLayout(self.gates_layout)
        self.gate_labels: list[QLabel] = []
        return self.gates_card

    def _build_actions(self) -> QWidget:
        actions = QGridLayout()
        reason_label = QLabel("Rea&son:")
        self.reason_edit = QLineEdit()
        self.reason_edit.setAccessibleName("Reason for the decision")
        self.reason_edit.setPlaceholderText("why (required to reject; recorded in the audit trail)")
        reason_label.setBuddy(self.reason_edit)
        self.reason_edit.textChanged.connect(self._update_actions)
        actions.addWidget(reason_label, 0, 0)
        actions.addWidget(self.reason_edit, 0, 1, 1, 5)
        self.approve_local_button = self._action_button("Approve for &Local", "Approve for Local",
                                                        self.approve_local)
        self.approve_azure_button = self._action_button("Approve for &Azure…", "Approve for Azure",
                                                        self.approve_azure)
        self.reject_button = self._action_button("Re&ject", "Reject", self.reject)
        self.archive_button = self._action_button("Arc&hive", "Archive", self.archive)
        self.delete_button = self._action_button("&Delete…", "Delete", self.delete)
        for column, button in enumerate((self.approve_local_button, self.approve_azure_button, self.reject_button,
                                         self.archive_button, self.delete_button), start=1):
            actions.addWidget(button, 1, column)
        actions.setColumnStretch(6, 1)
        self.actions_widget = QWidget()
        self.actions_widget.setLayout(actions)
        return self.actions_widget

    def _action_button(self, text: str, name: str, slot: Callable[[], Any]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    # ------------------------------------------------------------------ cells

    def _dataset_name(self, job: TrainingJob) -> str:
        dataset = self.datasets.get(job.dataset_id)
        return dataset.name if dataset and dataset.name else job.dataset_id

    @staticmethod
    def _score_text(job: TrainingJob) -> str:
        metric = headline_metric(job.metrics or {}, job.problem_type)
        return f"{metric[0]} {metric[1]}" if metric else ""

    # ------------------------------------------------------------------ list

    def reload(self) -> None:
        """Read the jobs again off the GUI thread."""
        self.tasks.start(load_review_list, self.context.store, on_result=self._on_list_loaded,
                         on_error=lambda message: self.banner.show_message("error", message))

    def _on_list_loaded(self, result: tuple[list[TrainingJob], dict[str, Dataset]]) -> None:
        jobs, self.datasets = result
        selected = self._selected_id
        self.model.set_rows(jobs)
        self._update_empty()
        if selected is not None and not self.select_job(selected):
            self._show_details(None)
        elif selected is None and self.proxy.rowCount():
            self.select_job(self.proxy.index(0, 0).data())
        self.reloaded.emit()

    def _update_empty(self) -> None:
        empty = self.proxy.rowCount() == 0
        self.empty_label.setVisible(empty)
        self.empty_label.setText("No job is waiting for review." if self.proxy.status else "No finished job yet.")

    def _on_filter_changed(self, _index: int) -> None:
        self.proxy.set_status(self.filter_combo.currentData())
        self._update_empty()
        if self._selected_id is not None and not self.select_job(self._selected_id):
            self.table.clearSelection()
            self._show_details(None)

    def visible_job_ids(self) -> list[str]:
        """Return the ids of the jobs the list shows, in order."""
        return [self.proxy.index(r, 0).data() for r in range(self.proxy.rowCount())]

    def show_all_jobs(self) -> None:
        """Switch the filter to every finished job."""
        self.filter_combo.setCurrentIndex(self.filter_combo.findData(None))

    def select_job(self, job_id: str) -> bool:
        """Select ``job_id`` in the list (if the filter shows it) and load its details."""
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data() == job_id:
                index = self.proxy.index(row, 0)
                if self.table.currentIndex() == index:
                    self._load_details(job_id)
                else:
                    self.table.setCurrentIndex(index)
                    self.table.selectRow(row)
                return True
        return False

    def _on_table_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self._show_details(None)
            return
        job = self.model.row_object(self.proxy.mapToSource(current).row())
        self._load_details(job.id)

    # ------------------------------------------------------------------ details

    def _load_details(self, job_id: str) -> None:
        self._selected_id = job_id
        self._details_generation += 1
        generation = self._details_generation
        if self.details is None or self.details.job.id != job_id:
            self.title.setText(f"{job_id} — loading…")
        self.tasks.start(load_details, self.governance, job_id,
                         on_result=lambda d: self._on_details_loaded(d, generation),
                         on_error=lambda message: self._on_details_failed(message, generation))
        if self.plots_job == job_id:
            return  # plots depend only on the job's own files: a records change does not redraw them
        self.plots_job = job_id
        self._plots_generation += 1
        plots_generation = self._plots_generation
        self.plots.show_loading()
        self.tasks.start(load_plots, self.governance.paths.model_dir(job_id),
                         on_result=lambda plots: self._on_plots_loaded(plots, job_id, plots_generation),
                         on_error=lambda message: self._on_plots_failed(message, job_id, plots_generation))

    def _on_details_loaded(self, details: ReviewDetails, generation: int) -> None:
        if generation != self._details_generation:
            return  # the admin chose another job meanwhile
        self._show_details(details)
        self.details_loaded.emit(details.job.id)

    def _on_details_failed(self, message: str, generation: int) -> None:
        if generation != self._details_generation:
            return
        self._show_details(None)
        self.banner.show_message("error", message)

    def _on_plots_loaded(self, plots: list[Any], job_id: str, generation: int) -> None:
        if generation != self._plots_generation:
            return
        self.plots.set_plots(plots)
        self.plots_loaded.emit(job_id)

    def _on_plots_failed(self, message: str, job_id: str, generation: int) -> None:
        if generation != self._plots_generation:
            return
        self.plots.show_error(f"The plots could not be read: {message}")
        self.plots_loaded.emit(job_id)

    def _show_details(self, details: ReviewDetails | None) -> None:
        self.details = details
        for widget in (self.gates_card, self.actions_widget, self.details_panel):
            widget.setVisible(details is not None)
        if details is None:
            self._selected_id = None
            self.plots_job = None
            self._plots_generation += 1
            self.plots.set_plots([])
            self.title.setText("Select a job to review")
            return
        job, dataset = details.job, details.dataset
        name = dataset.name if dataset and dataset.name else job.dataset_id
        self.title.setText(f"{job.id} — {job.model_name or 'model'} for {name}")
        self._show_gates(details.gates)
        self.details_panel.show_details(details)
        self._update_actions()

    def _show_gates(self, gates: list[GateResult]) -> None:
        for label in self.gate_labels:
            self.gates_layout.removeWidget(label)
            label.deleteLater()
        self.gate_labels = []
        if not gates:
            gates_text = [("#444", "Every policy gate is switched off in Settings.")]
        else:
            gates_text = []
            for gate in gates:
                symbol, colour, word = _GATE_STYLE[gate.outcome]
                gates_text.append((colour, f"{symbol} <b>{word}</b> — {html.escape(gate.title)}: "
                                           f"{html.escape(gate.message)}"))
        for first in self.details.job.approvals if self.details is not None else []:
            where = "Azure" if first.get("target") == "azure" else "Local"
            gates_text.append(("#8a5a00", f"⏳ <b>Waiting</b> — {html.escape(str(first.get('by')))} approved it for "
                                          f"{where}; the two-person rule needs a second admin's approval."))
        for colour, text in gates_text:
            label = QLabel(f'<span style="color:{colour}">{text}</span>')
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAccessibleName("Policy gate")
            self.gates_layout.addWidget(label)
            self.gate_labels.append(label)

    def gate_texts(self) -> list[str]:
        """Return the gate lines as plain text (what the admin reads)."""
        from PySide6.QtGui import QTextDocumentFragment

        return [QTextDocumentFragment.fromHtml(label.text()).toPlainText() for label in self.gate_labels]

    def summary_value(self, label: str) -> str:
        """Return the text of one summary row (``Model``, ``Samples``...), or ``""``."""
        return self.details_panel.summary_value(label)

    def _update_actions(self) -> None:
        details = self.details
        # The rules are the core's (the status table and the blocking gates); busy and the reason are the view's.
        allowed = details.allowed if details is not None and not self.decisions.busy else frozenset()
        blocked = bool(details and details.blocked)
        self.approve_local_button.setEnabled(Decision.APPROVE_LOCAL in allowed)
        self.approve_azure_button.setEnabled(Decision.APPROVE_AZURE in allowed)
        self.reject_button.setEnabled(Decision.REJECT in allowed and bool(self.reason_edit.text().strip()))
        self.archive_button.setEnabled(Decision.ARCHIVE in allowed)
        self.delete_button.setEnabled(Decision.DELETE in allowed)
        tip = "A policy gate blocks approval; see the gates above." if blocked else ""
        self.approve_local_button.setToolTip(tip)
        self.approve_azure_button.setToolTip(tip)
        self.reject_button.setToolTip("" if self.reason_edit.text().strip() else "Write the reason first.")

    # ------------------------------------------------------------------ decisions

    def _current(self) -> ReviewDetails | None:
        if self.details is None:
            self.banner.show_message("warning", "Select a job first.")
        return self.details

    def ask_output_folder(self, job: TrainingJob) -> Path | None:
        """Ask where the Azure bundle goes; return its folder (a new subfolder of the chosen one).

        Tests replace this method (a modal file dialog would hang an offscreen run).
        """
        start = str(self.governance.paths.exports)
        folder = QFileDialog.getExistingDirectory(self, "Where should the Azure ML bundle go?", start)
        if not folder:
            return None
        # Never the chosen folder itself: the export replaces its target folder entirely.
        return Path(folder) / f"predictml-{job.id}-azure"

    def ask_pdf_path(self, job: TrainingJob) -> Path | None:
        """Ask where to save the model card PDF (tests replace this method)."""
        start = str(Path.home() / f"model-card-{job.id}.pdf")
        name, _ = QFileDialog.getSaveFileName(self, "Export the model card as PDF", start, PDF_FILTER)
        if not name:
            return None
        return Path(name) if name.lower().endswith(".pdf") else Path(f"{name}.pdf")

    def approve_local(self) -> None:
        """Approve the job for the local service (after comparing with the deployed model, if any)."""
        details = self._current()
        if details is None:
            return
        champion = details.champion
        if champion is not None and champion.job_id != details.job.id:
            dialog = ComparisonDialog(champion, details.challenger, details.job.problem_type, self)
            self.comparison_dialog = dialog

            def closed(result: int) -> None:
                self.comparison_dialog = None
                dialog.deleteLater()
                if result == QDialog.DialogCode.Accepted:
                    self._approve(details, "local", None, replaces=champion)
                else:
                    self.banner.show_message("info", f"{champion.job_id} stays deployed; nothing was changed.")

            dialog.finished.connect(closed)
            dialog.open()
            return
        self._approve(details, "local", None, replaces=None)

    def approve_azure(self) -> None:
        """Export the job as an Azure ML bundle to a folder the admin chooses."""
        details = self._current()
        if details is None:
            return
        folder = self.ask_output_folder(details.job)
        if folder is None:
            return
        self._approve(details, "azure", folder, replaces=None)

    def _approve(self, details: ReviewDetails, target: str, out_dir: Path | None,
                 replaces: ModelSummary | None) -> None:
        job_id = details.job.id
        if details.blocked:
            self.banner.show_message("error", "Approval is blocked by policy: "
                                     + " ".join(g.message for g in details.blocked))
            return
        override = False
        if details.warned:
            lines = "\n".join(f"• {g.title}: {g.message}" for g in details.warned)
            if not widgets.confirm(self, "Approve despite policy warnings?",
                                   f"These policy gates warn about {job_id}:\n\n{lines}\n\n"
                                   "Approving records that you overrode them, with your name and reason.",
                                   yes="Override and approve", no="Cancel"):
                return
            override = True
        reason = self.reason_edit.text().strip() or None
        where = "Local" if target == "local" else "Azure"

        def call(session: Any) -> Any:
            return self.governance.approve(session, job_id, target, reason=reason, out_dir=out_dir,
                                           override=override)

        def done(dep: Deployment) -> None:
            self.reason_edit.clear()
            if target == "azure":
                self.banner.show_message("success", f"{job_id} is approved for Azure: the bundle is in "
                                         f"{dep.bundle_path}. Upload it with the commands in its README.md.")
            elif replaces is not None:
                self.banner.show_message(
                    "success",
                    f"{job_id} now answers predictions for {dep.dataset_id} ({dep.endpoint}); it replaced "
                    f"{replaces.job_id}.",
                    [("Roll back", lambda: self.rollback_requested.emit(dep.dataset_id))])
            else:
                self.banner.show_message("success", f"{job_id} is deployed: it answers predictions at {dep.endpoint}.")
            self._after_decision(f"approve_{target}", job_id)

        self._run("approve", f"approve {job_id} for {where}", call, step_up=True, on_success=done)

    def reject(self) -> None:
        """Reject the job with the reason typed (the core refuses an empty one)."""
        details = self._current()
        if details is None:
            return
        job_id, reason = details.job.id, self.reason_edit.text()

        def done(_job: TrainingJob) -> None:
            self.reason_edit.clear()
            self.banner.show_message("success", f"{job_id} is rejected: {reason.strip()}")
            self._after_decision("reject", job_id)

        self._run("reject", f"reject {job_id}", lambda s: self.governance.reject(s, job_id, reason), on_success=done)

    def archive(self) -> None:
        """Archive the job (kept on disk and in the audit trail, out of the way)."""
        details = self._current()
        if details is None:
            return
        job_id, reason = details.job.id, self.reason_edit.text().strip() or None
        if not widgets.confirm(self, "Archive the job?", f"Archive {job_id}? It can no longer be approved.",
                               yes="Archive", no="Cancel"):
            return

        def done(_job: TrainingJob) -> None:
            self.banner.show_message("success", f"{job_id} is archived.")
            self._after_decision("archive", job_id)

        self._run("archive", f"archive {job_id}", lambda s: self.governance.archive(s, job_id, reason),
                  on_success=done)

    def delete(self) -> None:
        """Delete the job and its model files, after a confirmation."""
        details = self._current()
        if details is None:
            return
        job_id, reason = details.job.id, self.reason_edit.text().strip() or None
        folder = self.governance.paths.model_dir(job_id)
        if not widgets.confirm(
            self, "Delete the job?",
            f"Delete {job_id} and its model files ({folder})? This cannot be undone; the audit trail keeps "
            "a record of the deletion.",
            yes="Delete", no="Keep it",
        ):
            return

        def done(_job: TrainingJob) -> None:
            self.banner.show_message("success", f"{job_id} and its model files are deleted.")
            self._selected_id = None
            self._after_decision("delete", job_id)

        self._run("delete", f"delete {job_id}", lambda s: self.governance.delete(s, job_id, reason), on_success=done)

    def _run(self, action: str, label: str, call: Callable[[Any], Any], *, step_up: bool = False,
             on_success: Callable[[Any], Any]) -> None:
        if self.decisions.run(action, label, call, step_up=step_up, on_success=on_success):
            self._update_actions()

    def _after_decision(self, action: str, job_id: str) -> None:
        self._update_actions()
        self.context.notify_records_changed()
        self.reload()
        self.decided.emit(action, job_id)

    def _on_approval_recorded(self, _action: str, message: str) -> None:
        # Two-person rule: this admin's approval is recorded; a second admin's deploys.
        self.reason_edit.clear()
        self.banner.show_message("info", message)
        if self.details is not None:
            self._after_decision("approval_recorded", self.details.job.id)

    def _on_decision_failed(self, _action: str, message: str) -> None:
        self._update_actions()
        self.banner.show_message("error", message)
        self.decision_failed.emit(message)

    # ------------------------------------------------------------------ model card

    def export_model_card(self) -> None:
        """Export the shown model card to PDF (printed off the GUI thread)."""
        details = self._current()
        if details is None:
            return
        path = self.ask_pdf_path(details.job)
        if path is None:
            return
        self.export_pdf_button.setEnabled(False)
        self.banner.show_message("info", f"Writing {path.name}…")
        self.tasks.start(export_pdf, details.card_html, path, on_result=self._on_pdf_written,
                         on_error=self._on_pdf_failed)

    def _on_pdf_written(self, path: Path) -> None:
        self.export_pdf_button.setEnabled(True)
        self.banner.show_message("success", f"The model card is saved as {path}.")
        self.pdf_exported.emit(str(path))

    def _on_pdf_failed(self, message: str) -> None:
        self.export_pdf_button.setEnabled(True)
        self.banner.show_message("error", f"The PDF could not be written: {message}")
