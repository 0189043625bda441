"""The decision threshold of a yes/no model, chosen on out-of-fold predictions after ranking.

Candidates are ranked by how well they order the rows (AUC), which a rare class does not distort
and which does not depend on any threshold. Where to cut is a separate decision: at 0.5 a model of
a 5 % class says "no" to almost everything. The threshold is chosen on the out-of-fold
probabilities of the chosen model (rows no model saw in training), to maximise macro F1 (both
classes' F1 weigh the same) by default, balanced accuracy, or the lowest cost when the user gives
the cost of a false positive and of a false negative. Every prediction path applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

OBJECTIVES: Final = ("f1_macro", "balanced_accuracy", "cost")
MAX_CUTS: Final = 512
"""Candidate thresholds at most (quantiles of the probabilities): enough resolution, bounded time."""


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen threshold and what it scored on the out-of-fold rows.

    Attributes
    ----------
    value
        Rows whose probability of the positive class is at least this are predicted positive.
    objective
        ``f1_macro``, ``balanced_accuracy`` or ``cost``.
    score
        The objective at ``value`` (for ``cost``: the mean cost per row, lower is better).
    score_at_half
        The objective at 0.5, for comparison.
    """

    value: float
    objective: str
    score: float
    score_at_half: float

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form stored with the model and the job."""
        return {"value": self.value, "objective": self.objective, "score": self.score,
                "scoreAtHalf": self.score_at_half}


def choose_threshold(y_true: np.ndarray, p_positive: np.ndarray, *, objective: str = "f1_macro",
                     false_positive_cost: float = 1.0, false_negative_cost: float = 1.0) -> ThresholdChoice:
    """Return the threshold on ``p_positive`` that is best for ``objective`` on these rows.

    Parameters
    ----------
    y_true
        1 for the positive class, 0 for the other (rows with an unknown probability are left out).
    p_positive
        Probabilities of the positive class.
    objective
        One of `OBJECTIVES`.
    false_positive_cost, false_negative_cost
        The costs, for ``cost``.

    Raises
    ------
    ValueError
        For an unknown objective, or no row with a probability.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown threshold objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_positive, dtype=float)
    known = np.isfinite(p)
    y, p = y[known], p[known]
    if len(y) == 0:
        raise ValueError("no probabilities to choose a threshold from")
    cuts = np.unique(p)
    if len(cuts) > MAX_CUTS:
        cuts = np.unique(np.quantile(p, np.linspace(0, 1, MAX_CUTS)))
    cuts = np.unique(np.append(cuts, 0.5))
    values = _objective(y, p, cuts, objective, false_positive_cost, false_negative_cost)
    sign = -1.0 if objective == "cost" else 1.0
    best = np.max(sign * values)
    # Among equally good cuts, the one nearest 0.5: the least surprising, and the least fitted to noise.
    tied = np.flatnonzero(sign * values >= best - 1e-12)
    pick = tied[np.argmin(np.abs(cuts[tied] - 0.5))]
    half = float(values[np.searchsorted(cuts, 0.5)])
    return ThresholdChoice(float(cuts[pick]), objective, float(values[pick]), half)


def _objective(y: np.ndarray, p: np.ndarray, cuts: np.ndarray, objective: str, fp_cost: float,
               fn_cost: float) -> np.ndarray:
    """Compute the objective at every cut, vectorised: rows at or above a cut are predicted positive."""
    order = np.argsort(p)
    p_sorted, y_sorted = p[order], y[order]
    positives = int(y.sum())
    negatives = len(y) - positives
    # Rows predicted negative at cut c are those with p < c: count them with one search per cut.
    below = np.searchsorted(p_sorted, cuts, side="left")
    pos_below = np.concatenate([[0], np.cumsum(y_sorted)])[below]
    fn = pos_below.astype(float)
    tn = (below - pos_below).astype(float)
    tp = positives - fn
    fp = negatives - tn
    if objective == "cost":
        return (fp * fp_cost + fn * fn_cost) / len(y)
    if objective == "balanced_accuracy":
        tpr = tp / positives if positives else np.zeros_like(tp)
        tnr = tn / negatives if negatives else np.zeros_like(tn)
        return (tpr + tnr) / 2
    f1_pos = _safe_div(2 * tp, 2 * tp + fp + fn)
    f1_neg = _safe_div(2 * tn, 2 * tn + fn + fp)
    return (f1_pos + f1_neg) / 2


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out
