"""The leaderboard table shared by the Training view (live) and the Jobs view (a finished job)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from predictml_desktop.ui.formatting import format_number, metric_label
from predictml_desktop.ui.table_models import Column, RecordTableModel

SCORE_COLUMNS = 4
"""Score columns shown (the engine puts the ranking metric first)."""


def _scores(entry: dict[str, Any]) -> dict[str, Any]:
    scores = entry.get("scores")
    return scores if isinstance(scores, dict) else {}


def _note(entry: dict[str, Any]) -> str:
    status = entry.get("status") or "done"
    stage = entry.get("stage") or ""
    if status != "done":
        return f"{status}: {entry.get('reason') or ''}".strip(": ")
    return stage


class LeaderboardModel(RecordTableModel):
    """Candidates as the engine reports them, one row per model, best first.

    The engine reports a model again as it gets further (screening, then full cross-validation,
    then tuning): the row is replaced, not repeated.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(self._make_columns([]), parent)
        self.metric: str | None = None
        self._score_names: list[str] = []

    @staticmethod
    def _make_columns(score_names: Sequence[str]) -> list[Column]:
        def score(name: str) -> Column:
            return Column(metric_label(name), lambda e: format_number(_scores(e).get(name), 4), numeric=True)

        columns = [Column("Model", lambda e: e.get("name") or e.get("model"))]
        columns += [score(name) for name in score_names]
        columns.append(Column("Fit (s)", lambda e: format_number(e.get("fitSeconds"), 2), numeric=True))
        columns.append(Column("Stage", _note, tooltip=lambda e: str(e.get("reason") or _note(e))))
        return columns

    def set_entries(self, entries: Sequence[dict[str, Any]]) -> None:
        """Show ``entries`` (a job's stored leaderboard), best first."""
        by_model: dict[str, dict[str, Any]] = {}
        for entry in entries:
            by_model[str(entry.get("model") or entry.get("name"))] = entry
        self._show(list(by_model.values()))

    def upsert(self, entry: dict[str, Any]) -> None:
        """Add a candidate, or replace the row of the same model."""
        key = str(entry.get("model") or entry.get("name"))
        rows = [r for r in self.rows if str(r.get("model") or r.get("name")) != key]
        self._show([*rows, entry])

    def _show(self, rows: list[dict[str, Any]]) -> None:
        if self.metric is None:
            first = next((_scores(r) for r in rows if _scores(r)), {})
            if first:
                self.metric = next(iter(first))
                self._score_names = list(first)[:SCORE_COLUMNS]
                self.set_columns(self._make_columns(self._score_names))
        self.set_rows(sorted(rows, key=self._rank))

    def _rank(self, entry: dict[str, Any]) -> tuple[int, float, float]:
        # Finished candidates first, best score first (the engine's sort order for the metric).
        if self.metric is None:
            return (1, 0.0, 0.0)
        # The core knows which metrics are better when lower (numpy is loaded by then: see
        # main_window.warm_up_imports).
        from predictml_desktop.core.training.metrics import sort_key

        value = _scores(entry).get(self.metric)
        number = float(value) if isinstance(value, int | float) else math.nan
        done = entry.get("status", "done") == "done" and math.isfinite(number)
        return (0 if done else 1, sort_key(self.metric)(number if done else None), float(entry.get("fitSeconds") or 0))
