"""Batch files: read a table, predict every valid row, write it back with the results (DESIGN §7).

A file is streamed (`predict_file`, `stream_predictions`): read, checked, predicted and written a
chunk of rows at a time, so a million-row file needs the memory of one chunk; the output is CSV,
TSV, TXT, XLSX (within a worksheet's 1,048,576 rows) or Parquet.

The output is the input columns, ``prediction``, one ``probability_<class>`` column per class,
``warnings`` and ``error``; cells a spreadsheet would run as formulas are neutralised. Each cell is
checked with the rules every request follows (`core.prediction.validation`): a bad cell refuses its
row, which keeps empty answers and says why in ``error``; the error report beside the output lists
every bad cell by row and column (`write_error_report`). The other rows are predicted.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.prediction import running
from predictml_desktop.core.prediction.answers import class_key
from predictml_desktop.core.prediction.batch_explain import BatchExplainer
from predictml_desktop.core.prediction.batch_outputs import (
    _ErrorReport,
    _open_output,
    _Output,
    check_fits_a_spreadsheet,
    check_output_path,
)
from predictml_desktop.core.prediction.errors import FieldProblem, InputValidationError
from predictml_desktop.core.prediction.frames import column_array, frame_dtypes
from predictml_desktop.core.prediction.validation import CellProblem, ValidatedTable, validate_table

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.loading import LoadedModel
    from predictml_desktop.core.prediction.registry import ModelRegistry
    from predictml_desktop.core.settings import Limits

FRAME_CHUNK_ROWS = 5_000


@dataclass
class ScoredTable:
    """A batch file's rows with their predictions, and the cells that refused their row."""

    frame: pd.DataFrame
    """The input columns, ``prediction``, ``probability_<class>`` per class, ``warnings`` and ``error``
    (empty for predicted rows; for a refused row, why, naming each bad cell's column and value)."""
    problems: list[CellProblem] = field(default_factory=list)
    """Every refused cell, in row order (the error report's lines)."""
    features: pd.DataFrame | None = None
    """The predicted rows' validated feature columns (for explanations)."""
    good: np.ndarray | None = None
    """Which rows of ``frame`` were predicted."""

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
    return ScoredTable(_output(model, frame, good, predictions, probabilities, checked), checked.problems,
                       features, good)


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


STREAM_CHUNK_ROWS = 50_000
"""Rows read, checked, predicted and written at a time by `predict_file`."""


PREVIEW_ROWS = 200
"""Rows of the written output `predict_file` keeps to show (the first ones)."""


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
    warned: int = 0
    """Rows predicted with a warning (an unseen category, a value outside the training range...)."""
    preview: pd.DataFrame | None = None
    """The output's first `PREVIEW_ROWS` rows, as written."""
    contributions: Path | None = None
    """With ``explain``: the contribution matrix's file (the output itself for .xlsx: its second sheet)."""


def predict_file(
    registry: ModelRegistry,
    dataset_id: str,
    input_path: Path,
    output_path: Path,
    *,
    sheet: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    chunk_rows: int | None = None,
    explain: bool = False,
) -> WrittenBatch:
    """Predict every valid row of a file with the dataset's deployed model, streamed (`stream_predictions`).

    Raises
    ------
    PredictionError
        Any refusal (not deployed, integrity, unreadable file, missing columns...).
    InterruptedError
        If ``should_stop`` returned True.
    """
    model = registry.get(dataset_id)
    return stream_predictions(model, input_path, output_path, sheet=sheet, progress=progress,
                              should_stop=should_stop, chunk_rows=chunk_rows, explain=explain)


