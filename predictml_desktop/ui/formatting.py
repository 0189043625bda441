"""How the views write numbers, metrics, durations and dates for people."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from predictml_desktop.core.records import parse_iso

# How the views label the engine's metric keys (``TrainingJob.metrics``, leaderboard ``scores``), in the
# order a summary lists them. Other keys of ``metrics`` (``cv``, ``baseline``, ``holdoutRows``) are not metrics.
_CLASSIFICATION_METRICS = (
    ("accuracy", "Accuracy"), ("auc", "AUC"), ("f1", "F1"), ("precision", "Precision"), ("recall", "Recall"),
    ("balanced_accuracy", "Balanced accuracy"), ("f1_macro", "Macro F1"), ("kappa", "Kappa"), ("mcc", "MCC"),
    ("log_loss", "Log loss"),
)
_REGRESSION_METRICS = (("r2", "R²"), ("rmse", "RMSE"), ("mae", "MAE"), ("mape", "MAPE"))
KEY_METRIC_COUNT = 3


def _norm(key: str) -> str:
    return key.lower().replace(" ", "_").replace("-", "_").replace(".", "")


def format_number(value: Any, digits: int = 3) -> str:
    """Return a metric or measurement with ``digits`` decimals (or as given when not a number)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "—"
        return f"{value:,.{digits}f}"
    return str(value)


def metric_value(metrics: dict[str, Any], *names: str) -> Any:
    """Return the first metric of ``metrics`` whose key matches one of ``names`` (loosely), else None."""
    by_norm = {_norm(k): v for k, v in metrics.items()}
    for name in names:
        if _norm(name) in by_norm:
            return by_norm[_norm(name)]
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metric_label(key: str) -> str:
    """Return how a metric key is written for people (``auc`` -> ``AUC``)."""
    for known, label in _CLASSIFICATION_METRICS + _REGRESSION_METRICS:
        if _norm(key) == known:
            return label
    return key


def ordered_metrics(
    metrics: dict[str, Any], problem_type: str | None, first: str | None = None
) -> list[tuple[str, Any]]:
    """Return ``(key, value)`` of the metrics of ``problem_type`` found in ``metrics``, ``first`` leading."""
    table = _REGRESSION_METRICS if problem_type == "regression" else _CLASSIFICATION_METRICS
    keys = [k for k, _ in table]
    if first and _norm(first) in keys:
        keys.remove(_norm(first))
        keys.insert(0, _norm(first))
    by_norm = {_norm(k): v for k, v in metrics.items()}
    return [(k, by_norm[k]) for k in keys if _is_number(by_norm.get(k))]


def key_metrics(metrics: dict[str, Any], problem_type: str | None, first: str | None = None) -> list[tuple[str, str]]:
    """Return ``(label, text)`` of the few metrics a summary shows, the ranking metric first."""
    rows = ordered_metrics(metrics, problem_type, first)[:KEY_METRIC_COUNT]
    return [(metric_label(k), format_number(v)) for k, v in rows]


def headline_metric(metrics: dict[str, Any], problem_type: str | None) -> tuple[str, str] | None:
    """Return the one metric quoted next to a model's name: accuracy (classification) or R²."""
    if problem_type == "regression":
        value = metric_value(metrics, "r2")
        return ("R²", format_number(value)) if value is not None else None
    value = metric_value(metrics, "accuracy")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("Accuracy", f"{value * 100:.1f} %" if value <= 1 else format_number(value))
    return None


def format_duration(seconds: float | None) -> str:
    """Return ``1h 02m``, ``3m 42s`` or ``12.3 s``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_timestamp(value: str | None) -> str:
    """Return a stored ISO timestamp in local time, ``2026-02-07 10:30``."""
    if not value:
        return ""
    try:
        return parse_iso(value).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def seconds_since(value: str | None) -> float | None:
    """Return the seconds elapsed since a stored ISO timestamp."""
    if not value:
        return None
    try:
        return (datetime.now().astimezone() - parse_iso(value)).total_seconds()
    except ValueError:
        return None


STATUS_LABELS = {
    "training": "Training",
    "pending_review": "Waiting for review",
    "approved_for_inference": "Approved",
    "deployed": "Deployed",
    "superseded": "Superseded",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "rejected": "Rejected",
    "archived": "Archived",
}


def status_label(status: str) -> str:
    """Return a job status in words."""
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def failure_text(error: str | None) -> str:
    """Return a job's error in the seed's words: ``Training failed: Target column 'target' not found``."""
    message = (error or "unknown reason; see the job's log").strip()
    return message if message.lower().startswith("training") else f"Training failed: {message}"
