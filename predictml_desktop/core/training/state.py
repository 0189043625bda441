"""The search's record: `Evaluation` (one leaderboard row), `SearchState`, and their checkpoint on disk.

Every finished evaluation is written at once under ``models/<jobId>/candidates/`` (its scores as
JSON, its out-of-fold predictions as ``.npy``), so a cancel or a crash loses none of them, and a
restarted worker (``resume``) takes them back instead of fitting them again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

CANDIDATES_DIR: Final = "candidates"

STAGE_SCREEN: Final = "screening"
STAGE_CV: Final = "cross-validation"
STAGE_ENSEMBLE: Final = "ensemble"
STAGE_DEPTH: Final = {STAGE_SCREEN: 1, STAGE_CV: 2, STAGE_ENSEMBLE: 3}

DONE: Final = "done"
STOPPED: Final = "stopped"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"


@dataclass
class Evaluation:
    """One candidate's result at one stage: a leaderboard row.

    ``oof`` (out-of-fold predictions of the fold set's rows, averaged over repeats) stays in memory
    and in the checkpoint, never in the job record. Everything else is the leaderboard entry the
    views, the command line and governance read (`to_entry`).
    """

    model: str
    """The candidate's key (``lightgbm``, ``lightgbm:slow-learner``, ``ensemble``)."""
    name: str
    unit: str
    """``screen:<key>``, ``cv:<key>``…: what the runner's watchdog and the checkpoint know it by."""
    stage: str
    status: str = DONE
    reason: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)
    fold_scores: list[dict[str, float | None]] = field(default_factory=list)
    folds: int = 0
    rows: int = 0
    rows_per_fold: int = 0
    fold_set: str = ""
    fit_seconds: float = 0.0
    wall_seconds: float = 0.0
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    """``modelId``, ``params``, ``variant``, ``members``/``weights`` (an ensemble), ``vsBaseline``…"""
    oof: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """Finished with scores."""
        return self.status == DONE

    @property
    def fold_seconds(self) -> float:
        """Mean fit time of one fold."""
        return self.fit_seconds / max(1, len(self.fold_scores))

    def score(self, metric: str) -> float | None:
        """Return the mean of ``metric`` over its folds."""
        return self.scores.get(metric)

    def to_entry(self) -> dict[str, Any]:
        """Return the leaderboard entry (camelCase, JSON-ready)."""
        entry: dict[str, Any] = {
            "model": self.model, "name": self.name, "unit": self.unit, "stage": self.stage, "status": self.status,
            "reason": self.reason,
        }
        if self.ok or self.scores:  # a candidate stopped after its first fold keeps what that fold scored
            entry.update({
                "scores": self.scores, "std": self.std, "folds": self.folds, "rows": self.rows,
                "rowsPerFold": self.rows_per_fold, "foldSet": self.fold_set, "fitSeconds": round(self.fit_seconds, 3),
                "foldSeconds": round(self.fold_seconds, 4), "wallSeconds": round(self.wall_seconds, 3),
                "threads": self.threads,
            })
        entry.update(self.extra)
        return entry

    def to_checkpoint(self) -> dict[str, Any]:
        """Everything but ``oof``, for the checkpoint file."""
        return {**self.to_entry(), "_foldScores": self.fold_scores, "_fitSeconds": self.fit_seconds}

    @classmethod
    def from_checkpoint(cls, doc: dict[str, Any], oof: np.ndarray | None) -> Evaluation:
        """Rebuild an evaluation written by `to_checkpoint`."""
        known = {"model", "name", "unit", "stage", "status", "reason", "scores", "std", "folds", "rows",
                 "rowsPerFold", "foldSet", "fitSeconds", "foldSeconds", "wallSeconds", "threads", "_foldScores",
                 "_fitSeconds"}
        return cls(
            model=str(doc["model"]), name=str(doc["name"]), unit=str(doc["unit"]), stage=str(doc["stage"]),
            status=str(doc.get("status") or DONE), reason=doc.get("reason"), scores=dict(doc.get("scores") or {}),
            std=dict(doc.get("std") or {}), fold_scores=list(doc.get("_foldScores") or []),
            folds=int(doc.get("folds") or 0), rows=int(doc.get("rows") or 0),
            rows_per_fold=int(doc.get("rowsPerFold") or 0), fold_set=str(doc.get("foldSet") or ""),
            fit_seconds=float(doc.get("_fitSeconds") or doc.get("fitSeconds") or 0.0),
            wall_seconds=float(doc.get("wallSeconds") or 0.0), threads=int(doc.get("threads") or 1),
            extra={k: v for k, v in doc.items() if k not in known}, oof=oof,
        )


@dataclass
class SearchState:
    """What the search has found so far.

    Attributes
    ----------
    evaluations
        The latest evaluation of each candidate key (a later stage replaces an earlier one).
    history
        Every evaluation, in the order they finished (screening rows stay here after a candidate
        moves on).
    warnings
        Job warnings (``code``, ``level``, ``message``).
    budget_hit
        The time budget cut the search short.
    stopped_early
        The user stopped the training; the best model finished by then is kept.
    """

    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    history: list[Evaluation] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    budget_hit: bool = False
    stopped_early: bool = False
    search_ended_s: float | None = None
    """Seconds from the job's start to the end of the search (the rest went to the final fits)."""

    def record(self, evaluation: Evaluation) -> None:
        """Keep ``evaluation`` as its candidate's latest."""
        self.evaluations[evaluation.model] = evaluation
        self.history.append(evaluation)

    def finished(self, stage: str | None = None, fold_set: str | None = None) -> list[Evaluation]:
        """Return the evaluations that finished with scores, of one stage or fold set if given."""
        return [e for e in self.evaluations.values() if e.ok and (stage is None or e.stage == stage)
                and (fold_set is None or e.fold_set == fold_set)]

    def warn(self, code: str, message: str, level: str = "info") -> None:
        """Add a job warning (once per code)."""
        if not any(w.get("code") == code for w in self.warnings):
            self.warnings.append({"code": code, "level": level, "message": message})


class Checkpoint:
    """Finished evaluations of a job, one file per unit, written at once (atomically)."""

    def __init__(self, folder: Path, *, fresh: bool) -> None:
        self.folder = folder
        if fresh and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, unit: str, suffix: str) -> Path:
        return self.folder / (unit.replace(":", "-").replace("/", "-") + suffix)

    def load(self, unit: str) -> Evaluation | None:
        """Return the evaluation saved for ``unit``, if any."""
        try:
            doc = json.loads(self._path(unit, ".json").read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict):
            return None
        try:
            oof = np.load(self._path(unit, ".npy"), allow_pickle=False)
        except (OSError, ValueError):
            oof = None
        try:
            return Evaluation.from_checkpoint(doc, oof)
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, evaluation: Evaluation) -> None:
        """Write ``evaluation`` (and its out-of-fold predictions)."""
        if evaluation.oof is not None:
            buf = io.BytesIO()
            np.save(buf, evaluation.oof, allow_pickle=False)
            _replace_file(self._path(evaluation.unit, ".npy"), buf.getvalue())
        data = json.dumps(evaluation.to_checkpoint(), allow_nan=False, default=str).encode()
        _replace_file(self._path(evaluation.unit, ".json"), data)


def _replace_file(path: Path, data: bytes) -> None:
    """Write a checkpoint file whole or not at all (temp file + rename).

    No fsync: a checkpoint only has to survive the worker being killed (the rename is atomic for
    that), not a power cut; fsyncing each of them cost a second per run on a busy disk.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
