"""Validated rows as the pipeline receives them: feature columns in training order, with training-like dtypes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import InputSchema
from predictml_desktop.core.modeling.fast_path import ColumnBatch
from predictml_desktop.core.prediction.validation import category_type


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


def rows_to_frame(schema: InputSchema, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build the DataFrame the pipeline receives: feature columns in training order, training-like dtypes.

    A column that holds a missing value falls back to a dtype that can hold it (float64 or object).
    """
    return rows_to_batch(schema, rows).to_frame()


def rows_to_batch(schema: InputSchema, rows: list[dict[str, Any]]) -> ColumnBatch:
    """Return `rows_to_frame`'s columns as numpy arrays, without building the DataFrame.

    The fast path reads these directly; building the DataFrame costs more than the whole compiled
    prediction of one row.
    """
    dtypes = frame_dtypes(schema)
    data: dict[str, np.ndarray] = {}
    for f in schema.features:
        values = [r.get(f.name) for r in rows]
        want = dtypes[f.name]
        has_none = any(v is None for v in values)
        if want == "float64":
            data[f.name] = np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
        elif want == "int64":
            data[f.name] = (np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
                            if has_none else np.array(values, dtype="int64"))
        elif want == "datetime64[ns]":
            # Values are naive datetimes already (see parse_date): numpy converts them exactly, and
            # faster than pandas; anything else keeps pandas' conversion (and its errors).
            if all(v is None or (type(v) is datetime and v.tzinfo is None) for v in values):
                data[f.name] = np.array([np.datetime64("NaT") if v is None else v for v in values],
                                        dtype="datetime64[ns]")
            else:
                data[f.name] = pd.Series([pd.NaT if v is None else v for v in values],
                                         dtype="datetime64[ns]").to_numpy()
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = [np.nan if v is None else v for v in values]
            data[f.name] = arr
    return ColumnBatch(data, [f.name for f in schema.features])

