"""The training runner against a fake trainer: record updates, failures, cancel, watchdog, orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from predictml_desktop.core.status import DatasetStatus, JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import EventType, TrainingRunner, request_cancel
from tests.core.training_support import (
    Background,
    Recorder,
    add_dataset,
    alive,
    fake_command,
    make_store,
    new_job,
    tree,
    wait_until,
)


@pytest.fixture
def store(predictml_home: Path) -> Store:
    return make_store(predictml_home)


def _run(store: Store, mode: str, **flags: object) -> tuple[object, Recorder]:
    ds = add_dataset(store)
    job = new_job(store, ds.id)
    recorder = Recorder()
    final = TrainingRunner(store, job.id, command=fake_command(mode, **flags)).run(recorder)
    return final, recorder


def test_success_fills_the_record_and_moves_the_dataset(store: Store) -> None:
    final, recorder = _run(store, "success")
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    assert final.model_name == "Fake Model" and final.model_path == f"models/{final.id}/model.pkl"
    assert final.model_sha256 and len(final.model_sha256) == 64
    assert final.metrics["auc"] == 0.91 and final.metrics["cv"] == {"auc": 0.9}
    assert final.metrics["baseline"] == {"auc": 0.5} and final.metrics["holdoutRows"] == 20
    assert final.progress == 100 and final.stage == "Saved"
    assert final.ranking_metric == "auc" and final.beats_baseline is True
    assert final.finished_at and final.duration_s is not None and final.duration_s >= 0
    assert final.leaderboard[0]["model"] == "lr"
    assert store.read().datasets.get(final.dataset_id).status == DatasetStatus.PENDING_REVIEW
    progress = [e.payload["progress"] for e in recorder.of(EventType.PROGRESS)]
    assert progress[0] == 5 and progress[-1] == 100 and progress == sorted(progress)
    stages = [e.payload["stage"] for e in recorder.of(EventType.PROGRESS)]
    assert stages.index("Loading data") < stages.index("Setting up") < stages.index("Training models") \
        < stages.index("Evaluating") < stages.index("Saved")
    assert [e.payload["model"] for e in recorder.of(EventType.CANDIDATE)] == ["dummy", "lr"]
    assert len(recorder.of(EventType.RESULT)) == 1
    log_text = store.paths.job_log(final.id).read_text()
    assert "Training models" in log_text and "candidate lr" in log_text


def test_garbage_output_becomes_log_lines_and_never_breaks_the_run(store: Store) -> None:
    final, recorder = _run(store, "garbage")
    assert final.status == JobStatus.PENDING_REVIEW
    messages = [e.message for e in recorder.of(EventType.LOG)]
    assert "this is not json" in messages
    assert any(m.startswith('{"type": "progress", "progress": ') for m in messages)
    assert any('"unknown"' in m for m in messages) and "[1, 2, 3]" in messages


def test_error_event_is_the_jobs_failure_message(store: Store) -> None:
    final, recorder = _run(store, "error")
    assert final.status == JobStatus.FAILED
    assert final.error == "Target column 'target' not found"
    assert store.read().datasets.get(final.dataset_id).status == DatasetStatus.FAILED
    assert recorder.of(EventType.ERROR)[-1].message == "Target column 'target' not found"


def test_crash_without_error_event_reports_the_exit_code(store: Store) -> None:
    final, recorder = _run(store, "crash")
    assert final.status == JobStatus.FAILED
    assert final.error == "Worker stopped unexpectedly (exit code 3)"
    assert recorder.of(EventType.ERROR)[-1].message == final.error
    # The traceback is kept in the job's full log, not shown as the message.
    assert "RuntimeError: boom" in store.paths.job_log(final.id).read_text()


def test_killed_worker_reports_signal_exit_code(store: Store) -> None:
    final, _ = _run(store, "sigkill")
    assert final.status == JobStatus.FAILED
    assert final.error == "Worker stopped unexpectedly (exit code -9)"


def test_record_keeps_last_50_log_lines_and_the_file_keeps_all(store: Store) -> None:
    final, _ = _run(store, "chatty")
    assert final.status == JobStatus.PENDING_REVIEW
    assert len(final.logs) == 50 and final.logs[-1] != "line 0"
    text = store.paths.job_log(final.id).read_text()
    assert all(f"line {i}\n" in text for i in (0, 60, 119))


def _cancel_and_check(store: Store, mode: str, children: int) -> float:
    ds = add_dataset(store) if not store.datasets() else store.datasets()[0]
    job = new_job(store, ds.id)
    runner = TrainingRunner(store, job.id, command=fake_command(mode, children=children))
    recorder = Recorder()
    bg = Background(runner, recorder)
    recorder.wait_for(lambda e: e.type == EventType.LOG and "helper processes" in e.message, timeout=30)
    pid = wait_until(lambda: runner.worker_pid, 10)
    procs = wait_until(lambda: len(alive(tree(pid))) == children + 1 and tree(pid), 10)
    start = time.monotonic()
    runner.cancel()
    final = bg.join(30)
    wait_until(lambda: not alive(procs), 5.0)
    elapsed = time.monotonic() - start
    assert final.status == JobStatus.CANCELLED
    assert store.read().datasets.get(ds.id).status == DatasetStatus.UPLOADED
    return elapsed


def test_cancel_ends_the_whole_tree_within_5_seconds(store: Store) -> None:
    elapsed = _cancel_and_check(store, "slow", children=3)
    assert elapsed < 5.0


def test_cancel_kills_a_worker_that_ignores_cancel_and_sigterm(store: Store) -> None:
    elapsed = _cancel_and_check(store, "stubborn", children=2)
    assert elapsed < 5.0


@pytest.mark.slow
def test_twenty_cancel_cycles_leave_no_process_behind(store: Store) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    for _ in range(20):
        _cancel_and_check(store, "slow", children=2)
    leftovers = [p for p in alive(psutil.Process().children(recursive=True)) if p.pid not in before]
    assert leftovers == []
    jobs = store.jobs()
    assert len(jobs) == 20 and all(j.status == JobStatus.CANCELLED for j in jobs)


def test_cancel_from_another_process_through_the_record(store: Store) -> None:
    ds = add_dataset(store)
    job = new_job(store, ds.id)
    runner = TrainingRunner(store, job.id, command=fake_command("slow", children=1))
    recorder = Recorder()
    bg = Background(runner, recorder)
    recorder.wait_for(lambda e: e.type == EventType.LOG and "helper processes" in e.message, timeout=30)
    procs = tree(wait_until(lambda: runner.worker_pid, 10))
    # request_cancel only writes the request; the supervising runner acts on it.
    final = request_cancel(Store(store.paths), job.id, wait_s=10)
    assert final.status == JobStatus.CANCELLED
    assert bg.join(10).status == JobStatus.CANCELLED
    wait_until(lambda: not alive(procs), 5.0)


def test_overrunning_candidate_is_stopped_and_the_run_resumes(store: Store) -> None:
    final, recorder = _run(store, "hang_unit")
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    # The resumed worker was told which unit overran, and recorded it as stopped.
    stopped = [e.payload for e in recorder.of(EventType.CANDIDATE) if e.payload["model"] == "slowmodel"]
    assert stopped and stopped[0]["status"] == "stopped"
    assert "exceeded its time share" in stopped[0]["reason"]
    assert any("Restarting the worker" in e.message for e in recorder.of(EventType.LOG))


def test_cancel_keeps_a_model_the_worker_finished(store: Store) -> None:
    ds = add_dataset(store)
    job = new_job(store, ds.id)
    runner = TrainingRunner(store, job.id, command=fake_command("keeps"))
    recorder = Recorder()
    bg = Background(runner, recorder)
    recorder.wait_for(lambda e: e.type == EventType.CANDIDATE and e.payload["model"] == "lr", timeout=30)
    runner.cancel()
    final = bg.join(30)
    assert final.status == JobStatus.PENDING_REVIEW and final.stopped_early
    assert final.model_sha256 and final.stage == "Saved"
    assert any(e.type == EventType.PROGRESS and e.payload.get("stopping") for e in recorder.events)


def test_a_worker_that_uses_no_cpu_is_found_hung_and_resumed_without_that_step(store: Store) -> None:
    ds = add_dataset(store)
    job = new_job(store, ds.id)
    runner = TrainingRunner(store, job.id, command=fake_command("idle_unit"), idle_timeout_s=3.0)
    start = time.monotonic()
    recorder = Recorder()
    final = runner.run(recorder)
    assert final.status == JobStatus.PENDING_REVIEW, final.error
    assert time.monotonic() - start < 30  # found in seconds, not after the step's 600 s share
    logs = [e.message for e in recorder.of(EventType.LOG)]
    assert any("no CPU used" in line and "hung" in line for line in logs)
    assert any(line.startswith("resumed without: stopped: the worker made no progress") for line in logs)


def test_run_of_a_finished_job_returns_it_unchanged(store: Store) -> None:
    final, _ = _run(store, "error")
    again = TrainingRunner(store, final.id, command=fake_command("success")).run()
    assert again.status == JobStatus.FAILED and again.error == final.error


PARENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from predictml_desktop.core.paths import Paths
    from predictml_desktop.core.store import Store
    from predictml_desktop.core.training import TrainingRunner
    store = Store(Paths(Path({home!r})))
    TrainingRunner(store, {job!r}, command={command!r}).run()
""")