def stream_predictions(
    model: LoadedModel,
    input_path: Path,
    output_path: Path,
    *,
    sheet: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    chunk_rows: int | None = None,
    limits: Limits | None = None,
    explain: bool = False,
) -> WrittenBatch:
    """Read a file a chunk at a time, predict each chunk's valid rows, and write each chunk out at once.

    Memory stays bounded by the chunk, whatever the file's length: one chunk of rows is read
    (`core.ingest.iter_table_chunks`), checked and predicted (`predict_table`) and appended to the
    output (CSV/TSV/TXT, XLSX or Parquet, by ``output_path``'s suffix) and to the error report, then
    dropped. Work done per chunk belongs in `_predict_chunks`, beside `predict_table`. The output
    and the report are written to temporary files and put in place only when the whole file is done:
    a refusal half-way, a failure or a cancel leaves no partial output (and an earlier file of the
    same name as it was). An .xlsx output of an input with more rows than a worksheet holds is
    refused before any work when the row count is known up front (Parquet; text without quotes),
    else when the chunk that passes the limit is reached.

    Parameters
    ----------
    model
        From `ModelRegistry.get`.
    input_path, output_path
        The rows to predict, and where the result goes.
    sheet
        For a workbook input, the worksheet.
    progress
        Called with (fraction of the input read, message) after each chunk.
    should_stop
        Checked between chunks; True stops with `InterruptedError`.
    chunk_rows
        Rows per chunk (default `STREAM_CHUNK_ROWS`).
    limits
        Import limits for the input (default: the user's settings).
    explain
        Add the top three reasons per row and write the contributions (`core.prediction.batch_explain`).

    Returns
    -------
    WrittenBatch
        Where the output went, the row counts, the error report, and the output's first rows.

    Raises
    ------
    InputValidationError
        If the input is refused (the importer's sentence naming file, line and value), lacks the
        model's columns, or the output type cannot hold the result.
    ModelFailedError
        If the model raises.
    InterruptedError
        If ``should_stop`` returned True.
    """
    check_output_path(output_path)
    stop = should_stop or (lambda: False)
    read_fraction = [0.0]
    chunks, out = _open_stream(input_path, output_path, sheet, limits, chunk_rows, stop, read_fraction)
    report = _ErrorReport(output_path)
    explainer = BatchExplainer(model, out, output_path) if explain else None
    try:
        rows, refused, warned, preview = _predict_chunks(model, chunks, out, report, explainer, stop, progress,
                                                         read_fraction, input_path.name)
        if rows == 0:
            raise InputValidationError([FieldProblem("rows", "The file has no rows to predict.", "empty_batch")])
        path = out.commit()
        report_path = report.commit()
        contributions = explainer.commit() if explainer is not None else None
    except BaseException:
        out.discard()
        report.discard()
        if explainer is not None:
            explainer.discard()
        raise
    finally:
        chunks.close()
    return WrittenBatch(path, rows, refused, report_path, warned=warned, preview=preview, contributions=contributions)


def _open_stream(
    input_path: Path, output_path: Path, sheet: str | None, limits: Limits | None, chunk_rows: int | None,
    stop: Callable[[], bool], read_fraction: list[float],
) -> tuple[Generator[pd.DataFrame, None, None], _Output]:
    """Start reading ``input_path`` a chunk at a time and open the output; importer refusals as sentences."""
    from predictml_desktop.core.ingest import IngestCancelled, IngestError, count_rows, iter_table_chunks

    try:
        if output_path.suffix.lower() == ".xlsx":
            check_fits_a_spreadsheet(input_path, output_path, count_rows(input_path, limits=limits))
        chunks = iter_table_chunks(input_path, sheet=sheet, limits=limits,
                                   chunk_rows=chunk_rows or STREAM_CHUNK_ROWS,
                                   progress=lambda f: read_fraction.__setitem__(0, f), should_stop=stop)
        return chunks, _open_output(output_path, input_path.name)
    except IngestCancelled:
        raise InterruptedError("Prediction stopped.") from None
    except IngestError as exc:
        raise InputValidationError([FieldProblem("file", str(exc), exc.code)]) from None


def _next_chunk(chunks: Generator[pd.DataFrame, None, None]) -> pd.DataFrame | None:
    from predictml_desktop.core.ingest import IngestCancelled, IngestError

    try:
        return next(chunks, None)
    except IngestCancelled:
        raise InterruptedError("Prediction stopped.") from None
    except IngestError as exc:
        raise InputValidationError([FieldProblem("file", str(exc), exc.code)]) from None


def _predict_chunks(
    model: LoadedModel, chunks: Generator[pd.DataFrame, None, None], out: _Output, report: _ErrorReport,
    explainer: BatchExplainer | None, stop: Callable[[], bool], progress: Callable[[float, str], None] | None,
    read_fraction: list[float], input_name: str,
) -> tuple[int, int, int, pd.DataFrame | None]:
    """Predict and write each chunk in turn; the rows read, refused and warned about, and the first rows out."""
    rows = refused = warned = 0
    preview: pd.DataFrame | None = None
    while True:
        if stop():
            raise InterruptedError("Prediction stopped.")
        chunk = _next_chunk(chunks)
        if chunk is None:
            return rows, refused, warned, preview
        chunk.columns = [str(c) for c in chunk.columns]
        # One chunk: check its cells, predict its valid rows, build its output rows.
        scored = predict_table(model, chunk, chunk_rows=FRAME_CHUNK_ROWS)
        if explainer is not None:
            explainer.add(scored, rows)
        out.write(scored.frame)
        report.write(scored.problems, rows)
        if preview is None:
            preview = scored.frame.head(PREVIEW_ROWS).copy()
        rows += len(chunk)
        refused += scored.refused
        warned += int((scored.frame["warnings"] != "").sum())
        del chunk, scored
        if progress is not None:
            progress(read_fraction[0], f"Predicted {rows:,} rows of {input_name}")
