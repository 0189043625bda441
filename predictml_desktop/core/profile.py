"""Profile a table: column kinds, data warnings, target suggestion and problem type.

Everything here works on the loaded DataFrame with vectorised pandas/numpy operations, sampling
where an exact figure is not needed (the leakage check, date detection), so that profiling stays a
fraction of the time it took to read the file.

Public entry points: `profile_frame`, `problem_type_for`, `ColumnKind`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
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


@dataclass
class Profile:
    """The profile of a table.

    Attributes
    ----------
    columns
        One dict per column: ``name``, ``kind`` (a `ColumnKind` value), ``missingShare`` (0–1),
        ``unique`` (distinct non-missing values), ``summary`` (numeric statistics, top categories
        or date range).
    warnings
        Dicts with ``code``, ``message`` (one sentence) and ``column`` (or None).
    target_candidates
        Ranked dicts with ``column``, ``score`` and ``reason`` (human-readable).
    suggested_target
        The best candidate, or None when no column can be a target.
    problem_type, problem_type_reason
        ``classification``/``regression`` for the given target (or the suggestion), and why.
    excluded_columns
        Columns left out of the features by default (ID-like, constant, empty).
    rows
        Number of rows profiled.
    """

    columns: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    target_candidates: list[dict[str, Any]]
    suggested_target: str | None
    problem_type: str | None
    problem_type_reason: str
    excluded_columns: list[str]
    rows: int = 0
    kinds: dict[str, str] = field(default_factory=dict, repr=False)
    target: str | None = None
    """The target the problem type and target warnings were computed for (given, else suggested)."""

    def column(self, name: str) -> dict[str, Any]:
        """Return the profile dict of one column.

        Raises
        ------
        KeyError
            If there is no such column.
        """
        for col in self.columns:
            if col["name"] == name:
                return col
        raise KeyError(name)


# --------------------------------------------------------------------------- small helpers


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


# --------------------------------------------------------------------------- column kinds


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


def _analyse_numeric(name: str, series: pd.Series, missing: int, present: int) -> _Col:
    values = series.to_numpy()
    if values.dtype.kind == "f":
        values = values[~np.isnan(values)]
    unique = int(pd.unique(values).size)
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


# --------------------------------------------------------------------------- problem type


def problem_type_for(frame: pd.DataFrame, target: str) -> tuple[str, str]:
    """Return ``(problem_type, reason)`` for predicting ``target`` from ``frame``.

    Parameters
    ----------
    frame
        The table.
    target
        The target column.

    Returns
    -------
    tuple of str
        ``"classification"`` or ``"regression"``, and a sentence saying why.

    Raises
    ------
    ProfileError
        If ``target`` is not a column or has no values.
    """
    if target not in frame.columns:
        raise ProfileError(f"{_q(target)} is not a column of the table.")
    series = frame[target].dropna()
    if series.empty:
        raise ProfileError(f"The target {_q(target)} has no values.")
    return _problem_type(series)


def _problem_type(series: pd.Series) -> tuple[str, str]:
    k = int(series.nunique())
    if pd.api.types.is_bool_dtype(series.dtype):
        return "classification", "the target holds yes/no values (2 classes)"
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy()
        if k <= 2:
            return "classification", f"the target has only {k} distinct values, treated as classes"
        if _is_integral(values) and k <= CLASSIFICATION_MAX_CLASSES:
            return "classification", f"the target holds whole numbers with only {k} distinct values, treated as classes"
        if _is_integral(values):
            return "regression", f"the target holds whole numbers with {k:,} distinct values, treated as a quantity"
        return "regression", f"the target holds continuous numbers ({k:,} distinct values)"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "regression", "the target holds dates, which can only be predicted as a quantity"
    return "classification", f"the target holds labels ({k:,} classes)"


# --------------------------------------------------------------------------- target candidates


def _candidate(col: _Col, position: int, n_cols: int, n_rows: int) -> tuple[float, str] | None:
    if col.kind in UNSUITABLE_TARGET_KINDS:
        return None
    score = 0.0
    reasons: list[str] = []
    lower = re.sub(r"[^0-9a-z]", "", col.name.lower())
    words = _words(col.name)
    if lower in _TARGET_NAMES:
        score += 3.0
        reasons.append(f"its name {_q(col.name)} is typical of a target")
    else:
        hit = next((w for w in words if w in _TARGET_WORDS), None)
        if hit:
            score += 2.0
            reasons.append(f"its name contains {hit!r}, typical of a target")
    if position == n_cols - 1 and n_cols > 1:
        score += 1.0
        reasons.append("it is the last column")
    if col.kind == ColumnKind.BOOLEAN:
        score += 1.0
        reasons.append("it has 2 values (a yes/no outcome)")
    elif col.kind in {ColumnKind.CATEGORICAL, ColumnKind.INTEGER_CATEGORICAL}:
        if col.unique <= CLASSIFICATION_MAX_CLASSES:
            score += 0.7
            reasons.append(f"it has {col.unique} classes")
        elif col.unique > 50:
            score -= 1.0
            reasons.append(f"it has many categories ({col.unique:,}), which makes a hard target")
    elif col.kind == ColumnKind.NUMERIC:
        score += 0.4
        reasons.append("it holds numbers (a quantity to predict)")
    missing_share = col.missing / n_rows if n_rows else 0.0
    if missing_share > 0.2:
        score -= 1.0
        reasons.append(f"{_pct(missing_share)} of its values are missing")
    reason = "; ".join(reasons) if reasons else "it could be predicted from the other columns"
    return round(score, 2), reason[:1].upper() + reason[1:] + "."


# --------------------------------------------------------------------------- warnings


def _warning(code: str, message: str, column: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "column": column}


def _row_hashes(frame: pd.DataFrame) -> pd.Series:
    try:
        return pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (never from read_table; possible from callers' frames)
        return pd.util.hash_pandas_object(frame.astype(str), index=False)


def _duplicate_rows(frame: pd.DataFrame, unique_counts: dict[str, int]) -> int:
    """Count rows that repeat an earlier row exactly.

    Two rows can only be equal if they agree on the most varied columns, so those few are hashed
    first; the full rows are hashed only for the (usually zero) candidates that collide there.
    """
    if frame.shape[1] == 0 or len(frame) < 2:
        return 0
    names = [str(c) for c in frame.columns]
    # Numbers hash much faster than text, so among similarly varied columns numbers go first.
    numeric = {i for i, dtype in enumerate(frame.dtypes) if dtype.kind in "biufcmM"}
    varied = sorted(range(len(names)), key=lambda i: (-min(unique_counts.get(names[i], 0), len(frame) // 2),
                                                      i not in numeric))[:3]
    partial = _row_hashes(frame.iloc[:, varied])
    candidates = partial.duplicated(keep=False).to_numpy()
    if not candidates.any():
        return 0
    return int(_row_hashes(frame[candidates]).duplicated().sum())


def _codes(series: pd.Series, col: _Col, bins: int) -> np.ndarray:
    """Integer codes of a feature's values: categories as they are, numbers in quantile bins."""
    if col.kind == ColumnKind.NUMERIC and col.unique > bins:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1))) if finite.size else np.array([0.0])
        codes = np.searchsorted(edges[1:-1], values, side="right")
        codes[~np.isfinite(values)] = len(edges)
        return codes.astype(np.int64)
    codes, _ = pd.factorize(series, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    codes[codes < 0] = codes.max() + 1 if codes.size else 0
    return codes


def _leakage(frame: pd.DataFrame, cols: dict[str, _Col], target: str, problem: str) -> list[dict[str, Any]]:
    """Features that alone predict the target almost perfectly on held-out rows."""
    data = frame[frame[target].notna()]
    if len(data) < 20:
        return []
    if len(data) > LEAKAGE_SAMPLE_ROWS:
        data = data.sample(LEAKAGE_SAMPLE_ROWS, random_state=0)
    rng = np.random.default_rng(0)
    train = rng.random(len(data)) < 0.5
    test = ~train
    if train.sum() < 10 or test.sum() < 10:
        return []
    found: list[dict[str, Any]] = []
    # Fine enough that a feature which is the target behind a threshold loses under 1% in the one
    # bin straddling the threshold, coarse enough that each bin still has ~10 training rows.
    bins = max(20, min(100, int(train.sum()) // 10))
    y = data[target]
    if problem == "classification":
        t_codes, _ = pd.factorize(y)
        k = int(t_codes.max()) + 1
        baseline_class = int(np.bincount(t_codes[train], minlength=k).argmax())
        baseline = float(np.mean(t_codes[test] == baseline_class))
        if baseline >= 0.99:
            return []
    else:
        yv = y.to_numpy(dtype=np.float64, na_value=np.nan)
        var = float(np.var(yv[test]))
        if var == 0 or not np.isfinite(var):
            return []
    for name, col in cols.items():
        if name == target or col.kind in UNSUITABLE_TARGET_KINDS:
            continue
        series = data[name]
        if problem == "regression" and col.kind == ColumnKind.NUMERIC:
            xv = series.to_numpy(dtype=np.float64, na_value=np.nan)
            ok = np.isfinite(xv) & np.isfinite(yv)
            if ok.sum() >= 10 and np.std(xv[ok]) > 0:
                r = float(np.corrcoef(xv[ok], yv[ok])[0, 1])
                if abs(r) >= 0.99:
                    found.append(_leak_warning(name, target, f"a correlation of {r:.3f}"))
                    continue
        codes = _codes(series, col, bins)
        n_codes = int(codes.max()) + 1
        if problem == "classification":
            table = np.bincount(codes[train] * k + t_codes[train], minlength=n_codes * k).reshape(n_codes, k)
            seen = table.sum(axis=1) > 0
            majority = np.where(seen, table.argmax(axis=1), baseline_class)
            accuracy = float(np.mean(majority[codes[test]] == t_codes[test]))
            if accuracy >= 0.98 and (1 - accuracy) <= 0.1 * (1 - baseline):
                found.append(_leak_warning(name, target, f"{accuracy:.1%} accuracy on held-out rows"))
        else:
            ok = np.isfinite(yv)
            tr, te = train & ok, test & ok
            sums = np.bincount(codes[tr], weights=yv[tr], minlength=n_codes)
            counts = np.bincount(codes[tr], minlength=n_codes)
            means = np.where(counts > 0, sums / np.maximum(counts, 1), float(np.mean(yv[tr])))
            pred = means[codes[te]]
            resid = float(np.mean((yv[te] - pred) ** 2))
            r2 = 1 - resid / float(np.var(yv[te])) if np.var(yv[te]) > 0 else 0.0
            if r2 >= 0.98:
                found.append(_leak_warning(name, target, f"R² {r2:.3f} on held-out rows"))
    return found


def _leak_warning(column: str, target: str, evidence: str) -> dict[str, Any]:
    return _warning(
        "leakage",
        f"Column {_q(column)} alone predicts the target {_q(target)} almost perfectly ({evidence}); it may be "
        "derived from the target or recorded after the outcome. Exclude it unless it will be known when "
        "predicting.",
        column,
    )


def _target_warnings(frame: pd.DataFrame, cols: dict[str, _Col], target: str,
                     problem: str) -> list[dict[str, Any]]:
    col = cols[target]
    out: list[dict[str, Any]] = []
    n = len(frame)
    if col.kind in UNSUITABLE_TARGET_KINDS:
        kind = KIND_LABELS[col.kind]
        out.append(_warning(
            "target_unsuitable",
            f"The target {_q(target)} looks like a {kind} column, which a model cannot learn to predict; "
            "choose another target.",
            target,
        ))
        if col.kind in {ColumnKind.EMPTY, ColumnKind.CONSTANT}:
            return out
    if col.missing:
        out.append(_warning(
            "target_missing",
            f"{col.missing:,} rows ({_pct(col.missing / n)}) have no value in the target {_q(target)}; "
            "they will be left out of training.",
            target,
        ))
    if problem == "classification":
        counts = frame[target].value_counts(dropna=True)
        total = int(counts.sum())
        if total and len(counts) >= 2:
            smallest_value, smallest = counts.index[-1], int(counts.iloc[-1])
            share = smallest / total
            if share < MINORITY_SHARE:
                out.append(_warning(
                    "minority_class",
                    f"The class {_q(smallest_value)} of the target {_q(target)} has only {_pct(share)} of the rows; "
                    "models may mostly ignore it, so judge them by AUC, F1 or recall rather than accuracy.",
                    target,
                ))
            small = counts[counts < SMALL_CLASS_ROWS]
            if len(small):
                listed = ", ".join(f"{_q(v)} ({int(c)})" for v, c in small.head(5).items())
                more = f" and {len(small) - 5} more" if len(small) > 5 else ""
                out.append(_warning(
                    "small_classes",
                    f"{len(small)} class{'es' if len(small) > 1 else ''} of the target {_q(target)} "
                    f"{'have' if len(small) > 1 else 'has'} fewer than {SMALL_CLASS_ROWS} rows: {listed}{more}; "
                    "cross-validation needs more examples of each class (collect more rows or merge rare classes).",
                    target,
                ))
    if col.kind not in UNSUITABLE_TARGET_KINDS:
        out.extend(_leakage(frame, cols, target, problem))
    return out


# --------------------------------------------------------------------------- entry point


def profile_frame(frame: pd.DataFrame, *, target: str | None = None) -> Profile:
    """Profile a table: each column's kind and summary, warnings, target suggestion, problem type.

    Parameters
    ----------
    frame
        The table, as `core.ingest.read_table` returns it.
    target
        The chosen target. When None the best candidate is used for the problem type and the
        target-related warnings (leakage, minority class, classes with few rows).

    Returns
    -------
    Profile
        Everything the upload wizard and the dataset record show.

    Raises
    ------
    ProfileError
        If ``target`` is not a column of ``frame``.
    """
    if target is not None and target not in frame.columns:
        raise ProfileError(f"{_q(target)} is not a column of the table.")
    n_rows = len(frame)
    names = [str(c) for c in frame.columns]
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis(names, axis=1)
    cols: dict[str, _Col] = {}
    for name, label in zip(names, frame.columns, strict=True):
        cols[name] = _analyse(name, frame[label], n_rows)

    warnings_out: list[dict[str, Any]] = []
    excluded: list[str] = []
    for name, col in cols.items():
        if col.kind == ColumnKind.ID:
            excluded.append(name)
            warnings_out.append(_warning(
                "id_like",
                f"Column {_q(name)} looks like an identifier (every value is different); it is left out of "
                "the features.",
                name,
            ))
        elif col.kind == ColumnKind.CONSTANT:
            excluded.append(name)
            warnings_out.append(_warning(
                "constant", f"Column {_q(name)} has the same value in every row; it is left out of the features.",
                name,
            ))
        elif col.kind == ColumnKind.EMPTY:
            excluded.append(name)
            warnings_out.append(_warning(
                "empty_column", f"Column {_q(name)} has no values; it is left out of the features.", name,
            ))
        elif n_rows and col.missing / n_rows > HIGH_MISSING_SHARE:
            warnings_out.append(_warning(
                "high_missing",
                f"Column {_q(name)} is missing {_pct(col.missing / n_rows)} of its values; consider leaving it out.",
                name,
            ))
    dupes = _duplicate_rows(frame, {name: col.unique for name, col in cols.items()})
    if dupes:
        warnings_out.append(_warning(
            "duplicate_rows",
            f"{dupes:,} row{'s are exact duplicates' if dupes > 1 else ' is an exact duplicate'} of other rows "
            f"({_pct(dupes / n_rows)}); duplicates can make the model look better than it is.",
        ))

    scored = []
    for position, name in enumerate(names):
        result = _candidate(cols[name], position, len(names), n_rows)
        if result is not None:
            scored.append((result[0], -position, name, result[1]))
    scored.sort(reverse=True)
    candidates: list[dict[str, Any]] = [
        {"column": name, "score": score, "reason": reason} for score, _, name, reason in scored
    ]
    suggested: str | None = scored[0][2] if scored else None

    effective = target if target is not None else suggested
    problem: str | None = None
    reason = ""
    if effective is not None:
        present = frame[frame.columns[names.index(effective)]].dropna()
        if not present.empty:
            problem, reason = _problem_type(present)
            reason = reason[:1].upper() + reason[1:] + "."
            warnings_out.extend(_target_warnings(frame, cols, effective, problem))
        else:
            warnings_out.extend(_target_warnings(frame, cols, effective, "classification"))
    if effective in excluded:
        excluded.remove(effective)

    columns = [
        {
            "name": name,
            "kind": str(col.kind),
            "missingShare": round(col.missing / n_rows, 4) if n_rows else 0.0,
            "unique": col.unique,
            "summary": col.summary,
        }
        for name, col in cols.items()
    ]
    return Profile(
        columns=columns,
        warnings=warnings_out,
        target_candidates=candidates,
        suggested_target=suggested,
        problem_type=problem,
        problem_type_reason=reason,
        excluded_columns=excluded,
        rows=n_rows,
        kinds={name: str(col.kind) for name, col in cols.items()},
        target=effective,
    )
