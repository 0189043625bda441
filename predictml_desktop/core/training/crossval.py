"""Cross-validating candidates in the fitting processes: a batch of candidates, their folds in flight together.

All the folds of a batch are submitted to the pool at once, cheapest candidates first, so both
cores stay busy to the end (a candidate's last fold no longer leaves the other core idle). Results
come back as they finish; a candidate is scored and published when its last fold is in.

Three things end a candidate early, each recorded with its reason:

- its first folds trail the best finished candidate of the batch by far (a slow model that is
  clearly losing does not get to spend the rest of its folds);
- a fold overruns its time share, gets stuck, or crashes its process (the pool ends that process,
  and the other candidates go on);
- the time budget runs out, or the user stops the training.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.candidates import Candidate, build_estimator
from predictml_desktop.core.training.catalog import BASELINE_ID
from predictml_desktop.core.training.context import Run, StopRequested
from predictml_desktop.core.training.folds import FoldOutput, FoldSet, fit_fold
from predictml_desktop.core.training.jobs import TrainingError
from predictml_desktop.core.training.pool import TaskFailed, TaskStopped
from predictml_desktop.core.training.state import DONE, FAILED, SKIPPED, STOPPED, Evaluation

log = logging.getLogger(__name__)

PRUNE_TOLERANCE: Final = 0.05
"""A candidate whose first folds trail the batch's best by more than this (or 3 of its standard
deviations; 15 % for error metrics) stops there."""
_WAIT_S: Final = 0.5


class _BudgetOut(Exception):
    """The search's time is up."""


@dataclass
class Job:
    """One candidate's cross-validation in flight.

    Attributes
    ----------
    candidate, fold_set, stage, unit
        What is evaluated, where, at which stage, and its unit name.
    fold_ids
        The folds to fit (a leader screened on some folds of the same set fits only the others).
    prior
        Its earlier evaluation on other folds of the same set, merged into the new one.
    timeout
        Each fold's time share.
    prunable
        Whether it may stop after its first folds when far behind.
    """

    candidate: Candidate
    fold_set: FoldSet
    stage: str
    unit: str
    fold_ids: list[int]
    timeout: float
    prior: Evaluation | None = None
    prunable: bool = False
    threads: int = 1
    futures: dict[Future[Any], int] = field(default_factory=dict)
    outputs: dict[int, FoldOutput] = field(default_factory=dict)
    ended: str | None = None
    status: str = DONE
    judged: bool = False
    """A prunable candidate's first fold was compared with the reference (see `_prune_reason`)."""
    started: float = field(default_factory=time.monotonic)

    @property
    def open(self) -> bool:
        """Some of its folds are still running or waiting."""
        return any(not f.done() for f in self.futures)


def evaluate(run: Run, jobs: list[Job], *, deadline: float | None = None,
             reference: list[Evaluation] | None = None) -> list[Evaluation]:
    """Cross-validate ``jobs`` in the pool; publish and return their evaluations in the jobs' order.

    Parameters
    ----------
    run
        The training.
    jobs
        The candidates, cheapest first (that is the order their folds are queued in).
    deadline
        Epoch seconds after which nothing more is started; candidates not finished by then are
        recorded as stopped by the budget.
    reference
        Finished evaluations on the same rows that pruning compares with (besides the batch's own).

    Raises
    ------
    StopRequested
        When the user stops the training; the finished candidates are already recorded.
    """
    done: dict[int, Evaluation] = {}
    for job in jobs:
        run.candidates[job.candidate.key] = job.candidate
    for index, job in enumerate(jobs):
        saved = run.checkpoint.load(job.unit) if run.request.resume else None
        if saved is not None:
            done[index] = publish(run, saved, persist=False)
        elif job.unit in run.request.stopped_units:
            done[index] = publish(run, _ended(job, STOPPED, run.request.stopped_units[job.unit]))
        else:
            _submit(run, job)
    live = {i: j for i, j in enumerate(jobs) if i not in done}
    best: list[Evaluation] = list(reference or [])
    try:
        while live:
            if run.should_stop():
                raise StopRequested
            # The budget never leaves the run without a model: until one candidate has finished, it waits.
            if deadline is not None and time.time() > deadline and _any_model(run):
                raise _BudgetOut
            futures = [f for j in live.values() for f in j.futures if not f.done()]
            if futures:
                wait(futures, timeout=_WAIT_S, return_when=FIRST_COMPLETED)
            # A costly model is judged on its first fold against the best of the cheap ones, once all
            # of those are in, and only then published: the same verdict whatever the order the folds
            # finished in (one that finished all its folds early is judged the same way).
            references_in = all(j.prunable for j in live.values())
            for index, job in list(live.items()):
                _collect(run, job)
                if job.prunable and not job.judged and job.ended is None and job.fold_ids[0] in job.outputs \
                        and references_in:
                    job.judged = True
                    reason = _prune_reason(run, job, best)
                    if reason:
                        _cancel(run, job, STOPPED, reason)
                waiting_verdict = job.prunable and not job.judged and job.ended is None
                if (job.ended is not None or not job.open) and not waiting_verdict:
                    evaluation = publish(run, _score(run, job))
                    done[index] = evaluation
                    if evaluation.ok and not job.prunable:
                        best.append(evaluation)
                    del live[index]
                    _log_result(run, evaluation)
    except _BudgetOut:
        run.state.budget_hit = True
        for index, job in live.items():
            _collect(run, job)
            _cancel(run, job, STOPPED, "stopped: the time budget ran out before it finished")
            done[index] = publish(run, _score(run, job))
        run.pool.stop()
    except StopRequested:
        run.pool.stop()
        for job in live.values():
            _cancel(run, job, STOPPED, "stopped: the training was stopped before it finished")
            publish(run, _ended(job, STOPPED, "stopped: the training was stopped before it finished"))
        raise
    return [done[i] for i in range(len(jobs))]


