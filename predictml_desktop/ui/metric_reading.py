"""Plain-language readings of a model's holdout metrics, for the admin's review.

Each reading says what the number means for the rows the model will see ("86 of every 100 rows are
predicted correctly"), and, where the engine recorded it, what the dummy baseline scored, so a
reviewer who is not a statistician can judge the model.
"""

from __future__ import annotations

import math
from typing import Any

from predictml_desktop.ui.formatting import format_number, metric_label, metric_value, ordered_metrics


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def auc_quality(value: float) -> str:
    """Return the usual verbal grade of an AUC (Hosmer & Lemeshow's scale)."""
    if value >= 0.9:
        return "excellent separation"
    if value >= 0.8:
        return "good separation"
    if value >= 0.7:
        return "acceptable separation"
    if value > 0.55:
        return "weak separation"
    return "no better than guessing"


def read_metric(key: str, value: Any, *, problem_type: str | None, target: str = "the target",
                baseline: Any = None) -> str:
    """Return one or two sentences saying what ``key = value`` means.

    Parameters
    ----------
    key
        The engine's metric key (``auc``, ``accuracy``, ``r2``, ``rmse``...).
    value
        Its holdout value.
    problem_type
        ``classification`` or ``regression``.
    target
        The target column's name (units of the regression errors).
    baseline
        The dummy baseline's value of the same metric, if recorded.
    """
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "Not recorded."
    v = float(value)
    base = float(baseline) if isinstance(baseline, int | float) and not isinstance(baseline, bool) \
        and math.isfinite(baseline) else None
    k = key.lower()
    if k == "auc":
        text = (f"Given one row of each class, the model ranks them the right way round {_pct(v)} of the time "
                f"(50 % is guessing, 100 % perfect): {auc_quality(v)}.")
    elif k == "accuracy":
        text = f"{v * 100:.0f} of every 100 holdout rows are predicted correctly."
        if base is not None:
            text += f" Always answering the most common class would get {base * 100:.0f}."
        return text
    elif k == "balanced_accuracy":
        text = f"Accuracy averaged over the classes, so a rare class counts as much as a common one: {_pct(v)}."
    elif k == "precision":
        text = f"When the model predicts the positive class, it is right {_pct(v)} of the time."
    elif k == "recall":
        text = f"The model finds {_pct(v)} of the rows that really are of the positive class."
    elif k == "f1":
        text = f"The balance of precision and recall, from 0 to 1: {v:.2f}."
    elif k == "f1_macro":
        text = f"F1 averaged over the classes, from 0 to 1: {v:.2f}."
    elif k == "kappa":
        text = f"Agreement with the true answers beyond what chance gives (0 is chance, 1 perfect): {v:.2f}."
    elif k == "mcc":
        text = f"Correlation between predictions and true answers (0 is chance, 1 perfect): {v:.2f}."
    elif k == "log_loss":
        text = f"How sure and how right the predicted probabilities are; lower is better: {v:.3f}."
    elif k == "r2":
        if v < 0:
            text = (f"The model does worse than always predicting the average {target} (R² {v:.2f}); "
                    "do not use it.")
        else:
            text = (f"The model explains {_pct(v)} of the variation of {target} "
                    "(0 % is always predicting the average, 100 % is perfect).")
    elif k == "rmse":
        text = (f"A typical prediction is off by about {format_number(v)} (in units of {target}); "
                "large misses count more.")
    elif k == "mae":
        text = f"On average a prediction is off by {format_number(v)} (in units of {target})."
    elif k == "mape":
        text = f"On average a prediction is off by {_pct(v)} of the true value."
    else:
        return f"{metric_label(key)} is {format_number(v)}."
    if base is not None:
        text += f" The baseline scores {format_number(base)}."
    return text


def metric_readings(metrics: dict[str, Any], problem_type: str | None, *, target: str = "the target",
                    first: str | None = None) -> list[tuple[str, str, str, str]]:
    """Return ``(key, label, value text, reading)`` for every holdout metric of a job, the ranking metric first.

    Parameters
    ----------
    metrics
        ``TrainingJob.metrics``: flat holdout metrics plus ``cv`` and ``baseline`` dicts.
    problem_type
        ``classification`` or ``regression``.
    target
        The target column's name.
    first
        The ranking metric, listed first.
    """
    holdout = _sub(metrics, "holdout") or metrics
    baseline = _sub(metrics, "baseline")
    rows = []
    for key, value in ordered_metrics(holdout, problem_type, first):
        reading = read_metric(key, value, problem_type=problem_type, target=target,
                              baseline=metric_value(baseline, key))
        rows.append((key, metric_label(key), format_number(value), reading))
    return rows


def _sub(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    value = metrics.get(name)
    return value if isinstance(value, dict) else {}
