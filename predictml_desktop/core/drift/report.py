"""Compare a table (a batch file, a window of served requests) with a `Reference`: a `DriftReport`.

Per column: PSI (numeric over the training deciles, categorical over the training categories plus
an "unseen" bin), the share of values never seen in training, and the change in missing share. The
column's level is the worse of its PSI level and its missing-share level (`stats.Thresholds`).
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.drift.reference import CATEGORICAL, NUMERIC, ColumnReference, Reference
from predictml_desktop.core.drift.stats import (
    LEVEL_ORDER,
    MIN_ROWS,
    DriftLevel,
    Thresholds,
    bin_shares,
    category_counts,
    category_psi,
    numeric_values,
    psi,
)
from predictml_desktop.core.records import now_iso

LEVEL_WORDS = {DriftLevel.OK: "stable", DriftLevel.WATCH: "watch", DriftLevel.ACT: "act",
               DriftLevel.FEW_ROWS: "too few rows", DriftLevel.NOT_COMPARED: "not compared"}


@dataclass
class ColumnDrift:
    """How one column compares with training."""

    name: str
    kind: str
    level: DriftLevel
    psi: float | None
    """None when not compared."""
    missing_reference: float
    missing_current: float
    rows: int
    """Present (non-missing) values compared."""
    unseen_share: float = 0.0
    unseen_count: int = 0
    reason: str = ""
    """One sentence: what moved, or why the column is not judged."""

    @property
    def missing_change(self) -> float:
        """Current minus training missing share."""
        return self.missing_current - self.missing_reference

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"column": self.name, "kind": self.kind, "level": str(self.level),
                "psi": None if self.psi is None else round(self.psi, 4),
                "missingReference": round(self.missing_reference, 4), "missingCurrent": round(self.missing_current, 4),
                "unseenShare": round(self.unseen_share, 4), "unseenCount": self.unseen_count, "rows": self.rows,
                "reason": self.reason}


@dataclass
class DriftReport:
    """Every compared column of a table, against one dataset's training data."""

    dataset_id: str
    rows: int
    columns: list[ColumnDrift]
    thresholds: Thresholds
    source: str = ""
    """What was compared (a file name, "requests from … to …")."""
    created_at: str = field(default_factory=now_iso)

    @property
    def level(self) -> DriftLevel:
        """The worst level of any column (``ok`` when nothing could be judged)."""
        worst = max((c.level for c in self.columns), key=lambda lv: LEVEL_ORDER[lv], default=DriftLevel.OK)
        return worst if LEVEL_ORDER[worst] >= LEVEL_ORDER[DriftLevel.OK] else DriftLevel.OK

    @property
    def flagged(self) -> list[ColumnDrift]:
        """Columns at ``watch`` or ``act``, worst first."""
        out = [c for c in self.columns if c.level in (DriftLevel.WATCH, DriftLevel.ACT)]
        return sorted(out, key=lambda c: (-LEVEL_ORDER[c.level], -(c.psi or 0.0)))

    @property
    def acting(self) -> bool:
        """True when a column is beyond the act threshold and the policy flags drift."""
        return self.thresholds.enabled and self.level == DriftLevel.ACT

    def summary(self) -> str:
        """Return one sentence for a status line."""
        judged = [c for c in self.columns if c.level in (DriftLevel.OK, DriftLevel.WATCH, DriftLevel.ACT)]
        if not judged:
            return (f"Drift not judged: {self.rows:,} rows are too few to compare with the training data "
                    f"(at least {MIN_ROWS} are needed).")
        act = [c.name for c in self.flagged if c.level == DriftLevel.ACT]
        watch = [c.name for c in self.flagged if c.level == DriftLevel.WATCH]
        if not act and not watch:
            return f"No drift: the {len(judged)} compared columns look like the training data."
        parts = []
        if act:
            parts.append(f"{len(act)} column{'s' if len(act) > 1 else ''} changed enough to act on "
                         f"({', '.join(act[:5])}{'…' if len(act) > 5 else ''})")
        if watch:
            parts.append(f"{len(watch)} to watch ({', '.join(watch[:5])}{'…' if len(watch) > 5 else ''})")
        return "Drift: " + "; ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        t = self.thresholds
        return {"datasetId": self.dataset_id, "source": self.source, "rows": self.rows, "level": str(self.level),
                "summary": self.summary(), "createdAt": self.created_at,
                "thresholds": {"psiWatch": t.psi_watch, "psiAct": t.psi_act, "missingWatch": t.missing_watch,
                               "missingAct": t.missing_act, "enabled": t.enabled},
                "columns": [c.to_dict() for c in self.columns]}

    def table_rows(self) -> list[dict[str, Any]]:
        """Return one printable dict per column, flagged ones first."""
        order = {id(c): i for i, c in enumerate(self.flagged)}
        ranked = sorted(self.columns, key=lambda c: (order.get(id(c), len(order)), c.name))
        return [{"column": c.name, "kind": c.kind, "level": LEVEL_WORDS[c.level],
                 "psi": "" if c.psi is None else f"{c.psi:.3f}",
                 "missing": f"{c.missing_reference:.1%} → {c.missing_current:.1%}",
                 "unseen": f"{c.unseen_share:.1%}" if c.kind == CATEGORICAL else "",
                 "reason": c.reason} for c in ranked]

    def to_html(self) -> str:
        """Return a small self-contained HTML page (no scripts, no external files)."""
        colours = {"act": "#b3261e", "watch": "#a15c00", "stable": "#1e6b35"}
        rows = []
        for r in self.table_rows():
            colour = colours.get(r["level"], "#555")
            rows.append("<tr>" + "".join(
                f"<td>{html.escape(str(r[k]))}</td>" if k != "level" else
                f'<td style="color:{colour};font-weight:600">{html.escape(r[k])}</td>'
                for k in ("column", "kind", "level", "psi", "missing", "unseen", "reason")) + "</tr>")
        t = self.thresholds
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Drift report</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f2f2f2}</style></head><body>"
            f"<h1>Drift against the training data</h1><p><b>{html.escape(self.summary())}</b></p>"
            f"<p>Compared: {html.escape(self.source or 'input')} ({self.rows:,} rows) with the training data of "
            f"dataset {html.escape(self.dataset_id)}, at {html.escape(self.created_at)}.</p>"
            f"<p>Population stability index (PSI) per column: numbers over the training deciles, categories over "
            f"the training categories plus one bin for values never seen in training. Watch from {t.psi_watch:g}, "
            f"act from {t.psi_act:g}; a change of the missing share of {t.missing_watch:.0%} is watched, "
            f"{t.missing_act:.0%} acted on.</p>"
            "<table><tr><th>Column</th><th>Kind</th><th>Level</th><th>PSI</th><th>Missing (training → now)</th>"
            "<th>Unseen</th><th>Why</th></tr>" + "".join(rows) + "</table></body></html>\n"
        )


