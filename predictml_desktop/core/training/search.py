"""The staged search: screen every candidate cheaply, cross-validate the leaders fully, within the budget.

Small tables (up to the preset's ``screen_rows`` training rows):

1. One (repeated) K-fold split of every training row is preprocessed once.
2. **Screening**: every candidate fits the first two folds.
3. **Cross-validation**: the leaders fit the remaining folds (and, below ``repeat_below`` rows, a
   second K-fold split drawn with another shuffle): their scores cover every row, often twice.
   Each leader's variants (`candidates.VARIANTS`) are cross-validated beside it.

Larger tables, **successive halving** (as in Hyperband and FLAML's cost-frugal search): screening
starts on a sample of ``screen_rows`` rows, and at each rung the better third (with the best tree
ensembles, whose lead grows with rows) moves on to a sample four times larger, up to ``cv_rows``,
where the leaders get the full cross-validation. Which model wins changes with the number of rows
(linear models lead on 2,000 rows of a table where boosted trees win on 200,000), so no model is
dropped on the smallest sample alone unless it trails far behind.

Everything is fitted in the pool's processes; the search here only decides what to fit next and
keeps within the time left (`search_deadline`).
"""

from __future__ import annotations

import math
import time
from typing import Final

from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.candidates import Candidate, variants_of
from predictml_desktop.core.training.catalog import BASELINE_ID
from predictml_desktop.core.training.context import MIN_SHARE_S, Run, StopRequested
from predictml_desktop.core.training.crossval import Job, evaluate, publish, skipped
from predictml_desktop.core.training.events import Stage
from predictml_desktop.core.training.folds import FoldSet, prepare_fold_set
from predictml_desktop.core.training.state import STAGE_CV, STAGE_SCREEN, Evaluation

HALVING_FACTOR: Final = 4
"""Rows grow by this at each rung; about a third of the candidates move on."""
KEEP_SHARE: Final = 1 / 3
FINAL_RESERVE_SHARE: Final = 0.15
"""Part of the budget kept for the final fits, the holdout evaluation and saving."""
FINAL_RESERVE_MIN_S: Final = 3.0
CV_ALLOWANCE_FACTOR: Final = 3.0
"""The leaders' cross-validation may take this many times what screening took."""
CV_ALLOWANCE_MIN_S: Final = 30.0
FINAL_FIT_SHARE: Final = 0.3
"""Part of the budget the chosen model's fit on every training row may take."""
SCREEN_FOLD_SHARE: Final = 0.05
REPEAT_MAX_COST: Final = 2
MAX_COSTLY_LEADERS: Final = 2
"""Cost class up to which a leader fits the second K-fold split of a small table."""


def run_search(run: Run, candidates: list[Candidate]) -> FoldSet | None:
    """Screen ``candidates`` and cross-validate the leaders; return the fold set the leaders share.

    None when the budget ran out before the leaders' stage: the best screened model is then kept.

    Every evaluation is recorded in ``run.state`` (and published as it finishes).

    Raises
    ------
    StopRequested
        When the user stops the training (the finished evaluations stay recorded).
    """
    spec = run.spec
    n = len(run.exp.X_train)
    runnable = _drop_unsuited(run, candidates, n)
    cv_rows = min(n, spec.cv_rows)
    repeats = spec.repeats if n < spec.repeat_below else 1
    started = time.monotonic()
    cv: FoldSet | None
    if n <= spec.screen_rows:
        cv = _prepare(run, "cv", cv_rows, repeats=repeats)
        runnable = _drop_too_wide(run, runnable, cv.width)
        screen_ids = cv.fold_ids(repeat=0)[:spec.screen_folds]
        run.report.log(f"Screening {len(runnable)} models on {cv.rows:,} rows ({len(screen_ids)} of {cv.n_splits} "
                       f"folds; folds prepared in {cv.prep_seconds:.1f} s).")
        screened = _evaluate_all(run, runnable, cv, STAGE_SCREEN, screen_ids, fraction=(0.0, 0.5))
    else:
        screened, cv = _halving(run, runnable, n, cv_rows, repeats)
        screen_ids = []
    if not any(e.ok and e.model != BASELINE_ID for e in run.state.history):
        raise _nothing_trained(run)
    if cv is None or run.state.budget_hit:
        run.report.log("The time budget ran out during screening: the best model screened is kept.")
        run.state.search_ended_s = run.clock.elapsed()
        return None
    leaders = _leaders(run, screened)
    if not leaders:
        raise _nothing_trained(run)
    baseline = next((c for c in candidates if c.is_baseline), None)
    jobs = _plan_cv(run, leaders, baseline, screened, cv, screen_ids, time.monotonic() - started)
    what = f"{len(cv.folds)} folds" + (f" ({cv.repeats} × {cv.n_splits}-fold)" if cv.repeats > 1 else "")
    run.report.log(f"Cross-validating {len(jobs) - (baseline is not None)} leaders and variants on {cv.rows:,} rows "
                   f"with up to {what}.")
    _evaluate_jobs(run, jobs, fraction=(0.5, 1.0))
    run.report.log(f"Search done in {time.monotonic() - started:.1f} s.")
    run.state.search_ended_s = run.clock.elapsed()
    return cv


