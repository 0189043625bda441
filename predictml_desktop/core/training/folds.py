"""Preprocessed cross-validation folds, the fit of one fold, and a process lane for GIL-bound fits.

No PyCaret here: the estimators arrive ready-made from the engine. The lane exists because some
models' fits are Python code holding the GIL (a network's mini-batches, Theil-Sen's subsets, the
stage loop of AdaBoost): in a second thread they only slow the other thread down, and a model
whose native code takes the GIL back often (CatBoost, once per boosting round) waits for it each
time. Measured on this machine: 200 CatBoost rounds took 0.19 s alone and 16.5 s next to a thread
running Python code. In a process of their own, both run at full speed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np


@dataclass
class Fold:
    """One fold's preprocessed rows (the preprocessing fitted on its training rows only)."""

    X_tr: np.ndarray
    y_tr: np.ndarray
    X_va: np.ndarray
    codes_va: np.ndarray
    va_pos: np.ndarray


@dataclass
class FoldSet:
    """The folds of one K-fold split of (a sample of) the training rows."""

    name: str
    folds: list[Fold]
    rows: int
    codes: np.ndarray
    """Class codes (or target values) of every row of the set, for out-of-fold scoring."""
    prep_seconds: float

    @property
    def train_rows(self) -> int:
        """Mean training rows of a fold."""
        return int(np.mean([len(f.y_tr) for f in self.folds]))

    @property
    def cells(self) -> int:
        """Training rows × model columns of a fold (what decides whether a model's threads pay off)."""
        return self.train_rows * (self.folds[0].X_tr.shape[1] if self.folds else 0)


FoldOutput = tuple[float, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]
"""Fit seconds, predictions, probabilities, decision scores and classes of one fold."""


def fit_fold(estimator: Any, X_tr: np.ndarray, y_tr: np.ndarray, X_va: np.ndarray,
             classification: bool) -> FoldOutput:
    """Fit one fold and predict its validation rows; module-level so a process can run it."""
    from sklearn import config_context

    # The estimators come from PyCaret's containers and tune grids, so re-validating their
    # parameters on every fit is pure overhead; and it is paid per tree by the ensembles that fit
    # sklearn trees one by one (gradient boosting's 100 stages × classes).
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(X_tr, y_tr)
        seconds = time.perf_counter() - start
        pred = np.asarray(estimator.predict(X_va))
        if pred.ndim == 2 and pred.shape[1] == 1:  # CatBoost's multiclass predict answers a column
            pred = pred.ravel()
        proba = decision = classes = None
        if classification:
            classes = np.asarray(getattr(estimator, "classes_", np.unique(y_tr)))
            if hasattr(estimator, "predict_proba"):
                try:
                    proba = np.asarray(estimator.predict_proba(X_va), dtype=float)
                except (AttributeError, NotImplementedError):
                    proba = None
            if proba is None and hasattr(estimator, "decision_function"):
                decision = np.asarray(estimator.decision_function(X_va), dtype=float)
    return seconds, pred, proba, decision, classes


# --------------------------------------------------------------------------- the process lane

_INHERITED: dict[str, Any] = {}
"""What the lane's process works on (fold sets by name, training rows): set just before the fork, so
it inherits them in memory instead of receiving copies."""


class LaneError(Exception):
    """A fit in the lane failed; ``kind`` is the exception's type name there."""

    STOPPED = "LaneStopped"

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def lane_supported() -> bool:
    """Whether this platform can fork the lane (Linux only).

    Forking shares the prepared folds with no copy and starts in milliseconds, where a spawned
    process would re-import the whole stack (seconds, more than the lane saves on a small table).
    macOS's system libraries are not safe to fork, and Windows cannot: there the Python-bound
    models stay in a thread.
    """
    return sys.platform.startswith("linux")