def _any_model(run: Run) -> bool:
    return any(e.ok and not e.model.startswith(BASELINE_ID) for e in run.state.history)


def skipped(run: Run, candidate: Candidate, stage: str, unit: str, reason: str) -> Evaluation:
    """Record ``candidate`` as skipped at ``stage`` with ``reason``."""
    evaluation = Evaluation(candidate.key, candidate.name, unit, stage, SKIPPED, reason)
    return publish(run, evaluation)


# --------------------------------------------------------------------------- internals


def _submit(run: Run, job: Job) -> None:
    info = job.candidate.info
    job.threads = run.threads_for(info, job.fold_set.cells)
    try:
        estimator = build_estimator(run.exp, job.candidate, threads=job.threads,
                                    boosting_rounds=run.spec.boosting_rounds)
    except Exception as exc:  # noqa: BLE001 - a model that cannot be built fails as a candidate, never the run
        job.ended, job.status = f"failed: {type(exc).__name__}: {str(exc).strip()[:200]}", FAILED
        return
    for fold_id in job.fold_ids:
        fold = job.fold_set.folds[fold_id]
        future = run.pool.submit(fit_fold, estimator, fold.ref.X_tr, fold.ref.y_tr, fold.ref.X_va, run.classification,
                                 job.candidate.model_id,
                                 slots=job.threads, timeout=job.timeout,
                                 label=f"{job.candidate.key} fold {fold_id + 1}")
        job.futures[future] = fold_id


def _collect(run: Run, job: Job) -> None:
    """Take the finished folds' outputs; the first failure ends the candidate."""
    for future, fold_id in job.futures.items():
        if not future.done() or fold_id in job.outputs or future.cancelled():
            continue
        error = future.exception()
        if isinstance(error, TrainingError):
            raise error  # the run cannot go on (a cluster's scheduler lost): not one candidate's failure
        if error is None:
            job.outputs[fold_id] = future.result()
        elif job.ended is None:
            if isinstance(error, TaskStopped) and error.kind == "timeout":
                _cancel(run, job, STOPPED, f"stopped: {error}")
            elif isinstance(error, TaskStopped) and error.kind == "cancelled":
                _cancel(run, job, STOPPED, "stopped")
            elif isinstance(error, TaskStopped):
                _cancel(run, job, FAILED, f"failed: {error}")
            else:
                kind = error.kind if isinstance(error, TaskFailed) else type(error).__name__
                detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
                _cancel(run, job, FAILED, f"failed: {kind}{': ' + detail if detail else ''}")


def _cancel(run: Run, job: Job, status: str, reason: str) -> None:
    if job.ended is None:
        job.ended, job.status = reason, status
    for future in job.futures:
        if not future.done():
            run.pool.cancel(future)  # a waiting fold is dropped, a running one's process ended


def _ended(job: Job, status: str, reason: str) -> Evaluation:
    return Evaluation(job.candidate.key, job.candidate.name, job.unit, job.stage, status, reason)


