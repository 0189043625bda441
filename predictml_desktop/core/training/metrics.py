"""Scores of predictions, and the choice of the metric that ranks candidates.

Pure scikit-learn and numpy (no PyCaret), so the search, the holdout evaluation and the tests
share one definition of every metric. Metric keys are snake_case (``auc``, ``f1_macro``, ``r2``)
and are the keys of ``TrainingJob.metrics`` and of each leaderboard entry's ``scores``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np

CLASSIFICATION_METRICS: Final = (
    "accuracy", "auc", "recall", "precision", "f1", "kappa", "mcc", "log_loss", "balanced_accuracy", "f1_macro",
    "average_precision",
)
REGRESSION_METRICS: Final = ("r2", "rmse", "mae", "mape")
LOWER_IS_BETTER: Final = frozenset({"log_loss", "rmse", "mae", "mape"})
METRIC_LABELS: Final = {
    "accuracy": "accuracy", "auc": "AUC", "recall": "recall", "precision": "precision", "f1": "F1",
    "kappa": "Cohen's kappa", "mcc": "MCC", "log_loss": "log loss", "balanced_accuracy": "balanced accuracy",
    "f1_macro": "macro F1", "average_precision": "average precision", "r2": "R²", "rmse": "RMSE", "mae": "MAE",
    "mape": "MAPE",
}
IMBALANCE_RATIO: Final = 0.25
"""Classes are imbalanced when the smallest has fewer than this share of the largest one's rows."""
RARE_POSITIVE_SHARE: Final = 0.02
"""Below this share of the rows, a yes/no target's rare class ranks candidates by average precision."""


def metrics_for(problem_type: str) -> tuple[str, ...]:
    """Return the metric keys of a problem type."""
    return REGRESSION_METRICS if problem_type == "regression" else CLASSIFICATION_METRICS


def higher_is_better(metric: str) -> bool:
    """Return True when a larger value of ``metric`` is better."""
    return metric not in LOWER_IS_BETTER


def sort_key(metric: str) -> Callable[[float | None], float]:
    """Return a key that sorts scores of ``metric`` best first (missing scores last)."""
    sign = -1.0 if higher_is_better(metric) else 1.0

    def key(value: float | None) -> float:
        if value is None or not math.isfinite(value):
            return math.inf
        return sign * value

    return key


def improvement(new: float | None, old: float | None, metric: str) -> float:
    """Return how much better ``new`` is than ``old`` (negative when worse; -inf if ``new`` is missing)."""
    if new is None or not math.isfinite(new):
        return -math.inf
    if old is None or not math.isfinite(old):
        return math.inf
    return (new - old) if higher_is_better(metric) else (old - new)


def is_imbalanced(class_counts: Sequence[int]) -> bool:
    """Return True when the smallest class is under `IMBALANCE_RATIO` of the largest."""
    counts = [c for c in class_counts if c > 0]
    return len(counts) >= 2 and min(counts) / max(counts) < IMBALANCE_RATIO


def choose_ranking_metric(
    problem_type: str,
    class_counts: dict[Any, int] | None = None,
    override: str | None = None,
) -> tuple[str, str]:
    """Return the metric that ranks candidates and a sentence saying why.

    Parameters
    ----------
    problem_type
        ``classification`` or ``regression``.
    class_counts
        Rows per class label (classification).
    override
        The user's choice, if any.

    Returns
    -------
    tuple of str
        The metric key and its reason.

    Raises
    ------
    ValueError
        If ``override`` is not a metric of the problem type.
    """
    allowed = metrics_for(problem_type)
    if override:
        key = override.strip().casefold().replace("-", "_").replace(" ", "_")
        key = {"roc_auc": "auc", "f1_score": "f1", "logloss": "log_loss", "r²": "r2"}.get(key, key)
        if key not in allowed:
            raise ValueError(f"{override!r} is not a {problem_type} metric; choose one of {', '.join(allowed)}.")
        return key, f"{METRIC_LABELS[key]} was chosen by the user."
    if problem_type == "regression":
        return "r2", "R² (the share of the target's variation the model explains) is the usual measure for a quantity."
    counts = {k: int(v) for k, v in (class_counts or {}).items() if v > 0}
    if len(counts) == 2:
        smallest = min(counts, key=lambda k: counts[k])
        share = counts[smallest] / sum(counts.values())
        if share < RARE_POSITIVE_SHARE:
            return "average_precision", (
                f"Class {smallest!r} is rare ({share:.1%} of the rows), so candidates are ranked by average "
                "precision: how well their highest scores pick out that class, which AUC overstates when almost "
                "every row is the other class. The decision threshold is then chosen on out-of-fold predictions."
            )
        balance = (f"The classes are imbalanced (class {smallest!r} has {share:.1%} of the rows); "
                   if is_imbalanced(list(counts.values())) else "")
        return "auc", (
            f"{balance}AUC measures how well the model orders the rows (every yes above every no scores 1), at "
            "every threshold at once, so it does not reward a model for favouring the larger class. The decision "
            "threshold is then chosen on out-of-fold predictions to balance both classes (macro F1)."
        )
    return "log_loss", (
        "Log loss scores the probability each model gives to the right class of every row, so it separates "
        "confident correct models from lucky ones better than accuracy on a few folds; accuracy and macro F1 "
        "are reported beside it."
    )


