"""`FitPool`: the processes that fit models, started cleanly, watched, and ended one by one.

Why processes, and why these: model fits are native code that can crash, hang or hold Python's
GIL, and none of them can be interrupted from inside. The first engine forked a "process lane"
after the parent had run OpenMP code (SMOTE's neighbour search); GNU OpenMP is not fork-safe, and
the child hung for good in its next OpenMP loop (issue 12). So every process here is *spawned*
(a fresh interpreter, the same way on Linux, Windows and macOS, and in the frozen app through
``multiprocessing.freeze_support``), before any heavy library is loaded in the parent, and never
forked afterwards.

What the pool promises the engine:

- **Tasks**: ``submit(fn, *args, slots=1, timeout=…)`` runs ``fn(*args)`` (a module-level
  function) in a free worker and returns a `concurrent.futures.Future`. ``slots`` is how many
  cores the task uses (a model with its own threads takes two); the pool never runs more slots
  than it has cores, which is the engine's "one level of parallelism".
- **Liveness**: a task whose process uses no CPU for ``stuck_after_s`` is stuck (a deadlock, like
  the one above) and is ended at once, its future failing with `TaskStopped`; so is a task that
  overruns its ``timeout`` and one whose process dies (a native crash, the OOM killer). The worker
  is replaced and every other task goes on: one model's failure never costs the run.
- **Data**: arguments and results travel pickled through a pipe, so they stay small; big arrays
  go through files (`share_array` / `load_shared`: ``.npy`` files memory-mapped read-only by every
  worker, so a fold set is written once and shared, not copied per task).
- **Ending**: `stop` ends every worker now (cancel); `close` at the end of the run. The workers
  belong to the training worker's process group and follow its death, so nothing outlives a
  cancelled or killed job.

The interface is deliberately small (submit a function, get a future), so that a cluster executor
(Dask's ``Client.submit``) can later take the same tasks.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

log = logging.getLogger(__name__)

STUCK_AFTER_S: Final = 20.0
"""A task whose process used no CPU for this long is ended as stuck (a fit always computes)."""
CPU_EPSILON_S: Final = 0.02
_POLL_S: Final = 0.1


class TaskStopped(Exception):
    """A task was ended by the pool: stuck, over its time share, its process died, or the pool stopped.

    Attributes
    ----------
    kind
        ``stuck``, ``timeout``, ``crashed`` or ``cancelled``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class TaskFailed(Exception):
    """The task's function raised in the worker; ``kind`` is the exception's type name there."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Executor(Protocol):
    """What the engine needs from whatever runs its fits: this computer's `FitPool`, or a Dask cluster.

    The search, the cross-validation and the final fits use only this, so the same stages run on either
    (`core.training.cluster.ClusterPool` is the cluster's).
    """

    description: str
    """Where the fits run, for the log ("2 fitting processes on this computer")."""

    def share(self, name: str, array: np.ndarray) -> Any:
        """Make ``array`` available to every task once; return what to pass in a task's arguments."""
        ...

    def submit(self, fn: Callable[..., Any], *args: Any, slots: int = 1, timeout: float | None = None,
               label: str = "") -> Future[Any]:
        """Run ``fn(*args)``; its future fails with `TaskFailed` or `TaskStopped`."""
        ...

    def cancel(self, future: Future[Any]) -> None:
        """End one task, waiting or running."""
        ...

    def stop(self) -> None:
        """End every task now; stay usable."""
        ...

    def close(self) -> None:
        """End everything (at the end of the run)."""
        ...


@dataclass
class _Task:
    id: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    slots: int
    timeout: float | None
    label: str
    future: Future[Any] = field(default_factory=Future)
    started: float | None = None


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection
    task: _Task | None = None
    ending: TaskStopped | None = None
    """Set when the pool ends this worker on purpose: what its task fails with."""
    cpu: float = 0.0
    cpu_at: float = 0.0

    @property
    def pid(self) -> int:
        return int(self.process.pid)


class FitPool:
    """A fixed number of spawned worker processes running submitted functions.

    Parameters
    ----------
    size
        Worker processes, and the cores (slots) tasks may use at once.
    warm_modules
        Modules each worker imports as soon as it starts (while the engine sets up), so the first
        fits do not pay for them.
    stuck_after_s
        Seconds without CPU use after which a running task is ended as stuck (`STUCK_AFTER_S` if None).
    share_dir
        Where `share` writes the arrays the workers map.
    """

    def __init__(self, size: int, *, warm_modules: Sequence[str] = (), stuck_after_s: float | None = None,
                 share_dir: Path | None = None) -> None:
        import multiprocessing

        self.size = max(1, int(size))
        self.share_dir = share_dir
        self.description = f"{self.size} fitting process{'es' if self.size > 1 else ''} on this computer"
        self._ctx = multiprocessing.get_context("spawn")
        self._warm = tuple(warm_modules)
        self._stuck_after = STUCK_AFTER_S if stuck_after_s is None else stuck_after_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: deque[_Task] = deque()
        self._ids = itertools.count(1)
        self._shared = itertools.count(1)
        self._closed = False
        self._workers: list[_Worker] = [self._start_worker() for _ in range(self.size)]
        self._thread = threading.Thread(target=self._loop, name="fit-pool", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public API

    def share(self, name: str, array: np.ndarray) -> str:
        """Make ``array`` available to every worker; return the reference to pass in a task's arguments.

        Raises
        ------
        ValueError
            If the pool was made without a ``share_dir``.
        """
        if self.share_dir is None:
            raise ValueError("this pool has no folder to share arrays in")
        # A new file each time: a worker keeps its maps by path, and must never see a reused name's old data.
        return share_array(self.share_dir, f"{name}-{next(self._shared)}", array)

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers now running."""
        with self._lock:
            return [w.pid for w in self._workers]

    def submit(self, fn: Callable[..., Any], *args: Any, slots: int = 1, timeout: float | None = None,
               label: str = "") -> Future[Any]:
        """Run ``fn(*args)`` in a worker; return its future.

        Parameters
        ----------
        fn
            A module-level function (it is pickled by reference).
        *args
            Its arguments (pickled: keep them small, share arrays with `share_array`).
        slots
            Cores the task uses (at most the pool's size).
        timeout
            Seconds the task may run once started; over it, it is ended (`TaskStopped`, ``timeout``).
        label
            Named in the messages of a stopped task.

        Returns
        -------
        Future
            Its result, or `TaskFailed` (the function raised) / `TaskStopped` (ended by the pool).
        """
        task = _Task(next(self._ids), fn, args, max(1, min(int(slots), self.size)), timeout, label or fn.__name__)
        with self._lock:
            if self._closed:
                task.future.set_exception(TaskStopped("cancelled", "the pool is closed"))
                return task.future
            self._pending.append(task)
        self._wake.set()
        return task.future

    def cancel(self, future: Future[Any]) -> None:
        """End the task of ``future``: dropped if it waits, its process ended if it runs."""
        with self._lock:
            for task in list(self._pending):
                if task.future is future:
                    self._pending.remove(task)
                    _fail(task, TaskStopped("cancelled", "cancelled"))
                    return
            for worker in self._workers:
                if worker.task is not None and worker.task.future is future and worker.ending is None:
                    worker.ending = TaskStopped("cancelled", "cancelled")
                    _kill(worker.pid)
                    return

    def stop(self) -> None:
        """End every running and waiting task now (their futures fail with ``cancelled``); keep the pool usable."""
        with self._lock:
            pending, self._pending = list(self._pending), deque()
            for worker in self._workers:
                if worker.task is not None and worker.ending is None:
                    # The dispatcher thread sees the process end and fails the task with this.
                    worker.ending = TaskStopped("cancelled", "stopped")
                    _kill(worker.pid)
        for task in pending:
            _fail(task, TaskStopped("cancelled", "stopped"))
        self._wake.set()

    def close(self) -> None:
        """End the pool and its processes (waiting and running tasks fail with ``cancelled``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._pending = list(self._pending), deque()
        self._wake.set()
        self._thread.join(5.0)  # the dispatcher leaves at its next turn; the workers are ours from here
        for task in pending:
            _fail(task, TaskStopped("cancelled", "the pool was closed"))
        # Ended at once: a worker holds nothing worth a clean exit, and waiting for one costs the user time.
        for worker in self._workers:
            if worker.task is not None:
                _fail(worker.task, TaskStopped("cancelled", "the pool was closed"))
            _kill(worker.pid)
        for worker in self._workers:
            worker.process.join(2.0)
            with contextlib.suppress(OSError):
                worker.conn.close()

    def __enter__(self) -> FitPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ workers

    def _start_worker(self) -> _Worker:
        here, there = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, args=(there, os.getpid(), self._warm),
                                    name="predictml-fit", daemon=True)
        process.start()
        there.close()
        return _Worker(process, here, cpu_at=time.monotonic())

    def _replace(self, worker: _Worker, error: BaseException) -> None:
        """End ``worker`` (failing its task with ``error``) and start another in its place."""
        _kill(worker.pid)
        worker.process.join(2.0)
        with contextlib.suppress(OSError):
            worker.conn.close()
        with self._lock:
            task, worker.task = worker.task, None
            if worker in self._workers:
                self._workers.remove(worker)
                if not self._closed:
                    self._workers.append(self._start_worker())
        if task is not None:
            _fail(task, error)
        self._wake.set()

    # ------------------------------------------------------------------ the dispatcher thread

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                gone = [w for w in self._workers
                        if w.task is None and (w.ending is not None or not w.process.is_alive())]
            for worker in gone:
                self._replace(worker, TaskStopped("crashed", "its process had ended"))
            with self._lock:
                self._dispatch()
                busy = [w for w in self._workers if w.task is not None]
            if not busy:
                self._wake.wait(_POLL_S)
                self._wake.clear()
                continue
            ready = wait([w.conn for w in busy], timeout=_POLL_S)
            for worker in busy:
                if worker.conn in ready:
                    self._receive(worker)
            self._watch([w for w in busy if w.task is not None])

    def _dispatch(self) -> None:
        """Give waiting tasks to idle workers, in order, while enough slots are free (lock held)."""
        while self._pending:
            task = self._pending[0]
            if task.future.cancelled():
                self._pending.popleft()
                continue
            used = sum(w.task.slots for w in self._workers if w.task is not None)
            idle = [w for w in self._workers if w.task is None and w.ending is None]
            if not idle or used + task.slots > self.size:
                return
            self._pending.popleft()
            worker = idle[0]
            try:
                worker.conn.send((task.id, task.fn, task.args, task.slots))
            except OSError:
                # Its process died while idle (ended with a stop, say): the task goes to another one.
                self._pending.appendleft(task)
                worker.ending = TaskStopped("crashed", "its process had ended")
                continue
            except Exception as exc:  # noqa: BLE001 - an argument that cannot be pickled fails that task only
                _fail(task, TaskFailed(type(exc).__name__, str(exc)))
                continue
            worker.task = task
            worker.cpu, worker.cpu_at = _cpu_seconds(worker.pid), time.monotonic()
            task.future.set_running_or_notify_cancel()

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._replace(worker, worker.ending or TaskStopped(
                "crashed", f"its process stopped unexpectedly (exit code {_exit_code(worker)})"))
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be unpickled fails that task only
            message = ("done", worker.task.id if worker.task else 0, False, (type(exc).__name__, str(exc)))
        kind, task_id = message[0], message[1]
        task = worker.task
        if task is None or task.id != task_id:
            return
        if kind == "start":
            task.started = time.monotonic()
            return
        ok, payload = message[2], message[3]
        with self._lock:
            worker.task = None
        if ok:
            task.future.set_result(payload)
        else:
            task.future.set_exception(TaskFailed(*payload))
        if worker.ending is not None:
            self._replace(worker, worker.ending)  # it finished just as it was being ended: it is gone
        self._wake.set()

    def _watch(self, busy: list[_Worker]) -> None:
        now = time.monotonic()
        for worker in busy:
            task = worker.task
            if task is None:
                continue
            if not worker.process.is_alive():
                # Read what it may have sent before dying; else it crashed.
                if worker.conn.poll():
                    self._receive(worker)
                    if worker.task is None:
                        continue
                self._replace(worker, worker.ending or TaskStopped(
                    "crashed", f"its process stopped unexpectedly (exit code {_exit_code(worker)})"))
                continue
            if task.timeout is not None and task.started is not None and now - task.started > task.timeout:
                self._replace(worker, TaskStopped("timeout", f"exceeded its time share ({task.timeout:.0f} s)"))
                continue
            cpu = _cpu_seconds(worker.pid)
            if cpu > worker.cpu + CPU_EPSILON_S:
                worker.cpu, worker.cpu_at = cpu, now
            elif now - worker.cpu_at > self._stuck_after:
                log.warning("task %s made no progress for %.0f s; ending its process", task.label, now - worker.cpu_at)
                self._replace(worker, TaskStopped(
                    "stuck", f"its process stopped making progress (no CPU used for {self._stuck_after:.0f} s)"))


def _fail(task: _Task, error: BaseException) -> None:
    if not task.future.done():
        if task.future.cancelled():
            return
        with contextlib.suppress(Exception):
            task.future.set_exception(error)


def _exit_code(worker: _Worker) -> int | None:
    worker.process.join(0.5)
    return worker.process.exitcode


def _cpu_seconds(pid: int) -> float:
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except psutil.Error:
        return 0.0


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            import psutil

            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        else:
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- the worker process


def _worker_main(conn: Connection, parent_pid: int, warm: tuple[str, ...]) -> None:
    """Live a worker's life: follow the parent, load the libraries, then run tasks until told to stop."""
    # Before any OpenMP runtime loads: idle OpenMP threads sleep instead of spinning, which would
    # take CPU from the other worker (a histogram boosting fit's idle threads slowed a forest 10×).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import importlib

    _follow(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    # One level of parallelism: BLAS stays on one thread; OpenMP gets the task's slots (below).
    threadpool_limits(limits=1, user_api="blas")
    for name in warm:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - a task that cannot be unpickled here fails, the worker lives on
            with contextlib.suppress(OSError, ValueError):
                conn.send(("done", 0, False, (type(exc).__name__, str(exc))))
            continue
        if message is None:
            return
        task_id, fn, args, slots = message
        conn.send(("start", task_id))
        try:
            # Models without a thread parameter (histogram boosting) take OpenMP's default: all cores.
            with threadpool_limits(limits=slots, user_api="openmp"):
                reply: tuple[Any, ...] = ("done", task_id, True, fn(*args))
        except Exception as exc:  # noqa: BLE001 - a model's failure is its task's answer, never the worker's end
            reply = ("done", task_id, False, (type(exc).__name__, str(exc).strip()[:500]))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled fails that task only
            conn.send(("done", task_id, False, (type(exc).__name__, str(exc))))


def _follow(parent_pid: int) -> None:
    """End this worker when the engine's process dies (it may be killed without a chance to close us)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)

    def watch() -> None:
        import psutil

        while True:
            time.sleep(1.0)
            if not psutil.pid_exists(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="follow-engine", daemon=True).start()


# --------------------------------------------------------------------------- shared arrays

_LOADED: dict[str, np.ndarray] = {}
"""Arrays a worker has mapped, by path: a fold set is read once per worker, not once per task."""


def share_array(folder: Path, name: str, array: np.ndarray) -> str:
    """Write ``array`` where the workers can map it; return the path to give them.

    The file is written whole before its name appears (temp file + rename), so a worker never maps
    half an array.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npy"
    tmp = folder / f".{name}.{os.getpid()}.tmp.npy"
    np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(tmp, path)
    return str(path)


def load_shared(path: str) -> np.ndarray:
    """Return the array at ``path``, memory-mapped read-only (cached in this process)."""
    array = _LOADED.get(path)
    if array is None:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        _LOADED[path] = array
    return array


def resolve(ref: Any) -> np.ndarray:
    """Return the array a task was given: a shared file's path (this computer), or the array itself.

    On a Dask cluster the scheduler hands a task the arrays scattered to it, already in memory; here
    the task gets the path of a memory-mapped file. Tasks call this on every array argument, so the
    same task function runs in both.
    """
    if isinstance(ref, str):
        return load_shared(ref)
    return np.asarray(ref)


def forget_shared(prefix: str) -> None:
    """Drop this process's maps of the arrays under ``prefix`` (before their files are removed)."""
    for key in [k for k in _LOADED if k.startswith(prefix)]:
        del _LOADED[key]
