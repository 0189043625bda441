"""Build a model's input schema (`core.artifacts.InputSchema`) from the table it was trained on."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import FeatureSpec, InputSchema
from predictml_desktop.core.training.dataprep import PreparedData

MAX_CATEGORIES: Final = 1_000
"""Categories listed per feature (most frequent first); a rarer value is still accepted at prediction."""


def python_value(value: Any) -> Any:
    """Return a JSON-friendly Python scalar for a numpy/pandas scalar."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _numeric_spec(name: str, series: pd.Series) -> FeatureSpec:
    values = series.dropna().to_numpy(dtype="float64")
    integer = bool(len(values)) and bool(np.all(np.mod(values, 1) == 0))
    median = float(np.median(values)) if len(values) else None
    default: Any = median
    if integer and median is not None:
        default = round(median)
    return FeatureSpec(
        name=name, kind="numeric", dtype=str(series.dtype), integer=integer, nullable=bool(series.isna().any()),
        minimum=float(values.min()) if len(values) else None, maximum=float(values.max()) if len(values) else None,
        median=median, default=default,
    )


def _categorical_spec(name: str, series: pd.Series) -> FeatureSpec:
    counts = series.dropna().value_counts()
    categories = [python_value(v) for v in counts.index[:MAX_CATEGORIES]]
    # Booleans reach the pipeline as objects (see dataprep), so their dtype alone does not tell.
    boolean = pd.api.types.is_bool_dtype(series.dtype) or (
        bool(categories) and all(isinstance(c, bool) for c in categories))
    integer = pd.api.types.is_integer_dtype(series.dtype)
    return FeatureSpec(
        name=name, kind="boolean" if boolean else "categorical", dtype=str(series.dtype), integer=integer,
        nullable=bool(series.isna().any()), categories=categories, default=categories[0] if categories else None,
    )


def _date_spec(name: str, series: pd.Series, filled: pd.Timestamp | None) -> FeatureSpec:
    values = series.dropna()
    median = values.sort_values().iloc[len(values) // 2] if len(values) else None
    if filled is not None:
        median = filled  # the gaps were filled with it, and prediction fills them the same way
    return FeatureSpec(
        name=name, kind="datetime", dtype=str(series.dtype), nullable=filled is not None or bool(series.isna().any()),
        default=python_value(median) if median is not None else None,
    )


def build_schema(data: PreparedData, classes: list[Any], decision_threshold: float | None = None) -> InputSchema:
    """Return the input schema of a model trained on ``data``.

    Parameters
    ----------
    data
        The prepared training table.
    classes
        Class labels in the order of the pipeline's probability columns (empty for regression).
    decision_threshold
        A yes/no model's threshold on the positive class's probability (`core.training.threshold`).
    """
    frame = data.frame
    features: list[FeatureSpec] = []
    for name in data.features:
        series = frame[name]
        if name in data.dates:
            features.append(_date_spec(name, series, data.filled_dates.get(name)))
        elif name in data.numeric:
            features.append(_numeric_spec(name, series))
        else:
            features.append(_categorical_spec(name, series))
    labels = [python_value(c) for c in classes]
    return InputSchema(
        target=data.target,
        problem_type=data.problem_type,
        features=features,
        classes=labels,
        positive_class=labels[1] if len(labels) == 2 else None,
        ignored_columns=list(data.ignored),
        decision_threshold=decision_threshold,
    )
