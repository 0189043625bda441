"""`ClusterPool`: the engine's fits on a team's Dask cluster, behind the same interface as `pool.FitPool`.

Settings → Compute (or ``predictml train --cluster ADDRESS``) names a Dask scheduler; the engine
then hands its fold fits, its variants' fits and the final fits to this executor instead of the
fitting processes on this computer. Everything else (the search's decisions, the scoring, the
leaderboard, the budget, saving) stays here, in the training worker, so a run behaves the same way
on either: only where the models are fitted changes.

What this promises, as `FitPool` does:

- **Data**: ``share`` scatters each prepared array to every worker once (``broadcast=True``);
  tasks name it, and the scheduler hands them the worker's copy (`pool.resolve` takes both forms).
  Dask's active memory manager may later drop the extra copies, so a worker's end can take an
  array's last copy with it: the scheduler then cancels the tasks that needed it, and the pool
  scatters the array again and sends those tasks again (`RESEND_TRIES`).
- **Tasks**: ``submit`` is ``Client.submit`` of a module-level function, bridged to a
  `concurrent.futures.Future` that fails with `TaskFailed` (the function raised) or `TaskStopped`
  (ended: timeout, cancel, or it killed every worker it ran on). Tasks keep the order they were
  submitted in (cheapest candidates first), through Dask priorities.
- **Ending**: Dask cannot interrupt a running task (a model fit is native code), so a cancelled or
  overrunning task's worker is restarted by its nanny, as this computer's pool ends the fitting
  process. `stop` returns once no task of this run is executing on any worker. A restart does not
  wait for the worker to come back: a nanny sometimes closes for good instead of restarting
  (dask/distributed#7312), and waiting on it would leave the other ended tasks running meanwhile.
- **A worker lost**: Dask reruns its tasks on the others; the run goes on.
- **The scheduler lost**: every waiting task fails with `ClusterLost`, one sentence for the user;
  the candidates finished by then stay recorded (leaderboard, checkpoint).
- **Versions**: models are pickled across machines, so on connecting the client compares its
  versions of the libraries that pickle or fit them with every worker's, and refuses with the list
  of differences (`version_differences`).

Dask is imported only here and only when a cluster is used: the default path never loads it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import platform
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from predictml_desktop.core.training.jobs import TrainingError
from predictml_desktop.core.training.pool import TaskFailed, TaskStopped

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S: Final = 10.0
"""How long connecting to the scheduler (and, after a lost connection, reconnecting) may take."""
WORKERS_TIMEOUT_S: Final = 20.0
"""How long a scheduler without workers is waited on before the run is refused."""
WATCH_S: Final = 0.5
SCATTER_TRIES: Final = 3
SCATTER_TIMEOUT_S: Final = 10.0
STOP_WAIT_S: Final = 60.0
"""How long `stop` waits for the restarted workers to leave their tasks."""
KILL_TIMEOUT_S: Final = 15.0
"""How long a nanny may take to end its worker process (it kills it after 80 % of this)."""
RESEND_TRIES: Final = 3
"""How many times a task cancelled by the scheduler (its data lost with a worker) is sent again."""

VERSIONED: Final = ("numpy", "pandas", "scikit-learn", "lightgbm", "xgboost", "catboost", "pycaret", "cloudpickle",
                    "dask", "distributed")
"""Distributions whose versions must match between this computer and the workers (besides Python's):
the libraries that fit, pickle and unpickle the models, and Dask itself."""
_ALTERNATIVE_DISTRIBUTIONS: Final = {"xgboost": ("xgboost", "xgboost-cpu")}
"""A library installed under another distribution name (the CPU-only xgboost wheel on Linux and Windows)."""


class ClusterLost(TrainingError):
    """The connection to the Dask scheduler is gone: the run cannot go on (one sentence for the user)."""


# --------------------------------------------------------------------------- versions


def environment_versions() -> dict[str, str]:
    """Return this process's Python version and the versions of `VERSIONED` ("not installed" if absent).

    Runs on this computer and, through ``Client.run``, on every worker.
    """
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        version = "not installed"
        for dist in _ALTERNATIVE_DISTRIBUTIONS.get(name, (name,)):
            with contextlib.suppress(metadata.PackageNotFoundError):
                version = metadata.version(dist)
                break
        out[name] = version
    return out


def version_differences(mine: dict[str, str], workers: dict[str, dict[str, str]]) -> list[str]:
    """Return one line per library whose version differs between this computer and a worker (none: empty)."""
    lines: list[str] = []
    for name in ("python", *VERSIONED):
        here = mine.get(name, "not installed")
        theirs: dict[str, list[str]] = {}
        for worker, versions in sorted(workers.items()):
            there = versions.get(name, "not installed")
            if there != here:
                theirs.setdefault(there, []).append(worker)
        for there, names in sorted(theirs.items()):
            lines.append(f"{name}: {here} here, {there} on {_workers_text(names)}")
    return lines


def _workers_text(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} and {len(names) - 1} other workers"


# --------------------------------------------------------------------------- on the workers

_RUNNING: dict[str, float] = {}
"""On a worker: the keys of this application's tasks executing now, with when they started (monotonic)."""


def run_task(key: str, fn: Callable[..., Any], slots: int, *args: Any) -> tuple[Any, ...]:
    """Run one task on a worker: ``("ok", result)`` or ``("error", kind, message)``.

    A model's failure is an answer, not an exception: Dask would otherwise carry the worker's
    traceback (and the exception's own pickling) back here.
    """
    from threadpoolctl import threadpool_limits

    _RUNNING[key] = time.monotonic()
    try:
        # One level of parallelism, as in this computer's fitting processes: BLAS on one thread,
        # OpenMP on the task's slots.
        with threadpool_limits(limits=1, user_api="blas"), threadpool_limits(limits=slots, user_api="openmp"):
            return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - a model's failure is its task's answer, never the worker's end
        return ("error", type(exc).__name__, str(exc).strip()[:500])
    finally:
        _RUNNING.pop(key, None)


def running_tasks() -> dict[str, float]:
    """On a worker: this application's tasks executing now, with the seconds each has run."""
    now = time.monotonic()
    return {key: now - started for key, started in list(_RUNNING.items())}


def warm_up(modules: Sequence[str]) -> None:
    """On a worker: import the model libraries before the first fit needs them."""
    import importlib

    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


# --------------------------------------------------------------------------- the client side


@dataclass(eq=False)
class SharedArray:
    """What `ClusterPool.share` returns: a task argument that becomes the array on the worker.

    The pool keeps the array and its Dask future; a future whose every copy was lost (all the
    workers holding it restarted) is scattered again from the array before the next task needs it.
    """

    name: str
    array: np.ndarray
    remote: Any = None


@dataclass
class _Task:
    id: int
    key: str
    label: str
    timeout: float | None
    future: Future[Any]
    call: tuple[Callable[..., Any], int, tuple[Any, ...]]
    """The function, its slots and its arguments (shared arrays as handles): what a resend sends again."""
    remote: Any = None
    """The Dask future, dropped once settled (so the worker may free the result)."""
    ending: TaskStopped | None = None
    resends: int = 0


class ClusterPool:
    """The engine's executor on a Dask cluster (see the module's text).

    Parameters
    ----------
    address
        The scheduler's address, ``tcp://host:8786``.
    warm_modules
        Modules the workers import at once, while the engine sets up.
    connect_timeout
        Seconds to reach the scheduler.

    Raises
    ------
    TrainingError
        The scheduler cannot be reached, has no workers, or the workers' versions differ from this
        computer's (the message lists the differences).
    """

    def __init__(self, address: str, *, warm_modules: Sequence[str] = (),
                 connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        from distributed import Client

        self.address = address
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise TrainingError(f"Could not connect to the Dask cluster at {address} ({_short(exc)}): check that its "
                                "scheduler runs and that this computer can reach it, or choose "
                                "\"This computer\" in Settings → Compute.") from None
        try:
            try:
                self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
            except (OSError, TimeoutError):
                raise TrainingError(f"The Dask cluster at {address} has no workers: start some with "
                                    f"`dask worker {address}`.") from None
            self.check_versions()
            # As tasks (not ``Client.run``, which would hold each worker's event loop for the imports'
            # seconds), one per worker, so the first fits do not pay for them.
            self._warming = [self.client.submit(warm_up, list(warm_modules), workers=[worker], pure=False,
                                                allow_other_workers=False, priority=10)
                             for worker in self.client.scheduler_info().get("workers", {})] if warm_modules else []
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.close(timeout=5)
            raise
        workers = self.client.scheduler_info().get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        self.size = max(1, threads)
        self.threads_per_worker = max([int(w.get("nthreads", 1)) for w in workers.values()] or [1])
        """Threads of the largest worker: the most a model's own threads may use in one task."""
        self.dashboard: str | None = None
        with contextlib.suppress(Exception):
            self.dashboard = str(self.client.dashboard_link) or None
        self.description = (f"the Dask cluster at {address}: {len(workers)} worker{'s' if len(workers) != 1 else ''}, "
                            f"{threads} thread{'s' if threads != 1 else ''}"
                            + (f" (dashboard: {self.dashboard})" if self.dashboard else ""))
        self._token = uuid.uuid4().hex[:10]
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        self._shared: list[SharedArray] = []
        self._ended: dict[str, Any] = {}
        """The Dask futures of the tasks ended here, by key: cancelled again if one still shows up running.

        A cancel is a direct call to the scheduler, while a submission travels in its batched stream: a
        task cancelled just after it was submitted can reach the scheduler after its cancel, and run."""
        self._lost: ClusterLost | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cluster-watch", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ versions

    def worker_versions(self) -> dict[str, dict[str, str]]:
        """Every worker's versions of the libraries that matter (`environment_versions`), by worker address."""
        answers = self.client.run(environment_versions, on_error="return")
        return {str(worker): dict(v) if isinstance(v, dict) else {"python": f"unknown ({_short(v)})"}
                for worker, v in answers.items()}

    def check_versions(self) -> None:
        """Refuse the cluster when a worker's versions differ from this computer's.

        Raises
        ------
        TrainingError
            Listing each difference.
        """
        differences = version_differences(environment_versions(), self.worker_versions())
        if differences:
            raise TrainingError(
                f"The Dask cluster at {self.address} cannot train this model: its workers' libraries differ from "
                f"this computer's, and a model pickled with one version may not load with another ("
                + "; ".join(differences) + "). Install the same versions on the workers (see the README's "
                "\"Training on a Dask cluster\").")

    # ------------------------------------------------------------------ the executor interface

    def share(self, name: str, array: np.ndarray) -> SharedArray:
        """Scatter ``array`` to every worker once; return the handle to pass in a task's arguments."""
        shared = SharedArray(name, np.ascontiguousarray(array))
        self._scatter(shared)
        self._shared.append(shared)
        return shared

    def _scatter(self, shared: SharedArray) -> Any:
        for attempt in range(SCATTER_TRIES):
            self._raise_if_lost()
            try:
                [shared.remote] = self.client.scatter([shared.array], broadcast=True, hash=False,
                                                      timeout=SCATTER_TIMEOUT_S)
                return shared.remote
            except Exception as exc:  # noqa: BLE001 - the scheduler gone, or a worker that was just restarted
                if self.client.status != "running":
                    raise self._lost_now(exc) from None
                if attempt == SCATTER_TRIES - 1:
                    raise TrainingError(f"The prepared data could not be sent to the workers of the Dask cluster at "
                                        f"{self.address} ({_short(exc)}).") from None
                time.sleep(1.0)  # a worker restarting is still listed for a moment: try again without it
        raise AssertionError("not reached")

    def _argument(self, value: Any) -> Any:
        """Return a task's argument as sent: a shared array's Dask future (scattered again if lost)."""
        if not isinstance(value, SharedArray):
            return value
        if value.remote is None or value.remote.status != "finished":
            log.info("the cluster lost every copy of %s; scattering it again", value.name)
            return self._scatter(value)
        return value.remote

    def submit(self, fn: Callable[..., Any], *args: Any, slots: int = 1, timeout: float | None = None,
               label: str = "") -> Future[Any]:
        """Run ``fn(*args)`` on a worker; return its future (see `pool.FitPool.submit`)."""
        number = next(self._ids)
        task = _Task(number, f"predictml-{fn.__name__}-{self._token}-{number}", label or fn.__name__, timeout,
                     Future(), (fn, max(1, int(slots)), args))
        if self._lost is not None:
            task.future.set_exception(self._lost)
            return task.future
        if self._closed.is_set():
            task.future.set_exception(TaskStopped("cancelled", "the pool is closed"))
            return task.future
        with self._lock:
            self._tasks[task.key] = task
        self._send(task)
        return task.future

    def _send(self, task: _Task) -> None:
        fn, slots, args = task.call
        try:
            # Earlier tasks first, as this computer's pool runs them: the cheapest candidates lead.
            sent = tuple(self._argument(a) for a in args)
            remote = self.client.submit(run_task, task.key, fn, slots, *sent, key=task.key, pure=False,
                                        priority=-task.id)
        except Exception as exc:  # noqa: BLE001 - the scheduler gone, or an argument that cannot be sent
            lost = self._lost_now(exc) if self.client.status != "running" else None
            self._settle_with(task, lost or TaskFailed(type(exc).__name__, _short(exc)))
            return
        with self._lock:
            task.remote = remote
            ended = task.ending is not None
            if ended:
                self._ended[task.key] = remote
        if ended:  # stopped while it was being sent again
            with contextlib.suppress(Exception):
                self.client.cancel([remote])
        remote.add_done_callback(lambda remote, task=task: self._settled(task, remote))

    def _resend(self, task: _Task) -> None:
        """Send ``task`` again under a new key, its lost arrays scattered anew (runs on its own thread)."""
        with self._lock:
            if task.ending is not None or task.future.done() or self._tasks.get(task.key) is not task:
                return
            del self._tasks[task.key]
            task.resends += 1
            task.key = f"predictml-{task.call[0].__name__}-{self._token}-{task.id}-r{task.resends}"
            task.remote = None
            self._tasks[task.key] = task
        log.info("task %s lost its data with a worker; sending it again", task.label)
        self._send(task)

    def cancel(self, future: Future[Any]) -> None:
        """End the task of ``future``: dropped if it waits; if it runs, its worker is restarted."""
        with self._lock:
            task = next((t for t in self._tasks.values() if t.future is future), None)
        if task is not None:
            self._end([task], TaskStopped("cancelled", "cancelled"))

    def stop(self) -> None:
        """End every waiting and running task of this run now, and return once none executes on a worker."""
        with self._lock:
            tasks = [t for t in self._tasks.values() if not t.future.done()]
        self._end(tasks, TaskStopped("cancelled", "stopped"))
        if self._lost is None:
            self._clear_workers(wait=True)

    def close(self) -> None:
        """End the run's tasks, release its scattered data and disconnect."""
        if self._closed.is_set():
            return
        if self._lost is None:
            with contextlib.suppress(Exception):
                self.stop()
        self._closed.set()
        self._thread.join(5.0)
        with contextlib.suppress(Exception):
            remotes = [s.remote for s in self._shared if s.remote is not None]
            if self._lost is None and remotes:
                self.client.cancel(remotes)
        self._shared.clear()
        self._warming.clear()
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)

    def __enter__(self) -> ClusterPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _settled(self, task: _Task, remote: Any) -> None:
        """Settle the task's future once its Dask future ended (runs on Dask's callback thread)."""
        status = remote.status
        if status == "finished":
            try:
                answer = remote.result()
            except Exception as exc:  # noqa: BLE001 - its result could not be fetched: the worker or the scheduler went
                lost = self._lost_now(exc) if self.client.status != "running" else None
                self._settle_with(task, lost or TaskStopped("crashed", f"its result was lost ({_short(exc)})"))
                return
            if answer[0] == "ok":
                with self._lock:
                    self._tasks.pop(task.key, None)
                    task.remote = None
                if not task.future.done():
                    with contextlib.suppress(Exception):
                        task.future.set_result(answer[1])
            else:
                self._settle_with(task, TaskFailed(answer[1], answer[2]))
        elif status == "cancelled":
            # Cancelled by us (a cancel, a timeout, a stop), by the client when the scheduler went, or by
            # the scheduler when every copy of its data was lost.
            if task.ending is not None:
                self._settle_with(task, task.ending)
            elif self.client.status != "running":
                self._settle_with(task, self._lost_now(None))
            elif task.resends < RESEND_TRIES and not self._closed.is_set():
                # Off Dask's callback thread: scattering again waits on the scheduler.
                threading.Thread(target=self._resend, args=(task,), name="cluster-resend", daemon=True).start()
            else:
                self._settle_with(task, TaskStopped("crashed", "its data was lost on the cluster"))
        else:
            error = None
            with contextlib.suppress(Exception):
                error = remote.exception()
            if type(error).__name__ == "KilledWorker":
                self._settle_with(task, TaskStopped("crashed", "it ended every worker process it ran in"))
            else:
                self._settle_with(task, TaskStopped("crashed", f"it failed on the cluster ({_short(error)})"))

    def _settle_with(self, task: _Task, error: BaseException) -> None:
        with self._lock:
            self._tasks.pop(task.key, None)
            task.remote = None
        if not task.future.done():
            with contextlib.suppress(Exception):
                task.future.set_exception(error)

    def _end(self, tasks: list[_Task], ending: TaskStopped) -> None:
        """Fail ``tasks`` with ``ending`` now and cancel them on the cluster (a running one's worker restarts)."""
        remotes = []
        for task in tasks:
            with self._lock:
                if task.ending is None:
                    task.ending = ending
                if task.remote is not None:
                    remotes.append(task.remote)
                    self._ended[task.key] = task.remote
            if not task.future.done():
                with contextlib.suppress(Exception):
                    task.future.set_exception(task.ending)
        if remotes and self._lost is None:
            with contextlib.suppress(Exception):
                self.client.cancel(remotes)
        # The watcher finds any of them still executing (cancelling does not interrupt a running task)
        # and restarts its worker.

    def _running_by_worker(self) -> dict[str, dict[str, float]]:
        """Return the tasks of this run executing on each worker now, with seconds run."""
        answers = self.client.run(running_tasks, on_error="return")
        prefix = f"-{self._token}-"
        return {str(worker): {k: s for k, s in keys.items() if prefix in k}
                for worker, keys in answers.items() if isinstance(keys, dict)}

    def _clear_workers(self, *, wait: bool) -> None:
        """Restart the workers still executing tasks of this run that were ended; with ``wait``, until none is.

        Also ends tasks that overran their time share.
        """
        deadline = time.monotonic() + STOP_WAIT_S
        while True:
            try:
                running = self._running_by_worker()
            except Exception as exc:  # noqa: BLE001 - the scheduler unreachable: the watcher reports it
                if self.client.status != "running":
                    self._lost_now(exc)
                return
            restart: list[str] = []
            for worker, keys in running.items():
                for key, seconds in keys.items():
                    with self._lock:
                        task = self._tasks.get(key)
                        remote = self._ended.get(key)
                    if task is None or task.ending is not None or task.future.done():
                        if remote is not None:
                            # Cancelled again first, so the scheduler does not run it anew after the restart.
                            with contextlib.suppress(Exception):
                                self.client.cancel([remote])
                        restart.append(worker)  # ended here, still computing there
                    elif task.timeout is not None and seconds > task.timeout:
                        log.warning("task %s overran its time share on %s; restarting that worker", task.label, worker)
                        self._end([task], TaskStopped("timeout", f"exceeded its time share ({task.timeout:.0f} s)"))
                        restart.append(worker)
            restart = sorted(set(restart))
            if restart:
                self._restart(restart)
            if not wait or not restart or time.monotonic() > deadline:
                return

    def _restart(self, workers: list[str]) -> None:
        """Have the nannies of ``workers`` end their processes and start new ones; return once the old are gone.

        Not ``Client.restart_workers``: it also waits for the new processes to join, for a minute when a
        nanny closed instead (see the module's text). Arrays lost with them are scattered again when a task
        needs them (`_argument`), and tasks cancelled for want of them are sent again (`_resend`).
        """
        log.info("restarting %s to end tasks of this run still executing there", ", ".join(workers))
        with contextlib.suppress(Exception):
            self.client.sync(self.client.scheduler.restart_workers, workers=workers, timeout=KILL_TIMEOUT_S,
                             wait_for_workers=False, on_error="return",
                             stimulus_id=f"predictml-restart-{time.time()}")

    def _watch(self) -> None:
        """Every half second: overrunning tasks, ended tasks still executing, and the scheduler's connection."""
        while not self._closed.wait(WATCH_S):
            if self._lost is not None:
                return
            if self.client.status not in ("running", "newly-created"):
                self._lost_now(None)
                return
            # Even with no task in flight: an ended one may still start late (see ``_ended``).
            self._clear_workers(wait=False)

    def _lost_now(self, cause: BaseException | None) -> ClusterLost:
        """Record that the scheduler is gone; fail every waiting task with one sentence; return it."""
        with self._lock:
            if self._lost is None:
                if cause is not None:
                    log.warning("lost the Dask scheduler at %s: %s", self.address, _short(cause))
                self._lost = ClusterLost(
                    f"The connection to the Dask scheduler at {self.address} was lost, so the training stopped; "
                    "the candidates finished before it are kept in the leaderboard.")
            lost = self._lost
            tasks = list(self._tasks.values())
            self._tasks.clear()
        for task in tasks:
            if not task.future.done():
                with contextlib.suppress(Exception):
                    task.future.set_exception(lost)
        return lost

    def _raise_if_lost(self) -> None:
        if self._lost is not None:
            raise self._lost
        if self.client.status not in ("running", "newly-created"):
            raise self._lost_now(None)


def _short(exc: object) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def pid() -> int:
    """On a worker: its process id (tests end a worker this way)."""
    return os.getpid()
