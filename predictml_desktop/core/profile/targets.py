"""The problem type of a target (classification or regression) and how likely each column is to be the target."""

from __future__ import annotations

import re

import pandas as pd

from predictml_desktop.core.profile.kinds import (
    _TARGET_NAMES,
    _TARGET_WORDS,
    CLASSIFICATION_MAX_CLASSES,
    UNSUITABLE_TARGET_KINDS,
    ColumnKind,
    ProfileError,
    _Col,
    _is_integral,
    _pct,
    _q,
    _words,
)


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
