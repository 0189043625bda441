"""Column kinds (`ColumnKind`): what each column of a table is, found from its values, with its summary."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd


class ColumnKind(StrEnum):
    """What a column holds, as far as training is concerned."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    INTEGER_CATEGORICAL = "integer_categorical"
    """Whole numbers with few distinct values (codes such as 1–5): treated as categories."""
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    """Free text: long or many-worded values, nearly all different."""
    ID = "id"
    """An identifier: every value different; carries no signal, excluded from features."""
    CONSTANT = "constant"
    EMPTY = "empty"


KIND_LABELS: dict[str, str] = {
    ColumnKind.NUMERIC: "number",
    ColumnKind.CATEGORICAL: "category",
    ColumnKind.INTEGER_CATEGORICAL: "category (coded as numbers)",
    ColumnKind.BOOLEAN: "yes/no",
    ColumnKind.DATETIME: "date/time",
    ColumnKind.TEXT: "free text",
    ColumnKind.ID: "identifier",
    ColumnKind.CONSTANT: "constant",
    ColumnKind.EMPTY: "empty",
}


"""Short human labels of each kind, for the UI and the CLI."""


UNSUITABLE_TARGET_KINDS = frozenset(
    {ColumnKind.ID, ColumnKind.CONSTANT, ColumnKind.EMPTY, ColumnKind.TEXT, ColumnKind.DATETIME}
)


INTEGER_CATEGORY_MAX = 10


"""Whole-number columns with at most this many distinct values are treated as coded categories."""


CLASSIFICATION_MAX_CLASSES = 20


"""A whole-number target with at most this many distinct values is a classification target."""


HIGH_MISSING_SHARE = 0.5


MINORITY_SHARE = 0.10


SMALL_CLASS_ROWS = 10


LEAKAGE_SAMPLE_ROWS = 10_000


"""Rows (a random sample) used by the leakage check; a near-perfect predictor shows on far fewer."""


QUANTILE_SAMPLE_ROWS = 20_000


"""Quartiles of larger columns come from an evenly spaced sample (exact min, max, mean, std)."""


TOP_VALUES = 5


# Names that usually denote what is to be predicted; a whole-name match counts more than a word.
_TARGET_NAMES = (
    "target", "label", "labels", "class", "classes", "outcome", "y", "churn", "churned", "purchased",
    "purchase", "default", "defaulted", "survived", "price", "saleprice", "response", "result", "fraud",
    "isfraud", "diagnosis", "species", "quality", "converted", "conversion", "clicked", "subscribed",
    "approved", "readmitted", "attrition", "exited", "left", "bought", "category", "grade", "score",
    "output", "medv", "prognosis", "status", "sales", "revenue", "cost", "charges", "salary", "rating",
    "cancelled", "canceled", "spam", "sentiment", "disease", "goal", "win", "won",
)


_TARGET_WORDS = frozenset(_TARGET_NAMES) - {"y", "left", "status", "category", "score", "cost", "rating",
                                             "result", "win", "won", "goal", "output"}


_ID_WORDS = frozenset({"id", "ids", "uuid", "guid", "key", "index", "idx", "rowid", "row", "number", "no", "nr",
                       "identifier", "code", "ref", "reference", "account", "serial"})


_BOOL_TOKENS = frozenset({"true", "false", "yes", "no", "y", "n", "t", "f", "0", "1", "on", "off"})


_DATE_RE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm])?)?(Z|[+-]\d{2}:?\d{2})?\s*$"
)


class ProfileError(ValueError):
    """A target that cannot be used (missing column, no values); the message says why."""


def _json_number(value: Any) -> float | int | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return round(f, 6)


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _json_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]


def _q(name: object) -> str:
    text = str(name)
    return repr(text if len(text) <= 40 else text[:39] + "…")


def _pct(share: float) -> str:
    pct = share * 100
    return f"{pct:.0f}%" if pct >= 10 or pct == 0 else f"{pct:.1f}%"


@dataclass
class _Col:
    name: str
    kind: ColumnKind
    missing: int
    unique: int
    summary: dict[str, Any]
    integral: bool = False


