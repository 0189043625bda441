"""Training job records: options, create/retry validation, stale jobs at start-up, cancel without a supervisor."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from predictml_desktop.core.processes import process_identity, spawn
from predictml_desktop.core.records import now_iso
from predictml_desktop.core.status import DatasetStatus, JobStatus
from predictml_desktop.core.store import NotFoundError, Store
from predictml_desktop.core.training import (
    INTERRUPTED_MESSAGE,
    TrainingError,
    TrainingEvent,
    TrainingOptions,
    create_job,
    fail_stale_jobs,
    request_cancel,
    retry_job,
)
from predictml_desktop.core.training.jobs import finish_job
from predictml_desktop.core.training.options import OptionsError
from tests.core.training_support import add_dataset, alive, make_store, tree, wait_until


@pytest.fixture
def store(predictml_home: Path) -> Store:
    return make_store(predictml_home)


# --------------------------------------------------------------------------- options and events


def test_options_round_trip_through_the_record() -> None:
    options = TrainingOptions(preset="fast", budget_s=30, models=["lr", "rf"], excluded_columns=["id"],
                              ranking_metric="f1_macro", threshold_objective="cost", false_negative_cost=5.0)
    doc = options.to_dict()
    assert doc["budgetS"] == 30 and doc["excludedColumns"] == ["id"] and doc["rankingMetric"] == "f1_macro"
    assert doc["thresholdObjective"] == "cost" and doc["falseNegativeCost"] == 5.0
    assert TrainingOptions.from_dict(doc) == options
    assert TrainingOptions.from_dict({}) == TrainingOptions()
    assert TrainingOptions().effective_budget_s == TrainingOptions().spec.budget_s


@pytest.mark.parametrize("bad, words", [
    ({"preset": "turbo"}, "Unknown preset"),
    ({"budget_s": 1}, "between"),
    ({"budget_s": "10"}, "number of seconds"),
    ({"models": []}, "empty"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"threshold_objective": "accuracy"}, "threshold objective"),
    ({"false_positive_cost": -1}, "false positive"),
])
def test_invalid_options_are_refused_with_a_sentence(bad: dict, words: str) -> None:
    with pytest.raises(OptionsError, match=words):
        TrainingOptions(**bad).validate()


def test_events_round_trip_and_garbage_becomes_a_log_line() -> None:
    event = TrainingEvent.progress(40, "Training models", unit="screen:rf", timeoutS=12.5)
    line = event.to_json_line()
    assert "\n" not in line
    back = TrainingEvent.from_json_line(line)
    assert back == event and back.to_dict()["type"] == "progress"
    candidate = TrainingEvent.candidate({"model": "rf", "scores": {"auc": float("nan"), "f1": 0.5}, "fitSeconds": 1})
    assert TrainingEvent.from_json_line(candidate.to_json_line()).payload["scores"] == {"auc": None, "f1": 0.5}
    for garbage in ("", "not json", '{"type": "progress"', '{"type": "nope"}', '{"type": "progress", "progress": "x"}',
                    '{"type": "candidate", "scores": {}}', "[1]", b"\xff\xfe bytes"):
        parsed = TrainingEvent.from_json_line(garbage)
        assert parsed.type == "log"
    assert TrainingEvent.from_json_line('{"type":"progress","progress":250,"stage":"x"}').payload["progress"] == 100


# --------------------------------------------------------------------------- create and retry


def test_create_job_moves_the_dataset_to_training_in_one_transaction(store: Store) -> None:
    ds = add_dataset(store)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", budget_s=20))
    assert job.status == JobStatus.TRAINING and job.id.startswith("training_")
    assert job.options["preset"] == "fast" and job.options["budgetS"] == 20 and job.attempt == 1
    assert job.problem_type == "classification"
    assert store.read().datasets.get(ds.id).status == DatasetStatus.TRAINING
    with pytest.raises(TrainingError, match="already being trained"):
        create_job(store, ds.id, "target")


@pytest.mark.parametrize("target, options, message", [
    ("nope", TrainingOptions(), "Target column 'nope' not found"),
    ("target", TrainingOptions(models=["lr", "warp"]), "Unknown classification model"),
    ("target", TrainingOptions(ranking_metric="r2"), "not a classification metric"),
    ("target", TrainingOptions(excluded_columns=["ghost"]), "no such column"),
    ("target", TrainingOptions(excluded_columns=["target"]), "cannot also be an excluded column"),
    ("target", TrainingOptions(preset="warp"), "Unknown preset"),
])
def test_create_job_refuses_bad_requests_and_writes_nothing(store: Store, target: str, options: TrainingOptions,
                                                              message: str) -> None:
    ds = add_dataset(store)
    before = store.paths.jobs_file.read_bytes() if store.paths.jobs_file.exists() else b""
    with pytest.raises(TrainingError, match=message):
        create_job(store, ds.id, target, options)
    assert (store.paths.jobs_file.read_bytes() if store.paths.jobs_file.exists() else b"") == before
    assert store.read().datasets.get(ds.id).status == DatasetStatus.UPLOADED


def test_create_job_refuses_a_single_class_target(store: Store) -> None:
    ds = add_dataset(store, classes=1)
    with pytest.raises(TrainingError, match=r"^The target has only one class"):
        create_job(store, ds.id, "target")


def test_create_job_for_a_missing_dataset_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        create_job(store, "report_99", "target")


def test_retry_creates_a_new_attempt_of_a_failed_or_cancelled_job(store: Store) -> None:
    ds = add_dataset(store)
    job = create_job(store, ds.id, "target", TrainingOptions(preset="fast", models=["lr"]))
    with pytest.raises(TrainingError, match="Only a failed or cancelled job"):
        retry_job(store, job.id)
    finish_job(store, job.id, JobStatus.FAILED, error="boom")
    assert store.read().datasets.get(ds.id).status == DatasetStatus.FAILED
    second = retry_job(store, job.id)
    assert second.id != job.id and second.retry_of == job.id and second.attempt == 2
    assert second.options == job.options and second.target_column == "target"
    assert store.read().datasets.get(ds.id).status == DatasetStatus.TRAINING
    finish_job(store, second.id, JobStatus.CANCELLED)
    assert store.read().datasets.get(ds.id).status == DatasetStatus.UPLOADED
    third = retry_job(store, second.id)
    assert third.attempt == 3 and third.retry_of == second.id


# --------------------------------------------------------------------------- stale jobs at start-up


def _stamp(seconds_ago: float) -> str:
    from predictml_desktop.core.training.jobs import utc_stamp

    return utc_stamp(time.time() - seconds_ago)


def test_stale_jobs_become_failed_at_start_up(store: Store) -> None:
    datasets = [add_dataset(store) for _ in range(5)]
    jobs = [create_job(store, d.id, "target") for d in datasets]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_identity = {"pid": dead.pid, "createTime": time.time() - 5}
    other_app = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    me = process_identity(other_app.pid)
    with store.transaction() as tx:
        # 0: its supervisor is gone (recent heartbeat, but the app was killed).
        tx.jobs.update(jobs[0].id, worker={"pid": dead.pid, "createTime": 1.0, "supervisor": dead_identity},
                       heartbeat_at=now_iso())
        # 1: supervisor alive but the heartbeat stopped long ago (a hung app).
        tx.jobs.update(jobs[1].id, worker={"pid": dead.pid, "supervisor": me}, heartbeat_at=_stamp(600))
        # 2: killed before its first heartbeat: falls back to startedAt.
        tx.jobs.update(jobs[2].id, started_at=_stamp(120), heartbeat_at=None, worker=None)
        # 3: just created by another process, no worker yet: left alone.
        # 4: supervised by a living process with a fresh heartbeat: left alone.
        tx.jobs.update(jobs[4].id, worker={"pid": dead.pid, "supervisor": me}, heartbeat_at=now_iso())
    try:
        failed = fail_stale_jobs(store)
    finally:
        other_app.kill()
        other_app.wait()
    assert sorted(failed) == sorted([jobs[0].id, jobs[1].id, jobs[2].id])
    snapshot = store.read()
    for job in jobs[:3]:
        record = snapshot.jobs.get(job.id)
        assert record.status == JobStatus.FAILED and record.error == INTERRUPTED_MESSAGE
        assert record.logs[-1] == INTERRUPTED_MESSAGE and record.finished_at
        assert snapshot.datasets.get(record.dataset_id).status == DatasetStatus.FAILED
    for job in jobs[3:]:
        assert snapshot.jobs.get(job.id).status == JobStatus.TRAINING
    # Now that the other app is gone, its job is abandoned too; a job this process supervises is not.
    with store.transaction() as tx:
        tx.jobs.update(jobs[3].id, worker={"supervisor": process_identity()}, heartbeat_at=now_iso())
    assert fail_stale_jobs(store) == [jobs[4].id]


def test_stale_job_whose_worker_survived_gets_its_worker_ended(store: Store) -> None:
    ds = add_dataset(store)
    job = create_job(store, ds.id, "target")
    worker = spawn([sys.executable, "-c", "import time\nwhile True: time.sleep(0.2)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        with store.transaction() as tx:
            tx.jobs.update(job.id, worker={**process_identity(worker.pid),
                                           "supervisor": {"pid": dead.pid, "createTime": 1.0}},
                           heartbeat_at=_stamp(100))
        assert fail_stale_jobs(store) == [job.id]
        assert worker.wait(5) is not None
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()


def test_cancel_without_a_supervisor_ends_the_recorded_worker(store: Store) -> None:
    ds = add_dataset(store)
    job = create_job(store, ds.id, "target")
    worker = spawn([sys.executable, "-c", "import subprocess, sys, time\n"
                    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                    "time.sleep(60)"])
    try:
        procs = wait_until(lambda: len(tree(worker.pid)) == 2 and tree(worker.pid), 10)
        with store.transaction() as tx:
            tx.jobs.update(job.id, worker=process_identity(worker.pid), heartbeat_at=now_iso())
        final = request_cancel(store, job.id, wait_s=0.5)
        assert final.status == JobStatus.CANCELLED
        wait_until(lambda: not alive(procs), 5)
        assert store.read().datasets.get(ds.id).status == DatasetStatus.UPLOADED
        with pytest.raises(TrainingError, match="not training"):
            request_cancel(store, job.id)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()


# --------------------------------------------------------------------------- metrics and ranking


def test_ranking_metric_suits_the_data_and_says_why() -> None:
    from predictml_desktop.core.training.metrics import choose_ranking_metric

    assert choose_ranking_metric("classification", {0: 50, 1: 45})[0] == "auc"
    metric, reason = choose_ranking_metric("classification", {"no": 940, "yes": 60})
    assert metric == "auc" and "'yes'" in reason and "6.0%" in reason and "threshold" in reason
    assert choose_ranking_metric("classification", {"a": 30, "b": 31, "c": 29})[0] == "log_loss"
    assert choose_ranking_metric("regression")[0] == "r2"
    assert choose_ranking_metric("classification", {0: 9, 1: 1}, "Balanced-Accuracy") == (
        "balanced_accuracy", "balanced accuracy was chosen by the user.")
    with pytest.raises(ValueError, match="not a regression metric"):
        choose_ranking_metric("regression", None, "auc")


def test_scores_handle_decision_functions_missing_classes_and_direction() -> None:
    import numpy as np

    from predictml_desktop.core.training import metrics as M

    y = np.array([0, 0, 1, 1, 2, 2])
    decision = np.array([[2, 0, 0], [1, 0, 0], [0, 2, 0], [0, 1, 1], [0, 0, 3], [0, 0, 2.0]])
    scores = M.classification_scores(y, decision.argmax(axis=1), 3, decision=decision)
    assert scores["accuracy"] == 1.0 and scores["auc"] == pytest.approx(1.0) and scores["log_loss"] is None
    # A validation fold without class 2 still gets an AUC over the classes present.
    part = M.classification_scores(y[:4], decision[:4].argmax(axis=1), 3, proba=decision[:4] / 2 + 0.01)
    assert part["auc"] is not None and part["log_loss"] is not None
    reg = M.regression_scores(np.array([0.0, 2.0, 4.0]), np.array([0.0, 2.0, 5.0]))
    assert reg["mape"] == pytest.approx(0.125) and reg["r2"] < 1
    assert M.improvement(0.2, 0.3, "rmse") == pytest.approx(0.1) and M.improvement(0.2, 0.3, "auc") < 0
    assert sorted([None, 0.5, 0.9], key=M.sort_key("auc")) == [0.9, 0.5, None]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_scores_equal_scikit_learns(n_classes: int) -> None:
    """The confusion-matrix metrics give scikit-learn's values, missing and unseen classes included."""
    import numpy as np
    from sklearn import metrics as m

    from predictml_desktop.core.training import metrics as M

    rng = np.random.default_rng(n_classes)
    average = "binary" if n_classes == 2 else "weighted"
    for case in range(60):
        n = int(rng.integers(3, 40))
        # Some cases leave classes out of y_true or out of y_pred, or predict one class for all.
        y = rng.integers(0, n_classes if case % 3 else max(2, n_classes - 1), n)
        pred = rng.integers(0, n_classes, n) if case % 5 else np.full(n, n_classes - 1)
        proba = rng.random((n, n_classes)) + (np.eye(n_classes)[y] if case % 2 else 0)
        proba /= proba.sum(axis=1, keepdims=True)
        ours = M.classification_scores(y, pred, n_classes, proba=proba)
        expected = {
            "accuracy": m.accuracy_score(y, pred),
            "recall": m.recall_score(y, pred, average=average, zero_division=0),
            "precision": m.precision_score(y, pred, average=average, zero_division=0),
            "f1": m.f1_score(y, pred, average=average, zero_division=0),
            "mcc": m.matthews_corrcoef(y, pred),
            "balanced_accuracy": m.balanced_accuracy_score(y, pred),
            "f1_macro": m.f1_score(y, pred, average="macro", zero_division=0),
            "log_loss": m.log_loss(y, proba, labels=list(range(n_classes))),
        }
        with np.errstate(all="ignore"):
            kappa = m.cohen_kappa_score(y, pred)
        expected["kappa"] = float(kappa) if np.isfinite(kappa) else None
        present = np.unique(y)
        if len(present) > 1:
            if n_classes == 2:
                expected["auc"] = m.roc_auc_score(y, proba[:, 1])
            else:
                weights = [np.sum(y == c) for c in present]
                expected["auc"] = np.average([m.roc_auc_score(y == c, proba[:, c]) for c in present], weights=weights)
        else:
            expected["auc"] = None
        for key, value in expected.items():
            if value is None:
                assert ours[key] is None, (case, key)
            else:
                assert ours[key] == pytest.approx(value, abs=1e-12), (case, key)
    # Codes outside 0..n-1 are left to scikit-learn's own rules.
    fallback = M.classification_scores(np.array([0, 1, 1]), np.array([0, 1, 7]), 2)
    assert fallback["accuracy"] == pytest.approx(2 / 3) and fallback["recall"] is None


