"""Batch files: read a table, predict every row, write it back with the results (DESIGN §7).

The output is the input columns, ``prediction``, one ``probability_<class>`` column per class and
``warnings``; cells a spreadsheet would run as formulas are neutralised.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import FeatureSpec
from predictml_desktop.core.audit import neutralise_cell
from predictml_desktop.core.prediction import running
from predictml_desktop.core.prediction.errors import FieldProblem, InputValidationError
from predictml_desktop.core.prediction.inference import class_key
from predictml_desktop.core.prediction.validation import (
    FALSE_WORDS,
    TRUE_WORDS,
    category_type,
    describe,
    format_number,
    parse_date,
)
from predictml_desktop.core.store import atomic_write_bytes

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.loading import LoadedModel
    from predictml_desktop.core.prediction.registry import ModelRegistry

FRAME_CHUNK_ROWS = 5_000


def _convert_column(spec: FeatureSpec, raw: pd.Series) -> tuple[pd.Series, list[list[str]]]:
    """Vectorised conversion of one input column of a batch file; returns values and per-row warnings."""
    n = len(raw)
    blank = raw.isna() | raw.astype(str).str.strip().eq("")
    warnings_per_row: list[list[str]] = [[] for _ in range(n)]

    def note(mask: np.ndarray, make: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            warnings_per_row[i].append(make(int(i)))

    if spec.kind == "numeric" or (spec.kind == "categorical" and category_type(spec) in ("int", "float")):
        if raw.dtype == bool:
            values = pd.Series(np.full(n, np.nan), index=raw.index)
            bad = np.ones(n, dtype=bool)
        else:
            values = pd.to_numeric(raw.where(~blank), errors="coerce").astype("float64")
            bad = (values.isna() & ~blank).to_numpy()
            inf = ~np.isfinite(values.fillna(0).to_numpy())
            values = values.where(~inf)
            bad = bad | inf
        note(bad, lambda i: f"{spec.name}={describe(raw.iat[i])} is not a number; it is treated as missing.")
        if spec.kind == "numeric":
            arr = values.to_numpy()
            if spec.minimum is not None:
                note(arr < spec.minimum, lambda i: f"{spec.name}={format_number(arr[i])} is below the training range.")
            if spec.maximum is not None:
                note(arr > spec.maximum, lambda i: f"{spec.name}={format_number(arr[i])} is above the training range.")
        else:
            known = {float(c) for c in spec.categories or [] if isinstance(c, (int, float))}
            arr = values.to_numpy()
            if known:
                note(~np.isnan(arr) & ~np.isin(arr, list(known)),
                     lambda i: f"{spec.name}={format_number(arr[i])} was not seen in training.")
            if category_type(spec) == "int" and not values.isna().any():
                return values.astype("int64"), warnings_per_row
    elif spec.kind == "boolean":
        text = raw.astype(str).str.strip().str.casefold()
        truth = text.isin(TRUE_WORDS) | raw.isin([True])
        falsity = text.isin(FALSE_WORDS) | raw.isin([False])
        bad = (~truth & ~falsity & ~blank).to_numpy()
        note(bad, lambda i: f"{spec.name}={describe(raw.iat[i])} is not true or false; it is treated as missing.")
        missing = blank.to_numpy() | bad
        values = pd.Series(np.where(truth, True, False), index=raw.index, dtype=object)
        if missing.any():
            values = values.where(~missing, None)
    elif spec.kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            values = raw if getattr(raw.dt, "tz", None) is None else raw.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            # ISO 8601 in one vectorised pass; the rest one by one with the same rules as a single row.
            values = pd.to_datetime(raw.where(~blank), errors="coerce", format="ISO8601", utc=True)
            values = values.dt.tz_localize(None).astype("datetime64[ns]")
            retry = (values.isna() & ~blank).to_numpy()
            if retry.any():
                values = values.copy()
                for i in np.flatnonzero(retry):
                    parsed = parse_date(str(raw.iat[i]))
                    if parsed is not None:
                        values.iat[i] = parsed
        bad = (values.isna() & ~blank).to_numpy()
        default = parse_date(str(spec.default)) if spec.default is not None else None
        shown = (default or datetime(2000, 1, 1)).date().isoformat()
        note(bad, lambda i: f"{spec.name}={describe(raw.iat[i])} is not a date; the training's median date "
             f"{shown} is used.")
        note(blank.to_numpy(), lambda i: f"{spec.name} is empty; the training's median date "
             f"{shown} is used.")
        # See _Checker._default_date: a chunk whose dates are all missing would make the model fail.
        values = values.fillna(pd.Timestamp(default or datetime(2000, 1, 1)))
    else:
        def as_text(v: Any) -> Any:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return np.nan
            if isinstance(v, float) and v.is_integer():
                return str(int(v))
            return v if isinstance(v, str) else str(v)

        values = raw.map(as_text).astype(object)
        values = values.where(~blank, np.nan)
        if spec.kind == "categorical" and spec.categories:
            known_s = {str(c) for c in spec.categories}
            unseen = (~blank & ~values.isin(known_s)).to_numpy()
            note(unseen, lambda i: f"{spec.name}={describe(values.iat[i])} was not seen in training.")
    missing_not_allowed = blank.to_numpy() & (not spec.nullable) & (spec.kind != "datetime")
    note(missing_not_allowed, lambda i: f"{spec.name} is empty; the model imputes it.")
    return values.reset_index(drop=True), warnings_per_row


def predict_frame(
    model: LoadedModel,
    frame: pd.DataFrame,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    chunk_rows: int = FRAME_CHUNK_ROWS,
) -> pd.DataFrame:
    """Predict every row of a table (a batch file) and return it with the results appended.

    The result holds the input columns, ``prediction``, one ``probability_<class>`` column per class
    (classifiers) and ``warnings``. Values that cannot be read (a word in a number column) are
    treated as missing and reported in ``warnings`` rather than failing the whole file.

    Parameters
    ----------
    model
        From `ModelRegistry.get`.
    frame
        The input table; extra columns are kept in the output and ignored by the model.
    progress
        Called with (fraction done, message) between chunks.
    should_stop
        Checked between chunks; True stops with `InterruptedError`.
    chunk_rows
        Rows per pipeline call.

    Raises
    ------
    InputValidationError
        If feature columns are missing (all are named).
    ModelFailedError
        If the model raises.
    InterruptedError
        If ``should_stop`` returned True.
    """
    missing = [f.name for f in model.schema.features if f.name not in frame.columns]
    if missing:
        raise InputValidationError([FieldProblem(missing[0], f"The file is missing {len(missing)} column(s) the "
                                                 f"model needs: {', '.join(missing)}.", "missing_feature")],
                                   code="MISSING_FEATURE")
    n = len(frame)
    if n == 0:
        raise InputValidationError([FieldProblem("rows", "The file has no rows to predict.", "empty_batch")])
    columns: dict[str, pd.Series] = {}
    row_warnings: list[list[str]] = [[] for _ in range(n)]
    for spec in model.schema.features:
        values, col_warnings = _convert_column(spec, frame[spec.name].reset_index(drop=True))
        columns[spec.name] = values
        for i, ws in enumerate(col_warnings):
            if ws:
                row_warnings[i].extend(ws)
    features = pd.DataFrame(columns, columns=[f.name for f in model.schema.features])
    predictions: list[np.ndarray] = []
    probabilities: list[np.ndarray] = []
    for start in range(0, n, chunk_rows):
        if should_stop is not None and should_stop():
            raise InterruptedError("Prediction stopped.")
        chunk = features.iloc[start:start + chunk_rows]
        preds, probs = running.run_model(model, chunk)
        predictions.append(preds)
        if probs is not None:
            probabilities.append(probs)
        if progress is not None:
            done = min(n, start + chunk_rows)
            progress(done / n, f"Predicted {done:,} of {n:,} rows")
    out = frame.reset_index(drop=True).copy()
    out["prediction"] = np.concatenate(predictions)
    if probabilities:
        probs_all = np.vstack(probabilities)
        for j, label in enumerate(running.class_labels(model, probs_all.shape[1])):
            out["probability_" + class_key(label)[len("class_"):]] = probs_all[:, j]
    out["warnings"] = ["; ".join(ws) for ws in row_warnings]
    return out


def read_input_file(
    path: Path,
    *,
    sheet: str | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Read a batch input file (CSV/TSV/TXT or Excel) with the importer's encoding detection and limits.

    Raises
    ------
    InputValidationError
        If the file cannot be read; the message is the importer's sentence naming file, line and value.
    """
    from predictml_desktop.core.ingest import IngestError, read_table

    try:
        table = read_table(path, sheet=sheet, progress=progress, should_stop=should_stop)
    except IngestError as exc:
        raise InputValidationError([FieldProblem("file", str(exc), exc.code)]) from None
    frame = table.frame
    frame.columns = [str(c) for c in frame.columns]
    return frame


