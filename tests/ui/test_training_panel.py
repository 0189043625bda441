from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from predictml_desktop.core.ingest import import_dataset
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.training import TrainingOptions, create_job
from predictml_desktop.ui.main_window import MainWindow
from predictml_desktop.ui.training_panel import TrainingPanel
from tests.ui.data import fake_worker, write_customers_csv

RUN_TIMEOUT = 30_000


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window(run_startup=False)


@pytest.fixture
def job_id(window: MainWindow, tmp_path: Path) -> str:
    store = window.context.store
    dataset = import_dataset(store, write_customers_csv(tmp_path / "customers.csv"), target="purchased")
    return create_job(store, dataset.id, "purchased", TrainingOptions(preset="fast")).id


def training_panel(window: MainWindow, scenario: str) -> TrainingPanel:
    panel = window.view("training")
    assert isinstance(panel, TrainingPanel)
    panel.command = fake_worker(scenario)
    return panel


def test_a_successful_training_streams_progress_log_and_leaderboard_then_shows_the_summary(
    qtbot, window, job_id
) -> None:
    panel = training_panel(window, "success")
    with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT) as finished:
        window.context.training_requested.emit(job_id)
        assert window.current_view_key() == "training"
        assert panel.running and panel.busy_reason() == f"A training is running ({job_id})."
    assert finished.args == ["pending_review"]
    assert panel.progress_bar.value() == 100
    assert panel.stage_label.text() == "Done"
    assert "fake trainer: success" in panel.log_view.toPlainText()
    qtbot.mouseClick(panel.copy_log_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == panel.log_view.toPlainText()
    # One row per model (rf was reported twice, screening then full CV); best first; skipped last.
    rows = panel.leaderboard.rows
    assert [r["model"] for r in rows] == ["rf", "lr", "gpc"]
    assert rows[0]["stage"] == "cv"
    assert panel.leaderboard.headerData(1, Qt.Orientation.Horizontal) == "AUC"
    assert panel.leaderboard.index(2, panel.leaderboard.columnCount() - 1).data().startswith("skipped")
    assert panel.summary.isVisible()
    summary = {panel.summary_form.itemAt(i, panel.summary_form.ItemRole.LabelRole).widget().text():
               panel.summary_form.itemAt(i, panel.summary_form.ItemRole.FieldRole).widget().text()
               for i in range(panel.summary_form.rowCount())}
    assert summary["Model:"] == "Random Forest Classifier"
    assert summary["AUC:"] == "0.880" and summary["Accuracy:"] == "0.830"
    assert summary["Status:"] == "Waiting for review"
    assert summary["Ensemble of:"] == "Random Forest Classifier 60%, Logistic Regression 40%"
    assert summary["Decision threshold:"].startswith("0.42")
    assert panel.banner.kind == "success"
    assert window.context.store.read().jobs.get(job_id).status == JobStatus.PENDING_REVIEW
    assert not panel.running and panel.busy_reason() is None


def test_a_failure_is_shown_in_the_seed_style_with_retry(qtbot, window, job_id) -> None:
    panel = training_panel(window, "fail")
    with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT):
        panel.supervise(job_id)
    assert panel.banner.kind == "error"
    assert panel.banner.text == "Training failed: Target column 'target' not found"
    retry_button = next(b for b in panel.banner.findChildren(type(panel.cancel_button)) if b.text() == "Retry")
    with qtbot.waitSignal(window.context.training_requested, timeout=RUN_TIMEOUT) as retried:
        with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT):
            qtbot.mouseClick(retry_button, Qt.MouseButton.LeftButton)
    new_job = window.context.store.read().jobs.get(retried.args[0])
    assert new_job.retry_of == job_id and new_job.attempt == 2
    assert window.context.store.read().jobs.get(job_id).status == JobStatus.FAILED


def test_a_crashed_worker_is_reported_with_its_exit_code(qtbot, window, job_id) -> None:
    panel = training_panel(window, "crash")
    with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT):
        panel.supervise(job_id)
    assert "Worker stopped unexpectedly (exit code -9)" in panel.banner.text


def test_cancel_asks_first_then_stops_the_worker(qtbot, window, job_id, confirmations) -> None:
    panel = training_panel(window, "hang")
    panel.supervise(job_id)
    qtbot.waitUntil(lambda: panel.progress_bar.value() == 40, timeout=RUN_TIMEOUT)
    confirmations.answer = False
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert confirmations.asked[-1][0] == "Stop the training?"
    assert panel.running
    confirmations.answer = True
    with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args == ["cancelled"]
    assert panel.banner.kind == "warning" and "cancelled" in panel.banner.text
    assert window.context.store.read().jobs.get(job_id).status == JobStatus.CANCELLED


def test_stop_keeps_the_best_model_so_far_for_review(qtbot, window, job_id, confirmations) -> None:
    panel = training_panel(window, "keeps")
    panel.supervise(job_id)
    qtbot.waitUntil(lambda: len(panel.leaderboard.rows) == 1, timeout=RUN_TIMEOUT)
    confirmations.answer = True
    with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args == ["pending_review"]
    assert panel.summary.title.text() == "Model ready for review (stopped early)"
    assert panel.banner.kind == "info" and "stopped early" in panel.banner.text
    job = window.context.store.read().jobs.get(job_id)
    assert job.status == JobStatus.PENDING_REVIEW and job.stopped_early


def test_only_one_training_runs_at_a_time(qtbot, window, job_id) -> None:
    panel = training_panel(window, "hang")
    panel.supervise(job_id)
    assert window.training_busy_reason() is not None
    panel.supervise("training_999")
    assert "already running" in panel.banner.text
    with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT):
        panel.cancel()


def test_closing_the_window_during_a_training_asks_then_cancels_and_closes(
    qtbot, window, job_id, confirmations
) -> None:
    panel = training_panel(window, "hang")
    panel.supervise(job_id)
    qtbot.waitUntil(lambda: panel.progress_bar.value() == 40, timeout=RUN_TIMEOUT)
    confirmations.answer = False
    window.close()
    assert window.isVisible() and panel.running
    assert "A training is running" in confirmations.asked[-1][1]
    confirmations.answer = True
    window.close()
    # The close waits for the worker to end instead of blocking the event loop; then it completes.
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_TIMEOUT)
    assert window.context.store.read().jobs.get(job_id).status == JobStatus.CANCELLED


def test_a_cluster_run_shows_its_dashboard_link(qtbot, window, job_id) -> None:
    panel = training_panel(window, "success")
    with qtbot.waitSignal(panel.training_finished, timeout=RUN_TIMEOUT):
        window.context.training_requested.emit(job_id)
    assert not panel.dashboard_label.isVisible()  # this computer: no cluster, no link
    # The engine's log line on a cluster (see core.training.engine._cluster).
    panel._on_thread_log_received("08:00:01 Dask dashboard: http://10.0.0.5:8787/status")
    assert panel.dashboard_label.isVisible()
    assert '<a href="http://10.0.0.5:8787/status">' in panel.dashboard_label.text()
