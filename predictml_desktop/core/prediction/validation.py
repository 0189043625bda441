"""Input validation against a model's schema: the one set of rules for every way a value reaches a model.

The Predict form and the Python API (`validate_rows` with ``strict=False``), the HTTP service and the
Azure ML scoring program (``strict=True``) and batch files (`validate_table`, cell by cell) all call
the same per-feature checks, so one value gets one verdict on every path. ``strict`` only decides
how a value may be *written* (in JSON a number must be a number, not the string ``"41"``); what is
refused, and why, is the same.

Input policy:

- every feature must be present (all missing ones are named at once); extra keys are ignored and
  listed in ``ignoredColumns`` (MLflow's semantics: clients often send the whole original row);
- a missing value (``null``, an empty cell) is accepted only for a feature that had missing values
  in training (it is imputed; a missing date becomes the training's median date, with a warning);
- numbers must be finite and within ±1e22; ``true``/``false`` is never a number; a whole-number
  feature refuses a fraction; with ``strict=False`` numbers given as text are converted;
- a date that cannot be read is replaced by the training's median date, with a warning (the HTTP
  schema can only say "a string");
- a categorical value not seen in training and a number outside the training range are passed to
  the model (PyCaret's encoders treat an unseen category as unknown) and reported as warnings;
- a text cell may hold at most 32,767 characters (Excel's limit); a request at most 10,000 rows.

A batch file's bad cells refuse their row only (`validate_table` names row and column); the other
rows are predicted. This module is copied into the Azure ML bundle (`core.azure`): it imports only
numpy, pandas and `core.prediction.errors`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.prediction.errors import BatchTooLargeError, FieldProblem, InputValidationError

if TYPE_CHECKING:
    from predictml_desktop.core.input_schema import FeatureSpec, InputSchema

MAX_BATCH_ROWS = 10_000
"""Rows one `predict_rows` call (one HTTP request) may carry; batch files use `predict_frame`."""
MAX_CELL_CHARS = 32_767
CATEGORY_CODE_LIMIT = 1e18
"""Integer category codes beyond ±1e18 are refused (they must fit in int64; 1e18 is exact as a float)."""
NUMBER_LIMIT = 1e22
"""Numbers beyond ±1e22 are refused: no tabular feature is that large, and models overflow on them.
1e22 is the largest power of ten a float holds exactly, so "beyond" means the same for a JSON
integer, a float, and the ``maximum`` of the OpenAPI schema."""

TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}

_MIN_DATE = datetime(1678, 1, 1)
_MAX_DATE = datetime(2261, 12, 31)
"""pandas' nanosecond timestamps cover 1677-09-21 to 2262-04-11; a date outside cannot reach the model."""


def parse_date(text: str) -> datetime | None:
    """Return ``text`` as a naive UTC datetime, or None if it is not a date pandas could hold.

    ISO 8601 is parsed directly (fast); anything else goes through pandas' flexible parser, as the
    training's date conversion did. A time zone is converted to UTC and dropped, as in training.
    """
    value = text.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas warns when it falls back to dateutil
                stamp = pd.to_datetime(value, errors="raise", format="mixed")
        except (ValueError, TypeError, OverflowError):
            return None
        if pd.isna(stamp):
            return None
        parsed = stamp.to_pydatetime()
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if not _MIN_DATE <= parsed <= _MAX_DATE:
        return None
    return parsed


def _category_type(spec: FeatureSpec) -> str:
    cats = [c for c in (spec.categories or []) if c is not None]
    if not cats:
        return "int" if spec.dtype.startswith(("int", "uint")) else "str"
    if all(isinstance(c, bool) for c in cats):
        return "bool"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in cats):
        return "int"
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cats):
        return "float"
    if all(isinstance(c, str) for c in cats):
        return "str"
    return "mixed"


def category_type(spec: FeatureSpec) -> str:
    """Return the JSON type of a categorical feature's values: ``str``, ``int``, ``float``, ``bool`` or ``mixed``."""
    return _category_type(spec)


def format_number(value: float) -> str:
    """Return a number as messages show it (``3``, ``0.25``, ``1.5e+16``)."""
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.6g}"