def _safe(fn: Callable[[], float]) -> float | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(fn())
    except (ValueError, ZeroDivisionError, IndexError, TypeError, FloatingPointError):
        return None
    return value if math.isfinite(value) else None


def _binary_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC as the Mann-Whitney statistic (ties count one half): exactly roc_auc_score's value."""
    from scipy.stats import rankdata

    n_pos = int(np.count_nonzero(positive))
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0 or not np.all(np.isfinite(scores)):
        return None  # roc_auc_score refuses these too
    ranks = rankdata(scores)
    value = (float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return value if math.isfinite(value) else None


def _auc(y_true: np.ndarray, scores: np.ndarray, n_classes: int) -> float | None:
    scores = np.asarray(scores, dtype=float)
    if n_classes == 2:
        column = scores[:, 1] if scores.ndim == 2 else scores
        return _binary_auc(y_true == 1, column)
    if scores.ndim != 2 or scores.shape[1] != n_classes:
        return None
    # One-vs-rest AUC weighted by prevalence (PyCaret's definition), computed class by class so it
    # also works on decision scores and on folds where a rare class is absent.
    total, weight = 0.0, 0
    for c in range(n_classes):
        positive = y_true == c
        value = _binary_auc(positive, scores[:, c])
        if value is None:
            continue
        positives = int(np.count_nonzero(positive))
        total += value * positives
        weight += positives
    return total / weight if weight else None


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Return num / den with 0 where den is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros(len(num), dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def classification_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    proba: np.ndarray | None = None,
    decision: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Return every classification metric for one set of predictions.

    Every label metric comes from one confusion matrix: scikit-learn's functions validate and
    recount the labels once per metric, which cost 10-20 ms per call, paid for every fold of every
    candidate (about a second of a small table's run). The values are scikit-learn's, with its
    ``zero_division=0`` conventions; `tests/core/test_training_jobs.py` checks them against it.

    Parameters
    ----------
    y_true, y_pred
        Class codes ``0..n_classes-1``.
    n_classes
        Number of classes the model knows.
    proba
        Class probabilities (rows × classes), if the model gives them.
    decision
        Decision scores, used for AUC when there are no probabilities.

    Returns
    -------
    dict
        Metric key → value (None where it cannot be computed, e.g. log loss without probabilities).
    """
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    k = int(n_classes)
    if len(y_true) == 0 or len(y_true) != len(y_pred) or k < 2 or \
            min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= k:
        return _sklearn_classification_scores(y_true, y_pred, n_classes, proba, decision)
    n = len(y_true)
    cm = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k).astype(float)
    tp = np.diag(cm)
    support = cm.sum(axis=1)  # true rows per class
    predicted = cm.sum(axis=0)
    recall = _ratio(tp, support)
    precision = _ratio(tp, predicted)
    f1 = _ratio(2 * tp, support + predicted)
    present = (support + predicted) > 0  # scikit-learn's labels: those seen in y_true or y_pred
    if k == 2:
        rec, prec, f1_avg = recall[1], precision[1], f1[1]
    else:
        w = support / n
        rec, prec, f1_avg = float(recall @ w), float(precision @ w), float(f1 @ w)
    expected = np.outer(support, predicted) / n
    off = 1.0 - np.eye(k)
    kappa_den = float((off * expected).sum())
    cov_tp = float(tp.sum()) * n - float(support @ predicted)
    cov_pp = n * n - float(predicted @ predicted)
    cov_tt = n * n - float(support @ support)
    scores: np.ndarray | None = proba if proba is not None else decision

    finite = _finite
    out: dict[str, float | None] = {
        "accuracy": finite(tp.sum() / n),
        "auc": _auc(y_true, np.asarray(scores), k) if scores is not None else None,
        "recall": finite(rec),
        "precision": finite(prec),
        "f1": finite(f1_avg),
        "kappa": finite(1.0 - float((off * cm).sum()) / kappa_den) if kappa_den else None,
        "mcc": finite(cov_tp / math.sqrt(cov_tt * cov_pp)) if cov_tt * cov_pp else 0.0,
        "log_loss": None,
        "balanced_accuracy": finite(float(np.mean(tp[support > 0] / support[support > 0]))),
        "f1_macro": finite(float(np.mean(f1[present]))),
    }
    out["average_precision"], out["log_loss"] = _probability_scores(y_true, k, proba, scores)
    return out


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _probability_scores(
    y_true: np.ndarray, k: int, proba: np.ndarray | None, scores: np.ndarray | None
) -> tuple[float | None, float | None]:
    """Return average precision (binary) and log loss (with probabilities), None where not defined."""
    average_precision = log_loss = None
    if k == 2 and scores is not None:
        column = np.asarray(scores, dtype=float)
        average_precision = _average_precision(y_true == 1, column[:, 1] if column.ndim == 2 else column)
    if proba is not None:
        p = np.clip(np.asarray(proba, dtype=float), 1e-15, 1.0)
        if p.ndim == 2 and p.shape[1] == k:
            p = p / p.sum(axis=1, keepdims=True)
            log_loss = _finite(-float(np.mean(np.log(p[np.arange(len(y_true)), y_true]))))
    return average_precision, log_loss


def _average_precision(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Average precision (the area under the precision-recall steps): scikit-learn's value."""
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0 or not np.all(np.isfinite(scores)):
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, hits = scores[order], positive[order].astype(float)
    # One point per distinct score (ties are one step), as precision_recall_curve makes them.
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(hits)[last]
    precision = tp / (last + 1)
    recall = tp / n_pos
    value = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return value if math.isfinite(value) else None


def _sklearn_classification_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    proba: np.ndarray | None = None,
    decision: np.ndarray | None = None,
) -> dict[str, float | None]:
    """scikit-learn's own metrics: for codes outside 0..n_classes-1, where its rules decide."""
    from sklearn import metrics as m

    binary = n_classes == 2
    average = "binary" if binary else "weighted"
    scores: np.ndarray | None = proba if proba is not None else decision
    out: dict[str, float | None] = {
        "accuracy": _safe(lambda: m.accuracy_score(y_true, y_pred)),
        "auc": _auc(y_true, np.asarray(scores), n_classes) if scores is not None else None,
        "recall": _safe(lambda: m.recall_score(y_true, y_pred, average=average, zero_division=0)),
        "precision": _safe(lambda: m.precision_score(y_true, y_pred, average=average, zero_division=0)),
        "f1": _safe(lambda: m.f1_score(y_true, y_pred, average=average, zero_division=0)),
        "kappa": _safe(lambda: m.cohen_kappa_score(y_true, y_pred)),
        "mcc": _safe(lambda: m.matthews_corrcoef(y_true, y_pred)),
        "log_loss": None,
        "balanced_accuracy": _safe(lambda: m.balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": _safe(lambda: m.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "average_precision": None,
    }
    if binary and scores is not None:
        column = np.asarray(scores, dtype=float)
        out["average_precision"] = _average_precision(y_true == 1, column[:, 1] if column.ndim == 2 else column)
    if proba is not None:
        p = np.clip(np.asarray(proba, dtype=float), 1e-15, 1.0)
        p = p / p.sum(axis=1, keepdims=True)
        out["log_loss"] = _safe(lambda: m.log_loss(y_true, p, labels=list(range(n_classes))))
    return out


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """Return R², RMSE, MAE and MAPE (rows whose true value is 0 are left out of MAPE)."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    nonzero = y_true != 0
    return {
        "r2": _safe(lambda: m.r2_score(y_true, y_pred)),
        "rmse": _safe(lambda: math.sqrt(m.mean_squared_error(y_true, y_pred))),
        "mae": _safe(lambda: m.mean_absolute_error(y_true, y_pred)),
        "mape": _safe(lambda: float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero]))))
        if nonzero.any() else None,
    }


def mean_std(per_fold: list[dict[str, float | None]], keys: Sequence[str]) -> tuple[dict[str, float | None],
                                                                                  dict[str, float | None]]:
    """Return the mean and standard deviation over folds of each metric (None if no fold had it)."""
    means: dict[str, float | None] = {}
    stds: dict[str, float | None] = {}
    for key in keys:
        values = [f[key] for f in per_fold if f.get(key) is not None]
        if values:
            means[key] = float(np.mean(values))  # type: ignore[arg-type]
            stds[key] = float(np.std(values))  # type: ignore[arg-type]
        else:
            means[key] = stds[key] = None
    return means, stds


def ordered(scores: dict[str, float | None], first: str) -> dict[str, float | None]:
    """Return ``scores`` with the ranking metric first (views show the first few columns)."""
    out = {first: scores.get(first)} if first in scores else {}
    out.update({k: v for k, v in scores.items() if k != first})
    return out
