"""Training job records: create, retry, finish, cancel from another process, and clean up after a crash.

Every change is one store transaction that moves the job and its dataset together (DESIGN §4:
``training → pending_review / failed / cancelled``; the dataset follows: ``pending_review``,
``failed``, or back to ``uploaded`` when cancelled).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any, Final

import psutil

from predictml_desktop.core.processes import identity_alive, process_identity
from predictml_desktop.core.records import Dataset, TrainingJob, now_iso, parse_iso
from predictml_desktop.core.status import DATASET_TRAINABLE, DatasetStatus, JobStatus
from predictml_desktop.core.store import Store, Transaction
from predictml_desktop.core.training.catalog import check_model_ids
from predictml_desktop.core.training.events import Stage
from predictml_desktop.core.training.metrics import choose_ranking_metric
from predictml_desktop.core.training.options import OptionsError, TrainingOptions

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S: Final = 5.0
"""How often the supervising runner stamps ``heartbeatAt`` while a job trains."""
STALE_AFTER_S: Final = 30.0
"""A training job whose heartbeat (or, before the first one, start) is older than this is abandoned."""
INTERRUPTED_MESSAGE: Final = "Training was interrupted: the application exited"
CANCELLED_MESSAGE: Final = "Training was cancelled."
PROBLEM_TYPES: Final = ("classification", "regression")
_EMPTY_KINDS: Final = frozenset({"empty", "constant"})

DATASET_AFTER: Final[dict[str, str]] = {
    JobStatus.PENDING_REVIEW: DatasetStatus.PENDING_REVIEW,
    JobStatus.FAILED: DatasetStatus.FAILED,
    JobStatus.CANCELLED: DatasetStatus.UPLOADED,
}
"""Where a dataset in ``training`` goes when its job ends."""


class TrainingError(Exception):
    """A training that cannot start or did not succeed; the message is one sentence for the user."""


# --------------------------------------------------------------------------- creating jobs


def _column_names(dataset: Dataset) -> list[str]:
    return [str(c.get("name")) for c in dataset.columns if isinstance(c, dict)]


def _column(dataset: Dataset, name: str) -> dict[str, Any]:
    for col in dataset.columns:
        if isinstance(col, dict) and col.get("name") == name:
            return col
    return {}


def _validate(dataset: Dataset, target: str, options: TrainingOptions, problem_type: str | None) -> str | None:
    names = _column_names(dataset)
    if target not in names:
        raise TrainingError(f"Target column '{target}' not found in dataset {dataset.id} "
                            f"({dataset.name or dataset.file_name}).")
    col = _column(dataset, target)
    unique = col.get("unique")
    if col.get("kind") in _EMPTY_KINDS or (isinstance(unique, int) and unique <= 1):
        if col.get("kind") == "empty" or unique == 0:
            raise TrainingError(f"The target column '{target}' has no values.")
        raise TrainingError("The target has only one class" + f" (every row of '{target}' has the same value).")
    if problem_type is None and dataset.target_column == target:
        problem_type = dataset.problem_type
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise TrainingError(f"Unknown problem type {problem_type!r}; choose classification or regression.")
    unknown = [c for c in options.excluded_columns if c not in names]
    if unknown:
        raise TrainingError(f"Cannot exclude {', '.join(map(repr, unknown))}: no such column in the dataset.")
    if target in options.excluded_columns:
        raise TrainingError(f"The target column '{target}' cannot also be an excluded column.")
    if problem_type is not None:
        try:
            if options.models is not None:
                check_model_ids(problem_type, options.models)
            if options.ranking_metric:
                choose_ranking_metric(problem_type, None, options.ranking_metric)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
    return problem_type


def job_features(dataset: Dataset, target: str, options: TrainingOptions) -> list[str]:
    """Return the columns a job gives the engine: all but the target and the excluded ones (dataset's and user's)."""
    left_out = {target, *dataset.excluded_columns, *options.excluded_columns}
    return [name for name in _column_names(dataset) if name not in left_out]


def job_data_warnings(store: Store, dataset: Dataset, target: str, options: TrainingOptions,
                      problem_type: str | None, frame: Any = None) -> list[dict[str, Any]] | None:
    """Compute the leakage, identifier and constant-column warnings of a job's target and actual features.

    Parameters
    ----------
    store
        The data home's records (the stored upload is read when ``frame`` is None).
    dataset
        The job's dataset.
    target
        The job's target column.
    options
        The job's options (their excluded columns count).
    problem_type
        The job's problem type, if known.
    frame
        The dataset's table if the caller has it in memory (the wizard), to spare reading the file again.

    Returns
    -------
    list of dict or None
        The warnings (see `core.profile.feature_warnings`); None when the table cannot be read (the
        training then fails on it too, and the gates fall back to the dataset's warnings).
    """
    if target not in _column_names(dataset):
        return None  # refused by the validation, with its own message
    from predictml_desktop.core.profile import feature_warnings

    if frame is None:
        from predictml_desktop.core.ingest import load_dataset_frame

        try:
            frame = load_dataset_frame(store.paths, dataset)
        except Exception as exc:  # noqa: BLE001 - reported by the training itself; the gates fall back
            log.warning("could not read dataset %s to check the job's features: %s", dataset.id, exc)
            return None
    if problem_type is None and dataset.target_column == target:
        problem_type = dataset.problem_type
    return feature_warnings(frame, target, job_features(dataset, target, options), problem_type)


def _add_job(tx: Transaction, dataset_id: str, target: str, options: TrainingOptions,
             problem_type: str | None, *, retry_of: str | None = None, attempt: int = 1,
             data_warnings: list[dict[str, Any]] | None = None) -> TrainingJob:
    dataset = tx.datasets.get(dataset_id)
    if dataset.status == DatasetStatus.TRAINING:
        running = [j.id for j in tx.jobs.list() if j.dataset_id == dataset_id and j.status == JobStatus.TRAINING]
        which = f" (job {running[-1]})" if running else ""
        raise TrainingError(f"Dataset {dataset_id} is already being trained{which}; wait for it or cancel it.")
    if dataset.status not in DATASET_TRAINABLE:
        raise TrainingError(f"Dataset {dataset_id} cannot be trained while it is {dataset.status}.")
    problem_type = _validate(dataset, target, options, problem_type)
    job = TrainingJob(
        id=tx.jobs.new_id(),
        dataset_id=dataset_id,
        target_column=target,
        problem_type=problem_type,
        status=JobStatus.TRAINING,
        progress=0,
        stage="Queued",
        options=options.to_dict(),
        started_at=now_iso(),
        retry_of=retry_of,
        attempt=attempt,
        data_warnings=data_warnings,
    )
    tx.jobs.add(job)
    changes: dict[str, Any] = {"status": DatasetStatus.TRAINING, "target_column": target}
    if problem_type is not None:
        changes["problem_type"] = problem_type
    tx.datasets.update(dataset_id, **changes)
    return job


def create_job(
    store: Store,
    dataset_id: str,
    target: str,
    options: TrainingOptions | None = None,
    problem_type: str | None = None,
    *,
    frame: Any = None,
) -> TrainingJob:
    """Create a training job (status ``training``) and move its dataset to ``training``, atomically.

    Parameters
    ----------
    store
        The data home's records.
    dataset_id
        The dataset to train on.
    target
        The column to predict.
    options
        The user's choices (`TrainingOptions()` if None).
    problem_type
        ``classification`` or ``regression``; None uses the dataset's (or the worker detects it).
    frame
        The dataset's table, when the caller holds it (else the stored upload is read): the job's
        leakage, identifier and constant-column warnings are computed on it for this target and the
        columns actually trained on (``dataWarnings``; the approval gates read them).

    Returns
    -------
    TrainingJob
        The new job; run it with `TrainingRunner`.

    Raises
    ------
    TrainingError
        If the target is not a column, has a single value, the options do not fit the data, or the
        dataset is already training. Nothing is written then.
    NotFoundError
        If there is no such dataset.
    """
    try:
        options = (options or TrainingOptions()).validate()
    except OptionsError as exc:
        raise TrainingError(str(exc)) from None
    # Computed before the lock: the leakage check reads and scans the table.
    warnings = job_data_warnings(store, store.read().datasets.get(dataset_id), target, options, problem_type,
                                 frame)
    with store.transaction() as tx:
        return _add_job(tx, dataset_id, target, options, problem_type, data_warnings=warnings)


def retry_job(store: Store, job_id: str) -> TrainingJob:
    """Create a new attempt of a failed or cancelled job (same dataset, target and options).

    Parameters
    ----------
    store
        The data home's records.
    job_id
        The failed or cancelled job.

    Returns
    -------
    TrainingJob
        The new job, with ``retryOf`` set and ``attempt`` one more.

    Raises
    ------
    TrainingError
        If the job is not failed or cancelled, or its dataset cannot be trained now.
    NotFoundError
        If there is no such job or its dataset is gone.
    """
    with store.transaction() as tx:
        old = tx.jobs.get(job_id)
        if old.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise TrainingError(f"Only a failed or cancelled job can be retried; job {job_id} is {old.status}.")
        try:
            options = TrainingOptions.from_dict(old.options)
        except OptionsError as exc:
            raise TrainingError(f"The options of job {job_id} cannot be reused: {exc}") from None
        # Same dataset, target and options: the same features, so the same warnings (jobs from before
        # they were computed keep None, and the gates fall back to the dataset's).
        return _add_job(tx, old.dataset_id, old.target_column, options, old.problem_type,
                        retry_of=old.id, attempt=(old.attempt or 1) + 1, data_warnings=old.data_warnings)


# --------------------------------------------------------------------------- ending jobs


def finish_job(store: Store, job_id: str, status: str, **fields: Any) -> TrainingJob:
    """Give a training job its final status and move its dataset with it, in one transaction.

    A job that already ended (another process cancelled it, say) is left as it is and returned.
    """
    with store.transaction() as tx:
        job = tx.jobs.get(job_id)
        if job.status != JobStatus.TRAINING:
            return job
        finished = now_iso()
        duration = max(0.0, (parse_iso(finished) - parse_iso(job.started_at)).total_seconds())
        fields.setdefault("duration_s", round(duration, 2))
        job = tx.jobs.update(job_id, status=status, finished_at=finished, cancel_requested=False, **fields)
        dataset = tx.datasets.find(job.dataset_id)
        if dataset is not None and dataset.status == DatasetStatus.TRAINING:
            tx.datasets.update(dataset.id, status=DATASET_AFTER[status])
        return job


def _age_s(stamp: str | None, now: float) -> float:
    if not stamp:
        return float("inf")
    try:
        return now - parse_iso(stamp).timestamp()
    except ValueError:
        return float("inf")


def job_alive(job: TrainingJob, *, stale_after_s: float = STALE_AFTER_S, now: float | None = None) -> bool:
    """Return True if someone still supervises this ``training`` job.

    It is alive while its heartbeat (or, before the first heartbeat, its start) is recent and the
    process supervising it (else its worker) still runs, checked by PID and create time.
    """
    now = time.time() if now is None else now
    if _age_s(job.heartbeat_at or job.started_at, now) > stale_after_s:
        return False
    worker = job.worker or {}
    supervisor = worker.get("supervisor")
    if isinstance(supervisor, dict):
        return identity_alive(supervisor)
    if "pid" in worker:
        return identity_alive(worker)
    return True


def fail_stale_jobs(store: Store, *, stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Turn abandoned ``training`` jobs into ``failed`` ("interrupted"); call once at start-up.

    A job is abandoned when its supervising process is gone or its heartbeat is older than
    ``stale_after_s`` (a job killed before its first heartbeat falls back to its start time). A
    worker that survived its supervisor is ended first.

    Returns
    -------
    list of str
        The ids of the jobs marked failed.
    """
    me = process_identity()
    failed: list[str] = []
    with store.transaction() as tx:
        for job in tx.jobs.list():
            if job.status != JobStatus.TRAINING:
                continue
            supervisor = (job.worker or {}).get("supervisor")
            if isinstance(supervisor, dict) and supervisor.get("pid") == me["pid"] \
                    and abs(float(supervisor.get("createTime", 0)) - me["createTime"]) < 1.0:
                continue  # this process runs it
            if job_alive(job, stale_after_s=stale_after_s):
                continue
            kill_recorded_worker(job.worker)
            finished = now_iso()
            tx.jobs.update(job.id, status=JobStatus.FAILED, error=INTERRUPTED_MESSAGE, stage="Interrupted",
                           finished_at=finished, cancel_requested=False,
                           logs=[*job.logs[-49:], INTERRUPTED_MESSAGE])
            dataset = tx.datasets.find(job.dataset_id)
            if dataset is not None and dataset.status == DatasetStatus.TRAINING:
                tx.datasets.update(dataset.id, status=DatasetStatus.FAILED)
            failed.append(job.id)
    for job_id in failed:
        log.warning("training job %s was left running by a process that is gone; marked failed", job_id)
    return failed


def kill_recorded_worker(worker: dict[str, Any] | None, *, grace_s: float = 2.0) -> bool:
    """End a worker recorded in a job (PID + create time) and its whole process tree.

    Returns
    -------
    bool
        True if a living worker was found and ended.
    """
    if not worker or not identity_alive(worker):
        return False
    try:
        proc = psutil.Process(int(worker["pid"]))
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return False
    if sys.platform != "win32":
        # The worker leads its own process group (spawn() starts a new session): signal it whole,
        # which reaches joblib's workers even if they were re-parented.
        with contextlib.suppress(OSError):
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGTERM)
    for p in tree:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _gone, alive = psutil.wait_procs(tree, timeout=grace_s)
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=2.0)
    return True


