"""Writing batch outputs: CSV/TSV/TXT, XLSX and Parquet, a chunk at a time, and the error report.

Each writer puts its file in place only on `_Output.commit` (temp file + rename), so a refusal,
failure or cancel half-way leaves no partial output. Cells a spreadsheet would run as formulas are
neutralised. Used by `batch_files` (streamed prediction) and `batch_explain` (contribution files).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from predictml_desktop.core.audit import neutralise_cell
from predictml_desktop.core.prediction.errors import FieldProblem, InputValidationError
from predictml_desktop.core.prediction.validation import CellProblem
from predictml_desktop.core.store import atomic_write_bytes

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
    return write_predictions(_report_frame(problems), path)


SPREADSHEET_MAX_ROWS = 1_048_576
"""Rows of an Excel worksheet, the header row included."""


OUTPUT_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")


def _output_problem(path: Path, message: str, code: str) -> InputValidationError:
    return InputValidationError([FieldProblem("output", message, code)])


def check_output_path(path: Path) -> str:
    """Return the output's file type (its lower-case suffix), or refuse a type predictions cannot be written as.

    Raises
    ------
    InputValidationError
        For any other suffix.
    """
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise _output_problem(path, f"{path.name}: predictions can be written as .csv, .tsv, .txt, .xlsx or "
                                    ".parquet.", "file_type")
    return suffix


def check_fits_a_spreadsheet(input_path: Path, output_path: Path, rows: int | None) -> None:
    """Refuse an .xlsx output for an input with more rows than a worksheet holds, before any work.

    Raises
    ------
    InputValidationError
        When ``rows`` (the input's data rows, None when unknown) exceed what a worksheet holds.
    """
    limit = SPREADSHEET_MAX_ROWS - 1
    if output_path.suffix.lower() == ".xlsx" and rows is not None and rows > limit:
        raise _output_problem(
            output_path,
            f"{input_path.name} has {rows:,} rows, more than an Excel worksheet holds ({limit:,} below its header "
            f"row); write the predictions as .csv or .parquet instead.",
            "too_many_rows_for_excel",
        )


class _Output:
    """An output file written a chunk at a time into a temporary file beside it, put in place by `commit`.

    A failure or a cancel (`discard`) leaves no partial file, and an earlier output of the same name
    untouched.
    """

    def __init__(self, path: Path) -> None:
        import secrets

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows (the first call also writes the header)."""
        raise NotImplementedError

    def _close(self) -> None:
        """Finish and close the temporary file."""

    def commit(self) -> Path:
        """Close the file and move it into place; return its path."""
        self._close()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Close and remove the temporary file (after a failure or a cancel)."""
        with contextlib.suppress(Exception):
            self._close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def _neutralised(frame: pd.DataFrame, cell: Callable[[Any], Any]) -> pd.DataFrame:
    """Return ``frame`` with formula-like text cells made inert (``cell`` applied only where needed)."""
    safe = frame.copy(deep=False)
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        if values.dtype != object:
            continue
        # Most cells need nothing: look at each distinct value once (a hash pass, not a Python call
        # per cell; a column of categories has a handful), then fix only the cells holding a risky one.
        distinct = pd.unique(values.to_numpy(dtype=object))
        risky_values = [v for v in distinct if isinstance(v, str) and cell(v) is not v]
        if not risky_values:
            continue
        risky = values.isin(risky_values).to_numpy(dtype=bool)
        if risky.any():
            fixed = values.to_numpy(dtype=object, copy=True)
            fixed[risky] = [cell(v) for v in fixed[risky]]
            safe.isetitem(position, fixed)
    safe.columns = [neutralise_cell(str(c)) for c in frame.columns]
    return safe


class _CsvOutput(_Output):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        # UTF-8 with a byte-order mark: Excel then opens the accents right.
        self._fh = open(self.tmp, "x", encoding="utf-8-sig", newline="")
        self._sep = "\t" if path.suffix.lower() == ".tsv" else ","

    def write(self, frame: pd.DataFrame) -> None:
        _neutralised(frame, neutralise_cell).to_csv(self._fh, header=self.rows == 0, index=False, sep=self._sep,
                                                    lineterminator="\r\n")
        self.rows += len(frame)

    def _close(self) -> None:
        self._fh.close()


class _XlsxOutput(_Output):
    def __init__(self, path: Path, input_name: str) -> None:
        super().__init__(path)
        from openpyxl import Workbook

        # Write-only: rows go to a temporary file as they are appended, never all in memory.
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet("Predictions")
        self._input_name = input_name
        self._saved = False

    def write(self, frame: pd.DataFrame) -> None:
        limit = SPREADSHEET_MAX_ROWS - 1
        if self.rows + len(frame) > limit:
            raise _output_problem(
                self.path,
                f"{self._input_name} has more than {limit:,} rows, more than an Excel worksheet holds below its "
                "header row; write the predictions as .csv or .parquet instead.",
                "too_many_rows_for_excel",
            )
        safe = _neutralised(frame, _xlsx_safe)
        if self.rows == 0:
            self._sheet.append(list(safe.columns))
        for row in safe.itertuples(index=False, name=None):
            self._sheet.append([None if _missing(v) else v for v in row])
        self.rows += len(frame)

    def _close(self) -> None:
        if not self._saved:
            self._saved = True
            if self.rows == 0:
                return
            self._book.save(self.tmp)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


class _ParquetOutput(_Output):
    """Parquet keeps each column's type: the first chunk's types are the file's.

    Cells are kept exactly (no formula neutralising: Parquet is a data format, not opened as a sheet).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._writer: Any = None
        self._schema: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._schema is None:
            self._schema = pa.schema([pa.field(str(c), _arrow_type(frame.iloc[:, i]))
                                      for i, c in enumerate(frame.columns)])
            self._writer = pq.ParquetWriter(self.tmp, self._schema)
        arrays = []
        for i, field_ in enumerate(self._schema):
            values = frame.iloc[:, i]
            try:
                arrays.append(_to_arrow(values, field_.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                raise _output_problem(
                    self.path,
                    f"Column {field_.name!r} holds {field_.type} values in its first rows and other values further "
                    f"down (rows {self.rows + 1:,} to {self.rows + len(frame):,}); a Parquet file keeps one type per "
                    "column: write the predictions as .csv, or make the column consistent.",
                    "column_type",
                ) from None
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        self.rows += len(frame)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _arrow_type(values: pd.Series) -> Any:
    import pyarrow as pa

    kind = values.dtype.kind
    if kind == "f":
        return pa.float64()
    if kind in "iu":
        return pa.int64()
    if kind == "b":
        return pa.bool_()
    if kind == "M":
        return pa.array(values.iloc[:1]).type
    try:
        inferred = pa.array(values, from_pandas=True).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.string()  # mixed text and numbers: kept as text
    if pa.types.is_null(inferred) or pa.types.is_large_string(inferred):
        return pa.string()
    return pa.float64() if pa.types.is_integer(inferred) and values.map(type).eq(float).any() else inferred


def _to_arrow(values: pd.Series, type_: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_string(type_) and values.dtype == object:
        missing = values.isna().to_numpy()
        text = [v if isinstance(v, str) else str(v) for v in values.to_numpy(dtype=object)]
        return pa.array(text, type=type_, mask=missing)
    if pa.types.is_string(type_):
        return pa.array(values.astype(str).where(values.notna(), None), type=type_, from_pandas=True)
    return pa.array(values, type=type_, from_pandas=True)


def _open_output(path: Path, input_name: str) -> _Output:
    suffix = check_output_path(path)
    if suffix == ".xlsx":
        return _XlsxOutput(path, input_name)
    if suffix == ".parquet":
        return _ParquetOutput(path)
    return _CsvOutput(path)


class _ErrorReport:
    """The error report (`write_error_report`'s lines), written a chunk at a time; kept only if a cell was refused."""

    def __init__(self, output_path: Path) -> None:
        self.path = error_report_path(output_path)
        self._out: _CsvOutput | None = None

    def write(self, problems: list[CellProblem], offset: int) -> None:
        if not problems:
            return
        if self._out is None:
            self._out = _CsvOutput(self.path)
        self._out.write(_report_frame(problems, offset))

    def commit(self) -> Path | None:
        if self._out is None:
            self.path.unlink(missing_ok=True)  # a report left by an earlier run describes other predictions
            return None
        return self._out.commit()

    def discard(self) -> None:
        if self._out is not None:
            self._out.discard()


def _report_frame(problems: list[CellProblem], offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "row": [offset + p.row + 1 for p in problems],
        "column": [p.column for p in problems],
        "value": [None if p.value is None or (isinstance(p.value, float) and math.isnan(p.value)) else str(p.value)
                  for p in problems],
        "error": [p.message for p in problems],
    })