def parent_killed_leaves_no_orphan(store: Store, job_id: str, command: list[str] | None,
                                   ready: object, timeout: float = 120.0) -> None:
    """Start a parent process that supervises ``job_id``, SIGKILL it, and check its worker tree dies."""
    root = str(Path(__file__).resolve().parents[2])
    code = PARENT.format(root=root, home=str(store.paths.home), job=job_id, command=command)
    env = dict(os.environ)
    parent = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    try:
        def worker_ready() -> list[psutil.Process] | None:
            job = store.read().jobs.get(job_id)
            pid = (job.worker or {}).get("pid")
            procs = tree(pid) if pid else []
            return procs if procs and ready(job, procs) else None  # type: ignore[operator]

        procs = wait_until(worker_ready, timeout, interval=0.2)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        start = time.monotonic()
        wait_until(lambda: not alive(procs), 10.0, interval=0.1)
        assert time.monotonic() - start < 10.0
    finally:
        if parent.poll() is None:
            parent.kill()


def test_app_killed_mid_training_leaves_no_orphan(store: Store) -> None:
    ds = add_dataset(store)
    job = new_job(store, ds.id)
    command = fake_command("slow", children=2)
    parent_killed_leaves_no_orphan(store, job.id, command, lambda _job, procs: len(alive(procs)) == 3, 30)
    # The next start finds the job abandoned.
    from predictml_desktop.core.training import fail_stale_jobs

    wait_until(lambda: fail_stale_jobs(store, stale_after_s=1.0) or
               store.read().jobs.get(job.id).status != JobStatus.TRAINING, 10, interval=0.5)
    assert store.read().jobs.get(job.id).status == JobStatus.FAILED


