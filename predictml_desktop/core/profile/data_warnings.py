"""Data warnings: duplicate rows, suspected target leakage, a rare or missing target class, and the like.

The leakage check works on a sample (`LEAKAGE_SAMPLE_ROWS`): a column that predicts the target
almost perfectly on its own is named, with the evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.profile.kinds import (
    KIND_LABELS,
    LEAKAGE_SAMPLE_ROWS,
    MINORITY_SHARE,
    SMALL_CLASS_ROWS,
    UNSUITABLE_TARGET_KINDS,
    ColumnKind,
    _analyse,
    _Col,
    _pct,
    _q,
)
from predictml_desktop.core.profile.targets import _problem_type


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


def _leakage(frame: pd.DataFrame, cols: dict[str, _Col], target: str, problem: str,
             trained: bool = False) -> list[dict[str, Any]]:
    """Features that alone predict the target almost perfectly on held-out rows.

    ``trained``: the warnings are about a job that trains on the columns (worded so), not a profile.
    """
    present = frame[target].notna().to_numpy()
    rows = np.flatnonzero(present)
    if len(rows) < 20:
        return []
    if len(rows) > LEAKAGE_SAMPLE_ROWS:
        # The rows DataFrame.sample(n, random_state=0) picks, taken without first copying every
        # present row (a full copy of a million-row table cost seconds).
        rows = rows[np.random.RandomState(0).choice(len(rows), size=LEAKAGE_SAMPLE_ROWS, replace=False)]
        data = frame.take(rows)
    elif len(rows) < len(frame):
        data = frame.take(rows)
    else:
        data = frame
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
                    found.append(_leak(name, target, f"a correlation of {r:.3f}", trained))
                    continue
        codes = _codes(series, col, bins)
        n_codes = int(codes.max()) + 1
        if problem == "classification":
            table = np.bincount(codes[train] * k + t_codes[train], minlength=n_codes * k).reshape(n_codes, k)
            seen = table.sum(axis=1) > 0
            majority = np.where(seen, table.argmax(axis=1), baseline_class)
            accuracy = float(np.mean(majority[codes[test]] == t_codes[test]))
            if accuracy >= 0.98 and (1 - accuracy) <= 0.1 * (1 - baseline):
                found.append(_leak(name, target, f"{accuracy:.1%} accuracy on held-out rows", trained))
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
                found.append(_leak(name, target, f"R² {r2:.3f} on held-out rows", trained))
    return found


def _leak_warning(column: str, target: str, evidence: str) -> dict[str, Any]:
    return _warning(
        "leakage",
        f"Column {_q(column)} alone predicts the target {_q(target)} almost perfectly ({evidence}); it may be "
        "derived from the target or recorded after the outcome, so it is left out of the features. Include it "
        "again only if its value will be known when predicting.",
        column,
    )


def _leak(column: str, target: str, evidence: str, trained: bool) -> dict[str, Any]:
    if not trained:
        return _leak_warning(column, target, evidence)
    return _warning("leakage", _trained_leak_message(column, target, evidence), column)


def _trained_leak_message(column: str, target: str, evidence: str) -> str:
    return (f"Column {_q(column)} alone predicts the target {_q(target)} almost perfectly ({evidence}); it may be "
            f"derived from the target or recorded after the outcome, and this job trains on it. Exclude "
            f"{_q(column)} and train again, unless its value will be known when predicting.")


def feature_warnings(frame: pd.DataFrame, target: str, features: list[str],
                     problem_type: str | None = None) -> list[dict[str, Any]]:
    """Return the leakage, identifier, constant and empty-column warnings of one training job.

    Unlike the dataset's profile (made for the suggested or first chosen target, over every column),
    these are for the job's own target and only the columns it trains on: a column the job excludes
    raises no warning, one it includes does.

    Parameters
    ----------
    frame
        The dataset as read.
    target
        The job's target column.
    features
        The columns the job gives the engine (every column but the target and the excluded ones).
    problem_type
        ``classification`` or ``regression``; None detects it from the target.

    Returns
    -------
    list of dict
        ``code`` (``leakage``, ``id_like``, ``constant``, ``empty_column``), ``message`` and ``column``.
    """
    names = [str(c) for c in frame.columns]
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis(names, axis=1)
    if target not in names:
        return []
    used = [c for c in dict.fromkeys(features) if c in names and c != target]
    n_rows = len(frame)
    cols: dict[str, _Col] = {name: _analyse(name, frame[name], n_rows) for name in [*used, target]}
    out: list[dict[str, Any]] = []
    for name in used:
        kind = cols[name].kind
        if kind == ColumnKind.ID:
            out.append(_warning("id_like", f"Column {_q(name)} looks like an identifier (every value is different); "
                                           "the engine leaves it out of the features.", name))
        elif kind == ColumnKind.CONSTANT:
            out.append(_warning("constant", f"Column {_q(name)} has the same value in every row; the engine leaves "
                                            "it out of the features.", name))
        elif kind == ColumnKind.EMPTY:
            out.append(_warning("empty_column", f"Column {_q(name)} has no values; the engine leaves it out of the "
                                                "features.", name))
    present = frame[target].dropna()
    if present.empty or cols[target].kind in UNSUITABLE_TARGET_KINDS:
        return out
    problem = problem_type if problem_type in ("classification", "regression") else _problem_type(present)[0]
    out.extend(_leakage(frame[[*used, target]], cols, target, problem, trained=True))
    return out


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
