"""The real worker process under the runner: real PyCaret on tiny tables, cancel, hang, app killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.artifacts import sha256_file
from predictml_desktop.core.status import DatasetStatus, JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import EventType, TrainingOptions, TrainingRunner, create_job
from predictml_desktop.core.training.engine import FAULTS_ENV
from tests.core.test_runner import parent_killed_leaves_no_orphan
from tests.core.training_support import (
    Background,
    Recorder,
    alive,
    binary_frame,
    import_frame,
    make_store,
    tree,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def store(predictml_home: Path) -> Store:
    return make_store(predictml_home)


def test_real_training_end_to_end_through_the_worker(store: Store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ds = import_frame(store, binary_frame(140, labels=("stay", "leave")), tmp_path)
    # MLP holds the GIL, so on Linux it fits in the engine's forked process lane: a fork of this
    # worker, whose cancel watcher is blocked reading stdin (a lock the lane must never need).
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", models=["lr", "dt", "mlp"], n_jobs=2))
    recorder = Recorder()
    final = TrainingRunner(store, job.id).run(recorder)
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    assert {e["model"]: e["status"] for e in final.leaderboard}["mlp"] == "done"
    assert final.model_name and final.model_path == f"models/{job.id}/model.pkl"
    assert sha256_file(store.paths.resolve(final.model_path)) == final.model_sha256
    assert final.metrics["auc"] > 0.6 and "cv" in final.metrics and "baseline" in final.metrics
    assert final.samples == 140 and final.features == 3 and final.problem_type == "classification"
    assert final.ranking_metric == "auc" and final.environment and final.environment["pycaret"] == "3.3.2"
    assert {e["model"] for e in final.leaderboard} >= {"dummy", "lr", "dt"}
    assert store.read().datasets.get(ds.id).status == DatasetStatus.PENDING_REVIEW
    stages = [e.payload["stage"] for e in recorder.of(EventType.PROGRESS)]
    order = ["Loading data", "Detecting problem type", "Setting up", "Training models", "Evaluating", "Saved"]
    assert [s for s in dict.fromkeys(stages) if s in order] == order
    assert recorder.of(EventType.PROGRESS)[0].payload["progress"] == 5
    assert recorder.of(EventType.RESULT)[0].payload["jobId"] == job.id
    # Nothing written outside the data home: no logs.log or catboost_info/ in the caller's folder.
    assert not (tmp_path / "logs.log").exists() and not (tmp_path / "catboost_info").exists()
    assert not (Path.cwd() / "logs.log").exists()


def test_worker_reports_a_target_that_vanished_from_the_record(store: Store, tmp_path: Path) -> None:
    ds = import_frame(store, binary_frame(60), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", models=["lr"]))
    with store.transaction() as tx:
        tx.jobs.update(job.id, target_column="nope")  # e.g. a record edited by hand
    final = TrainingRunner(store, job.id).run()
    assert final.status == JobStatus.FAILED
    assert final.error == "Target column 'nope' not found"
    assert store.read().datasets.get(ds.id).status == DatasetStatus.FAILED


def test_a_hanging_candidate_is_stopped_for_real_and_the_run_finishes(store: Store, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The first real candidate always runs, whatever the budget: make it the one that hangs.
    monkeypatch.setenv(FAULTS_ENV, "hang:lr")
    ds = import_frame(store, binary_frame(120), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", models=["lr", "dt"], budget_s=20))
    recorder = Recorder()
    final = TrainingRunner(store, job.id).run(recorder)
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    lr = next(e for e in final.leaderboard if e["model"] == "lr")
    assert lr["status"] == "stopped" and "exceeded its time share" in lr["reason"]
    assert final.model_name == "Decision Tree Classifier"
    assert any("Restarting the worker" in e.message for e in recorder.of(EventType.LOG))


def _larger_frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, 8))
    y = np.where(x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=n) > 0, "a", "b")
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["target"] = y
    return frame


def test_cancel_of_a_real_training_ends_joblibs_worker_processes_too(store: Store, tmp_path: Path) -> None:
    ds = import_frame(store, _larger_frame(), tmp_path)
    options = TrainingOptions(preset="balanced", models=["rf", "gbc", "et", "ada"], n_jobs=2,
                              parallel_backend="loky")
    job = create_job(store, ds.id, "target", options)
    runner = TrainingRunner(store, job.id)
    recorder = Recorder()
    bg = Background(runner, recorder)
    recorder.wait_for(lambda e: e.type == EventType.PROGRESS and e.payload.get("stage") == "Training models", 120)
    pid = wait_until(lambda: runner.worker_pid, 10)
    # joblib's process pool (its workers and resource tracker) hangs under the worker.
    procs = wait_until(lambda: len(alive(tree(pid))) >= 3 and tree(pid), 60, interval=0.1)
    start = time.monotonic()
    runner.cancel()
    final = bg.join(30)
    wait_until(lambda: not alive(procs), 5.0, interval=0.05)
    assert time.monotonic() - start < 5.0
    assert final.status == JobStatus.CANCELLED
    assert store.read().datasets.get(ds.id).status == DatasetStatus.UPLOADED


def test_cancel_ends_the_process_lane_too(store: Store, tmp_path: Path) -> None:
    from predictml_desktop.core.training.folds import lane_supported

    if not lane_supported():
        pytest.skip("the process lane forks (Linux only)")
    ds = import_frame(store, _larger_frame(), tmp_path)
    options = TrainingOptions(preset="balanced", models=["lr", "gbc", "mlp", "ada"], n_jobs=2)
    job = create_job(store, ds.id, "target", options)
    runner = TrainingRunner(store, job.id)
    recorder = Recorder()
    bg = Background(runner, recorder)
    pid = wait_until(lambda: runner.worker_pid, 60)
    procs = wait_until(lambda: len(alive(tree(pid))) >= 2 and tree(pid), 120, interval=0.05)  # worker + lane
    start = time.monotonic()
    runner.cancel()
    final = bg.join(30)
    wait_until(lambda: not alive(procs), 5.0, interval=0.05)
    assert time.monotonic() - start < 5.0
    assert final.status == JobStatus.CANCELLED


def test_app_killed_during_a_real_training_leaves_no_orphan(store: Store, tmp_path: Path) -> None:
    ds = import_frame(store, _larger_frame(), tmp_path)
    options = TrainingOptions(preset="balanced", models=["rf", "gbc", "et"], n_jobs=2, parallel_backend="loky")
    job = create_job(store, ds.id, "target", options)

    def training_with_children(record: object, procs: list) -> bool:
        return getattr(record, "progress", 0) >= 40 and len(alive(procs)) >= 3

    parent_killed_leaves_no_orphan(store, job.id, None, training_with_children, timeout=120)
    assert os.environ.get(FAULTS_ENV) is None


def test_app_killed_while_the_process_lane_fits_leaves_no_orphan(store: Store, tmp_path: Path) -> None:
    from predictml_desktop.core.training.folds import lane_supported

    if not lane_supported():
        pytest.skip("the process lane forks (Linux only)")
    ds = import_frame(store, _larger_frame(), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="balanced", models=["lr", "gbc", "mlp"], n_jobs=2))

    def lane_running(record: object, procs: list) -> bool:
        return getattr(record, "progress", 0) >= 30 and len(alive(procs)) >= 2

    parent_killed_leaves_no_orphan(store, job.id, None, lane_running, timeout=120)