def _is_integral(values: np.ndarray) -> bool:
    if values.dtype.kind in "iu":
        return True
    if values.dtype.kind != "f":
        return False
    # Most float columns hold fractions within their first values: no pass over every row then.
    head = values[:1000]
    head = head[np.isfinite(head)]
    if head.size and not np.all(head == np.floor(head)):
        return False
    finite = values[np.isfinite(values)]
    return bool(finite.size) and bool(np.all(finite == np.floor(finite)))


def _numeric_summary(values: np.ndarray) -> dict[str, Any]:
    v = values.astype(np.float64, copy=False)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {}
    step = max(1, v.size // QUANTILE_SAMPLE_ROWS)
    q1, median, q3 = np.percentile(v[::step], [25, 50, 75])
    return {
        "min": _json_number(v.min()),
        "max": _json_number(v.max()),
        "mean": _json_number(v.mean()),
        "std": _json_number(v.std(ddof=1) if v.size > 1 else 0.0),
        "median": _json_number(median),
        "q1": _json_number(q1),
        "q3": _json_number(q3),
    }


def _top_values(series: pd.Series, present: int, counts: pd.Series | None = None) -> list[dict[str, Any]]:
    if counts is None:
        counts = series.value_counts(dropna=True, sort=True)
    counts = counts.head(TOP_VALUES)
    return [
        {"value": _json_value(v), "count": int(c), "share": round(int(c) / present, 4) if present else 0.0}
        for v, c in counts.items()
    ]


def _looks_like_dates(sample: pd.Series) -> bool:
    strings = [v for v in sample if isinstance(v, str)]
    if len(strings) < max(1, int(0.95 * len(sample))):
        return False
    matches = sum(bool(_DATE_RE.match(v)) for v in strings)
    if matches < 0.95 * len(strings):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(pd.Series(strings), errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _parse_dates(values: pd.Series, sample: pd.Series) -> pd.Series:
    """Parse a date column with the format guessed from its sample (fast), else value by value."""
    # Public as pandas.tseries.api.guess_datetime_format from pandas 2.2; 2.1 (pinned) has it here.
    from pandas._libs.tslibs.parsing import guess_datetime_format

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        formats = {guess_datetime_format(str(v)) for v in sample.iloc[:20]}
        if len(formats) == 1 and None not in formats:
            return pd.to_datetime(values, errors="coerce", format=formats.pop())
        return pd.to_datetime(values, errors="coerce", format="mixed")


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def _date_range(values: pd.Series, sample: pd.Series) -> dict[str, Any] | None:
    """Return the min and max of a column's distinct values as dates, or None if they are not dates.

    ISO 8601 text sorts like the dates it names, so when every value has that shape the range
    comes from string comparison; other formats are parsed.
    """
    if all(_ISO_DATE.match(v) for v in sample if isinstance(v, str)):
        matches = values.astype(str).str.fullmatch(_ISO_DATE)
        if matches.all():
            lo, hi = str(values.min()), str(values.max())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bounds = pd.to_datetime(pd.Series([lo, hi]), errors="coerce", format="ISO8601")
            if bounds.notna().all():
                return {"min": _json_value(bounds.iloc[0]), "max": _json_value(bounds.iloc[1])}
    parsed = _parse_dates(values, sample)
    if parsed.notna().mean() < 0.95:
        return None
    return {"min": _json_value(parsed.min()), "max": _json_value(parsed.max())}


def _analyse(name: str, series: pd.Series, n_rows: int) -> _Col:
    na = series.isna().to_numpy()
    missing = int(na.sum())
    present = n_rows - missing
    if present == 0:
        return _Col(name, ColumnKind.EMPTY, missing, 0, {})
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        unique = int(series.nunique(dropna=True))
        kind = ColumnKind.CONSTANT if unique == 1 else ColumnKind.BOOLEAN
        return _Col(name, kind, missing, unique, {"top": _top_values(series, present)})
    if pd.api.types.is_datetime64_any_dtype(dtype):
        unique = int(series.nunique(dropna=True))
        kind = ColumnKind.CONSTANT if unique == 1 else ColumnKind.DATETIME
        return _Col(name, kind, missing, unique,
                    {"min": _json_value(series.min()), "max": _json_value(series.max())})
    if pd.api.types.is_numeric_dtype(dtype):
        return _analyse_numeric(name, series, missing, present)
    return _analyse_object(name, series, na, missing, present)


def _count_distinct(values: np.ndarray) -> int:
    """Return how many distinct values a numeric array without NaN holds.

    Sorting and counting the changes is 5-8x faster than hashing (``pd.unique``) on a million
    distinct floats, whose hash table outgrows the CPU caches. Equality is ``==`` as for hashing:
    -0.0 and 0.0 are one value.
    """
    if values.size == 0:
        return 0
    if values.dtype.kind not in "iuf":
        return int(pd.unique(values).size)
    ordered = np.sort(values)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


def _analyse_numeric(name: str, series: pd.Series, missing: int, present: int) -> _Col:
    values = series.to_numpy()
    if values.dtype.kind == "f":
        values = values[~np.isnan(values)]
    unique = _count_distinct(values)
    integral = _is_integral(values)
    summary = _numeric_summary(values)
    if unique == 1:
        return _Col(name, ColumnKind.CONSTANT, missing, unique, summary, integral)
    if unique == 2 and integral and set(np.unique(values).tolist()) <= {0, 1}:
        summary["top"] = _top_values(series, present)
        return _Col(name, ColumnKind.BOOLEAN, missing, unique, summary, integral)
    if integral and unique == present and present >= 20:
        words = set(_words(name))
        lo, hi = float(values.min()), float(values.max())
        dense = hi - lo + 1 == unique  # 1..n in any order: a row number or a sequential key
        if dense or words & _ID_WORDS:
            return _Col(name, ColumnKind.ID, missing, unique, summary, integral)
    if integral and unique <= INTEGER_CATEGORY_MAX and present >= 2 * unique:
        summary["top"] = _top_values(series, present)
        return _Col(name, ColumnKind.INTEGER_CATEGORICAL, missing, unique, summary, integral)
    return _Col(name, ColumnKind.NUMERIC, missing, unique, summary, integral)


def _analyse_object(name: str, series: pd.Series, na: np.ndarray, missing: int, present: int) -> _Col:
    nonnull = series[~na] if missing else series
    # One hashing pass gives both the distinct count and the top values (NAs already removed).
    counts = nonnull.value_counts(sort=True, dropna=False)
    unique = len(counts)
    sample = nonnull.iloc[:: max(1, len(nonnull) // 1000)].iloc[:1000]
    if unique == 1:
        return _Col(name, ColumnKind.CONSTANT, missing, unique, {"top": _top_values(series, present, counts)})
    if unique == 2:
        tokens = {str(v).strip().lower() for v in counts.index}
        if tokens <= _BOOL_TOKENS:
            return _Col(name, ColumnKind.BOOLEAN, missing, unique, {"top": _top_values(series, present, counts)})
    if _looks_like_dates(sample.iloc[:200]):
        # Distinct values are enough for the range, and far fewer than rows.
        date_range = _date_range(pd.Series(counts.index, dtype=object), sample)
        if date_range is not None:
            return _Col(name, ColumnKind.DATETIME, missing, unique, date_range)
    text = sample.astype(str)
    mean_len = float(text.str.len().mean()) if len(text) else 0.0
    mean_words = float(text.str.count(r"\s+").mean()) + 1 if len(text) else 0.0
    ratio = unique / present
    is_texty = mean_len > 30 or mean_words >= 4
    if ratio >= 0.999 and present >= 20:
        if is_texty:
            return _Col(name, ColumnKind.TEXT, missing, unique, {"meanLength": round(mean_len, 1)})
        return _Col(name, ColumnKind.ID, missing, unique, {"examples": [str(v) for v in sample.iloc[:3]]})
    if ratio > 0.5 and present >= 50 and (mean_len > 20 or mean_words >= 3):
        return _Col(name, ColumnKind.TEXT, missing, unique, {"meanLength": round(mean_len, 1)})
    if ratio > 0.9 and present >= 20 and set(_words(name)) & _ID_WORDS:
        return _Col(name, ColumnKind.ID, missing, unique, {"examples": [str(v) for v in sample.iloc[:3]]})
    return _Col(name, ColumnKind.CATEGORICAL, missing, unique, {"top": _top_values(series, present, counts)})