def _plan_cv(run: Run, leaders: list[Candidate], baseline: Candidate | None, screened: list[Evaluation],
             cv: FoldSet, screen_ids: list[int], screen_seconds: float) -> list[Job]:
    """Plan the leaders' cross-validation: their remaining folds, their variants, the second split.

    What is planned depends on the data only (the screening scores and the models' cost classes), so
    the same table and options give the same model: the second K-fold split of a small table goes to
    the leaders that are cheap to fit (cost class 2 or less), where its steadier scores come almost
    free. Time enters only as a cap: the stage may take `CV_ALLOWANCE_FACTOR` times what screening
    took (at least `CV_ALLOWANCE_MIN_S`), which binds on large tables only; beyond it the lower
    leaders, their variants and the second split are left out (the best three leaders always run).
    """
    allowance = max(CV_ALLOWANCE_MIN_S, CV_ALLOWANCE_FACTOR * screen_seconds) * run.cores
    first = [i for i in cv.fold_ids(repeat=0) if i not in screen_ids]
    again = [i for i in range(len(cv.folds)) if cv.folds[i].repeat > 0]
    spent = 0.0
    plan: dict[str, tuple[Candidate, list[int]]] = {}
    for rank, candidate in enumerate(leaders):
        cost = _estimate(run, candidate, cv, screened) * len(first)
        if rank >= 3 and spent + cost > allowance:
            _not_cross_validated(run, candidate, screened, f"not cross-validated: it would take about "
                                                           f"{cost / run.cores:.1f} s, more than this table's search "
                                                           "allows")
            continue
        spent += cost
        plan[candidate.key] = (candidate, list(first))
    if run.spec.variants:
        for candidate in [c for c, _ in plan.values()]:
            for variant in variants_of(candidate, len(run.exp.X_train), classification=run.classification):
                cost = _estimate(run, variant, cv, screened) * 2.5 * len(cv.fold_ids(repeat=0))
                if spent + cost <= allowance:
                    spent += cost
                    plan[variant.key] = (variant, cv.fold_ids(repeat=0))
    if again:
        for key, (candidate, ids) in sorted(plan.items(), key=lambda kv: _estimate(run, kv[1][0], cv, screened)):
            cost = _estimate(run, candidate, cv, screened) * len(again) * (2.5 if candidate.variant else 1.0)
            if candidate.info.cost <= REPEAT_MAX_COST and spent + cost <= allowance:
                spent += cost
                plan[key] = (candidate, ids + again)
    jobs = [_cv_job(run, baseline, cv, first + again, screened)] if baseline is not None else []
    jobs += [_cv_job(run, candidate, cv, ids, screened) for candidate, ids in plan.values()]
    return _affordable(run, jobs, screened, cv)


def _not_cross_validated(run: Run, candidate: Candidate, screened: list[Evaluation], reason: str) -> None:
    seen = next((e for e in screened if e.model == candidate.key and e.ok), None)
    if seen is not None:  # its screening scores stay on the leaderboard, with the reason
        seen.reason = reason
        publish(run, seen)


def search_deadline(run: Run) -> float:
    """Epoch seconds by which the search must stop starting work (the rest is for the final fits).

    The reserve grows with the table: preparing every training row again (at the rate the folds were
    prepared, in chunks side by side) and fitting the best model so far on them, so a large table's
    final fit still ends within the budget.
    """
    reserve = max(FINAL_RESERVE_MIN_S, FINAL_RESERVE_SHARE * run.clock.budget_s, _final_estimate(run))
    return run.clock.started_at + run.clock.budget_s - reserve


def _final_estimate(run: Run) -> float:
    n = len(run.exp.X_train)
    prep = run.prep_seconds_per_row * n / max(1, run.cores if n > 100_000 else 1)
    best = [e for e in run.state.finished() if e.model != BASELINE_ID and e.model in run.candidates]
    fits = [fit_estimate(run, run.candidates[e.model], n) for e in best]
    return 1.2 * (prep + (max(fits) if fits else 0.0))


