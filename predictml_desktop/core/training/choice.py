"""Choosing the final model: a weighted ensemble of the leaders, or one model, and its decision threshold.

The choice is made on the out-of-fold predictions of the cross-validated leaders (rows each model
did not train on):

1. Caruana's greedy selection (`ensemble.select`) weighs the leaders; it starts from the best single
   model, so it can only keep or improve its out-of-fold score.
2. A single model is kept instead of the ensemble only when it is better by more than the
   fold-to-fold noise (the standard error of its folds' scores): picking the single top mean on a
   small table is the winner's curse, averaging cancels it.
3. For a yes/no target the decision threshold is chosen on the chosen model's out-of-fold
   probabilities (`threshold.choose_threshold`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from predictml_desktop.core.training import ensemble
from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.candidates import Candidate, plain
from predictml_desktop.core.training.catalog import BASELINE_ID, ENSEMBLE_ID
from predictml_desktop.core.training.context import Run
from predictml_desktop.core.training.folds import FoldSet
from predictml_desktop.core.training.state import STAGE_CV, STAGE_ENSEMBLE, Evaluation
from predictml_desktop.core.training.threshold import ThresholdChoice, choose_threshold


@dataclass
class FinalChoice:
    """The model to fit on all rows.

    Attributes
    ----------
    key, name
        ``ensemble`` or the single candidate's key, and its display name.
    members
        The candidates and their weights (one member with weight 1 for a single model).
    evaluation
        Its cross-validated scores (for an ensemble, of the blended out-of-fold predictions).
    threshold
        A yes/no model's decision threshold, or None.
    notes
        What was decided and why (log lines).
    """

    key: str
    name: str
    members: list[tuple[Candidate, float]]
    evaluation: Evaluation
    threshold: ThresholdChoice | None = None
    notes: list[str] = field(default_factory=list)


def choose(run: Run, cv: FoldSet | None) -> FinalChoice:
    """Choose the final model from the recorded evaluations.

    Raises
    ------
    TrainingError
        When no candidate finished.
    """
    pool = _complete(run, cv)
    if not pool:
        return _fallback(run)
    best = pool[0]
    choice = FinalChoice(best.model, best.name, [(_candidate(run, best), 1.0)], best)
    if run.spec.ensemble and len(pool) > 1 and cv is not None:
        _try_ensemble(run, cv, pool, choice)
    if run.classification and run.n_classes == 2 and cv is not None and choice.evaluation.oof is not None:
        _set_threshold(run, cv, choice)
    return choice


def _complete(run: Run, cv: FoldSet | None) -> list[Evaluation]:
    """Return the cross-validated leaders with a prediction for every row of the set, best first."""
    if cv is None:
        return []
    out = [e for e in run.state.finished(STAGE_CV, cv.name) if e.model != BASELINE_ID and e.reason is None
           and e.oof is not None and e.oof.shape[0] == cv.rows and np.all(np.isfinite(e.oof))]
    key = M.sort_key(run.metric)
    return sorted(out, key=lambda e: (key(e.score(run.metric)), e.model))


def _fallback(run: Run) -> FinalChoice:
    """Return the best screened model when no leader finished its cross-validation (stopped or out of time)."""
    from predictml_desktop.core.training.jobs import TrainingError

    key = M.sort_key(run.metric)
    done = [e for e in run.state.history if e.ok and e.model != BASELINE_ID and e.score(run.metric) is not None
            and e.model in _known(run)]
    if not done:
        raise TrainingError("No model could be trained on this data: every candidate failed or was stopped; see "
                            "the job's log.")
    best = min(done, key=lambda e: (key(e.score(run.metric)), e.model))
    return FinalChoice(best.model, best.name, [(_candidate(run, best), 1.0)], best,
                       notes=[f"No leader finished its full cross-validation; {best.name} is kept on its "
                              f"{best.stage} scores."])


def _try_ensemble(run: Run, cv: FoldSet, pool: list[Evaluation], choice: FinalChoice) -> None:
    codes = cv.codes
    predictions = {e.model: e.oof for e in pool if e.oof is not None}
    selection = ensemble.select(predictions, lambda m: run.score_matrix(codes, m),
                                higher_is_better=run.higher_is_better)
    if len(selection.weights) < 2:
        choice.notes.append(f"Ensemble: no blend of the leaders beats {pool[0].name} alone on the out-of-fold rows.")
        return
    blended = ensemble.blend(predictions, selection.weights)
    evaluation = _blend_evaluation(run, cv, pool, selection, blended)
    best = pool[0]
    gain = M.improvement(evaluation.score(run.metric), best.score(run.metric), run.metric)
    noise = _standard_error(best, run.metric)
    by_key = {e.model: e for e in pool}
    members = [(_candidate(run, by_key[k]), selection.weights[k]) for k in selection.members]
    shown = ", ".join(f"{by_key[k].name} {selection.weights[k]:.0%}" for k in selection.members)
    if gain < -noise:
        evaluation.reason = f"not kept: {best.name} alone is better by more than the fold-to-fold noise"
        choice.notes.append(f"Ensemble of {shown}: {M.METRIC_LABELS[run.metric]} "
                            f"{evaluation.score(run.metric):.4f}, not kept ({evaluation.reason}).")
    else:
        choice.key, choice.name, choice.members, choice.evaluation = ENSEMBLE_ID, evaluation.name, members, evaluation
        choice.notes.append(f"Ensemble of {shown}: out-of-fold {M.METRIC_LABELS[run.metric]} "
                            f"{evaluation.score(run.metric):.4f} against {best.score(run.metric):.4f} for "
                            f"{best.name} alone (fold-to-fold noise ±{noise:.4f}); kept.")
    from predictml_desktop.core.training.crossval import publish

    publish(run, evaluation)


def _blend_evaluation(run: Run, cv: FoldSet, pool: list[Evaluation], selection: ensemble.Selection,
                      blended: np.ndarray) -> Evaluation:
    """Per-fold scores of the blended out-of-fold predictions (each fold scored on its own rows)."""
    keys = M.metrics_for(run.data.problem_type)
    per_fold: list[dict[str, float | None]] = []
    for fold in cv.folds:
        part = blended[fold.va_pos]
        if run.classification:
            per_fold.append(M.classification_scores(fold.codes_va, part.argmax(axis=1), run.n_classes, proba=part))
        else:
            per_fold.append(M.regression_scores(fold.codes_va, part[:, 0]))
    means, stds = M.mean_std(per_fold, keys)
    by_key = {e.model: e for e in pool}
    members = selection.members
    name = "Ensemble (" + " + ".join(by_key[k].model for k in members) + ")"
    return Evaluation(
        ENSEMBLE_ID, name, ENSEMBLE_ID, STAGE_ENSEMBLE, scores=M.ordered(means, run.metric),
        std=M.ordered(stds, run.metric), fold_scores=per_fold, folds=len(per_fold), rows=cv.rows,
        rows_per_fold=cv.train_rows, fold_set=cv.name, fit_seconds=sum(by_key[k].fit_seconds for k in members),
        extra={"members": members, "weights": {k: round(selection.weights[k], 4) for k in members},
               "modelId": ENSEMBLE_ID},
        oof=blended,
    )


def _set_threshold(run: Run, cv: FoldSet, choice: FinalChoice) -> None:
    oof = choice.evaluation.oof
    assert oof is not None
    opts = run.options
    threshold = choose_threshold(cv.codes == 1, oof[:, 1], objective=opts.threshold_objective,
                                 false_positive_cost=opts.false_positive_cost,
                                 false_negative_cost=opts.false_negative_cost)
    choice.threshold = threshold
    label = {"f1_macro": "macro F1", "balanced_accuracy": "balanced accuracy", "cost": "mean cost"}[threshold.objective]
    choice.notes.append(f"Decision threshold {threshold.value:.3f} on the probability of the positive class, chosen on "
                        f"out-of-fold predictions for {label} ({threshold.score:.4f}; {threshold.score_at_half:.4f} "
                        "at 0.5).")


def _standard_error(evaluation: Evaluation, metric: str) -> float:
    std = float(evaluation.std.get(metric) or 0.0)
    return std / math.sqrt(max(1, evaluation.folds))


def _known(run: Run) -> set[str]:
    return {e.model for e in run.state.history} - {ENSEMBLE_ID}


def _candidate(run: Run, evaluation: Evaluation) -> Candidate:
    known = run.candidates.get(evaluation.model)
    return known or plain(run.infos[str(evaluation.extra.get("modelId") or evaluation.model)])