def describe(value: Any) -> str:
    """Return a value as messages quote it (its repr, cut at 60 characters)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """Validates values of one feature; collects problems and warnings."""

    def __init__(self, spec: FeatureSpec, strict: bool) -> None:
        self.spec = spec
        self.strict = strict
        self.kind = spec.kind
        self.cat_type = _category_type(spec) if spec.kind == "categorical" else ""
        cats = spec.categories or []
        self.known = {(type(c) is str, c) for c in cats if c is not None} if cats else set()
        self.has_categories = bool(cats)

    def check(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        """Return (converted value, warning or None, problem or None)."""
        spec = self.spec
        if value is None or (isinstance(value, float) and math.isnan(value) and not self.strict):
            if spec.nullable:
                if self.kind == "datetime":
                    return self._default_date(where, " is missing")
                return None, None, None
            return None, None, FieldProblem(
                where, f"{where} is required: it had no missing values in training.", "missing_value")
        kind = self.kind
        if kind == "numeric":
            return self._numeric(value, where)
        if kind == "categorical":
            return self._categorical(value, where)
        if kind == "boolean":
            return self._boolean(value, where)
        if kind == "datetime":
            return self._datetime(value, where)
        return self._text(value, where)

    def _numeric(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        spec = self.spec
        if isinstance(value, bool):
            return None, None, FieldProblem(where, f"{where} must be a number, not {str(value).lower()}.", "wrong_type")
        if isinstance(value, str):
            if self.strict:
                return None, None, FieldProblem(where, f"{where} must be a number, not the string {describe(value)}.",
                                                "wrong_type")
            text = value.strip()
            if not text:
                if spec.nullable:
                    return None, None, None
                return None, None, FieldProblem(where, f"{where} is required: it had no missing values in training.",
                                                "missing_value")
            try:
                value = float(text.replace(",", "")) if text.count(",") and "." in text else float(text)
            except ValueError:
                return None, None, FieldProblem(where, f"{where} must be a number, not {describe(value)}.",
                                                "wrong_type")
        if isinstance(value, (np.integer, np.floating)):
            value = value.item()
        if not isinstance(value, (int, float)):
            return None, None, FieldProblem(where, f"{where} must be a number, not {type(value).__name__}.",
                                            "wrong_type")
        if isinstance(value, float) and not math.isfinite(value):
            return None, None, FieldProblem(where, f"{where} must be a finite number, not {value}.", "not_finite")
        # Compared before the conversion: Python compares a big int and a float exactly.
        if abs(value) > NUMBER_LIMIT:
            return None, None, FieldProblem(where, f"{where} is too large a number (beyond ±1e22).", "out_of_bounds")
        number = float(value)
        if spec.integer and not number.is_integer():
            return None, None, FieldProblem(where, f"{where} must be a whole number, not {format_number(number)}.",
                                            "not_integer")
        warning = None
        if spec.minimum is not None and number < spec.minimum:
            warning = (f"{where}={format_number(number)} is below the training range "
                       f"({format_number(spec.minimum)} to {format_number(spec.maximum or spec.minimum)}).")
        elif spec.maximum is not None and number > spec.maximum:
            warning = (f"{where}={format_number(number)} is above the training range "
                       f"({format_number(spec.minimum if spec.minimum is not None else spec.maximum)} to "
                       f"{format_number(spec.maximum)}).")
        return number, warning, None

    def _unseen(self, value: Any, where: str) -> str | None:
        if not self.has_categories:
            return None
        if (type(value) is str, value) in self.known:
            return None
        if not isinstance(value, str) and (False, value) in self.known:
            return None
        return f"{where}={describe(value)} was not seen in training; the model treats it as an unknown category."

    def _categorical(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        ct = self.cat_type
        if isinstance(value, (np.generic,)):
            value = value.item()
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            return None, None, FieldProblem(where, f"{where} has {len(value)} characters; at most "
                                            f"{MAX_CELL_CHARS} are accepted.", "too_long")
        if ct == "str":
            if isinstance(value, str):
                return value, self._unseen(value, where), None
            if self.strict or isinstance(value, bool) or not isinstance(value, (int, float)):
                return None, None, FieldProblem(where, f"{where} must be a string, not {describe(value)}.",
                                                "wrong_type")
            if isinstance(value, float) and not math.isfinite(value):
                return None, None, FieldProblem(where, f"{where} must be a string, not {value}.", "wrong_type")
            text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            return text, self._unseen(text, where), None
        if ct in ("int", "float"):
            if isinstance(value, str) and not self.strict:
                try:
                    num = float(value.strip())
                except ValueError:
                    return None, None, FieldProblem(where, f"{where} must be a number, not {describe(value)}.",
                                                    "wrong_type")
                value = int(num) if num.is_integer() and ct == "int" else num
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None, None, FieldProblem(where, f"{where} must be a number, not {describe(value)}.",
                                                "wrong_type")
            if isinstance(value, float):
                if not math.isfinite(value):
                    return None, None, FieldProblem(where, f"{where} must be a finite number, not {value}.",
                                                    "not_finite")
                if ct == "int":
                    if not value.is_integer():
                        return None, None, FieldProblem(where, f"{where} must be a whole number, not "
                                                        f"{format_number(value)}.", "not_integer")
                    value = int(value)
            if abs(value) > CATEGORY_CODE_LIMIT:
                return None, None, FieldProblem(where, f"{where} is too large a number (beyond ±1e18).",
                                                "out_of_bounds")
            return value, self._unseen(value, where), None
        if ct == "bool":
            return self._boolean(value, where)
        # mixed: strings and numbers both accepted as they are
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None, None, FieldProblem(where, f"{where} must be a string or a number, not {describe(value)}.",
                                            "wrong_type")
        if isinstance(value, float) and not math.isfinite(value):
            return None, None, FieldProblem(where, f"{where} must be a finite number, not {value}.", "not_finite")
        return value, self._unseen(value, where), None

    def _boolean(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        if isinstance(value, (bool, np.bool_)):
            return bool(value), None, None
        if not self.strict:
            if isinstance(value, str) and value.strip().casefold() in TRUE_WORDS | FALSE_WORDS:
                return value.strip().casefold() in TRUE_WORDS, None, None
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value), None, None
        return None, None, FieldProblem(where, f"{where} must be true or false, not {describe(value)}.",
                                        "wrong_type")

    def _datetime(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        if isinstance(value, str):
            if len(value) > MAX_CELL_CHARS:
                return None, None, FieldProblem(where, f"{where} is too long to be a date.", "too_long")
            parsed = parse_date(value)
            if parsed is None:
                # On every path alike: the HTTP schema can only say "string" (a client may send any
                # string), so a string that is not a date is replaced, with a warning, not refused.
                return self._default_date(where, f"={describe(value)} is not a date")
            return parsed, None, None
        if not self.strict and isinstance(value, (datetime, date)):
            parsed = parse_date(value.isoformat())
            if parsed is not None:
                return parsed, None, None
        return None, None, FieldProblem(where, f"{where} must be a date string, not {describe(value)}.",
                                        "wrong_type")

    def _default_date(self, where: str, why: str) -> tuple[Any, str | None, FieldProblem | None]:
        # PyCaret's date-feature step drops the year/month/day columns of a batch whose dates are
        # all missing, and the model then fails on the missing columns: a missing date is replaced
        # by the training's median date instead, with a warning.
        default = parse_date(str(self.spec.default)) if self.spec.default is not None else None
        if default is None:
            default = datetime(2000, 1, 1)
        return default, f"{where}{why}; the training's median date {default.date().isoformat()} is used.", None

    def _text(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        if isinstance(value, str):
            if len(value) > MAX_CELL_CHARS:
                return None, None, FieldProblem(where, f"{where} has {len(value)} characters; at most "
                                                f"{MAX_CELL_CHARS} are accepted.", "too_long")
            return value, None, None
        if not self.strict and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value), None, None
        return None, None, FieldProblem(where, f"{where} must be a string, not {describe(value)}.", "wrong_type")


@dataclass
class ValidatedRows:
    """Rows converted to the model's feature types, with warnings per row."""

    rows: list[dict[str, Any]]
    warnings: list[list[str]]
    ignored_columns: list[str]


