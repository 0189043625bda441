"""The Jobs view: every training job with its status, dataset, model, metrics and dates, and its details."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.records import Dataset, TrainingJob
from predictml_desktop.core.status import JOB_RETRYABLE, JobStatus
from predictml_desktop.ui import widgets
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.formatting import (
    failure_text,
    format_duration,
    format_number,
    format_timestamp,
    headline_metric,
    metric_label,
    ordered_metrics,
    status_label,
)
from predictml_desktop.ui.leaderboard import LeaderboardModel
from predictml_desktop.ui.table_models import Column, RecordTableModel, StatusFilter
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.training_panel import retry
from predictml_desktop.ui.widgets import Banner, button, heading, table_view

LOG_TAIL_BYTES = 256 * 1024
"""The end of a job's full log shown in its details (logs can grow large)."""


def load_records(store: Any) -> tuple[list[TrainingJob], dict[str, Dataset]]:
    """Read every job (newest first) and the datasets by id (runs off the GUI thread)."""
    snapshot = store.read()
    jobs = sorted(snapshot.jobs.list(), key=lambda j: j.started_at or "", reverse=True)
    datasets = {d.id: d for d in snapshot.datasets.list()}
    return jobs, datasets


def read_log(paths: Any, job: TrainingJob) -> str:
    """Return the end of a job's full log, or its recent lines when there is no log file."""
    path = paths.job_log(job.id)
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            text = fh.read().decode("utf-8", errors="replace")
        return ("…\n" if size > LOG_TAIL_BYTES else "") + text
    except FileNotFoundError:
        return "\n".join(job.logs or [])


def cancel_elsewhere(store: Any, job_id: str) -> TrainingJob:
    """Cancel a job trained by another process (waits up to a few seconds; runs off the GUI thread)."""
    from predictml_desktop.core.training import request_cancel

    return request_cancel(store, job_id)