def _score(run: Run, job: Job) -> Evaluation:
    """Scores, standard deviations and out-of-fold predictions of a job's folds (with its prior's)."""
    if job.ended is not None and (job.status != STOPPED or not job.outputs or not job.prunable):
        return _ended(job, job.status, job.ended)
    fs = job.fold_set
    width = run.n_classes if run.classification else 1
    total = np.zeros((fs.rows, width))
    count = np.zeros(fs.rows)
    per_fold: list[dict[str, float | None]] = []
    fit_seconds = 0.0
    prior = job.prior
    if prior is not None and prior.ok:
        per_fold = [dict(s) for s in prior.fold_scores]
        fit_seconds = prior.fit_seconds
        if prior.oof is not None and prior.oof.shape == total.shape:
            seen = np.all(np.isfinite(prior.oof), axis=1)
            total[seen] += prior.oof[seen]
            count[seen] += 1
    outputs = job.outputs
    if job.ended is not None and job.status == STOPPED and job.prunable and job.fold_ids[0] in outputs:
        outputs = {job.fold_ids[0]: outputs[job.fold_ids[0]]}  # pruned: its verdict's fold, nothing timing-made
    for fold_id in sorted(outputs):
        fold = fs.folds[fold_id]
        seconds, pred, proba, decision, classes = outputs[fold_id]
        fit_seconds += seconds
        if run.classification:
            matrix = _expand(run, proba if proba is not None else decision, classes)
            per_fold.append(M.classification_scores(
                fold.codes_va, np.searchsorted(np.arange(run.n_classes), np.asarray(pred)), run.n_classes,
                proba=matrix if proba is not None else None, decision=matrix if proba is None else None))
            if matrix is not None:
                total[fold.va_pos] += matrix
                count[fold.va_pos] += 1
        else:
            per_fold.append(M.regression_scores(fold.codes_va, pred))
            total[fold.va_pos, 0] += np.asarray(pred, dtype=float)
            count[fold.va_pos] += 1
    oof = np.full_like(total, np.nan)
    seen = count > 0
    oof[seen] = total[seen] / count[seen, None]
    keys = M.metrics_for(run.data.problem_type)
    means, stds = M.mean_std(per_fold, keys)
    extra: dict[str, Any] = {"modelId": job.candidate.model_id}
    if job.candidate.variant:
        extra.update(variant=job.candidate.variant, params=dict(job.candidate.params))
    evaluation = Evaluation(
        job.candidate.key, job.candidate.name, job.unit, job.stage, DONE, job.ended,
        scores=M.ordered(means, run.metric), std=M.ordered(stds, run.metric), fold_scores=per_fold,
        folds=len(per_fold), rows=fs.rows, rows_per_fold=fs.train_rows, fold_set=fs.name,
        fit_seconds=fit_seconds, wall_seconds=time.monotonic() - job.started, threads=job.threads,
        extra=extra, oof=oof,
    )
    if job.ended is not None:  # pruned: scored on its first folds, but out of the running
        evaluation.status = STOPPED
    return evaluation


def _expand(run: Run, matrix: np.ndarray | None, classes: np.ndarray | None) -> np.ndarray | None:
    """Put a fold model's score columns in the order of every class (a fold may miss a class)."""
    if matrix is None or classes is None:
        return None
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim == 1:  # binary decision_function
        matrix = np.column_stack([-matrix, matrix])
    k = run.n_classes
    if matrix.shape[1] == k and len(classes) == k:
        return matrix
    out = np.zeros((matrix.shape[0], k))
    out[:, np.searchsorted(np.arange(k), classes)] = matrix
    return out


def _prune_reason(run: Run, job: Job, reference: list[Evaluation]) -> str | None:
    """Why a costly candidate stops after its first fold, or None.

    Judged on its first fold (in fold order, whichever finished first) against the best reference,
    so the same data give the same verdict however the folds were scheduled.
    """
    first = job.fold_ids[0]
    leaders = [e for e in reference if e.ok and e.fold_set == job.fold_set.name and e.model != BASELINE_ID
               and e.reason is None]
    if not leaders or first not in job.outputs or len(job.fold_ids) < 2:
        return None
    key = M.sort_key(run.metric)
    best = min(leaders, key=lambda e: (key(e.score(run.metric)), e.model))
    best_score = best.score(run.metric)
    partial = _score(run, Job(job.candidate, job.fold_set, job.stage, job.unit, job.fold_ids, job.timeout,
                              outputs={first: job.outputs[first]})).score(run.metric)
    if best_score is None or partial is None:
        return None
    spread = 3 * float(best.std.get(run.metric) or 0.0)
    tolerance = max(PRUNE_TOLERANCE if run.higher_is_better else abs(best_score) * 0.15, spread)
    if M.improvement(partial, best_score, run.metric) < -tolerance:
        return (f"stopped after its first fold: {M.METRIC_LABELS[run.metric]} {partial:.3f}, far behind "
                f"{best.name} ({best_score:.3f})")
    return None


def publish(run: Run, evaluation: Evaluation, *, persist: bool = True) -> Evaluation:
    """Record ``evaluation`` (and persist it), and announce it as a leaderboard row."""
    baseline = run.state.evaluations.get("dummy")
    if evaluation.ok and baseline is not None and baseline.ok and baseline.fold_set == evaluation.fold_set \
            and evaluation.model != "dummy":
        gain = M.improvement(evaluation.score(run.metric), baseline.score(run.metric), run.metric)
        evaluation.extra["vsBaseline"] = round(gain, 6) if np.isfinite(gain) else None
    if persist:
        with contextlib.suppress(OSError):
            run.checkpoint.save(evaluation)
    run.state.record(evaluation)
    run.report.candidate(evaluation.to_entry())
    return evaluation


def _log_result(run: Run, evaluation: Evaluation) -> None:
    if evaluation.status in (DONE,) and evaluation.reason is None:
        value = evaluation.score(run.metric)
        shown = f"{value:.4f}" if isinstance(value, float) else "n/a"
        run.report.log(f"{evaluation.name} ({evaluation.stage}, {evaluation.folds} folds on {evaluation.rows:,} rows): "
                       f"{M.METRIC_LABELS[run.metric]} {shown} in {evaluation.wall_seconds:.1f} s.")
    else:
        run.report.log(f"{evaluation.name}: {evaluation.reason}.")