# --------------------------------------------------------------------------- stages


def _drop_unsuited(run: Run, candidates: list[Candidate], n: int) -> list[Candidate]:
    """Record the models too slow for this many rows as skipped; return the others, cheapest first."""
    out = []
    for candidate in candidates:
        limit = candidate.info.max_rows
        if limit is not None and n > limit:
            skipped(run, candidate, STAGE_SCREEN, f"screen:{candidate.key}",
                    f"skipped: too slow for {n:,} rows (used up to {limit:,})")
        else:
            out.append(candidate)
    order = {c.key: i for i, c in enumerate(out)}
    return sorted(out, key=lambda c: (not c.is_baseline, c.info.cost, order[c.key]))


def _drop_too_wide(run: Run, candidates: list[Candidate], width: int) -> list[Candidate]:
    """Record the models too slow for this many model columns as skipped; return the others."""
    out = []
    for candidate in candidates:
        limit = candidate.info.max_width
        if limit is not None and width > limit:
            skipped(run, candidate, STAGE_SCREEN, f"screen:{candidate.key}",
                    f"skipped: too slow for {width:,} model columns (used up to {limit:,})")
        else:
            out.append(candidate)
    return out


def _prepare(run: Run, name: str, rows: int, *, repeats: int = 1, keep: int | None = None) -> FoldSet:
    unit = f"folds:{name}"
    # Preprocessing runs here, in this process: the watchdog gives it a generous share.
    run.report.unit(unit, max(60.0, 0.5 * run.clock.budget_s), Stage.TRAIN, f"preparing {rows:,} rows")
    try:
        fs = prepare_fold_set(run.exp, name, max_rows=rows, n_splits=run.spec.cv_folds, repeats=repeats, keep=keep,
                              share=run.pool.share, should_stop=run.should_stop)
        run.prep_seconds_per_row = fs.prep_seconds / max(1, fs.rows * len(fs.folds))
        return fs
    except InterruptedError:
        raise StopRequested from None
    finally:
        run.report.unit_done(unit)


def _evaluate_all(run: Run, candidates: list[Candidate], fs: FoldSet, stage: str, fold_ids: list[int],
                  *, fraction: tuple[float, float], prefix: str = "screen") -> list[Evaluation]:
    share = _first_share(run)
    jobs = [Job(c, fs, stage, f"{prefix}:{c.key}", fold_ids, share, prunable=c.info.cost >= 3) for c in candidates]
    return _evaluate_jobs(run, jobs, fraction=fraction)


def _evaluate_jobs(run: Run, jobs: list[Job], *, fraction: tuple[float, float]) -> list[Evaluation]:
    low, high = fraction
    run.report.search_progress(low)
    results = evaluate(run, jobs, deadline=search_deadline(run))
    run.report.search_progress(high)
    return results


def _halving(run: Run, candidates: list[Candidate], n: int, cv_rows: int,
             repeats: int) -> tuple[list[Evaluation], FoldSet | None]:
    """Successive halving on growing samples; return the last rung's evaluations and the CV fold set.

    When the budget runs out, the rungs stop there (no fold set for the leaders: None), and the
    evaluations returned are those of the last rung that scored any.
    """
    spec = run.spec
    rows = spec.screen_rows
    alive = list(candidates)
    rungs = max(1, math.ceil(math.log(max(1.0, cv_rows / rows), HALVING_FACTOR)))
    last: dict[str, Evaluation] = {}
    for rung in range(rungs):
        fs = _prepare(run, f"rung{rung}", rows, keep=spec.screen_folds)
        if rung == 0:
            alive = _drop_too_wide(run, alive, fs.width)
        run.report.log(f"Screening {len(alive)} models on {fs.rows:,} rows ({spec.screen_folds} of {fs.n_splits} "
                       f"folds; folds prepared in {fs.prep_seconds:.1f} s).")
        span = 0.5 / rungs
        results = _evaluate_all(run, alive, fs, STAGE_SCREEN, list(range(len(fs.folds))),
                                fraction=(rung * span, (rung + 1) * span), prefix=f"rung{rung}")
        scored = {e.model: e for e in results if e.ok and e.reason is None}
        if scored:
            last = scored
        if run.state.budget_hit:
            return list(last.values()), None
        _drop_unscalable(run, [c for c in alive if c.key in last], last, n)
        if rung < rungs - 1:
            alive = _keep(run, [c for c in alive if c.key in last or c.is_baseline], last)
            rows = min(cv_rows, rows * HALVING_FACTOR)
            run.report.log(f"{len(alive) - 1} models move on to {rows:,} rows: "
                           f"{', '.join(c.key for c in alive if not c.is_baseline)}.")
    cv = _prepare(run, "cv", cv_rows, repeats=repeats)
    return list(last.values()), cv