def _worse(a: DriftLevel, b: DriftLevel) -> DriftLevel:
    return a if LEVEL_ORDER[a] >= LEVEL_ORDER[b] else b


class ColumnCounts:
    """What drift needs of one column, added up chunk by chunk: bin or category counts, present values.

    Counts add, so a file of any length is compared in bounded memory (`compare_chunks`).
    """

    def __init__(self, ref: ColumnReference) -> None:
        self.ref = ref
        self.seen = False
        """The column was in the input."""
        self.present = 0
        self.bins = np.zeros(len(ref.edges) + 1, dtype=np.int64)
        self.categories: dict[str, int] = {}
        self.rest = 0
        """Values outside the training categories kept one by one (unseen, or among the rare "other")."""

    def add(self, series: pd.Series) -> None:
        """Count one chunk of the column."""
        self.seen = True
        if self.ref.kind == NUMERIC:
            values = numeric_values(series)
            finite = values[np.isfinite(values)]
            self.bins += np.bincount(np.searchsorted(_edges(self.ref), finite, side="left"),
                                     minlength=self.bins.size)
            self.present += int(finite.size)
        elif self.ref.kind == CATEGORICAL:
            counts, _ = category_counts(series)
            for key, count in counts.items():
                if key in self.ref.categories:
                    self.categories[key] = self.categories.get(key, 0) + count
                else:
                    self.rest += count
                self.present += count


def compare_column(ref: ColumnReference, series: pd.Series | None, rows: int, thresholds: Thresholds) -> ColumnDrift:
    """Compare one column of the current table (None: the column is absent) with its reference."""
    counts = ColumnCounts(ref)
    if series is not None:
        counts.add(series)
    return judge_column(counts, rows, thresholds)