def test_event_payloads_survive_the_record_round_trip(store: Store) -> None:
    final, _ = _run(store, "success")
    doc = json.loads(store.paths.jobs_file.read_text())
    stored = next(j for j in doc["trainingJobs"] if j["id"] == final.id)
    assert stored["status"] == "pending_review" and stored["modelSha256"] == final.model_sha256
    assert stored["rankingMetric"] == "auc" and stored["beatsBaseline"] is True


def test_the_watchdog_follows_candidates_running_at_the_same_time() -> None:
    from predictml_desktop.core.training.runner import TrainingRunner as R
    from predictml_desktop.core.training.runner import _State

    state = _State()
    R._track_units(state, {"running": {"screen:mlp": 10, "screen:rf": 20}})
    first = dict(state.units)
    assert set(first) == {"screen:mlp", "screen:rf"}
    R._track_units(state, {"running": {"screen:rf": 20, "screen:et": 5}})
    assert set(state.units) == {"screen:rf", "screen:et"}
    assert state.units["screen:rf"] == first["screen:rf"]  # a unit keeps its first deadline
    R._track_units(state, {"unit": "final:lr", "timeoutS": 300})
    assert list(state.units) == ["final:lr"]
    R._track_units(state, {"progress": 80})
    assert state.units == {}
