"""Validated rows as the pipeline receives them: feature columns in training order, with training-like dtypes.

Copied into the Azure ML bundle with `validation` (see `core.azure`): it imports only numpy, pandas
and those modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.prediction.validation import category_type

if TYPE_CHECKING:
    from predictml_desktop.core.input_schema import InputSchema


def frame_dtypes(schema: InputSchema) -> dict[str, str]:
    """Return the pandas dtype each feature column gets before it reaches the pipeline."""
    out = {}
    for f in schema.features:
        if f.kind == "numeric":
            out[f.name] = "float64"
        elif f.kind == "boolean":
            # As in training (core.training.dataprep): the pipeline's imputer refuses a bool column.
            out[f.name] = "object"
        elif f.kind == "datetime":
            out[f.name] = "datetime64[ns]"
        elif f.kind == "categorical" and category_type(f) in ("int", "float"):
            out[f.name] = "float64" if category_type(f) == "float" else "int64"
        else:
            out[f.name] = "object"
    return out


def column_array(dtype: str, values: Sequence[Any]) -> np.ndarray:
    """Return one feature column's validated values (None where missing) as the array the pipeline gets.

    ``dtype`` is the column's entry in `frame_dtypes`. A column that holds a missing value falls back
    to a dtype that can hold it (float64 or object).
    """
    if dtype == "float64":
        return np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
    if dtype == "int64":
        if any(v is None for v in values):
            return np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
        return np.array(values, dtype="int64")
    if dtype == "datetime64[ns]":
        # Values are naive datetimes already (see parse_date): numpy converts them exactly, and
        # faster than pandas; anything else keeps pandas' conversion (and its errors).
        if all(v is None or (type(v) is datetime and v.tzinfo is None) for v in values):
            return np.array([np.datetime64("NaT") if v is None else v for v in values], dtype="datetime64[ns]")
        return pd.Series([pd.NaT if v is None else v for v in values], dtype="datetime64[ns]").to_numpy()
    arr = np.empty(len(values), dtype=object)
    arr[:] = [np.nan if v is None else v for v in values]
    return arr


def feature_columns(schema: InputSchema, rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Return the validated rows' feature columns as numpy arrays, by feature name, in schema order."""
    dtypes = frame_dtypes(schema)
    return {f.name: column_array(dtypes[f.name], [r.get(f.name) for r in rows]) for f in schema.features}


def rows_to_frame(schema: InputSchema, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Build the DataFrame the pipeline receives: feature columns in training order, training-like dtypes.

    A column that holds a missing value falls back to a dtype that can hold it (float64 or object).
    """
    return pd.DataFrame(feature_columns(schema, rows), columns=[f.name for f in schema.features])