def judge_column(counts: ColumnCounts, rows: int, thresholds: Thresholds) -> ColumnDrift:
    """Return a column's drift from its counts over ``rows`` rows."""
    ref = counts.ref
    if not ref.compared:
        return ColumnDrift(ref.name, ref.kind, DriftLevel.NOT_COMPARED, None, ref.missing_share, 0.0, 0,
                           reason=f"{ref.kind} columns are not compared.")
    if not counts.seen:
        return ColumnDrift(ref.name, ref.kind, DriftLevel.ACT if rows >= MIN_ROWS else DriftLevel.FEW_ROWS, None,
                           ref.missing_share, 1.0, 0, reason="The column is missing from the input.")
    present = counts.present
    unseen_share, unseen = 0.0, 0
    if not present:
        value = 0.0
    elif ref.kind == NUMERIC:
        value = psi(ref.shares, counts.bins / present)
    else:
        names = list(ref.categories)
        current = np.asarray([counts.categories.get(k, 0) for k in names] + [counts.rest], dtype=np.float64)
        value = psi([*(ref.categories[k] for k in names), ref.other_share], current / present)
        if ref.other_share == 0:
            # Only when every training category was kept is a value outside them surely never seen.
            unseen, unseen_share = counts.rest, counts.rest / present
    missing = (rows - present) / rows if rows else 0.0
    drift = ColumnDrift(ref.name, ref.kind, DriftLevel.OK, value, ref.missing_share, missing, present,
                        float(unseen_share), int(unseen))
    if present < MIN_ROWS and rows < MIN_ROWS:
        drift.level = DriftLevel.FEW_ROWS
        drift.reason = f"Only {present} values: at least {MIN_ROWS} are needed to judge."
        return drift
    psi_level = thresholds.psi_level(value) if present >= MIN_ROWS else DriftLevel.OK
    miss_level = thresholds.missing_level(drift.missing_change)
    drift.level = _worse(psi_level, miss_level)
    reasons = []
    if psi_level != DriftLevel.OK:
        reasons.append(f"distribution moved (PSI {value:.2f})")
    if unseen:
        reasons.append(f"{unseen:,} value{'s' if unseen > 1 else ''} never seen in training ({unseen_share:.1%})")
    if miss_level != DriftLevel.OK:
        reasons.append(f"missing share {ref.missing_share:.1%} → {missing:.1%}")
    text = "; ".join(reasons)
    drift.reason = text[:1].upper() + text[1:] + ("." if reasons else "")
    return drift


def _edges(ref: ColumnReference) -> np.ndarray:
    return np.asarray(ref.edges, dtype=np.float64)


def compare(reference: Reference, frame: pd.DataFrame, thresholds: Thresholds | None = None, *,
            source: str = "") -> DriftReport:
    """Compare every feature of ``reference`` in ``frame``.

    Parameters
    ----------
    reference
        The training side (`reference.load_reference`).
    frame
        The current rows; columns are matched by name (extra columns are ignored).
    thresholds
        Watch/act thresholds (default: the field's 0.1 / 0.25).
    source
        What the rows are, for the report.
    """
    return compare_chunks(reference, [frame], thresholds, source=source)


def compare_chunks(reference: Reference, chunks: Iterable[pd.DataFrame], thresholds: Thresholds | None = None, *,
                   source: str = "") -> DriftReport:
    """Compare a table read a chunk at a time (any length, bounded memory); see `compare`."""
    limits = thresholds or Thresholds()
    counts = [ColumnCounts(ref) for ref in reference.columns]
    rows = 0
    for chunk in chunks:
        names = {str(c): c for c in chunk.columns}
        rows += len(chunk)
        for one in counts:
            if one.ref.name in names:
                one.add(chunk[names[one.ref.name]])
    columns = [judge_column(one, rows, limits) for one in counts]
    return DriftReport(reference.dataset_id, rows, columns, limits, source)


def distribution_shift(reference: ColumnReference,
                       values: pd.Series) -> tuple[float, dict[str, float], dict[str, float]]:
    """Return PSI of ``values`` (predictions) against a target's training distribution, and both distributions.

    For classes the distributions are class → share; for a regression target, bin label → share.
    """
    if reference.kind == NUMERIC:
        shares, _ = bin_shares(numeric_values(values), _edges(reference))
        labels = _bin_labels(reference.edges)
        return (psi(reference.shares, shares), dict(zip(labels, reference.shares, strict=True)),
                dict(zip(labels, (float(s) for s in shares), strict=True)))
    counts, _ = category_counts(values)
    n = sum(counts.values())
    value = category_psi(reference.categories, reference.other_share, counts)[0] if n else 0.0
    current = {k: c / n for k, c in counts.items()} if n else {}
    return value, dict(reference.categories), current


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    labels = [f"≤ {edges[0]:.4g}"]
    labels += [f"{lo:.4g} – {hi:.4g}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f"> {edges[-1]:.4g}")
    return labels