def test_permutation_importance_ranks_the_column_the_model_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shuffled copies are scored in stacked batches; the batch size does not change the result."""
    import numpy as np
    import pandas as pd

    from predictml_desktop.core.training import plots

    rng = np.random.default_rng(0)
    Xt = pd.DataFrame({"a": rng.normal(size=200), "b_x": rng.normal(size=200), "b_y": rng.normal(size=200),
                       "c": rng.normal(size=200)})
    truth = 3 * Xt["a"].to_numpy() + Xt["b_x"].to_numpy() - Xt["b_y"].to_numpy()
    calls: list[int] = []

    def score_blocks(rows: pd.DataFrame, blocks: int) -> list[float | None]:
        calls.append(blocks)
        pred = 3 * rows["a"].to_numpy() + rows["b_x"].to_numpy() - rows["b_y"].to_numpy()
        n = len(rows) // blocks
        return [-float(np.mean((pred[i * n:(i + 1) * n] - truth) ** 2)) for i in range(blocks)]

    groups = {"a": [0], "b": [1, 2], "c": [3]}
    doc = plots.permutation_importance(score_blocks, Xt, groups, seed=1)
    assert calls == [1, 3]  # the base score, then every column in one call
    ranked = [f["name"] for f in doc["features"]]
    assert ranked[0] == "a" and ranked[-1] == "c" and doc["complete"]
    assert doc["features"][-1]["importance"] == pytest.approx(0.0)
    calls.clear()
    monkeypatch.setattr(plots, "STACK_CELLS", 1)
    again = plots.permutation_importance(score_blocks, Xt, groups, seed=1)
    assert calls == [1, 1, 1, 1] and again["features"] == doc["features"]


def test_model_columns_map_back_to_input_columns() -> None:
    from predictml_desktop.core.training.plots import column_groups

    groups = column_groups(["age", "city_Oslo", "city_Lima", "city_name_x", "joined_day", "joined_month", "odd"],
                           ["age", "city", "city_name", "joined"])
    assert groups == {"age": [0], "city": [1, 2], "city_name": [3], "joined": [4, 5], "odd": [6]}