def _drop_unscalable(run: Run, alive: list[Candidate], scored: dict[str, Evaluation], n: int) -> None:
    """Take out of the running the models whose fit on all ``n`` training rows would not fit the budget.

    The chosen model is fitted on every training row at the end; a model that would take more than
    `FINAL_FIT_SHARE` of the budget there (a gradient boosting of scikit-learn's on a million rows took
    30 minutes) is stopped now, with the estimate, so it can be neither chosen nor a member.
    """
    limit = FINAL_FIT_SHARE * run.clock.budget_s
    for candidate in alive:
        if candidate.is_baseline:
            continue
        seconds = fit_estimate(run, candidate, n)
        if seconds > limit:
            evaluation = scored.pop(candidate.key)
            evaluation.reason = (f"not kept: too slow for {n:,} rows (its fit on them would take about "
                                 f"{seconds:.0f} s, more than {limit:.0f} s of the budget)")
            evaluation.status = "stopped"
            publish(run, evaluation)
            run.report.log(f"{candidate.name}: {evaluation.reason}.")


def fit_estimate(run: Run, candidate: Candidate, rows: int) -> float:
    """Seconds one fit of ``candidate`` on ``rows`` training rows should take, from its fits so far; 0 if unknown.

    A fit's fixed cost dominates a small sample, so scaling one small fit up in proportion overstates a
    large one many times (LightGBM on 1,600 rows, scaled to 800,000: 200 s; in fact about 30). With
    fits on two sample sizes: a line through the two largest, or the model's cost exponent for those
    whose time grows faster than the rows (kernel methods); with one, a floor (see below).
    """
    by_rows = {e.rows_per_fold: e.fold_seconds for e in run.state.history
               if e.model == candidate.key and e.ok and e.rows_per_fold > 0 and e.fold_scores}
    if not by_rows:
        return 0.0
    if len(by_rows) == 1:
        # One size only: the square root of the growth is a floor no fit beats (the cheapest grow
        # about linearly), so a model over the limit even so will not do on all rows.
        ((n1, t1),) = by_rows.items()
        return t1 * math.sqrt(max(1.0, rows / n1))
    n0, n1 = sorted(by_rows)[-2:]
    t0, t1 = by_rows[n0], by_rows[n1]
    if candidate.info.cost_exponent > 1.2:
        return t1 * max(1.0, rows / n1) ** candidate.info.cost_exponent
    slope = max(0.0, (t1 - t0) / (n1 - n0))
    return t1 + slope * max(0, rows - n1)


def _keep(run: Run, alive: list[Candidate], scored: dict[str, Evaluation]) -> list[Candidate]:
    """Keep the better third of a rung (at least three), plus the best bagging and boosting models."""
    ranked = _ranked(run, [scored[c.key] for c in alive if c.key in scored and not c.is_baseline])
    count = max(3, math.ceil(len(ranked) * KEEP_SHARE))
    keep = {e.model for e in ranked[:count]}
    for family in ("boosting", "bagging"):
        best = next((e for e in ranked if run.infos[_model_id(run, e)].family == family), None)
        if best is not None:
            keep.add(best.model)
    return [c for c in alive if c.key in keep or c.is_baseline]


def _leaders(run: Run, screened: list[Evaluation]) -> list[Candidate]:
    """Return the screened candidates that get the full cross-validation, best first.

    The preset's number of leaders, of which at most `MAX_COSTLY_LEADERS` of the costly kind (cost
    class 3 or more: a network, a Gaussian process, scikit-learn's stage-by-stage boosting, CatBoost),
    plus the best tree ensemble of each kind if they are not among them: an ensemble gains most from
    members that err differently. The cap holds the leaders' stage to a few costly fits per fold
    however many of them screened well; the next cheaper candidates take their places.
    """
    ranked = _ranked(run, [e for e in screened if e.ok and e.reason is None and e.model != BASELINE_ID])
    chosen: list[Evaluation] = []
    costly = 0
    for evaluation in ranked:
        if len(chosen) >= run.spec.leaders:
            break
        if run.infos[_model_id(run, evaluation)].cost >= 3:
            if costly >= MAX_COSTLY_LEADERS:
                continue
            costly += 1
        chosen.append(evaluation)
    for family in ("boosting", "bagging"):
        if not any(run.infos[_model_id(run, e)].family == family for e in chosen):
            best = next((e for e in ranked if run.infos[_model_id(run, e)].family == family), None)
            if best is not None:
                chosen.append(best)
    return [run.candidates[e.model] for e in chosen if e.model in run.candidates]