_ILLEGAL_XLSX = {chr(c) for c in range(32)} - {"\t", "\n", "\r"}


def _xlsx_safe(value: Any) -> Any:
    value = neutralise_cell(value)
    if isinstance(value, str) and any(ch in _ILLEGAL_XLSX for ch in value):
        # XLSX cannot store these control characters at all; U+FFFD marks where one was.
        value = "".join("\ufffd" if ch in _ILLEGAL_XLSX else ch for ch in value)
    return value


def write_predictions(frame: pd.DataFrame, path: Path) -> Path:
    """Write a `predict_frame` result to ``path`` (.csv, .tsv, .txt or .xlsx), atomically.

    String cells that start like a formula (``= + - @``, tab, carriage return, NUL) get a leading
    ``'`` so a spreadsheet shows them as text; numbers are written as numbers, untouched.

    Raises
    ------
    InputValidationError
        For an unsupported file type.
    """
    suffix = path.suffix.lower()
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(_xlsx_safe if suffix == ".xlsx" else neutralise_cell)
    safe.columns = [neutralise_cell(str(c)) for c in safe.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".csv", ".txt", ".tsv"):
        data = safe.to_csv(index=False, sep="\t" if suffix == ".tsv" else ",", lineterminator="\r\n")
        atomic_write_bytes(path, data.encode("utf-8-sig"), keep_backup=False)
    elif suffix == ".xlsx":
        import io

        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as writer:
            safe.to_excel(writer, index=False, sheet_name="Predictions")
        atomic_write_bytes(path, buf.getvalue(), keep_backup=False)
    else:
        raise InputValidationError([FieldProblem("output", f"{path.name}: predictions can be written as .csv, "
                                                 ".tsv, .txt or .xlsx.", "file_type")])
    return path


def predict_file(
    registry: ModelRegistry,
    dataset_id: str,
    input_path: Path,
    output_path: Path,
    *,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Read a file, predict every row with the dataset's deployed model, and write the results.

    Raises
    ------
    PredictionError
        Any refusal (not deployed, integrity, unreadable file, missing columns...).
    """
    model = registry.get(dataset_id)
    frame = read_input_file(input_path)
    result = predict_frame(model, frame, progress=progress, should_stop=should_stop)
    return write_predictions(result, output_path)
