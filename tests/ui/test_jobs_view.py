from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from predictml_desktop.core.ingest import import_dataset
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.training import TrainingOptions, TrainingRunner, create_job
from predictml_desktop.ui.jobs_view import JobsView
from predictml_desktop.ui.main_window import MainWindow
from tests.ui.data import FAKE_TRAINER, fake_worker, write_customers_csv

TIMEOUT = 30_000


def _run(store, dataset_id: str, scenario: str) -> str:
    job = create_job(store, dataset_id, "purchased", TrainingOptions(preset="fast"))
    TrainingRunner(store, job.id, command=fake_worker(scenario)).run()
    return job.id


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window(run_startup=False)


@pytest.fixture
def jobs(window: MainWindow, tmp_path: Path) -> dict[str, str]:
    store = window.context.store
    dataset = import_dataset(store, write_customers_csv(tmp_path / "customers.csv"), target="purchased",
                             name="Customers")
    return {"ok": _run(store, dataset.id, "success"), "failed": _run(store, dataset.id, "fail")}


def _show(qtbot, window: MainWindow) -> JobsView:
    view = window.view("jobs")
    assert isinstance(view, JobsView)
    with qtbot.waitSignal(view.reloaded, timeout=TIMEOUT):
        window.show_view("jobs")
    return view


def test_every_job_is_listed_with_status_dataset_model_and_score(qtbot, window, jobs) -> None:
    view = _show(qtbot, window)
    assert sorted(view.visible_job_ids()) == sorted(jobs.values())
    rows = {view.model.index(r, 0).data(): [view.model.index(r, c).data() for c in range(view.model.columnCount())]
            for r in range(view.model.rowCount())}
    ok = rows[jobs["ok"]]
    assert ok[1] == "Waiting for review" and ok[2] == "Customers" and ok[3] == "purchased"
    assert ok[4] == "Random Forest Classifier" and ok[5] == "Accuracy 83.0 %"
    assert rows[jobs["failed"]][1] == "Failed"


def test_the_status_filter_narrows_the_list(qtbot, window, jobs) -> None:
    view = _show(qtbot, window)
    view.status_filter.setCurrentIndex(view.status_filter.findData("failed"))
    assert view.visible_job_ids() == [jobs["failed"]]
    view.status_filter.setCurrentIndex(view.status_filter.findData("pending_review"))
    assert view.visible_job_ids() == [jobs["ok"]]
    view.status_filter.setCurrentIndex(0)
    assert len(view.visible_job_ids()) == 2


def test_details_show_metrics_leaderboard_and_the_full_log(qtbot, window, jobs) -> None:
    view = _show(qtbot, window)
    assert view.select_job(jobs["ok"])
    assert view.details_title.text().startswith(jobs["ok"])
    assert view.metrics_model.index(0, 0).data() == "AUC"  # the ranking metric first
    assert view.metrics_model.index(0, 1).data() == "0.880"
    assert [view.board_model.row_object(r)["model"] for r in range(view.board_model.rowCount())] == ["rf", "lr", "gpc"]
    qtbot.waitUntil(lambda: "supervisor: job ended pending_review" in view.log_view.toPlainText(), timeout=TIMEOUT)
    assert view.retry_button.isHidden()
    # A reload with the job unchanged leaves its details alone (the reader's place is kept).
    status = view.summary_form.itemAt(0, view.summary_form.ItemRole.FieldRole).widget()
    with qtbot.waitSignal(view.reloaded, timeout=TIMEOUT):
        view.reload()
    assert view.summary_form.itemAt(0, view.summary_form.ItemRole.FieldRole).widget() is status


def test_details_show_the_ensemble_and_the_decision_threshold(qtbot, window, jobs) -> None:
    view = _show(qtbot, window)
    assert view.select_job(jobs["ok"])
    form = view.summary_form
    rows = {form.itemAt(i, form.ItemRole.LabelRole).widget().text().rstrip(":"):
            form.itemAt(i, form.ItemRole.FieldRole).widget().text() for i in range(form.rowCount())}
    assert rows["Ensemble of"] == "Random Forest Classifier 60%, Logistic Regression 40%"
    assert rows["Decision threshold"].startswith("0.42 on the probability of the positive class")


def test_a_job_stopped_early_says_so(qtbot, window, jobs) -> None:
    store = window.context.store
    with store.transaction() as tx:
        tx.jobs.update(jobs["ok"], stopped_early=True)
    view = _show(qtbot, window)
    row = next(r for r in range(view.model.rowCount()) if view.model.index(r, 0).data() == jobs["ok"])
    assert view.model.index(row, 1).data() == "Waiting for review (stopped early)"


def test_a_failed_job_shows_its_error_and_can_be_retried(qtbot, window, jobs) -> None:
    view = _show(qtbot, window)
    assert view.select_job(jobs["failed"])
    assert view.error_label.text() == "Training failed: Target column 'target' not found"
    assert not view.retry_button.isHidden()
    panel = window.view("training")
    panel.command = fake_worker("success")
    with qtbot.waitSignal(window.context.training_requested, timeout=TIMEOUT) as requested:
        qtbot.mouseClick(view.retry_button, Qt.MouseButton.LeftButton)
    assert window.current_view_key() == "training"
    with qtbot.waitSignal(panel.training_finished, timeout=TIMEOUT) as finished:
        pass
    assert finished.args == ["pending_review"]
    retry = window.context.store.read().jobs.get(requested.args[0])
    assert retry.retry_of == jobs["failed"] and retry.status == JobStatus.PENDING_REVIEW


def test_an_empty_home_says_how_to_start(qtbot, window) -> None:
    view = _show(qtbot, window)
    assert view.model.rowCount() == 0
    assert view.empty_label.isVisible()


def test_a_training_run_by_another_process_can_be_cancelled_from_the_jobs_view(
    qtbot, window, tmp_path, confirmations
) -> None:
    import os
    import subprocess

    store = window.context.store
    dataset = import_dataset(store, write_customers_csv(tmp_path / "customers.csv"), target="purchased")
    job = create_job(store, dataset.id, "purchased", TrainingOptions(preset="fast"))
    # Another process supervises it, as `predictml train` would.
    other = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from predictml_desktop.core.store import Store; "
         "from predictml_desktop.core.training import TrainingRunner; "
         f"TrainingRunner(Store(), {job.id!r}, command=[sys.executable, {str(FAKE_TRAINER)!r}, 'hang']).run()"],
        env=dict(os.environ),
    )
    try:
        qtbot.waitUntil(lambda: store.read().jobs.get(job.id).progress == 40, timeout=TIMEOUT)
        view = _show(qtbot, window)
        assert view.select_job(job.id)
        assert view.follow_button.isHidden() and not view.cancel_button.isHidden()
        confirmations.answer = True
        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
        assert confirmations.asked[-1][0] == "Cancel this training?"
        qtbot.waitUntil(lambda: view.banner.text == f"Job {job.id} is cancelled.", timeout=TIMEOUT)
        assert store.read().jobs.get(job.id).status == JobStatus.CANCELLED
        qtbot.waitUntil(lambda: view.model.index(0, 1).data() == "Cancelled", timeout=TIMEOUT)
        assert other.wait(timeout=30) == 0
    finally:
        if other.poll() is None:
            other.kill()