def request_cancel(store: Store, job_id: str, *, wait_s: float = 8.0, poll_s: float = 0.2,
                   keep_s: float = 150.0) -> TrainingJob:
    """Cancel a job trained by another process (``predictml jobs cancel``).

    The request is recorded on the job; its supervising runner notices it within about a second
    and stops its worker, which keeps the best model finished so far (the job then waits for review
    as stopped early) or, with none, ends (cancelled). While the supervisor's heartbeat shows it alive
    this waits up to ``keep_s`` for that; if no supervisor reacts within ``wait_s`` (it is gone or
    hung), the worker's process tree is ended here, by its recorded PID and create time, and the job
    recorded as cancelled.

    Returns
    -------
    TrainingJob
        The job after the cancel.

    Raises
    ------
    TrainingError
        If the job is not training.
    NotFoundError
        If there is no such job.
    """
    with store.transaction() as tx:
        job = tx.jobs.get(job_id)
        if job.status != JobStatus.TRAINING:
            raise TrainingError(f"Job {job_id} is not training (it is {job.status}); there is nothing to cancel.")
        tx.jobs.update(job_id, cancel_requested=True)
    started = time.monotonic()
    while time.monotonic() - started < wait_s + keep_s:
        job = store.read().jobs.get(job_id)
        if job.status != JobStatus.TRAINING:
            return job
        if time.monotonic() - started >= wait_s and not job_alive(job):
            break
        time.sleep(poll_s)
    job = store.read().jobs.get(job_id)
    kill_recorded_worker(job.worker)
    return finish_job(store, job_id, JobStatus.CANCELLED, error=CANCELLED_MESSAGE, stage="Cancelled", worker=None)


def utc_stamp(epoch: float) -> str:
    """Return an epoch time as the records' ISO format."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = [
    "CANCELLED_MESSAGE",
    "INTERRUPTED_MESSAGE",
    "Stage",
    "TrainingError",
    "create_job",
    "fail_stale_jobs",
    "finish_job",
    "job_alive",
    "job_data_warnings",
    "job_features",
    "kill_recorded_worker",
    "request_cancel",
    "retry_job",
]