class ProcessLane:
    """One forked process that fits folds (or runs other functions) on what it inherited, one at a time.

    The process belongs to the worker's process group, so cancelling the job or the watchdog's
    stop ends it with the worker. It also dies with the thread that forked it
    (``PR_SET_PDEATHSIG``), and leaves when its pipe closes.

    It is a bare ``os.fork()``, not a ``multiprocessing.Process``: that one closes ``sys.stdin``
    in the child, whose lock the worker's cancel watcher holds while it waits for a line, so the
    child hung there for good (seen in the packaged app's self-test). The child touches nothing
    but its pipe and what it inherited, and leaves with ``os._exit``.

    Parameters
    ----------
    fold_sets
        The fold sets requests may name; they must all be prepared before the lane starts.
    data
        Anything else `call` functions will need, by name (shared, not copied).
    """

    def __init__(self, fold_sets: list[FoldSet], data: dict[str, Any] | None = None) -> None:
        from multiprocessing import Pipe

        here, there = Pipe(duplex=True)
        parent = os.getpid()
        prctl = _prctl()
        _INHERITED.clear()
        _INHERITED.update(data or {})
        _INHERITED.update({fs.name: fs for fs in fold_sets})
        try:
            pid = os.fork()
            if pid == 0:  # the lane
                try:
                    _lane_main(there, here, parent, prctl)
                finally:
                    os._exit(0)
        finally:
            _INHERITED.clear()
            there.close()
        self._pid = pid
        self._conn = here
        self._lock = threading.Lock()
        self._exit_code: int | None = None
        self.broken: str | None = None
        """Why the lane can no longer be used (its process died), or None."""

    @property
    def pid(self) -> int:
        """The lane process's id."""
        return self._pid

    def _reap(self, timeout: float) -> int | None:
        """Collect the lane's exit code (waiting up to ``timeout``); None while it runs."""
        deadline = time.monotonic() + timeout
        while self._exit_code is None:
            try:
                done, status = os.waitpid(self._pid, os.WNOHANG)
            except ChildProcessError:  # already collected elsewhere
                return None
            if done:
                self._exit_code = os.waitstatus_to_exitcode(status)
            elif time.monotonic() >= deadline:
                return None
            else:
                time.sleep(0.01)
        return self._exit_code

    def fit(self, estimator: Any, fold_set: str, index: int, classification: bool) -> FoldOutput:
        """Fit fold ``index`` of ``fold_set`` in the lane; block until it is done.

        Raises
        ------
        LaneError
            As `call`.
        """
        return self.call(_fit_inherited_fold, estimator, fold_set, index, classification)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Return ``function(inherited, *args)`` computed in the lane; block until it is done.

        ``function`` must be importable by name (module level); ``inherited`` is the dictionary of
        what the lane inherited (fold sets and ``data``).

        Raises
        ------
        LaneError
            With the function's own exception type and message when it failed there, or kind
            ``LaneStopped`` when the lane's process died meanwhile (a native crash).
        """
        with self._lock:
            if self.broken:
                raise LaneError(LaneError.STOPPED, self.broken)
            try:
                self._conn.send((function, args))
                ok, payload = self._conn.recv()
            except (EOFError, OSError):
                self.broken = f"its process stopped unexpectedly (exit code {self._reap(1.0)})"
                raise LaneError(LaneError.STOPPED, self.broken) from None
        if not ok:
            raise LaneError(*payload)
        return payload

    def close(self) -> None:
        """End the lane's process (at once: nothing it holds is needed any more)."""
        with contextlib.suppress(OSError):
            self._conn.close()
        if self._exit_code is None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap(5.0)


def _fit_inherited_fold(inherited: dict[str, Any], estimator: Any, name: str, index: int,
                        classification: bool) -> FoldOutput:
    fold = inherited[name].folds[index]
    return fit_fold(estimator, fold.X_tr, fold.y_tr, fold.X_va, classification)


def _prctl() -> Callable[..., int] | None:
    # Looked up before the fork: loading a library in the child could wait forever on a loader
    # lock that another thread of the parent held at the fork.
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _lane_main(conn: Connection, parent_end: Connection, parent_pid: int, prctl: Callable[..., int] | None) -> None:
    parent_end.close()  # else this process's own copy would keep the pipe open after the parent's death
    # The worker's SIGTERM handler ends the whole group; the lane only ends itself.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if prctl is not None:
        pr_set_pdeathsig = 1
        prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:
        return
    # BLAS's thread count (one, see engine.run_training) is inherited with the memory.
    inherited = dict(_INHERITED)
    while True:
        try:
            function, args = conn.recv()
        except (EOFError, OSError):
            return
        except Exception as exc:  # a request that cannot be unpickled here
            reply: tuple[bool, Any] = (False, (type(exc).__name__, str(exc)))
        else:
            try:
                reply = (True, function(inherited, *args))
            except Exception as exc:
                reply = (False, (type(exc).__name__, str(exc)))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
        except Exception as exc:  # an answer that cannot be pickled
            with contextlib.suppress(OSError, ValueError):
                conn.send((False, (type(exc).__name__, str(exc))))
