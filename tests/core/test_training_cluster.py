"""Training on a Dask cluster: a real `distributed.LocalCluster` of worker processes, and a real `dask scheduler`.

Each test trains a tiny table with the fast preset, so the file stays within a minute or two of CI.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from predictml_desktop.core.training import TrainingError, TrainingEvent, TrainingOptions
from predictml_desktop.core.training import cluster as cluster_module
from predictml_desktop.core.training.cluster import ClusterPool
from predictml_desktop.core.training.engine import TrainingRequest, run_training
from predictml_desktop.core.training.folds import FAULTS_ENV
from predictml_desktop.core.training.state import CANDIDATES_DIR
from tests.core.training_support import binary_frame

distributed = pytest.importorskip("distributed")  # a dependency of the app: present wherever its tests run

pytestmark = pytest.mark.slow

FAST = {"preset": "fast", "models": ["lr", "dt", "nb"]}


@pytest.fixture
def local_cluster() -> Iterator[Any]:
    """Two worker processes of one thread each, as a small team cluster would have machines.

    One per test: a restart sometimes closes a nanny for good (dask/distributed#7312), and the next
    test must not start with one worker fewer.

    Their fits of ``mlp`` compute for ever (the test fault ``spin``): the cancel test needs a task that
    only ending its worker can stop. No other test here trains ``mlp``.
    """
    os.environ[FAULTS_ENV] = "spin:mlp"  # the workers inherit it; this process never fits
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=40)
    finally:
        os.environ.pop(FAULTS_ENV, None)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def client(local_cluster: Any) -> Iterator[Any]:
    c = distributed.Client(local_cluster.scheduler_address, set_as_default=False)
    try:
        yield c
    finally:
        c.close()


def train(frame: Any, folder: Path, events: list[TrainingEvent] | None = None, *, should_stop: Any = None,
          **options: Any) -> dict[str, Any]:
    request = TrainingRequest(
        frame=frame, target="target", problem_type=None, options=TrainingOptions(**{**FAST, **options}),
        job_id="training_1", model_dir=folder / "models" / "training_1", home=folder, started_at=time.time(),
    )
    sink = events if events is not None else []
    return run_training(request, sink.append, should_stop)


def executing(client: Any) -> dict[str, dict[str, float]]:
    """This application's tasks executing on each worker (what `ClusterPool` itself checks)."""
    answers = client.run(cluster_module.running_tasks, on_error="return")  # a worker may be restarting
    return {w: keys for w, keys in answers.items() if isinstance(keys, dict) and keys}


def settled(client: Any, quiet_s: float = 2.0, within_s: float = 30.0) -> bool:
    """Wait until no task of ours has executed on any worker for ``quiet_s``; False if not within ``within_s``."""
    deadline = time.monotonic() + within_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if executing(client):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return True
        time.sleep(0.1)
    return False


def test_a_cluster_run_chooses_the_same_model_as_this_computer(tmp_path: Path, local_cluster: Any) -> None:
    frame = binary_frame(300, seed=4)
    local = train(frame, tmp_path / "local")
    events: list[TrainingEvent] = []
    remote = train(frame, tmp_path / "cluster", events, cluster=local_cluster.scheduler_address)
    assert remote["success"] is True
    assert remote["modelId"] == local["modelId"]
    assert remote["cv"][remote["rankingMetric"]] == pytest.approx(local["cv"][local["rankingMetric"]], abs=1e-9)
    assert remote["metrics"] == pytest.approx(local["metrics"], abs=1e-9)
    logs = [e.payload["message"] for e in events if e.type == "log"]
    assert any(f"the Dask cluster at {local_cluster.scheduler_address}: 2 workers" in line for line in logs)
    assert any(line.startswith("Dask dashboard: http") for line in logs)
    # Every candidate's row reached the live leaderboard, as locally.
    assert {e.payload["model"] for e in events if e.type == "candidate"} >= {"lr", "dt", "nb", "dummy"}


def test_a_worker_killed_mid_run_is_replaced_and_the_job_finishes(tmp_path: Path, local_cluster: Any,
                                                                  client: Any) -> None:
    pids = client.run(cluster_module.pid)
    _victim, victim_pid = sorted(pids.items())[0]
    killed = threading.Event()

    def watch(event: TrainingEvent) -> None:
        # Once the first candidate is in, the others' folds are queued or running on both workers.
        if event.type == "candidate" and not killed.is_set():
            killed.set()
            os.kill(victim_pid, signal.SIGKILL)

    events = _Events(watch)
    result = train(binary_frame(300, seed=5), tmp_path, events, cluster=local_cluster.scheduler_address)  # type: ignore[arg-type]
    assert killed.is_set()
    assert result["success"] is True and result["modelId"]
    board = {e["model"]: e for e in result["leaderboard"]}
    assert all(board[m]["status"] == "done" for m in ("lr", "dt", "nb"))
    # The nanny started another process in the killed one's place.
    client.wait_for_workers(2, timeout=30)
    assert victim_pid not in client.run(cluster_module.pid).values()


def test_cancel_leaves_nothing_running_on_the_workers(tmp_path: Path, local_cluster: Any, client: Any) -> None:
    done: set[str] = set()
    spinning = threading.Event()

    def watch(event: TrainingEvent) -> None:
        if event.type == "candidate" and event.payload["status"] == "done":
            done.add(event.payload["model"])

    def should_stop() -> bool:
        # Stop while mlp's folds compute on the workers: only ending those processes can end them.
        if not spinning.is_set() and {"lr", "nb"} <= done:
            if executing(client):
                spinning.set()
        return spinning.is_set()

    events = _Events(watch)
    started = time.monotonic()
    result = train(binary_frame(300, seed=6), tmp_path, events, should_stop=should_stop,  # type: ignore[arg-type]
                   models=["lr", "nb", "mlp"], cluster=local_cluster.scheduler_address)
    assert spinning.is_set()
    assert result["stoppedEarly"] is True and result["modelId"] in {"lr", "nb", "ensemble"}
    assert time.monotonic() - started < 60
    # Nothing of the run is left: not on the scheduler, not executing in a worker.
    assert all(not keys for keys in client.processing().values())
    assert executing(client) == {} and settled(client)
    client.wait_for_workers(2, timeout=30)


def test_a_version_difference_is_refused_with_the_list(local_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ClusterPool.worker_versions

    def one_worker_differs(self: ClusterPool) -> dict[str, dict[str, str]]:
        collected = real(self)
        first = sorted(collected)[0]
        collected[first] = {**collected[first], "scikit-learn": "1.5.0", "pycaret": "3.3.1"}
        return collected

    monkeypatch.setattr(ClusterPool, "worker_versions", one_worker_differs)
    with pytest.raises(TrainingError) as info:
        ClusterPool(local_cluster.scheduler_address)
    message = str(info.value)
    assert "scikit-learn: 1.4.2 here, 1.5.0 on tcp://" in message
    assert "pycaret: 3.3.2 here, 3.3.1 on tcp://" in message
    assert "numpy" not in message


def test_an_unreachable_scheduler_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TrainingError, match=r"^Could not connect to the Dask cluster at tcp://127\.0\.0\.1:"):
        ClusterPool(f"tcp://127.0.0.1:{port}", connect_timeout=2)


def test_the_scheduler_lost_fails_the_job_in_one_sentence_and_keeps_the_finished_candidates(tmp_path: Path) -> None:
    """A real `dask scheduler` process, killed once the first candidates are in."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, FAULTS_ENV: "spin:mlp"}
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
    worker = subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        finished: list[str] = []

        def watch(event: TrainingEvent) -> None:
            if event.type == "candidate" and event.payload["status"] == "done":
                finished.append(event.payload["model"])
                if {"lr", "nb"} <= set(finished) and scheduler.poll() is None:
                    scheduler.send_signal(signal.SIGKILL)

        events = _Events(watch)
        with pytest.raises(TrainingError) as info:
            train(binary_frame(300, seed=7), tmp_path, events,  # type: ignore[arg-type]
                  models=["lr", "nb", "mlp"], cluster=address, budget_s=120)
        message = str(info.value)
        assert message == (f"The connection to the Dask scheduler at {address} was lost, so the training stopped; "
                           "the candidates finished before it are kept in the leaderboard.")
        kept = {p.stem for p in (tmp_path / "models" / "training_1" / CANDIDATES_DIR).glob("*.json")}
        assert any(name.endswith("-lr") for name in kept) and any(name.endswith("-nb") for name in kept), kept
    finally:
        for proc in (worker, scheduler):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait(10)


class _Events(list[TrainingEvent]):
    """Collects events and hands each to ``watch`` as it comes."""

    def __init__(self, watch: Any) -> None:
        super().__init__()
        self._watch = watch

    def append(self, event: TrainingEvent) -> None:
        super().append(event)
        self._watch(event)


def test_predictml_train_cluster_runs_the_job_there(predictml_home: Path, tmp_path: Path, local_cluster: Any) -> None:
    """The whole path: the command line, the job's stored options, the training worker, the cluster."""
    data = tmp_path / "customers.csv"
    binary_frame(200, seed=8).to_csv(data, index=False)
    env = {**os.environ, "PREDICTML_HOME": str(predictml_home)}
    address = local_cluster.scheduler_address

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "predictml_desktop", *args], capture_output=True, text=True,
                              env=env, timeout=300, check=False)

    run = cli("train", str(data), "--target", "target", "--preset", "fast", "--models", "lr,nb", "--json",
              "--cluster", address)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["success"] is True
    assert f"on the Dask cluster at {address})" in run.stderr
    assert f"The models are fitted on the Dask cluster at {address}" in run.stderr
    bad = cli("train", str(data), "--target", "target", "--cluster", "http://nope")
    assert bad.returncode == 1 and "is not a Dask scheduler address" in bad.stderr and "Traceback" not in bad.stderr