class JobsView(QWidget):
    """Every training job, filterable by status, with the details of the selected one.

    Parameters
    ----------
    context
        The app's shared state.
    """

    reloaded = Signal()
    """The job list was read again from the records."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.tasks = Tasks(self)
        self.datasets: dict[str, Dataset] = {}
        self._selected_id: str | None = None
        self._shown: dict[str, Any] | None = None
        self._load_failed = False
        self._log_job_id: str | None = None
        self._build()
        context.records_changed.connect(self.reload)
        self.reload()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_toolbar())
        self.banner = Banner(name="Jobs message")
        layout.addWidget(self.banner)

        self.table = self._build_table()
        details = self._build_details()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)
        self.empty_label = QLabel("No training jobs yet. Start one from the Data view.")
        layout.addWidget(self.empty_label)
        self._show_details(None)

    def _build_toolbar(self) -> QHBoxLayout:
        top = QHBoxLayout()
        top.addWidget(heading("Jobs"))
        top.addStretch(1)
        filter_label = QLabel("&Show:")
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Filter by status")
        filter_label.setBuddy(self.status_filter)
        self.status_filter.addItem("All jobs", None)
        for status in JobStatus:
            self.status_filter.addItem(status_label(status.value), status.value)
        self.status_filter.currentIndexChanged.connect(self._on_filter_changed)
        top.addWidget(filter_label)
        top.addWidget(self.status_filter)
        self.refresh_button = button("&Refresh", self.reload, name="Refresh jobs")
        top.addWidget(self.refresh_button)
        return top

    def _build_table(self) -> QTableView:
        self.model = RecordTableModel(
            [
                Column("Job", lambda j: j.id),
                Column("Status", self._status_text, tooltip=lambda j: j.error or status_label(j.status)),
                Column("Dataset", self._dataset_name),
                Column("Target", lambda j: j.target_column),
                Column("Model", lambda j: j.model_name or ""),
                Column("Score", self._score_text, numeric=True),
                Column("Started", lambda j: format_timestamp(j.started_at)),
                Column("Duration", lambda j: format_duration(j.duration_s), numeric=True),
            ],
            parent=self,
        )
        self.proxy = StatusFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = table_view(self.proxy, "Training jobs")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_changed)
        return self.table

    def _build_details(self) -> QWidget:
        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        self.details_title = heading("Select a job", 2)
        details_layout.addWidget(self.details_title)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setAccessibleName("Job error")
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        details_layout.addWidget(self.error_label)
        buttons = QHBoxLayout()
        self.retry_button = button("Re&try", self._on_retry_clicked, name="Retry job")
        self.follow_button = button("&Follow the training", lambda: self.context.navigate_requested.emit("training"))
        self.cancel_button = button("&Cancel this training", self._on_cancel_clicked)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.follow_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        details_layout.addLayout(buttons)
        self.details_tabs = QTabWidget()
        self.summary_widget = QWidget()
        self.summary_form = QFormLayout(self.summary_widget)
        self.details_tabs.addTab(self.summary_widget, "Summary")
        self.metrics_model = RecordTableModel(
            [
                Column("Metric", lambda m: metric_label(m[0])),
                Column("Holdout", lambda m: format_number(m[1]), numeric=True),
                Column("Cross-validation", lambda m: format_number(m[2]), numeric=True),
                Column("Baseline", lambda m: format_number(m[3]), numeric=True),
            ],
            parent=self,
        )
        self.metrics_view = table_view(self.metrics_model, "Job metrics")
        self.details_tabs.addTab(self.metrics_view, "Metrics")
        self.board_model = LeaderboardModel(parent=self)
        self.board_view = table_view(self.board_model, "Job leaderboard")
        self.details_tabs.addTab(self.board_view, "Leaderboard")
        self.log_view = QPlainTextEdit()
        self.log_view.setAccessibleName("Job log")
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details_tabs.addTab(self.log_view, "Log")
        details_layout.addWidget(self.details_tabs, 1)
        return details

    # ------------------------------------------------------------------ cells

    def _dataset_name(self, job: TrainingJob) -> str:
        dataset = self.datasets.get(job.dataset_id)
        return dataset.name if dataset and dataset.name else job.dataset_id

    @staticmethod
    def _status_text(job: TrainingJob) -> str:
        text = status_label(job.status)
        if job.status == JobStatus.TRAINING:
            text += f" ({job.progress} %)"
        elif job.status == JobStatus.FAILED and job.error and "interrupt" in job.error.lower():
            text += " (interrupted)"
        elif job.stopped_early:
            text += " (stopped early)"
        return text

    @staticmethod
    def _score_text(job: TrainingJob) -> str:
        metric = headline_metric(job.metrics or {}, job.problem_type)
        return f"{metric[0]} {metric[1]}" if metric else ""

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        """Read the records again off the GUI thread."""
        self.tasks.start(load_records, self.context.store, on_result=self._on_loaded, on_error=self._on_load_failed)

    def activated(self) -> None:
        """Reload when the view is shown (records may have changed while it was hidden)."""
        self.reload()

    def _on_loaded(self, result: tuple[list[TrainingJob], dict[str, Dataset]]) -> None:
        jobs, self.datasets = result
        selected = self._selected_id
        self.model.set_rows(jobs)
        self.empty_label.setVisible(not jobs)
        if self._load_failed:
            self.banner.clear()
            self._load_failed = False
        if selected is not None:
            self.select_job(selected)
        self.reloaded.emit()

    def _on_load_failed(self, message: str) -> None:
        self._load_failed = True
        self.banner.show_message("error", message, [("Try again", self.reload)])

    def _on_filter_changed(self, _index: int) -> None:
        self.proxy.set_status(self.status_filter.currentData())

    def visible_job_ids(self) -> list[str]:
        """Return the ids of the jobs the table shows (after the filter), in order."""
        return [self.proxy.index(r, 0).data() for r in range(self.proxy.rowCount())]

    # ------------------------------------------------------------------ details

    def select_job(self, job_id: str) -> bool:
        """Select ``job_id`` in the table (if the filter shows it) and show its details."""
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data() == job_id:
                self.table.selectRow(row)
                self.table.setCurrentIndex(self.proxy.index(row, 0))
                return True
        return False

    def selected_job(self) -> TrainingJob | None:
        """Return the job whose details are shown."""
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        return self.model.row_object(self.proxy.mapToSource(index).row())

    def _on_table_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        job = self.model.row_object(self.proxy.mapToSource(current).row()) if current.isValid() else None
        self._show_details(job)

    def _show_details(self, job: TrainingJob | None) -> None:
        # A reload (every record change, about once a second while a training runs) re-selects the
        # job: rebuild its details only when its record changed, so reading them is not disturbed.
        shown = job.to_dict() if job is not None else None
        if shown is not None and shown == self._shown:
            return
        self._shown = shown
        self._selected_id = job.id if job else None
        for widget in (self.details_tabs, self.retry_button, self.follow_button, self.cancel_button,
                       self.error_label):
            widget.setVisible(job is not None)
        if job is None:
            self.details_title.setText("Select a job to see its details")
            return
        self.details_title.setText(f"{job.id} — {self._dataset_name(job)}")
        self.error_label.setText(failure_text(job.error) if job.error else "")
        self.error_label.setVisible(bool(job.error))
        self.retry_button.setVisible(job.status in JOB_RETRYABLE)
        # A training this window supervises is followed (and cancelled) in the Training view; one run
        # by another process (``predictml train``) can be cancelled from here.
        here = job.id == self._supervised_job_id()
        self.follow_button.setVisible(job.status == JobStatus.TRAINING and here)
        self.cancel_button.setVisible(job.status == JobStatus.TRAINING and not here)
        self.cancel_button.setEnabled(True)
        while self.summary_form.rowCount():
            self.summary_form.removeRow(0)
        rows = [
            ("Status", self._status_text(job)),
            ("Dataset", f"{self._dataset_name(job)} ({job.dataset_id})"),
            ("Target", job.target_column),
            ("Problem type", job.problem_type or ""),
            ("Model", job.model_name or "—"),
            ("Started", format_timestamp(job.started_at)),
            ("Finished", format_timestamp(job.finished_at)),
            ("Duration", format_duration(job.duration_s)),
            ("Samples", format_number(job.samples) if job.samples is not None else ""),
            ("Features", format_number(job.features) if job.features is not None else ""),
            ("Attempt", f"{job.attempt}" + (f" (retry of {job.retry_of})" if job.retry_of else "")),
        ]
        if job.ranking_metric:
            reason = f" — {job.ranking_metric_reason}" if job.ranking_metric_reason else ""
            rows.append(("Ranked by", f"{metric_label(job.ranking_metric)}{reason}"))
        if job.beats_baseline is not None:
            rows.append(("Versus baseline", "better than the dummy baseline" if job.beats_baseline
                         else "NOT better than the dummy baseline: do not use this model"))
        members = job.ensemble or []
        if len(members) > 1:
            rows.append(("Ensemble of", ", ".join(f"{m.get('name') or m.get('model')} "
                                                  f"{float(m.get('weight') or 0):.0%}" for m in members)))
        threshold = job.decision_threshold or {}
        if isinstance(threshold.get("value"), (int, float)):
            rows.append(("Decision threshold", f"{threshold['value']:.2f} on the probability of the positive "
                                               "class (chosen on rows the models did not train on)"))
        for warning in job.warnings or []:
            text = warning.get("message", warning) if isinstance(warning, dict) else warning
            rows.append(("Warning", str(text)))
        if job.review:
            review = job.review
            rows.append(("Review", f"{review.get('decision', '')} by {review.get('by', '')} "
                                   f"on {format_timestamp(review.get('at'))} {review.get('reason') or ''}".strip()))
        for label, value in rows:
            value_label = QLabel(str(value))
            value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value_label.setWordWrap(True)
            self.summary_form.addRow(f"{label}:", value_label)
        metrics = job.metrics or {}
        cv: dict[str, Any] = metrics["cv"] if isinstance(metrics.get("cv"), dict) else {}
        baseline: dict[str, Any] = metrics["baseline"] if isinstance(metrics.get("baseline"), dict) else {}
        self.metrics_model.set_rows([
            (key, value, cv.get(key), baseline.get(key))
            for key, value in ordered_metrics(metrics, job.problem_type, job.ranking_metric)
        ])
        self.board_model = LeaderboardModel(parent=self)
        self.board_model.set_entries(job.leaderboard or [])
        self.board_view.setModel(self.board_model)
        if self.log_view.document().isEmpty() or self._log_job_id != job.id:
            self.log_view.setPlainText("\n".join(job.logs or []))
        self._log_job_id = job.id
        job_id = job.id
        self.tasks.start(read_log, self.context.paths, job, on_result=lambda text: self._on_log_read(job_id, text))

    def _on_log_read(self, job_id: str, text: str) -> None:
        if job_id != self._selected_id or text == self.log_view.toPlainText():
            return
        bar = self.log_view.verticalScrollBar()
        at_bottom, position = bar.value() >= bar.maximum() - 2, bar.value()
        self.log_view.setPlainText(text)
        # Keep the reader's place; follow the end only if they were at the end.
        bar.setValue(bar.maximum() if at_bottom else position)

    def _supervised_job_id(self) -> str | None:
        supervised = getattr(self.window(), "supervised_job_id", None)
        return supervised() if callable(supervised) else None

    def _on_cancel_clicked(self) -> None:
        job = self.selected_job()
        if job is None or job.status != JobStatus.TRAINING:
            return
        if not widgets.confirm(
            self,
            "Cancel this training?",
            f"Job {job.id} is trained by another PredictML process. Cancel it? It is kept as cancelled and "
            "can be retried.",
            yes="Cancel training",
            no="Keep training",
        ):
            return
        self.cancel_button.setEnabled(False)
        self.banner.show_message("info", f"Asking the process that trains {job.id} to stop…")
        self.tasks.start(
            cancel_elsewhere,
            self.context.store,
            job.id,
            on_result=self._on_cancelled_elsewhere,
            on_error=lambda message: self.banner.show_message("error", message),
        )

    def _on_cancelled_elsewhere(self, job: TrainingJob) -> None:
        self.banner.show_message("success", f"Job {job.id} is {status_label(job.status).lower()}.")
        self.context.notify_records_changed()
        self.reload()

    def _on_retry_clicked(self) -> None:
        job = self.selected_job()
        if job is None or job.status not in JOB_RETRYABLE:
            return
        busy = getattr(self.window(), "training_busy_reason", None)
        reason = busy() if callable(busy) else None
        if reason:
            self.banner.show_message("error", reason)
            return
        self.retry_button.setEnabled(False)
        self.tasks.start(
            retry,
            self.context.store,
            job.id,
            on_result=self._on_retried,
            on_error=self._on_retry_failed,
        )

    def _on_retried(self, job: TrainingJob) -> None:
        self.retry_button.setEnabled(True)
        self.context.notify_records_changed()
        self.context.training_requested.emit(job.id)

    def _on_retry_failed(self, message: str) -> None:
        self.retry_button.setEnabled(True)
        self.banner.show_message("error", message)