def _cv_job(run: Run, candidate: Candidate, cv: FoldSet, fold_ids: list[int], screened: list[Evaluation]) -> Job:
    prior = next((e for e in screened if e.model == candidate.key and e.fold_set == cv.name and e.ok), None)
    done = prior is not None and len(prior.fold_scores) > 0
    ids = fold_ids if done else sorted(set(fold_ids) | set(cv.fold_ids(repeat=0)))
    # A costly leader that trails the cheap ones by far on its first new fold stops there (see crossval).
    return Job(candidate, cv, STAGE_CV, f"cv:{candidate.key}", ids, _cv_share(run, candidate, cv, screened),
               prior=prior, prunable=candidate.info.cost >= 3)


def _affordable(run: Run, jobs: list[Job], screened: list[Evaluation], cv: FoldSet) -> list[Job]:
    """Drop the leaders whose cross-validation would not finish in the time left (never the best one)."""
    left = search_deadline(run) - time.time()
    budget = left * run.cores
    out: list[Job] = []
    for job in jobs:
        cost = _estimate(run, job.candidate, cv, screened) * len(job.fold_ids)
        if len(out) > 1 and not job.candidate.is_baseline and cost > budget:
            run.state.budget_hit = True
            reason = (f"not cross-validated: needs about {cost / run.cores:.0f} s, more than the "
                      f"{max(0.0, left):.0f} s left")
            if any(e.model == job.candidate.key and e.ok for e in screened):
                _not_cross_validated(run, job.candidate, screened, reason)
            else:
                skipped(run, job.candidate, STAGE_CV, job.unit, reason)
            continue
        budget -= cost
        out.append(job)
    return out


# --------------------------------------------------------------------------- estimates and ranks


def _first_share(run: Run) -> float:
    """Return a screening fold's time share (a sample of at most ``screen_rows`` rows).

    A model that cannot fit one fold of the sample in `SCREEN_FOLD_SHARE` of the budget would not
    fit the whole table in the time either (ARD on a 300-column one-hot table took 50 s a fold).
    """
    left = search_deadline(run) - time.time()
    return max(MIN_SHARE_S, min(SCREEN_FOLD_SHARE * run.clock.budget_s, left))


def _estimate(run: Run, candidate: Candidate, cv: FoldSet, screened: list[Evaluation]) -> float:
    """Seconds one fold of ``candidate`` should take on ``cv`` (from its screening, scaled to the rows)."""
    seen = next((e for e in screened if e.model == candidate.key and e.ok), None)
    if seen is None:
        seen = next((e for e in screened if _model_id(run, e) == candidate.model_id and e.ok), None)
    if seen is None or seen.rows_per_fold <= 0:
        return 1.0
    ratio = max(1.0, cv.train_rows / seen.rows_per_fold)
    return seen.fold_seconds * ratio ** candidate.info.cost_exponent


def _cv_share(run: Run, candidate: Candidate, cv: FoldSet, screened: list[Evaluation]) -> float:
    estimate = _estimate(run, candidate, cv, screened)
    left = search_deadline(run) - time.time()
    return max(MIN_SHARE_S, min(max(left, MIN_SHARE_S), max(10 * estimate, 0.1 * run.clock.budget_s)))


def _ranked(run: Run, evaluations: list[Evaluation]) -> list[Evaluation]:
    key = M.sort_key(run.metric)
    return sorted(evaluations, key=lambda e: (key(e.score(run.metric)), e.model))


def _model_id(run: Run, evaluation: Evaluation) -> str:
    return str(evaluation.extra.get("modelId") or evaluation.model.split(":")[0])


def _nothing_trained(run: Run) -> Exception:
    from predictml_desktop.core.training.jobs import TrainingError

    reasons = sorted({str(e.reason or "") for e in run.state.evaluations.values() if e.model != BASELINE_ID})
    detail = f" ({'; '.join(r for r in reasons if r)[:300]})" if any(reasons) else ""
    return TrainingError(f"No model could be trained on this data: every candidate failed or was stopped{detail}; "
                         "see the job's log.")
