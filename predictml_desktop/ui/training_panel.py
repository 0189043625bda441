"""The Training view (seed phases 2-3): live progress of one job, its log and leaderboard, the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.records import Dataset, TrainingJob
from predictml_desktop.core.training.events import DASHBOARD_PREFIX
from predictml_desktop.ui import widgets
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.formatting import failure_text, format_duration, format_number, key_metrics, seconds_since
from predictml_desktop.ui.leaderboard import LeaderboardModel
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.training_thread import TrainingThread
from predictml_desktop.ui.widgets import Banner, Card, button, heading, table_view

LOG_MAX_LINES = 5_000


def load_job(store: Any, job_id: str) -> tuple[TrainingJob, Dataset | None]:
    """Read a job and its dataset (runs off the GUI thread)."""
    snapshot = store.read()
    job = snapshot.jobs.get(job_id)
    dataset = snapshot.datasets.find(job.dataset_id) if job.dataset_id else None
    return job, dataset


def retry(store: Any, job_id: str) -> TrainingJob:
    """Create the retry of a failed or cancelled job (runs off the GUI thread)."""
    from predictml_desktop.core.training import retry_job

    return retry_job(store, job_id)


class TrainingPanel(QWidget):
    """Shows the training the app supervises; one at a time (two cores are shared by every model).

    Parameters
    ----------
    context
        The app's shared state.
    command
        The worker's command line for every job this panel starts; None for the real worker.
    """

    training_finished = Signal(str)
    """The supervised job ended; carries its final status (``pending_review``, ``failed``, ``cancelled``)."""

    ready_to_close = Signal()
    """A cancel asked for by closing the window has completed."""

    def __init__(self, context: AppContext, parent: QWidget | None = None, *,
                 command: Sequence[str] | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.command = command
        self.tasks = Tasks(self)
        self.training_thread: TrainingThread | None = None
        self.job: TrainingJob | None = None
        self.dataset: Dataset | None = None
        self._clock = QElapsedTimer()
        self._started_offset_s = 0.0
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._update_elapsed)
        self._build()
        self._show_idle()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = heading("Training")
        layout.addWidget(self.title)
        self.subtitle = QLabel()
        self.subtitle.setAccessibleName("Training job")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.subtitle)
        self.banner = Banner(name="Training outcome")
        layout.addWidget(self.banner)
        # Shown when the job trains on a Dask cluster: its dashboard follows the workers' fits.
        self.dashboard_label = QLabel()
        self.dashboard_label.setAccessibleName("Dask cluster dashboard")
        self.dashboard_label.setOpenExternalLinks(True)
        self.dashboard_label.setTextFormat(Qt.TextFormat.RichText)
        self.dashboard_label.hide()
        layout.addWidget(self.dashboard_label)

        progress_row = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setAccessibleName("Training progress")
        self.stage_label = QLabel()
        self.stage_label.setAccessibleName("Training stage")
        self.elapsed_label = QLabel()
        self.elapsed_label.setAccessibleName("Elapsed time")
        self.cancel_button = button("&Stop training", self._on_cancel_clicked)
        self.cancel_button.setToolTip("End the search now and keep the best model finished so far")
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.stage_label)
        progress_row.addWidget(self.elapsed_label)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)

        layout.addWidget(self._build_summary_card())

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_leaderboard())
        splitter.addWidget(self._build_log())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)

        self.empty_label = QLabel(
            "No training is running. Start one from the Data view (open a file or try the sample "
            "dataset), or retry a job from the Jobs view."
        )
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label)
        self.start_button = button(
            "Go to &Data",
            lambda: self.context.navigate_requested.emit("data"),
            name="Go to the Data view",
        )
        layout.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignLeft)
        self._running_widgets: list[QWidget] = [self.progress_bar, self.stage_label, self.elapsed_label,
                                                self.cancel_button, splitter]

    def _build_summary_card(self) -> QWidget:
        self.summary = Card("Model ready for review")
        self.summary.setAccessibleName("Training summary")
        self.summary_form = QFormLayout()
        self.summary.body.addLayout(self.summary_form)
        self.summary_next = QLabel(
            "An administrator now reviews it in the Admin view; once approved for Local, it answers "
            "predictions in the Predict view and over the local HTTP service."
        )
        self.summary_next.setWordWrap(True)
        self.summary.body.addWidget(self.summary_next)
        return self.summary

    def _build_leaderboard(self) -> QWidget:
        board_box = QWidget()
        board_layout = QVBoxLayout(board_box)
        board_layout.setContentsMargins(0, 0, 0, 0)
        board_layout.addWidget(heading("Leaderboard", 2))
        self.leaderboard = LeaderboardModel(parent=self)
        self.leaderboard_view = table_view(self.leaderboard, "Leaderboard")
        self.leaderboard_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        board_layout.addWidget(self.leaderboard_view)
        return board_box

    def _build_log(self) -> QWidget:
        log_box = QWidget()
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_head = QHBoxLayout()
        log_head.addWidget(heading("Log", 2))
        log_head.addStretch(1)
        self.copy_log_button = button("C&opy log", self._on_copy_log_clicked)
        log_head.addWidget(self.copy_log_button)
        log_layout.addLayout(log_head)
        self.log_view = QPlainTextEdit()
        self.log_view.setAccessibleName("Training log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_MAX_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        log_layout.addWidget(self.log_view)
        return log_box

    # ------------------------------------------------------------------ states

    def _show_idle(self) -> None:
        self.title.setText("Training")
        self.subtitle.clear()
        for widget in self._running_widgets:
            widget.setVisible(False)
        self.summary.hide()
        self.empty_label.show()
        self.start_button.show()

    def _show_running(self) -> None:
        self.empty_label.hide()
        self.start_button.hide()
        self.summary.hide()
        self.banner.clear()
        for widget in self._running_widgets:
            widget.setVisible(True)
        self.cancel_button.setEnabled(True)

    @property
    def running(self) -> bool:
        """True while a job's worker is supervised."""
        return self.training_thread is not None and self.training_thread.isRunning()

    def busy_reason(self) -> str | None:
        """Say what quitting now would stop."""
        if self.running and self.training_thread is not None:
            return f"A training is running ({self.training_thread.job_id})."
        return None

    # ------------------------------------------------------------------ supervising a job

    def supervise(self, job_id: str) -> None:
        """Start supervising ``job_id`` (a job in ``training``): progress, log and leaderboard fill live."""
        if self.running:
            self.banner.show_message(
                "error",
                f"A training is already running ({self.training_thread.job_id if self.training_thread else ''}); "
                "wait for it or cancel it first.",
            )
            return
        self.job = None
        self.dataset = None
        self.title.setText("Training")
        self.subtitle.setText(f"Job {job_id}")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p%")
        self.stage_label.setText("Starting the worker…")
        self.log_view.clear()
        self.dashboard_label.hide()
        self.leaderboard = LeaderboardModel(parent=self)
        self.leaderboard_view.setModel(self.leaderboard)
        self._show_running()
        self._clock.start()
        self._started_offset_s = 0.0
        self._update_elapsed()
        self._ticker.start()

        if self.training_thread is not None:
            self.training_thread.deleteLater()  # the previous job's thread has finished
        thread = TrainingThread(self.context.store, job_id, command=self.command, parent=self)
        thread.progress_changed.connect(self._on_thread_progress_changed)
        thread.log_received.connect(self._on_thread_log_received)
        thread.candidate_finished.connect(self._on_thread_candidate_finished)
        thread.succeeded.connect(self._on_thread_succeeded)
        thread.failed.connect(self._on_thread_failed)
        thread.cancelled.connect(self._on_thread_cancelled)
        thread.finished.connect(self._on_thread_finished)
        self.training_thread = thread
        thread.start()
        self.tasks.start(load_job, self.context.store, job_id, on_result=self._on_job_loaded)

    def _on_job_loaded(self, result: tuple[TrainingJob, Dataset | None]) -> None:
        job, dataset = result
        if self.training_thread is None or job.id != self.training_thread.job_id:
            return
        self.dataset = dataset
        name = dataset.name if dataset and dataset.name else job.dataset_id
        self.title.setText(f"Training {name}")
        options = job.options or {}
        effort = (f"budget {format_duration(options['budget_s'])}" if options.get("budget_s")
                  else f"preset {options.get('preset', 'balanced')}")
        retry = f" · retry of {job.retry_of}" if job.retry_of else ""
        self.subtitle.setText(
            f"Job {job.id} · target “{job.target_column}” · {job.problem_type or 'problem type from the data'}"
            f" · {effort}{retry}"
        )
        # The job may have been created a while ago (a retry); elapsed counts from its start.
        self._started_offset_s = max(0.0, (seconds_since(job.started_at) or 0.0) - self._clock.elapsed() / 1000)

    def _update_elapsed(self) -> None:
        seconds = self._started_offset_s + self._clock.elapsed() / 1000 if self._clock.isValid() else 0.0
        self.elapsed_label.setText(f"Elapsed {format_duration(seconds)}")

    def _on_thread_progress_changed(self, percent: int, stage: str) -> None:
        self.progress_bar.setValue(max(0, min(100, percent)))
        if stage:
            self.stage_label.setText(stage)
            self.progress_bar.setFormat(f"%p% — {stage}")

    def _on_thread_log_received(self, line: str) -> None:
        bar = self.log_view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        self.log_view.appendPlainText(line)
        if DASHBOARD_PREFIX in line:
            self._show_dashboard(line.split(DASHBOARD_PREFIX, 1)[1].strip())
        # Follow the log only while the user has not scrolled up to read something.
        if at_bottom:
            bar.setValue(bar.maximum())

    def _show_dashboard(self, link: str) -> None:
        from html import escape

        if not link.startswith(("http://", "https://")):
            return
        self.dashboard_label.setText(f'Training on a Dask cluster — dashboard: <a href="{escape(link)}">'
                                     f"{escape(link)}</a>")
        self.dashboard_label.show()

    def _on_thread_candidate_finished(self, candidate: dict[str, Any]) -> None:
        self.leaderboard.upsert(candidate)

    def _on_thread_succeeded(self, job: TrainingJob) -> None:
        self.job = job
        self.progress_bar.setValue(100)
        self.stage_label.setText("Done")
        self._fill_summary(job)
        self.summary.show()
        show_jobs = ("Show in Jobs", lambda: self.context.navigate_requested.emit("jobs"))
        if job.stopped_early and job.beats_baseline is not False:
            self.summary.title.setText("Model ready for review (stopped early)")
            self.banner.show_message(
                "info",
                f"Training stopped early: the best model finished by then ({job.model_name or 'a model'}) is "
                "waiting for an administrator's review, marked as stopped early.",
                [show_jobs],
            )
        elif job.beats_baseline is False:
            # Never presented as a success: such a model predicts no better than guessing the majority.
            self.summary.title.setText("Model no better than the baseline")
            self.banner.show_message(
                "warning",
                f"Training finished, but the best model ({job.model_name or 'unknown'}) is no better than the "
                "dummy baseline that always predicts the most common value. Check the target and the data "
                "warnings before asking for a review.",
                [show_jobs],
            )
        else:
            self.summary.title.setText("Model ready for review")
            self.banner.show_message(
                "success",
                f"Training finished: {job.model_name or 'a model'} is waiting for an administrator's review.",
                [show_jobs],
            )

    def _fill_summary(self, job: TrainingJob) -> None:
        while self.summary_form.rowCount():
            self.summary_form.removeRow(0)
        self.summary_form.addRow("Model:", QLabel(job.model_name or "—"))
        for label, value in key_metrics(job.metrics or {}, job.problem_type, job.ranking_metric):
            self.summary_form.addRow(f"{label}:", QLabel(value))
        members = job.ensemble or []
        if len(members) > 1:
            shown = ", ".join(f"{m.get('name') or m.get('model')} {float(m.get('weight') or 0):.0%}" for m in members)
            self.summary_form.addRow("Ensemble of:", QLabel(shown))
        threshold = job.decision_threshold or {}
        if isinstance(threshold.get("value"), (int, float)):
            self.summary_form.addRow("Decision threshold:", QLabel(
                f"{threshold['value']:.2f} on the probability of the positive class"))
        self.summary_form.addRow("Duration:", QLabel(format_duration(job.duration_s)))
        if job.samples is not None:
            self.summary_form.addRow("Samples:", QLabel(format_number(job.samples)))
        if job.features is not None:
            self.summary_form.addRow("Features:", QLabel(format_number(job.features)))
        self.summary_form.addRow("Status:", QLabel("Waiting for review" + (" (stopped early)" if job.stopped_early
                                                                          else "")))

    def _on_thread_failed(self, message: str) -> None:
        self.stage_label.setText("Failed")
        self.banner.show_message(
            "error",
            failure_text(message),
            [("Retry", self._on_retry_clicked), ("Show in Jobs", lambda: self.context.navigate_requested.emit("jobs"))],
        )

    def _on_thread_cancelled(self) -> None:
        self.stage_label.setText("Cancelled")
        self.banner.show_message(
            "warning",
            "Training cancelled. The job is kept as cancelled; you can retry it.",
            [("Retry", self._on_retry_clicked)],
        )

    def _on_thread_finished(self) -> None:
        self._ticker.stop()
        self._update_elapsed()
        self.cancel_button.setEnabled(False)
        thread = self.training_thread
        status = ""
        if thread is not None and thread.final_job is not None:
            status = str(thread.final_job.status)
            self.job = thread.final_job
        self.context.notify_records_changed()
        self.training_finished.emit(status or "failed")
        self.ready_to_close.emit()

    # ------------------------------------------------------------------ user actions

    def _on_cancel_clicked(self) -> None:
        if not self.running:
            return
        if not widgets.confirm(
            self,
            "Stop the training?",
            "The search ends now and the best model finished so far is kept for review, marked as stopped "
            "early. If no model has finished yet, the job is cancelled; you can retry it later.",
            yes="Stop and keep the best",
            no="Keep training",
        ):
            return
        self.cancel(keep_best=True)

    def cancel(self, *, keep_best: bool = False) -> None:
        """Stop the running training without asking.

        ``keep_best`` ends the search and keeps the best model finished so far (its final fits take a
        few seconds); without it (closing the window) everything ends within seconds.
        """
        if self.training_thread is not None and self.running:
            self.cancel_button.setEnabled(False)
            self.stage_label.setText("Stopping: keeping the best model so far…" if keep_best else "Cancelling…")
            self.training_thread.cancel(keep_best=keep_best)

    def _on_retry_clicked(self) -> None:
        job_id = self.training_thread.job_id if self.training_thread is not None else None
        if job_id is None:
            return
        self.banner.show_message("info", f"Creating a new attempt of {job_id}…")
        self.tasks.start(
            retry,
            self.context.store,
            job_id,
            on_result=lambda job: self.context.training_requested.emit(job.id),
            on_error=lambda message: self.banner.show_message("error", message),
        )

    def _on_copy_log_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.log_view.toPlainText())

    def shutdown(self) -> bool:
        """Cancel a running training; return True when nothing runs any more."""
        if self.running:
            self.cancel()
            return False
        return True
