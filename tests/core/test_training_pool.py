"""`FitPool`: spawned processes that fit, watched for crashes, deadlocks and overruns, ended one by one."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from predictml_desktop.core.training.pool import FitPool, TaskFailed, TaskStopped, share_array
from tests.core import pool_tasks


@pytest.fixture
def pool():
    with FitPool(2, stuck_after_s=2.0) as p:
        yield p


def test_results_come_back_and_the_workers_are_spawned_processes(pool: FitPool) -> None:
    futures = [pool.submit(pool_tasks.add, 1, i) for i in range(6)]
    assert [f.result(timeout=60) for f in futures] == [1, 2, 3, 4, 5, 6]
    pids = {pool.submit(pool_tasks.pid).result(timeout=30) for _ in range(4)}
    assert pids <= set(pool.pids) and psutil.Process().pid not in pids
    for worker in pool.pids:
        # A fresh interpreter, not a fork of this one (forking after OpenMP ran deadlocks).
        assert "spawn_main" in " ".join(psutil.Process(worker).cmdline())


def test_an_exception_fails_that_task_only(pool: FitPool) -> None:
    bad = pool.submit(pool_tasks.fail)
    with pytest.raises(TaskFailed) as info:
        bad.result(timeout=60)
    assert info.value.kind == "ValueError" and "row 3" in str(info.value)
    assert pool.submit(pool_tasks.add, 2, 2).result(timeout=30) == 4


def test_a_native_crash_fails_that_task_and_its_process_is_replaced(pool: FitPool) -> None:
    before = set(pool.pids)
    with pytest.raises(TaskStopped) as info:
        pool.submit(pool_tasks.crash).result(timeout=60)
    assert info.value.kind == "crashed" and "exit code 139" in str(info.value)
    assert pool.submit(pool_tasks.add, 1, 1).result(timeout=60) == 2
    assert len(pool.pids) == 2 and set(pool.pids) != before


def test_a_deadlocked_task_is_found_in_seconds_and_ended(pool: FitPool) -> None:
    pool.submit(pool_tasks.add, 0, 0).result(timeout=60)  # warm: imports done
    start = time.monotonic()
    with pytest.raises(TaskStopped) as info:
        pool.submit(pool_tasks.sleep_forever).result(timeout=60)
    assert info.value.kind == "stuck" and "no CPU used" in str(info.value)
    assert time.monotonic() - start < 10
    assert pool.submit(pool_tasks.add, 3, 3).result(timeout=60) == 6


def test_a_task_over_its_time_share_is_ended(pool: FitPool) -> None:
    with pytest.raises(TaskStopped) as info:
        pool.submit(pool_tasks.spin, 60, timeout=1.0).result(timeout=60)
    assert info.value.kind == "timeout" and "time share (1 s)" in str(info.value)


def test_slots_keep_to_the_cores(pool: FitPool) -> None:
    # A two-core task never runs beside another task: their process ids differ, their times do not overlap.
    wide = pool.submit(pool_tasks.spin, 1.0, slots=2)
    narrow = pool.submit(pool_tasks.spin, 0.2)
    t0 = time.monotonic()
    wide.result(timeout=60)
    narrow.result(timeout=60)
    assert time.monotonic() - t0 >= 1.1


def test_cancel_ends_a_running_task_and_drops_a_waiting_one(pool: FitPool) -> None:
    running = [pool.submit(pool_tasks.spin, 60) for _ in range(2)]
    waiting = pool.submit(pool_tasks.add, 1, 1)
    time.sleep(1.0)
    pool.cancel(running[0])
    pool.cancel(waiting)
    for future in (running[0], waiting):
        with pytest.raises(TaskStopped):
            future.result(timeout=30)
    pool.stop()
    with pytest.raises(TaskStopped):
        running[1].result(timeout=30)
    assert pool.submit(pool_tasks.add, 5, 5).result(timeout=60) == 10


def test_shared_arrays_are_mapped_not_copied(tmp_path: Path, pool: FitPool) -> None:
    array = np.arange(1_000_000, dtype=float)
    path = share_array(tmp_path, "x", array)
    assert pool.submit(pool_tasks.total, path).result(timeout=60) == pytest.approx(array.sum())


def test_close_leaves_no_process() -> None:
    pool = FitPool(2)
    pids = pool.pids
    busy = pool.submit(pool_tasks.spin, 60)
    time.sleep(0.5)
    pool.close()
    with pytest.raises(TaskStopped):
        busy.result(timeout=10)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