def test_the_pool_ends_overrunning_and_cancelled_tasks_and_rescatters_lost_data(local_cluster: Any,
                                                                              client: Any) -> None:
    """`ClusterPool` itself: the time share, a cancel of a running task, and data whose every copy was lost."""
    import numpy as np

    from predictml_desktop.core.training.pool import TaskStopped

    with ClusterPool(local_cluster.scheduler_address) as pool:
        ref = pool.share("numbers", np.arange(10.0))
        assert pool.submit(np.sum, ref).result(timeout=30) == 45.0

        started = time.monotonic()
        overrun = pool.submit(time.sleep, 60, timeout=1.0, label="a sleeper")
        with pytest.raises(TaskStopped) as info:
            overrun.result(timeout=30)
        assert info.value.kind == "timeout" and time.monotonic() - started < 20

        assert settled(client)  # the sleeper's worker was restarted: nothing of ours runs there
        running = pool.submit(time.sleep, 60)
        deadline = time.monotonic() + 20
        while not executing(client) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert executing(client)
        pool.cancel(running)
        with pytest.raises(TaskStopped):
            running.result(timeout=5)
        assert settled(client)

        # Both workers restarted at once: every copy of the scattered array is gone, and sent again.
        client.restart_workers(list(client.scheduler_info()["workers"]))
        assert pool.submit(np.sum, ref).result(timeout=30) == 45.0