def _check_row_count(count: int, max_rows: int) -> None:
    if count == 0:
        raise InputValidationError([FieldProblem("inputData", "inputData holds no rows; send at least one.",
                                                 "empty_batch")])
    if count > max_rows:
        raise BatchTooLargeError(
            f"inputData has {count} rows; at most {max_rows} are accepted per request.",
            details={"rows": count, "limit": max_rows},
        )


def validate_rows(
    schema: InputSchema,
    rows: Sequence[Mapping[str, Any]],
    *,
    strict: bool = False,
    max_rows: int = MAX_BATCH_ROWS,
    single: bool = False,
) -> ValidatedRows:
    """Check rows against the schema and convert their values (see the module's input policy).

    Parameters
    ----------
    schema
        The model's input schema.
    rows
        One mapping per row.
    strict
        Refuse numbers given as strings and similar conversions (the HTTP API).
    max_rows
        More rows raise `BatchTooLargeError`.
    single
        Name fields ``age`` rather than ``inputData[0].age`` in messages (one-row requests).

    Raises
    ------
    InputValidationError
        Naming every missing feature of the first incomplete row, or the bad values (up to 100).
    BatchTooLargeError
        Over ``max_rows``.
    """
    _check_row_count(len(rows), max_rows)
    checkers = [(f.name, _Checker(f, strict)) for f in schema.features]
    names = {f.name for f in schema.features}
    problems: list[FieldProblem] = []
    out_rows: list[dict[str, Any]] = []
    out_warnings: list[list[str]] = []
    ignored: dict[str, None] = {}
    for i, row in enumerate(rows):
        prefix = "" if single else f"inputData[{i}]."
        if not isinstance(row, Mapping):
            problems.append(FieldProblem(prefix.rstrip(".") or "inputData",
                                         f"{prefix.rstrip('.') or 'inputData'} must be an object of feature values.",
                                         "wrong_type"))
            continue
        missing = [n for n, _ in checkers if n not in row]
        if missing:
            problems.append(FieldProblem(
                prefix + missing[0],
                f"{'Row ' + str(i) + ' is' if not single else 'The input is'} missing "
                f"{len(missing)} feature(s): {', '.join(missing)}.", "missing_feature"))
            if len(problems) >= 100:
                break
            continue
        for key in row:
            if key not in names:
                ignored.setdefault(str(key), None)
        converted: dict[str, Any] = {}
        row_warnings: list[str] = []
        for name, checker in checkers:
            value, warning, problem = checker.check(row[name], prefix + name)
            if problem is not None:
                problems.append(problem)
            else:
                converted[name] = value
                if warning:
                    row_warnings.append(warning)
        out_rows.append(converted)
        out_warnings.append(row_warnings)
        if len(problems) >= 100:
            break
    if problems:
        code = "MISSING_FEATURE" if problems[0].code == "missing_feature" else None
        raise InputValidationError(problems, code=code)
    return ValidatedRows(out_rows, out_warnings, list(ignored))




