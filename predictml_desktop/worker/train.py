"""The training worker: ``predictml --worker train JOB_ID [--started-at EPOCH] [--resume] [--stopped JSON]``.

It runs in a process group of its own, started by `core.training.runner.TrainingRunner`, and speaks
the JSON-lines protocol of DESIGN §5 on its stdout. Everything else any library prints goes to
stderr (the runner copies it to the job's log): file descriptor 1 itself is pointed at stderr, so
that even native code (LightGBM, CatBoost) cannot corrupt the protocol.

It never writes the record files (the runner is their single writer); it reads its job and dataset
records, trains, and writes the job's artifacts under ``models/<jobId>/``.

Ending: ``stop`` on stdin ends the search at once and keeps the best model finished so far (it is
fitted and saved, and the job waits for review marked as stopped early); ``cancel`` on stdin,
SIGTERM, or the death of the app that started it each end the worker's whole process group at once,
the fitting processes included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import IO, Any

from predictml_desktop.core.training.events import STAGE_PROGRESS, EventType, Stage, TrainingEvent


class Emitter:
    """Print protocol events, one JSON line each, from any thread."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.model_finished = False
        """A real candidate (not the baseline) has finished: a stop has something to keep."""

    def __call__(self, event: TrainingEvent) -> None:
        """Print ``event``."""
        if event.type is EventType.CANDIDATE and event.payload.get("status") == "done" \
                and event.payload.get("model") != "dummy":
            self.model_finished = True
        line = event.to_json_line()
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                # The runner is gone; follow_parent ends this process shortly.
                pass


def _protocol_stream() -> IO[str]:
    # Keep a private copy of the real stdout for the protocol, then point fd 1 (and sys.stdout) at
    # stderr: whatever PyCaret, LightGBM's C++ or a stray print() writes lands in the log instead.
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


def _exit_group() -> None:
    """End this worker and everything it started, now."""
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            if os.getpgid(0) == os.getpid():  # only when we lead our own group (started by spawn())
                os.killpg(os.getpid(), signal.SIGKILL)
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
    except Exception:  # noqa: BLE001 - dying anyway
        pass
    os._exit(1)


