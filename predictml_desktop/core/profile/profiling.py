"""`profile_frame`: a table's `Profile` (column kinds, warnings, target suggestion, problem type)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from predictml_desktop.core.profile.data_warnings import _duplicate_rows, _target_warnings, _warning
from predictml_desktop.core.profile.kinds import HIGH_MISSING_SHARE, ColumnKind, ProfileError, _analyse, _Col, _pct, _q
from predictml_desktop.core.profile.targets import _candidate, _problem_type


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
        Columns left out of the features by default (ID-like, constant, empty, and suspected of
        leaking the target).
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


def _column_warnings(cols: dict[str, _Col], n_rows: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the per-column warnings and the columns left out of the features (IDs, constants, empty)."""
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
    return warnings_out, excluded


def _target_candidates(cols: dict[str, _Col], names: list[str], n_rows: int) -> list[dict[str, Any]]:
    """Return the columns that could be the target, most likely first, each with its reason."""
    scored = []
    for position, name in enumerate(names):
        result = _candidate(cols[name], position, len(names), n_rows)
        if result is not None:
            scored.append((result[0], -position, name, result[1]))
    scored.sort(reverse=True)
    return [{"column": name, "score": score, "reason": reason} for score, _, name, reason in scored]



PARALLEL_MIN_CELLS = 2_000_000
"""From this many cells on, number columns are analysed on two threads beside the text columns."""


def _analyse_columns(frame: pd.DataFrame, names: list[str], n_rows: int) -> dict[str, _Col]:
    """Analyse every column; a big table's number columns on worker threads.

    The work on number columns is numpy's (sorting, reductions), which releases the GIL, so on a
    million rows two threads nearly halve it. Text columns stay on the calling thread: their date
    sniffing changes the process-wide warning filters, which is not thread-safe.
    """
    # Columns are taken here, on one thread: DataFrame.__getitem__ fills a cache that is not thread-safe.
    series = [frame[label] for label in frame.columns]
    workers = min(2, os.cpu_count() or 1)
    if n_rows * len(names) < PARALLEL_MIN_CELLS or workers < 2:
        return {name: _analyse(name, column, n_rows) for name, column in zip(names, series, strict=True)}
    numeric = [i for i, column in enumerate(series)
               if column.dtype.kind in "biufmM" or pd.api.types.is_datetime64_any_dtype(column.dtype)]
    done: dict[int, _Col] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="profile") as pool:
        futures = {i: pool.submit(_analyse, names[i], series[i], n_rows) for i in numeric}
        for i, column in enumerate(series):
            if i not in futures:
                done[i] = _analyse(names[i], column, n_rows)
        for i, future in futures.items():
            done[i] = future.result()
    return {names[i]: done[i] for i in range(len(names))}


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
    cols = _analyse_columns(frame, names, n_rows)

    warnings_out, excluded = _column_warnings(cols, n_rows)
    dupes = _duplicate_rows(frame, {name: col.unique for name, col in cols.items()})
    if dupes:
        warnings_out.append(_warning(
            "duplicate_rows",
            f"{dupes:,} row{'s are exact duplicates' if dupes > 1 else ' is an exact duplicate'} of other rows "
            f"({_pct(dupes / n_rows)}); duplicates can make the model look better than it is.",
        ))

    candidates = _target_candidates(cols, names, n_rows)
    suggested: str | None = candidates[0]["column"] if candidates else None

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
    # A column suspected of leaking the target is left out by default too (the wizard shows why and
    # lets the user include it again); the job's own check then decides the approval gate.
    for warning in warnings_out:
        column = warning.get("column")
        if warning["code"] == "leakage" and column and column not in excluded:
            excluded.append(column)
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