def validate_input(
    schema: InputSchema,
    input_data: Any,
    *,
    strict: bool = False,
    max_rows: int = MAX_BATCH_ROWS,
) -> ValidatedRows:
    """Validate a request's ``inputData``: one row (a mapping) or a batch (a list of mappings).

    Messages name ``age`` for one row and ``inputData[3].age`` in a batch.

    Raises
    ------
    InputValidationError
        If it is neither, or a row is invalid (see `validate_rows`).
    BatchTooLargeError
        Over ``max_rows``.
    """
    single = isinstance(input_data, Mapping)
    batch = [input_data] if single else input_data
    if isinstance(input_data, (str, bytes)) or not isinstance(batch, Sequence):
        raise InputValidationError([FieldProblem("inputData", "inputData must be an object or a list of objects.",
                                                 "wrong_type")])
    return validate_rows(schema, batch, strict=strict, max_rows=max_rows, single=single)

# --------------------------------------------------------------------------- tables (batch files)


@dataclass
class CellProblem:
    """A refused cell of a table: its row (0-based), column, value and the sentence saying why."""

    row: int
    column: str
    value: Any
    message: str


@dataclass
class ValidatedTable:
    """A table's cells checked column by column: the accepted rows' values, warnings and the refused cells."""

    columns: dict[str, list[Any]]
    """Per feature, the converted value of every row (None where missing or refused)."""
    warnings: list[list[str]]
    """Per row, the warnings of its cells (unseen category, outside the training range...)."""
    problems: list[CellProblem]
    """Every refused cell, in row order then feature order."""

    @property
    def refused_rows(self) -> list[int]:
        """The rows with at least one refused cell, in order (0-based)."""
        return sorted({p.row for p in self.problems})


