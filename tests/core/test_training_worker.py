"""The real worker process under the runner: real PyCaret on tiny tables, cancel, hang, app killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from predictml_desktop.core.artifacts import sha256_file
from predictml_desktop.core.status import DatasetStatus, JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import EventType, TrainingOptions, TrainingRunner, create_job
from predictml_desktop.core.training.folds import FAULTS_ENV
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
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", models=["lr", "dt", "mlp"], n_jobs=2))
    recorder = Recorder()
    runner = TrainingRunner(store, job.id)
    fitters: list[psutil.Process] = []

    def watch(event: object) -> None:
        recorder(event)  # type: ignore[arg-type]
        pid = runner.worker_pid
        if pid and not fitters:
            fitters.extend(p for p in alive(tree(pid))[1:] if "spawn_main" in " ".join(p.cmdline()))

    final = runner.run(watch)
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    # Every fit ran in spawned processes (a fresh interpreter each: nothing forked after OpenMP ran).
    assert len(fitters) == 2
    assert {e["model"]: e["status"] for e in final.leaderboard}["mlp"] == "done"
    assert final.model_name and final.model_path == f"models/{job.id}/model.pkl"
    assert sha256_file(store.paths.resolve(final.model_path)) == final.model_sha256
    assert final.metrics["auc"] > 0.6 and "cv" in final.metrics and "baseline" in final.metrics
    assert final.samples == 140 and final.features == 3 and final.problem_type == "classification"
    assert final.ranking_metric == "auc" and final.environment and final.environment["pycaret"] == "3.3.2"
    assert 0 < final.decision_threshold["value"] < 1 and final.ensemble and not final.stopped_early
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
    assert not alive(fitters)


def test_worker_reports_a_target_that_vanished_from_the_record(store: Store, tmp_path: Path) -> None:
    ds = import_frame(store, binary_frame(60), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", models=["lr"]))
    with store.transaction() as tx:
        tx.jobs.update(job.id, target_column="nope")  # e.g. a record edited by hand
    final = TrainingRunner(store, job.id).run()
    assert final.status == JobStatus.FAILED
    assert final.error == "Target column 'nope' not found"
    assert store.read().datasets.get(ds.id).status == DatasetStatus.FAILED


def test_a_candidate_over_its_time_share_is_stopped_for_real_and_the_run_finishes(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULTS_ENV, "spin:lr")  # computes for ever
    ds = import_frame(store, binary_frame(120), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", models=["lr", "dt"], budget_s=20))
    final = TrainingRunner(store, job.id).run(Recorder())
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    lr = next(e for e in final.leaderboard if e["model"] == "lr")
    assert lr["status"] == "stopped" and "exceeded its time share" in lr["reason"]
    assert final.model_name == "Decision Tree Classifier"


def _larger_frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, 8))
    y = np.where(x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=n) > 0, "a", "b")
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["target"] = y
    return frame


SLOW_MODELS = ["lr", "nb", "rf", "gbc", "et", "ada", "mlp", "catboost"]


def test_cancel_keeps_the_best_model_which_can_be_approved_and_predict(store: Store, tmp_path: Path) -> None:
    from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests
    from predictml_desktop.core.prediction import ModelRegistry, predict_rows

    frame = _larger_frame()
    ds = import_frame(store, frame, tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="balanced", models=SLOW_MODELS))
    runner = TrainingRunner(store, job.id)
    recorder = Recorder()
    bg = Background(runner, recorder)
    recorder.wait_for(lambda e: e.type == EventType.CANDIDATE and e.payload.get("status") == "done"
                      and e.payload["model"] not in ("dummy",), 180)
    pid = wait_until(lambda: runner.worker_pid, 10)
    fitters = list(alive(tree(pid))[1:])
    start = time.monotonic()
    runner.cancel()
    final = bg.join(120)
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    assert final.stopped_early and any(w["code"] == "stopped_early" for w in final.warnings)
    assert time.monotonic() - start < 60
    # The search's processes ended at once; the kept model was fitted by new ones, gone too.
    wait_until(lambda: not alive(fitters), 5.0)
    assert any(e["status"] == "stopped" for e in final.leaderboard)
    gov = Governance(store.paths, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada@example.org", "a long enough passphrase for tests")
    gov.approve(session, final.id, "local", reason="stopped early, good enough")
    model = ModelRegistry(store.paths).get(ds.id)
    rows = frame.drop(columns=["target"]).head(5).to_dict(orient="records")
    assert set(predict_rows(model, rows).predictions) <= {"a", "b"}


def test_cancel_before_any_model_finished_ends_everything_within_5_seconds(store: Store, tmp_path: Path) -> None:
    ds = import_frame(store, _larger_frame(), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="balanced", models=SLOW_MODELS))
    runner = TrainingRunner(store, job.id)
    recorder = Recorder()
    bg = Background(runner, recorder)
    recorder.wait_for(lambda e: e.type == EventType.PROGRESS and e.payload.get("stage") == "Setting up", 120)
    pid = wait_until(lambda: runner.worker_pid, 10)
    procs = wait_until(lambda: len(alive(tree(pid))) >= 3 and tree(pid), 60, interval=0.05)  # worker + 2 fitters
    start = time.monotonic()
    runner.cancel()
    final = bg.join(30)
    wait_until(lambda: not alive(procs), 5.0, interval=0.05)
    assert time.monotonic() - start < 5.0
    assert final.status == JobStatus.CANCELLED
    assert store.read().datasets.get(ds.id).status == DatasetStatus.UPLOADED


def test_cancel_without_keeping_ends_everything_within_5_seconds(store: Store, tmp_path: Path) -> None:
    ds = import_frame(store, _larger_frame(), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="balanced", models=SLOW_MODELS))
    runner = TrainingRunner(store, job.id)
    recorder = Recorder()
    bg = Background(runner, recorder)
    recorder.wait_for(lambda e: e.type == EventType.CANDIDATE and e.payload.get("status") == "done", 180)
    procs = tree(wait_until(lambda: runner.worker_pid, 10))
    start = time.monotonic()
    runner.cancel(keep_best=False)
    final = bg.join(30)
    wait_until(lambda: not alive(procs), 5.0, interval=0.05)
    assert time.monotonic() - start < 5.0
    assert final.status == JobStatus.CANCELLED


def test_app_killed_during_a_real_training_leaves_no_orphan(store: Store, tmp_path: Path) -> None:
    ds = import_frame(store, _larger_frame(), tmp_path)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="balanced", models=SLOW_MODELS))

    def training_with_children(record: object, procs: list) -> bool:
        return getattr(record, "progress", 0) >= 40 and len(alive(procs)) >= 3

    parent_killed_leaves_no_orphan(store, job.id, None, training_with_children, timeout=120)
    assert os.environ.get(FAULTS_ENV) is None
