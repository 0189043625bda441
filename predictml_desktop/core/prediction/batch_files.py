"""Batch files: read a table, predict every valid row, write it back with the results (DESIGN §7).

The output is the input columns, ``prediction``, one ``probability_<class>`` column per class,
``warnings`` and ``error``; cells a spreadsheet would run as formulas are neutralised. Each cell is
checked with the rules every request follows (`core.prediction.validation`): a bad cell refuses its
row, which keeps empty answers and says why in ``error``; the error report beside the output lists
every bad cell by row and column (`write_error_report`). The other rows are predicted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.audit import neutralise_cell
from predictml_desktop.core.prediction import running
from predictml_desktop.core.prediction.answers import class_key
from predictml_desktop.core.prediction.errors import FieldProblem, InputValidationError
from predictml_desktop.core.prediction.frames import column_array, frame_dtypes
from predictml_desktop.core.prediction.validation import CellProblem, ValidatedTable, validate_table
from predictml_desktop.core.store import atomic_write_bytes

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.loading import LoadedModel
    from predictml_desktop.core.prediction.registry import ModelRegistry

FRAME_CHUNK_ROWS = 5_000


@dataclass
class ScoredTable:
    """A batch file's rows with their predictions, and the cells that refused their row."""

    frame: pd.DataFrame
    """The input columns, ``prediction``, ``probability_<class>`` per class, ``warnings`` and ``error``
    (empty for predicted rows; for a refused row, why, naming each bad cell's column and value)."""
    problems: list[CellProblem] = field(default_factory=list)
    """Every refused cell, in row order (the error report's lines)."""

    @property
    def refused(self) -> int:
        """How many rows were refused (not predicted)."""
        return len({p.row for p in self.problems})


def predict_table(
    model: LoadedModel,
    frame: pd.DataFrame,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    chunk_rows: int = FRAME_CHUNK_ROWS,
) -> ScoredTable:
    """Predict every row of a table (a batch file) whose cells are valid; report the others.

    Every cell is checked with the same rules as a request (`core.prediction.validation`): a cell
    a request would refuse (a word in a number column, a missing value where training had none)
    refuses its row, which is reported in ``error`` and `ScoredTable.problems`; the other rows are
    predicted.

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
        If feature columns are missing (all are named), or the table has no rows.
    ModelFailedError
        If the model raises.
    InterruptedError
        If ``should_stop`` returned True.
    """
    schema = model.schema
    checked = validate_table(schema, frame)
    n = len(frame)
    refused = checked.refused_rows
    good = np.ones(n, dtype=bool)
    good[refused] = False
    keep = np.flatnonzero(good).tolist()
    dtypes = frame_dtypes(schema)
    features = pd.DataFrame(
        {f.name: column_array(dtypes[f.name], [checked.columns[f.name][i] for i in keep]) for f in schema.features},
        columns=[f.name for f in schema.features],
    )
    predictions: list[np.ndarray] = []
    probabilities: list[np.ndarray] = []
    total = len(keep)
    for start in range(0, total, chunk_rows):
        if should_stop is not None and should_stop():
            raise InterruptedError("Prediction stopped.")
        preds, probs = running.run_model(model, features.iloc[start:start + chunk_rows])
        predictions.append(preds)
        if probs is not None:
            probabilities.append(probs)
        if progress is not None:
            done = min(total, start + chunk_rows)
            progress(done / total, f"Predicted {done:,} of {total:,} rows")
    return ScoredTable(_output(model, frame, good, predictions, probabilities, checked), checked.problems)


def _output(model: LoadedModel, frame: pd.DataFrame, good: np.ndarray, predictions: list[np.ndarray],
            probabilities: list[np.ndarray], checked: ValidatedTable) -> pd.DataFrame:
    """Return the input table with the answers appended; refused rows get empty answers and their ``error``."""
    out = frame.reset_index(drop=True).copy()
    everything = good.all()

    def spread(values: np.ndarray) -> Any:
        if everything:
            return values
        # Refused rows get an empty cell; the column keeps the answers' values otherwise.
        column = np.full(len(good), None, dtype=object)
        column[good] = values.tolist()
        return column

    out["prediction"] = spread(np.concatenate(predictions) if predictions else np.array([], dtype=object))
    if probabilities:
        probs_all = np.vstack(probabilities)
        for j, label in enumerate(running.class_labels(model, probs_all.shape[1])):
            out["probability_" + class_key(label)[len("class_"):]] = spread(probs_all[:, j])
    elif not predictions and running.wants_probabilities(model):
        for label in model.classes:
            out["probability_" + class_key(label)[len("class_"):]] = spread(np.array([], dtype=object))
    out["warnings"] = ["; ".join(ws) for ws in checked.warnings]
    errors = [""] * len(good)
    for problem in checked.problems:
        errors[problem.row] = f"{errors[problem.row]} {problem.message}".strip()
    out["error"] = errors
    return out


def predict_frame(
    model: LoadedModel,
    frame: pd.DataFrame,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    chunk_rows: int = FRAME_CHUNK_ROWS,
) -> pd.DataFrame:
    """Return `predict_table`'s output table (the error report's lines aside).

    Raises
    ------
    InputValidationError, ModelFailedError, InterruptedError
        As `predict_table`.
    """
    return predict_table(model, frame, progress, should_stop, chunk_rows=chunk_rows).frame


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


ERROR_REPORT_SUFFIX = ".errors.csv"


def error_report_path(output_path: Path) -> Path:
    """Return where the error report of ``output_path`` goes: beside it, ``<name>.errors.csv``."""
    return output_path.with_name(output_path.stem + ERROR_REPORT_SUFFIX)


def write_error_report(problems: list[CellProblem], output_path: Path) -> Path | None:
    """Write the refused cells next to the predictions (`error_report_path`); return its path, or None.

    One line per refused cell: ``row`` (the row's number among the file's data rows, the first row
    under the header being 1), ``column``, ``value`` and ``error``. With no refused cell, a report left
    by an earlier run of the same output is removed, so a report never describes other predictions.
    """
    path = error_report_path(output_path)
    if not problems:
        path.unlink(missing_ok=True)
        return None
    report = pd.DataFrame({
        "row": [p.row + 1 for p in problems],
        "column": [p.column for p in problems],
        "value": [None if p.value is None or (isinstance(p.value, float) and math.isnan(p.value)) else str(p.value)
                  for p in problems],
        "error": [p.message for p in problems],
    })
    return write_predictions(report, path)


@dataclass
class WrittenBatch:
    """What `predict_file` wrote."""

    path: Path
    rows: int
    """Rows in the input file."""
    refused: int
    """Rows not predicted because of a bad cell (listed in ``report``)."""
    report: Path | None
    """The error report (`write_error_report`), or None when every row was predicted."""


def predict_file(
    registry: ModelRegistry,
    dataset_id: str,
    input_path: Path,
    output_path: Path,
    *,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> WrittenBatch:
    """Read a file, predict every valid row with the dataset's deployed model, write the results and the errors.

    Raises
    ------
    PredictionError
        Any refusal (not deployed, integrity, unreadable file, missing columns...).
    """
    model = registry.get(dataset_id)
    frame = read_input_file(input_path)
    scored = predict_table(model, frame, progress=progress, should_stop=should_stop)
    path = write_predictions(scored.frame, output_path)
    report = write_error_report(scored.problems, output_path)
    return WrittenBatch(path, len(scored.frame), scored.refused, report)