def _watch_stdin(emit: Emitter, stop: threading.Event) -> None:
    stream = sys.stdin.buffer if sys.stdin is not None else None
    if stream is None:
        return
    try:
        for raw in iter(stream.readline, b""):
            command = raw.strip().lower()
            if command == b"cancel":
                emit(TrainingEvent.log("Cancel received; stopping."))
                _exit_group()
            elif command == b"stop" and not emit.model_finished:
                emit(TrainingEvent.log("Stop received before any model finished: nothing to keep; stopping."))
                _exit_group()
            elif command == b"stop" and not stop.is_set():
                stop.set()
                # The acknowledgement the runner waits for (progress never goes back there).
                emit(TrainingEvent.progress(0, "Stopping", stopping=True))
                emit(TrainingEvent.log("Stop received: ending the search and keeping the best model so far."))
    except (OSError, ValueError):
        return
    # EOF: the runner closed our stdin or died; follow_parent handles the latter.


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="predictml --worker train", add_help=False)
    parser.add_argument("job_id")
    parser.add_argument("--started-at", type=float, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stopped", default="{}")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> int:
    """Train the job named in ``argv``; return 0 on success, 1 on failure (an ``error`` event says why)."""
    try:
        args = _parse(argv)
    except SystemExit as exc:
        return int(exc.code or 2)
    emit = Emitter(_protocol_stream())

    from predictml_desktop.core.processes import follow_parent

    follow_parent(kill_group_on_sigterm=True)
    stop = threading.Event()
    threading.Thread(target=_watch_stdin, args=(emit, stop), name="cancel-watch", daemon=True).start()
    try:
        stopped = json.loads(args.stopped)
        if not isinstance(stopped, dict):
            raise ValueError("not an object")
    except ValueError:
        stopped = {}
    from predictml_desktop.core.training.engine import TrainingCancelled

    try:
        result = _train(args.job_id, args.started_at, bool(args.resume), {str(k): str(v) for k, v in stopped.items()},
                        emit, stop)
    except TrainingCancelled as exc:
        emit(TrainingEvent.log(str(exc)))
        _exit(CANCELLED_EXIT)
    except Exception as exc:  # noqa: BLE001 - any failure of the job becomes its error event; the traceback goes to stderr (the job's log)
        emit(TrainingEvent.error(_user_message(exc)))
        traceback.print_exc(file=sys.stderr)
        _exit(1)
    emit(TrainingEvent.result(result))
    _exit(0)
    return 0  # not reached


def _exit(code: int) -> None:
    # Leave without the interpreter's shutdown: the stdin watcher is blocked in a read, and
    # finalising the interpreter under it aborts the process ("could not acquire lock for
    # <stdin> at interpreter shutdown"); tearing down PyCaret's modules also takes seconds.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _user_message(exc: BaseException) -> str:
    from predictml_desktop.core.ingest import IngestError
    from predictml_desktop.core.store import StoreError
    from predictml_desktop.core.training.jobs import TrainingError

    if isinstance(exc, (TrainingError, IngestError, StoreError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Training ran out of memory; try the fast preset, fewer models or fewer rows."
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"Training failed: {type(exc).__name__}{': ' + detail if detail else ''} (details in the job's log)."


CANCELLED_EXIT = 4
"""Exit code of a worker stopped before any model finished (nothing to keep)."""


def _train(job_id: str, started_at: float | None, resume: bool, stopped: dict[str, str],
           emit: Emitter, stop: threading.Event) -> dict[str, Any]:
    from predictml_desktop.core.paths import Paths, safe_name

    paths = Paths.default().ensure()
    work = paths.work / safe_name(job_id)
    work.mkdir(parents=True, exist_ok=True)
    # PyCaret writes logs.log and CatBoost catboost_info/ into the current folder; never the user's.
    os.chdir(work)
    os.environ.setdefault("MPLCONFIGDIR", str(paths.cache / "matplotlib"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    # joblib's process pool memory-maps large arrays into a temporary folder: keep it in ours.
    os.environ.setdefault("JOBLIB_TEMP_FOLDER", str(work / "joblib"))
    emit(TrainingEvent.progress(STAGE_PROGRESS[Stage.LOAD], Stage.LOAD))

    from predictml_desktop.core.ingest import load_dataset_frame
    from predictml_desktop.core.store import Store

    store = Store(paths)
    snapshot = store.read()
    job = snapshot.jobs.get(job_id)
    dataset = snapshot.datasets.get(job.dataset_id)
    t0 = time.monotonic()
    frame = load_dataset_frame(paths, dataset)
    emit(TrainingEvent.log(f"Loaded {dataset.name or dataset.file_name}: {len(frame):,} rows × "
                           f"{frame.shape[1]} columns in {time.monotonic() - t0:.1f} s."))

    from predictml_desktop.core.training.engine import TrainingRequest, run_training
    from predictml_desktop.core.training.options import TrainingOptions

    request = TrainingRequest(
        frame=frame,
        target=job.target_column,
        problem_type=job.problem_type,
        options=TrainingOptions.from_dict(job.options),
        columns=list(dataset.columns),
        excluded_columns=list(dataset.excluded_columns),
        job_id=job.id,
        dataset_id=dataset.id,
        model_dir=paths.model_dir(job.id),
        home=paths.home,
        started_at=started_at if started_at is not None else time.time(),
        resume=resume,
        stopped_units=stopped,
        problem_type_reason=(dataset.problem_type_reason or None)
        if job.problem_type and job.problem_type == dataset.problem_type else None,
        work_dir=work,
    )
    return run_training(request, emit, stop.is_set)
