"""Short background jobs of the GUI (reading a file, profiling, loading a model, scoring a batch).

Each runs a core function on superqt's thread pool, so the event loop keeps painting; results come
back as queued signals on the GUI thread. A thread cannot be interrupted from outside, so a job that
must be cancellable is one whose core function polls a ``should_stop()`` callback and reports through
``progress(fraction, message)`` (Orange's runner contract, which the core's reader and batch scorer
follow): `Tasks.start_cancellable` passes both.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from shiboken6 import isValid
from superqt.utils import GeneratorWorker, WorkerBase, create_worker

log = logging.getLogger(__name__)

_UI_LOG: Path | None = None


def set_error_log(path: Path) -> None:
    """Append the tracebacks of unexpected errors to ``path`` (the data home's ``logs/ui.log``)."""
    global _UI_LOG
    _UI_LOG = path


def describe_error(exc: BaseException) -> str:
    """Return the one sentence shown to the user for ``exc``; never a traceback.

    The core's own exceptions carry a sentence written for the user (file, row, column, value), so it
    is shown as it is. Anything else is a bug or an environment problem: its traceback goes to
    ``logs/ui.log`` and the user gets its one-line summary and where the details are.
    """
    module = type(exc).__module__ or ""
    if module.startswith("predictml_desktop."):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        name = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{name}."
    where = ""
    if _UI_LOG is not None:
        try:
            _UI_LOG.parent.mkdir(parents=True, exist_ok=True)
            with open(_UI_LOG, "a", encoding="utf-8") as fh:
                fh.write("".join(traceback.format_exception(exc)))
            where = f" (details in {_UI_LOG})"
        except OSError:
            pass
    log.error("unexpected error in a background task", exc_info=exc)
    return f"Unexpected error: {type(exc).__name__}: {exc}{where}"


class Progress(QObject):
    """Carries ``progress(fraction, message)`` calls from a worker thread to the GUI thread."""

    reported = Signal(float, str)
    """Fraction done (0-1) and what is being done."""

    def __call__(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` done (0-1) and ``message``, from any thread."""
        # Emitting from the worker thread queues the call to receivers in the GUI thread.
        self.reported.emit(float(fraction), str(message))


class CancellableTask:
    """A running background job that uses the core's ``progress``/``should_stop`` callbacks.

    Attributes
    ----------
    worker
        The superqt worker running the job.
    progress
        Emits ``reported(fraction, message)`` on the GUI thread.
    """

    def __init__(self, worker: WorkerBase[Any], stop: threading.Event, progress: Progress) -> None:
        self.worker, self._stop, self.progress = worker, stop, progress

    def cancel(self) -> None:
        """Ask the job to stop at its next ``should_stop()`` check; its result is then dropped."""
        self._stop.set()
        self.worker.quit()

    @property
    def cancelled(self) -> bool:
        """True once `cancel` was called."""
        return self._stop.is_set()


class Tasks(QObject):
    """The background jobs one view started; `cancel_all` stops the cancellable ones.

    Parameters
    ----------
    parent
        The view that owns the jobs. Result slots should be methods of QObjects (PySide drops the
        connection when the receiver is destroyed, so a late result never reaches a deleted widget).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: set[WorkerBase[Any]] = set()

    def start(
        self,
        func: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
        on_yield: Callable[[Any], Any] | None = None,
        on_finish: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> WorkerBase[Any]:
        """Run ``func(*args, **kwargs)`` on the thread pool and return its worker.

        Parameters
        ----------
        func
            A core function, or a generator function when the job reports progress or can be cancelled.
        on_result
            Called on the GUI thread with the return value (not called after a cancel).
        on_error
            Called on the GUI thread with the user-facing sentence of the exception (`describe_error`).
        on_yield
            Called with each value a generator yields (progress).
        on_finish
            Called last, whatever the outcome.
        """
        # start_cancellable handles the exception itself (before describing it: a cancel is no error).
        on_exception: Callable[[BaseException], Any] | None = kwargs.pop("_on_exception", None)
        worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True, **kwargs)
        if on_result is not None:
            worker.returned.connect(self._guard(on_result))
        if on_exception is not None:
            worker.errored.connect(self._guard(on_exception))
        elif on_error is not None:
            worker.errored.connect(self._guard(lambda exc: on_error(describe_error(exc))))
        else:
            worker.errored.connect(describe_error)
        if on_yield is not None and isinstance(worker, GeneratorWorker):
            worker.yielded.connect(self._guard(on_yield))
        worker.finished.connect(lambda: self._running.discard(worker))
        if on_finish is not None:
            worker.finished.connect(self._guard(on_finish))
        self._running.add(worker)
        worker.start()
        return worker

    def start_cancellable(
        self,
        func: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
        on_progress: Callable[[float, str], Any] | None = None,
        on_finish: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> CancellableTask:
        """Run ``func(*args, progress=..., should_stop=..., **kwargs)``, a core function with callbacks.

        The core reports through ``progress(fraction, message)`` and polls ``should_stop()``
        (Orange's runner contract), so the job can be cancelled between steps. After a cancel,
        neither ``on_result`` nor ``on_error`` is called.
        """
        stop = threading.Event()
        progress = Progress(self)
        if on_progress is not None:
            progress.reported.connect(on_progress)

        def when_not_cancelled(callback: Callable[..., Any] | None) -> Callable[..., Any] | None:
            if callback is None:
                return None
            return lambda *a: None if stop.is_set() else callback(*a)

        def failed(exc: BaseException) -> None:
            # After a cancel the job's way of stopping (an InterruptedError, say) is no error at all.
            if stop.is_set():
                return
            message = describe_error(exc)
            if on_error is not None:
                on_error(message)

        worker = self.start(
            func,
            *args,
            progress=progress,
            should_stop=stop.is_set,
            on_result=when_not_cancelled(on_result),
            on_finish=on_finish,
            _on_exception=failed,
            **kwargs,
        )
        return CancellableTask(worker, stop, progress)

    def _guard(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        # A job may finish after its view was closed and deleted: drop its result then, instead of
        # calling into a destroyed widget.
        def call(*args: Any) -> Any:
            if isValid(self):
                return callback(*args)
            return None

        return call

    @property
    def busy(self) -> bool:
        """True while any job of this owner runs."""
        return bool(self._running)

    def cancel_all(self) -> None:
        """Ask every running job to stop at its next ``yield``."""
        for worker in list(self._running):
            worker.quit()


def wait_for_background_jobs(msecs: int = 10_000) -> bool:
    """Block until the thread pool is idle (at exit and in tests); return False on timeout."""
    return QThreadPool.globalInstance().waitForDone(msecs)
