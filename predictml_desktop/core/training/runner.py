"""`TrainingRunner`: supervise one job's worker process and keep its record up to date (no Qt).

The runner is the single writer of the job record while a job trains: the worker only prints
events (DESIGN §5) and writes its artifacts. The runner starts the worker in a process group of
its own, reads its JSON lines, applies them to the record (progress, stage, the last 50 log lines,
each candidate as it finishes, a heartbeat every few seconds), copies everything to
``logs/<jobId>.log``, and turns the way the worker ends into the job's final status.

It is also the watchdog of the time budget. PyCaret and the model libraries cannot be interrupted
inside a fit, so the worker announces each candidate (``unit``) with its time share
(``timeoutS``); a candidate that overruns it is stopped for real by ending the worker's whole
process tree, and a new worker resumes the run, skipping the candidates already finished (the
worker persisted each one at once) and recording the overrunning one as stopped. The same happens
to a candidate that crashes the worker itself (a native crash, the OOM killer).

Cancel keeps the best model finished so far: ``cancel()`` (any thread) writes ``stop`` on the
worker's stdin; the worker ends its search at once (its fitting processes within a second), fits and
saves the best candidate finished by then, and the job waits for review marked as stopped early.
With nothing finished yet, or when the keeping takes longer than `STOP_FINISH_S`, or on
``cancel(keep_best=False)`` (or a second cancel), the worker's whole process tree is ended
(``cancel`` on stdin, then terminate and kill) within 5 s and the job is cancelled.

Liveness: besides the time shares the worker announces for its own steps, a worker whose whole
process tree uses no CPU for `IDLE_TIMEOUT_S` is hung (a deadlock), and is restarted like an
overrunning step.

Over 600 lines on purpose: one object is the single writer of the job record, and its event
handling, watchdog, restarts and cancel all read and change the same attempt state under one lock;
split apart, the rules of who may write the record when would be spread over several classes. What
stands apart already does: the events (`events`), the worker's side (`worker.train`), the budget
(`options`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from predictml_desktop.core.artifacts import sha256_file
from predictml_desktop.core.paths import CONFIG_ENV, HOME_ENV, safe_name
from predictml_desktop.core.processes import app_command, child_environment, kill_tree, process_identity, spawn
from predictml_desktop.core.records import TrainingJob, now_iso, parse_iso
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training.events import EventType, Stage, TrainingEvent
from predictml_desktop.core.training.jobs import CANCELLED_MESSAGE, HEARTBEAT_INTERVAL_S, finish_job

log = logging.getLogger(__name__)

RECENT_LOG_LINES: Final = 50
"""Log lines kept in the job record; the full log is ``logs/<jobId>.log``."""
FLUSH_INTERVAL_S: Final = 1.0
"""At most one record write per second for progress and log lines (candidates are written at once)."""
UNIT_GRACE_S: Final = 3.0
"""Slack on top of a candidate's time share before the watchdog stops it."""
SILENCE_TIMEOUT_S: Final = 1_800.0
"""A worker that prints nothing at all for this long is considered hung."""
MAX_RESTARTS: Final = 6
CANCEL_GRACE_S: Final = 1.5
"""Time the worker gets to end its own process group after ``cancel`` before the runner ends it."""
STOP_FINISH_S: Final = 120.0
"""Time a stopped worker gets to fit and save the best model so far before it is cancelled outright."""
STOP_ACK_S: Final = 2.0
"""A worker that does not acknowledge ``stop`` within this is ended at once (it cannot keep anything)."""
IDLE_TIMEOUT_S: Final = 60.0
"""A worker whose process tree uses no CPU for this long is hung."""
_IDLE_CHECK_S: Final = 2.0

EventCallback = Callable[[TrainingEvent], None]


def _noop(_event: TrainingEvent) -> None:
    pass


@dataclass
class _Attempt:
    """How one worker process ended."""

    exit_code: int | None = None
    restart_reason: str | None = None
    failure: str | None = None


@dataclass
class _State:
    """What the runner knows of the job while it runs."""

    progress: int = 0
    stage: str = "Starting"
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_LOG_LINES))
    leaderboard: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem_type: str | None = None
    units: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Candidates running now: unit → (time share, deadline)."""
    stopped: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    dirty: bool = False
    last_flush: float = 0.0
    last_heartbeat: float = 0.0
    last_cancel_check: float = 0.0
    last_event: float = field(default_factory=time.monotonic)
    restarts: int = 0
    tree_cpu: float = -1.0
    """CPU seconds the worker's process tree had used at the last check."""
    tree_cpu_at: float = field(default_factory=time.monotonic)
    """When it last used CPU."""
    idle_hangs: int = 0
    last_idle_check: float = 0.0


