"""How the views write numbers, metrics, durations and dates for people."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from predictml_desktop.core.records import parse_iso

# (label, accepted keys) in the order shown; the engine's metric names are matched loosely
# (``auc``, ``AUC``, ``roc_auc``) so the views do not break on a renamed key.
_CLASSIFICATION_METRICS = (
    ("Accuracy", ("accuracy",)),
    ("AUC", ("auc", "roc_auc")),
    ("F1", ("f1", "f1_score")),
    ("Precision", ("precision", "prec")),
    ("Recall", ("recall",)),
    ("Balanced accuracy", ("balanced_accuracy",)),
    ("Kappa", ("kappa",)),
    ("MCC", ("mcc",)),
    ("Log loss", ("log_loss", "logloss")),
)
_REGRESSION_METRICS = (
    ("R²", ("r2", "r_2")),
    ("RMSE", ("rmse",)),
    ("MAE", ("mae",)),
    ("MAPE", ("mape",)),
)
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


def ordered_metrics(metrics: dict[str, Any], problem_type: str | None) -> list[tuple[str, Any]]:
    """Return ``(label, value)`` of the known metrics in a stable order, then any others."""
    table = _REGRESSION_METRICS if problem_type == "regression" else _CLASSIFICATION_METRICS
    seen: set[str] = set()
    out: list[tuple[str, Any]] = []
    for label, keys in table:
        for key, value in metrics.items():
            if _norm(key) in keys and isinstance(value, int | float) and not isinstance(value, bool):
                out.append((label, value))
                seen.add(key)
                break
    out += [(k, v) for k, v in metrics.items() if k not in seen and isinstance(v, int | float | str)]
    return out


def key_metrics(metrics: dict[str, Any], problem_type: str | None) -> list[tuple[str, str]]:
    """Return the few metrics a summary shows, formatted."""
    return [(label, format_number(value)) for label, value in ordered_metrics(metrics, problem_type)[:KEY_METRIC_COUNT]]


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