def _is_missing(value: Any) -> bool:
    # A missing cell is missing whatever pandas made of it (NaN, None, NaT, pd.NA).
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _plain_numbers(checker: _Checker, raw: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """For a numeric column of a numeric feature: the values and a mask of the cells needing no check.

    A cell is "plain" when the per-value check would accept it unchanged (as a float, or an int code)
    and give no warning; every other cell goes through `_Checker.check`. None when the column is not
    a plain numeric column (the checker then sees every distinct value).
    """
    spec = checker.spec
    numeric_feature = spec.kind == "numeric" or (spec.kind == "categorical" and checker.cat_type in ("int", "float"))
    if not numeric_feature or raw.dtype == bool or not pd.api.types.is_numeric_dtype(raw.dtype):
        return None
    values = raw.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        plain = np.isfinite(values)
        if spec.kind == "numeric":
            plain &= np.abs(values) <= NUMBER_LIMIT
            if spec.integer:
                plain &= values == np.floor(values)
            if spec.minimum is not None:
                plain &= values >= spec.minimum
            if spec.maximum is not None:
                plain &= values <= spec.maximum
        else:
            # Codes beyond 2**53 are not exact as floats: the checker compares them as the ints they are.
            plain &= np.abs(values) <= 2.0**53
            if checker.cat_type == "int":
                plain &= values == np.floor(values)
            if checker.has_categories:
                known = [float(c) for _, c in checker.known if isinstance(c, (int, float)) and not isinstance(c, bool)]
                plain &= np.isin(values, known)
    return values, plain


def validate_column(spec: FeatureSpec, raw: pd.Series) -> tuple[list[Any], dict[int, str], dict[int, FieldProblem]]:
    """Check every cell of one column of a table with the rules of `validate_rows` (``strict=False``).

    Parameters
    ----------
    spec
        The feature the column feeds.
    raw
        The column as read from the file (any dtype), indexed 0..n-1.

    Returns
    -------
    tuple
        (the converted value of each row, None where missing or refused; the warning of each row
        that has one; the problem of each refused row). Messages name the column (``age must be a
        number, not 'abc'.``).
    """
    checker = _Checker(spec, strict=False)
    n = len(raw)
    warnings_by_row: dict[int, str] = {}
    problems: dict[int, FieldProblem] = {}
    plain = _plain_numbers(checker, raw)
    if plain is not None:
        numbers, mask = plain
        if spec.kind == "numeric":
            values: list[Any] = numbers.tolist()
        elif pd.api.types.is_integer_dtype(raw.dtype):
            values = raw.tolist()  # category codes stay the ints they are, as the checker keeps them
        elif checker.cat_type == "int":
            values = [int(v) if ok else None for v, ok in zip(numbers.tolist(), mask.tolist(), strict=True)]
        else:
            values = numbers.tolist()
        rest = np.flatnonzero(~mask).tolist()
    else:
        values = [None] * n
        rest = range(n)
    # Each distinct value is checked once: a column of a few categories costs a few checks.
    seen: dict[tuple[type, Any], tuple[Any, str | None, FieldProblem | None]] = {}
    cells = raw.to_numpy(dtype=object)
    for i in rest:
        cell = cells[i]
        if _is_missing(cell):
            cell = None
        # By type and, for floats, by repr: 0.0 and -0.0 (equal as keys) are quoted and kept as they are.
        key = (type(cell), repr(cell) if isinstance(cell, float) else cell)
        try:
            verdict = seen.get(key)
        except TypeError:  # an unhashable cell (never from a file reader): checked on its own
            verdict, key = None, None  # type: ignore[assignment]
        if verdict is None:
            verdict = checker.check(cell, spec.name)
            if key is not None:
                seen[key] = verdict
        value, warning, problem = verdict
        values[i] = value
        if problem is not None:
            problems[i] = problem
        elif warning:
            warnings_by_row[i] = warning
    return values, warnings_by_row, problems


def validate_table(schema: InputSchema, frame: pd.DataFrame) -> ValidatedTable:
    """Check every cell of a table (a batch file) against the schema, column by column.

    A refused cell refuses its row only; the other rows are predicted. Extra columns are ignored.

    Raises
    ------
    InputValidationError
        If feature columns are missing (all are named) or the table has no rows.
    """
    missing = [f.name for f in schema.features if f.name not in frame.columns]
    if missing:
        raise InputValidationError([FieldProblem(missing[0], f"The file is missing {len(missing)} column(s) the "
                                                 f"model needs: {', '.join(missing)}.", "missing_feature")],
                                   code="MISSING_FEATURE")
    n = len(frame)
    if n == 0:
        raise InputValidationError([FieldProblem("rows", "The file has no rows to predict.", "empty_batch")])
    columns: dict[str, list[Any]] = {}
    row_warnings: list[list[str]] = [[] for _ in range(n)]
    problems: list[CellProblem] = []
    for spec in schema.features:
        raw = frame[spec.name].reset_index(drop=True)
        values, col_warnings, col_problems = validate_column(spec, raw)
        columns[spec.name] = values
        for i, warning in col_warnings.items():
            row_warnings[i].append(warning)
        problems += [CellProblem(i, spec.name, raw.iat[i], p.message) for i, p in col_problems.items()]
    problems.sort(key=lambda p: p.row)  # stable: feature order within a row
    return ValidatedTable(columns, row_warnings, problems)