class TrainingRunner:
    """Supervise the worker process of one training job.

    Parameters
    ----------
    store
        The data home's records (the job must be in ``training``; see `create_job`).
    job_id
        The job to run.
    command
        The worker's command line without the job arguments; None runs the real worker
        (``predictml --worker train``). Tests pass a fake trainer script. The runner appends
        ``JOB_ID --started-at EPOCH [--resume] [--stopped JSON]``.
    max_restarts
        How many times a worker may be restarted after stopping an overrunning or crashing candidate.
    heartbeat_s
        How often the record's heartbeat is written.
    idle_timeout_s
        A worker whose process tree uses no CPU for this long is hung (see `IDLE_TIMEOUT_S`).

    Examples
    --------
    >>> job = create_job(store, "report_1", "purchased")            # doctest: +SKIP
    >>> TrainingRunner(store, job.id).run(print).status               # doctest: +SKIP
    'pending_review'
    """

    def __init__(
        self,
        store: Store,
        job_id: str,
        *,
        command: Sequence[str] | None = None,
        max_restarts: int = MAX_RESTARTS,
        heartbeat_s: float = HEARTBEAT_INTERVAL_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.store = store
        self.job_id = safe_name(job_id)
        self._command = list(command) if command is not None else None
        self._max_restarts = max_restarts
        self._heartbeat_s = heartbeat_s
        self._idle_timeout_s = idle_timeout_s
        self._cancel = threading.Event()
        self._discard = threading.Event()
        self._stop_acked = threading.Event()
        self._stop_finish_s = STOP_FINISH_S
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_lock = threading.Lock()
        self._log_fh: IO[str] | None = None

    # ------------------------------------------------------------------ public API

    @property
    def cancelled(self) -> bool:
        """True once `cancel` was called."""
        return self._cancel.is_set()

    @property
    def worker_pid(self) -> int | None:
        """PID of the running worker process, if any."""
        with self._proc_lock:
            return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def cancel(self, *, keep_best: bool = True) -> None:
        """Stop the training; returns at once (safe from any thread, e.g. the GUI thread).

        Parameters
        ----------
        keep_best
            Keep the best model finished so far (`run` then ends with the job ``pending_review``,
            ``stoppedEarly``), or, when False or when called a second time, end everything now
            (`run` ends with the job ``cancelled`` once the worker's tree has ended, within 5 s).
        """
        again = self._cancel.is_set()
        self._cancel.set()
        if not keep_best or again:
            self._discard.set()
        with self._proc_lock:
            proc = self._proc
        if proc is None:
            return
        if self._discard.is_set():
            threading.Thread(target=self._stop, args=(proc,), name=f"cancel-{self.job_id}", daemon=True).start()
        elif not again:
            threading.Thread(target=self._stop_keeping_best, args=(proc,), name=f"stop-{self.job_id}",
                             daemon=True).start()

    def run(self, on_event: EventCallback | None = None) -> TrainingJob:
        """Run the job's worker to its end and return the job's final record.

        Parameters
        ----------
        on_event
            Called on this thread with every event (the worker's, and the runner's own log and
            error events). Exceptions it raises are logged and ignored.

        Returns
        -------
        TrainingJob
            The job, now ``pending_review``, ``failed`` (with ``error``) or ``cancelled``.
        """
        emit = self._safe_callback(on_event or _noop)
        job = self.store.read().jobs.get(self.job_id)
        if job.status != JobStatus.TRAINING:
            return job
        paths = self.store.paths
        paths.logs.mkdir(parents=True, exist_ok=True)
        state = _State(progress=job.progress, stage=job.stage, problem_type=job.problem_type)
        state.logs.extend(job.logs[-RECENT_LOG_LINES:])
        started_epoch = parse_iso(job.started_at).timestamp()
        with open(paths.job_log(self.job_id), "a", encoding="utf-8") as self._log_fh:
            self._write_log(f"supervisor: training job {self.job_id} (dataset {job.dataset_id}, "
                            f"target {job.target_column!r})")
            outcome = _Attempt()
            while True:
                if self._cancel.is_set() and state.result is None:
                    self._discard.set()
                    break
                outcome = self._attempt(state, started_epoch, emit)
                if outcome.restart_reason and not self._cancel.is_set():
                    if state.restarts >= self._max_restarts:
                        outcome.failure = (f"Training stopped: the worker had to be restarted more than "
                                           f"{self._max_restarts} times ({outcome.restart_reason}).")
                        break
                    state.restarts += 1
                    self._log(state, f"Restarting the worker to carry on without it ({outcome.restart_reason}).",
                              emit)
                    continue
                break
            final = self._finish(state, outcome, emit)
            self._write_log(f"supervisor: job ended {final.status}" + (f": {final.error}" if final.error else ""))
        self._log_fh = None
        return final

    # ------------------------------------------------------------------ one worker process

    def _argv(self, state: _State, started_epoch: float) -> list[str]:
        base = self._command if self._command is not None else app_command("--worker", "train")
        argv = [*base, self.job_id, "--started-at", f"{started_epoch:.3f}"]
        if state.restarts:
            argv.append("--resume")
        if state.stopped:
            argv += ["--stopped", json.dumps(state.stopped)]
        return argv

    def _attempt(self, state: _State, started_epoch: float, emit: EventCallback) -> _Attempt:
        paths = self.store.paths
        work = paths.work / self.job_id
        work.mkdir(parents=True, exist_ok=True)
        env = child_environment({HOME_ENV: str(paths.home), CONFIG_ENV: str(paths.config)})
        try:
            proc = spawn(self._argv(state, started_epoch), cwd=work, env=env)
        except OSError as exc:
            return _Attempt(failure=f"The training worker could not be started ({exc.strerror or exc}).")
        with self._proc_lock:
            self._proc = proc
        if self._discard.is_set():
            self._stop(proc)
        elif self._cancel.is_set():
            threading.Thread(target=self._stop_keeping_best, args=(proc,), daemon=True).start()
        self._record_worker(proc, state)
        lines: queue.Queue[bytes | None] = queue.Queue()
        stderr_tail: deque[str] = deque(maxlen=40)
        readers = [
            threading.Thread(target=self._pump, args=(proc.stdout, lines), daemon=True, name="worker-stdout"),
            threading.Thread(target=self._drain_stderr, args=(proc.stderr, stderr_tail), daemon=True,
                             name="worker-stderr"),
        ]
        for t in readers:
            t.start()
        attempt = _Attempt()
        state.units = {}
        state.last_event = state.tree_cpu_at = time.monotonic()
        state.tree_cpu = -1.0
        while True:
            try:
                line = lines.get(timeout=0.25)
            except queue.Empty:
                line = b""
            if line is None:
                break
            if line.strip():
                state.last_event = time.monotonic()
                self._handle(TrainingEvent.from_json_line(line), state, emit)
            self._tick(state, proc, attempt, emit)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        # Sweep the process group even after a clean exit: nothing the worker started may outlive it.
        kill_tree(proc, grace_s=0.5)
        for t in readers:
            t.join(timeout=2)
        with self._proc_lock:
            self._proc = None
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        attempt.exit_code = proc.returncode
        if stderr_tail:
            log.debug("worker %s stderr tail: %s", self.job_id, " | ".join(stderr_tail))
        if attempt.restart_reason or attempt.failure or self._cancel.is_set():
            return attempt
        if state.result is not None and proc.returncode == 0:
            return attempt
        if state.error is None and state.units and proc.returncode not in (0, None):
            # A candidate took the worker down with it (a native crash, the OOM killer): skip it
            # (if two ran at once, which one did it cannot be told: both are skipped).
            reason = f"failed: it crashed the worker (exit code {proc.returncode})"
            for unit in state.units:
                state.stopped[unit] = reason
            attempt.restart_reason = f"{', '.join(state.units)} {reason}"
        return attempt

    def _tick(self, state: _State, proc: subprocess.Popen[bytes], attempt: _Attempt, emit: EventCallback) -> None:
        now = time.monotonic()
        overdue = [u for u, (_share, deadline) in state.units.items() if now > deadline]
        if overdue and not self._cancel.is_set() and attempt.restart_reason is None and proc.poll() is None:
            unit = overdue[0]
            reason = f"stopped: exceeded its time share ({state.units[unit][0]:.0f} s)"
            state.stopped[unit] = reason
            attempt.restart_reason = f"{unit} {reason}"
            self._log(state, f"{unit} {reason}; ending the worker to stop it.", emit)
            # Other candidates running at the same time are not blamed: the resumed worker runs them again.
            state.units = {}
            threading.Thread(target=kill_tree, args=(proc,), kwargs={"grace_s": 0.5}, daemon=True).start()
        if now - state.last_idle_check >= _IDLE_CHECK_S and proc.poll() is None:
            state.last_idle_check = now
            self._check_idle(state, proc, attempt, emit, now)
        if (now - state.last_event > SILENCE_TIMEOUT_S and proc.poll() is None and attempt.failure is None
                and not self._cancel.is_set()):
            attempt.failure = (f"The training worker stopped responding (nothing for "
                               f"{SILENCE_TIMEOUT_S / 60:.0f} minutes).")
            threading.Thread(target=kill_tree, args=(proc,), kwargs={"grace_s": 0.5}, daemon=True).start()
        if now - state.last_cancel_check >= 1.0:
            state.last_cancel_check = now
            with contextlib.suppress(Exception):
                if self.store.read().jobs.get(self.job_id).cancel_requested and not self._cancel.is_set():
                    self._log(state, "Cancel requested from another process.", emit)
                    self.cancel()
        heartbeat = now - state.last_heartbeat >= self._heartbeat_s
        if heartbeat or (state.dirty and now - state.last_flush >= FLUSH_INTERVAL_S):
            self._flush(state)

    def _check_idle(self, state: _State, proc: subprocess.Popen[bytes], attempt: _Attempt, emit: EventCallback,
                    now: float) -> None:
        """Restart a worker whose whole process tree stopped using CPU (a deadlock, seen as a hang)."""
        used = _tree_cpu_seconds(proc.pid)
        # Compared with the previous reading, not the highest: a child that ended takes its CPU
        # seconds out of the sum.
        progressed = used > state.tree_cpu + 0.05
        state.tree_cpu = used
        if progressed:
            state.tree_cpu_at = now
            return
        if now - state.tree_cpu_at < self._idle_timeout_s or self._cancel.is_set() \
                or attempt.restart_reason is not None:
            return
        reason = f"stopped: the worker made no progress for {self._idle_timeout_s:.0f} s (no CPU used)"
        state.idle_hangs += 1
        if state.idle_hangs > 1 or not state.units:
            # Nothing to skip on a restart (or it hung again): a restart would only hang again.
            attempt.failure = (f"The training worker stopped responding (no CPU used for {self._idle_timeout_s:.0f} s"
                               + (f" while running {', '.join(state.units)}" if state.units else "") + ").")
            self._log(state, attempt.failure, emit)
            threading.Thread(target=kill_tree, args=(proc,), kwargs={"grace_s": 0.5}, daemon=True).start()
            return
        for unit in state.units:
            state.stopped[unit] = reason
        attempt.restart_reason = f"{', '.join(state.units) or 'the worker'} {reason}"
        state.units = {}
        self._log(state, f"The worker is hung ({reason}); ending it.", emit)
        threading.Thread(target=kill_tree, args=(proc,), kwargs={"grace_s": 0.5}, daemon=True).start()

    # ------------------------------------------------------------------ events

    def _handle(self, event: TrainingEvent, state: _State, emit: EventCallback) -> None:
        p = event.payload
        if event.type is EventType.PROGRESS:
            # Progress never goes back, not even when a restarted worker repeats its set-up.
            progress = max(state.progress, int(p.get("progress", 0)))
            stage = str(p.get("stage") or state.stage)
            if stage != state.stage:
                self._write_log(f"[{progress:3d}%] {stage}")
            state.progress, state.stage = progress, stage
            if isinstance(p.get("problemType"), str):
                state.problem_type = p["problemType"]
            if p.get("stopping") is True:
                self._stop_acked.set()
            self._track_units(state, p)
            state.dirty = True
            event = TrainingEvent(EventType.PROGRESS, {**p, "progress": progress, "stage": stage})
        elif event.type is EventType.LOG:
            state.logs.append(event.message)
            self._write_log(event.message)
            state.dirty = True
        elif event.type is EventType.CANDIDATE:
            entry = dict(p)
            state.leaderboard[str(entry["model"])] = entry
            state.units.pop(str(entry.get("unit")), None)
            self._write_log(_describe_candidate(entry))
            state.dirty = True
            self._flush(state)  # each finished candidate is on record at once
        elif event.type is EventType.RESULT:
            state.result = dict(p)
        elif event.type is EventType.ERROR:
            state.error = event.message
            self._write_log(f"error: {event.message}")
        emit(event)

    @staticmethod
    def _track_units(state: _State, payload: dict[str, Any]) -> None:
        """Follow which candidates run, from a progress event.

        ``running`` (unit → time share in seconds) is the complete set of candidates running now;
        a lone ``unit`` + ``timeoutS`` is a set of one; a progress event with neither says nothing
        runs. A unit keeps the deadline it got when it was first seen.
        """
        running: dict[str, float] = {}
        if isinstance(payload.get("running"), dict):
            for unit, share in payload["running"].items():
                if isinstance(share, (int, float)) and not isinstance(share, bool):
                    running[str(unit)] = float(share)
        elif isinstance(payload.get("unit"), str):
            share = payload.get("timeoutS")
            if isinstance(share, (int, float)) and not isinstance(share, bool):
                running[payload["unit"]] = float(share)
        now = time.monotonic()
        state.units = {unit: state.units.get(unit, (share, now + share + UNIT_GRACE_S))
                       for unit, share in running.items()}

    def _log(self, state: _State, message: str, emit: EventCallback) -> None:
        event = TrainingEvent.log(message)
        state.logs.append(event.message)
        self._write_log(event.message)
        state.dirty = True
        emit(event)

    # ------------------------------------------------------------------ the record

    def _record_worker(self, proc: subprocess.Popen[bytes], state: _State) -> None:
        worker: dict[str, Any] = {"pid": proc.pid, "supervisor": process_identity()}
        with contextlib.suppress(Exception):
            worker.update(process_identity(proc.pid))
        with self.store.transaction() as tx:
            tx.jobs.update(self.job_id, worker=worker, heartbeat_at=now_iso())
        state.last_heartbeat = time.monotonic()

    def _flush(self, state: _State) -> None:
        changes: dict[str, Any] = {
            "progress": state.progress,
            "stage": state.stage,
            "logs": list(state.logs),
            "leaderboard": list(state.leaderboard.values()),
            "heartbeat_at": now_iso(),
        }
        if state.problem_type:
            changes["problem_type"] = state.problem_type
        try:
            with self.store.transaction() as tx:
                if tx.jobs.get(self.job_id).status == JobStatus.TRAINING:
                    tx.jobs.update(self.job_id, **changes)
        except Exception as exc:  # noqa: BLE001 - a busy lock or a full disk must not kill the supervision
            log.warning("could not update job %s: %s", self.job_id, exc)
            return
        now = time.monotonic()
        state.dirty = False
        state.last_flush = state.last_heartbeat = now

    def _finish(self, state: _State, outcome: _Attempt, emit: EventCallback) -> TrainingJob:
        base: dict[str, Any] = {
            "logs": list(state.logs),
            "leaderboard": list(state.leaderboard.values()),
            "progress": state.progress,
        }
        if state.problem_type:
            base["problem_type"] = state.problem_type
        kept = state.result is not None and outcome.exit_code == 0 and not self._discard.is_set()
        if self._cancel.is_set() and not kept:
            self._log(state, CANCELLED_MESSAGE, emit)
            base["logs"] = list(state.logs)
            return finish_job(self.store, self.job_id, JobStatus.CANCELLED, stage="Cancelled", **base)
        failure = outcome.failure or state.error
        if failure is None and state.result is not None and outcome.exit_code == 0:
            fields, problem = self._result_fields(state.result)
            if problem is None:
                base.update(fields)
                base["progress"], base["stage"] = 100, str(Stage.SAVED)
                return finish_job(self.store, self.job_id, JobStatus.PENDING_REVIEW, error=None, **base)
            failure = problem
        if failure is None:
            failure = f"Worker stopped unexpectedly (exit code {outcome.exit_code})"
        if state.error is None:
            emit(TrainingEvent.error(failure))
        state.logs.append(failure)
        base["logs"] = list(state.logs)
        return finish_job(self.store, self.job_id, JobStatus.FAILED, error=failure, stage="Failed", **base)

    def _result_fields(self, result: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        model_path = result.get("model_path")
        digest = result.get("modelSha256")
        if not isinstance(model_path, str) or not isinstance(digest, str):
            return {}, "The worker reported success but named no model file."
        try:
            path = self.store.paths.resolve(model_path)
            if sha256_file(path) != digest:
                return {}, "The saved model file does not match the checksum the worker reported."
        except (OSError, ValueError) as exc:
            return {}, f"The saved model file cannot be read ({exc})."
        fields: dict[str, Any] = {
            "model_name": result.get("model_name"),
            "model_path": model_path,
            "model_sha256": digest,
            "metrics": _job_metrics(result),
            "samples": result.get("samples"),
            "features": result.get("features"),
            "ranking_metric": result.get("rankingMetric"),
            "ranking_metric_reason": result.get("rankingMetricReason"),
            "warnings": list(result.get("warnings") or []),
            "beats_baseline": result.get("beatsBaseline"),
            "environment": result.get("environment"),
            "stopped_early": bool(result.get("stoppedEarly")),
            "decision_threshold": result.get("decisionThreshold"),
            "ensemble": result.get("ensemble"),
        }
        if isinstance(result.get("leaderboard"), list):
            fields["leaderboard"] = result["leaderboard"]
        if result.get("problem_type") in ("classification", "regression"):
            fields["problem_type"] = result["problem_type"]
        return fields, None

    # ------------------------------------------------------------------ plumbing

    def _stop_keeping_best(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            proc.stdin.flush()
        deadline = time.monotonic() + STOP_ACK_S
        while not self._stop_acked.is_set() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None and not self._stop_acked.is_set():
            # It did not hear the stop (hung, or an old worker): nothing can be kept, end it now.
            self._discard.set()
            kill_tree(proc, grace_s=0.5)
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=self._stop_finish_s)
        if proc.poll() is None:
            self._discard.set()
            self._stop(proc)

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        # Ask first: the worker's stdin reader ends its whole process group at once.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            assert proc.stdin is not None
            proc.stdin.write(b"cancel\n")
            proc.stdin.flush()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=CANCEL_GRACE_S)
        # Then make sure: terminate, kill, and sweep the group (joblib's workers included).
        kill_tree(proc, grace_s=1.0)

    @staticmethod
    def _pump(stream: IO[bytes] | None, out: queue.Queue[bytes | None]) -> None:
        try:
            if stream is not None:
                for line in iter(stream.readline, b""):
                    out.put(line)
        except (OSError, ValueError):
            pass
        finally:
            out.put(None)

    def _drain_stderr(self, stream: IO[bytes] | None, tail: deque[str]) -> None:
        try:
            if stream is not None:
                for raw in iter(stream.readline, b""):
                    text = raw.decode("utf-8", errors="replace").rstrip()
                    if text:
                        tail.append(text)
                        self._write_log(f"worker: {text}")
        except (OSError, ValueError):
            pass

    _log_lock = threading.Lock()

    def _write_log(self, message: str) -> None:
        fh = self._log_fh
        if fh is None:
            return
        with self._log_lock, contextlib.suppress(OSError, ValueError):
            fh.write(f"{now_iso()} {message}\n")
            fh.flush()

    def _safe_callback(self, on_event: EventCallback) -> EventCallback:
        def call(event: TrainingEvent) -> None:
            try:
                on_event(event)
            except Exception:
                log.exception("the training event callback failed on a %s event", event.type)

        return call


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by ``pid`` and its living descendants."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system + getattr(times, "children_user", 0.0) \
                    + getattr(times, "children_system", 0.0)
    except psutil.Error:
        return 0.0
    return total


def _describe_candidate(entry: dict[str, Any]) -> str:
    scores = entry.get("scores") or {}
    first = next(iter(scores.items()), None) if isinstance(scores, dict) else None
    score = f", {first[0]} {first[1]:.4f}" if first and isinstance(first[1], (int, float)) else ""
    status = entry.get("status") or "done"
    reason = f" ({entry['reason']})" if entry.get("reason") else ""
    return f"candidate {entry.get('model')} [{entry.get('stage') or ''}] {status}{score}{reason}"


def _job_metrics(result: dict[str, Any]) -> dict[str, Any]:
    # The record keeps the holdout metrics flat (as the seed did, and as the views read them) and
    # the chosen model's cross-validation and the baseline's holdout scores beside them.
    metrics: dict[str, Any] = dict(result.get("metrics") or {})
    for key in ("cv", "cvStd", "baseline"):
        if isinstance(result.get(key), dict):
            metrics[key] = result[key]
    if isinstance(result.get("holdoutRows"), int):
        metrics["holdoutRows"] = result["holdoutRows"]
    return metrics


def job_log_path(store: Store, job_id: str) -> Path:
    """Return the full log file of a job."""
    return store.paths.job_log(job_id)
