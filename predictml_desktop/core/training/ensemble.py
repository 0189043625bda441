"""Greedy ensemble selection over out-of-fold predictions (Caruana et al., 2004).

The winner's curse: on a small table the fold-to-fold noise is larger than the gaps between the
best models, so the model with the top cross-validated mean is often not the one that holds up on
new rows. Averaging several good models cancels much of that noise. Caruana's procedure, as in
AutoGluon and auto-sklearn: start from the best single model's out-of-fold predictions and
repeatedly add (with replacement) the model whose addition improves the averaged predictions most;
a model added k times gets weight k. It costs no fit: it works on the predictions every candidate
already made on the rows it did not see.

Pure numpy: the engine passes the out-of-fold matrices and a scoring function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

ITERATIONS: Final = 25
"""Additions tried (AutoGluon's default); weights are multiples of 1/ITERATIONS at the finest."""
MAX_MEMBERS: Final = 5
"""Distinct models at most: each member costs its prediction time at every request."""


@dataclass
class Selection:
    """The chosen weights and what they scored.

    Attributes
    ----------
    weights
        Member key → weight (they sum to 1), in the order they were first chosen.
    score
        The ranking metric of the weighted average of the members' out-of-fold predictions.
    trace
        The score after each addition (for the log and tests).
    """

    weights: dict[str, float]
    score: float
    trace: list[float] = field(default_factory=list)

    @property
    def members(self) -> list[str]:
        """Member keys, heaviest first."""
        return sorted(self.weights, key=lambda k: -self.weights[k])


def select(
    predictions: Mapping[str, np.ndarray],
    score: Callable[[np.ndarray], float | None],
    *,
    higher_is_better: bool,
    iterations: int = ITERATIONS,
    max_members: int = MAX_MEMBERS,
) -> Selection:
    """Choose ensemble weights greedily, with replacement.

    Parameters
    ----------
    predictions
        Key → out-of-fold predictions of the same rows (rows × classes probabilities, or rows × 1
        values); the order of the mapping breaks ties (put the best single model first).
    score
        Scores a prediction matrix (the ranking metric on the rows' true targets).
    higher_is_better
        The metric's direction.
    iterations
        Additions to make.
    max_members
        Distinct members at most.

    Returns
    -------
    Selection
        With a single member when no addition improves on the best single model.

    Raises
    ------
    ValueError
        If ``predictions`` is empty.
    """
    if not predictions:
        raise ValueError("no predictions to select an ensemble from")
    keys = list(predictions)
    sign = 1.0 if higher_is_better else -1.0
    singles = {k: _signed(score(predictions[k]), sign) for k in keys}
    best = max(keys, key=lambda k: singles[k])  # the first of equals wins (the mapping's order)
    counts = {best: 1}
    total = np.array(predictions[best], dtype=float)
    current = singles[best]
    best_counts, best_score = dict(counts), current
    trace = [sign * current]
    for step in range(2, iterations + 1):
        allowed = keys if len(counts) < max_members else list(counts)
        choice, choice_score = None, -np.inf
        for key in allowed:
            value = _signed(score((total + predictions[key]) / step), sign)
            if value > choice_score + 1e-12:
                choice, choice_score = key, value
        if choice is None:
            break
        total += predictions[choice]
        counts[choice] = counts.get(choice, 0) + 1
        current = choice_score
        trace.append(sign * current)
        # Keep the best point of the curve (as AutoGluon does): later additions may only wander.
        if current > best_score + 1e-12:
            best_counts, best_score = dict(counts), current
    n = sum(best_counts.values())
    weights = {k: c / n for k, c in best_counts.items()}
    return Selection(weights, sign * best_score, trace)


def blend(predictions: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Return the weighted average of the members' predictions."""
    return np.asarray(sum(weights[k] * np.asarray(predictions[k], dtype=float) for k in weights))


def _signed(value: float | None, sign: float) -> float:
    """Make a score "higher is better"; one that cannot be computed is the worst."""
    return sign * float(value) if value is not None and np.isfinite(value) else -np.inf
