"""What every stage of a training shares: the request, the clock, the reporter and the `Run` itself.

The stages (`search`, `finalize`) are functions of a `Run`; the run holds no logic of its own
beyond small queries, so each stage can be read on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.modeling.experiment import Experiment
from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.candidates import Candidate
from predictml_desktop.core.training.catalog import ModelInfo
from predictml_desktop.core.training.dataprep import PreparedData
from predictml_desktop.core.training.events import STAGE_PROGRESS, Stage, TrainingEvent
from predictml_desktop.core.training.options import PresetSpec, TrainingOptions
from predictml_desktop.core.training.pool import Executor
from predictml_desktop.core.training.state import Checkpoint, SearchState

Emit = Callable[[TrainingEvent], None]

MIN_SHARE_S: Final = 5.0
"""No fit's time share is smaller than this (a fit's process start and imports are not free)."""
THREADED_MIN_CELLS: Final = 200_000
"""Fold size (training rows × columns) from which a model's own threads beat running folds side by side."""


class StopRequested(Exception):
    """The user stopped the training: keep the best model finished so far."""


@dataclass
class TrainingRequest:
    """Everything one training needs.

    Attributes
    ----------
    frame
        The dataset as read.
    target
        The column to predict.
    problem_type
        ``classification``/``regression``, or None to detect it.
    options
        The user's choices.
    columns
        The dataset's column profiles.
    excluded_columns
        Columns the profile excludes (IDs, constants, empties).
    job_id, dataset_id
        Named in the result.
    model_dir
        ``models/<jobId>/``: artifacts and persisted candidates.
    home
        The data home (``model_path`` in the result is relative to it).
    started_at
        Epoch seconds when the job started; the budget runs from there (across worker restarts).
    resume
        Reuse the candidates persisted by an earlier worker of this job.
    stopped_units
        Units (``screen:rf``) that must not run again, with the reason (set by the supervisor).
    problem_type_reason
        Why ``problem_type`` was chosen, when it comes from the dataset's profile.
    work_dir
        Where the fitting processes' shared arrays are written (a temporary folder if None).
    """

    frame: pd.DataFrame
    target: str
    problem_type: str | None
    options: TrainingOptions
    columns: list[dict[str, Any]] = field(default_factory=list)
    excluded_columns: list[str] = field(default_factory=list)
    job_id: str = "training"
    dataset_id: str = ""
    model_dir: Path = Path("model")
    home: Path | None = None
    started_at: float = field(default_factory=time.time)
    resume: bool = False
    stopped_units: dict[str, str] = field(default_factory=dict)
    problem_type_reason: str | None = None
    work_dir: Path | None = None


@dataclass
class Clock:
    """The job's time budget: it runs from the job's start, process start-up and set-up included."""

    started_at: float
    budget_s: float

    def elapsed(self) -> float:
        """Seconds since the job started."""
        return max(0.0, time.time() - self.started_at)

    def left(self) -> float:
        """Seconds of the budget left (negative once over)."""
        return self.budget_s - self.elapsed()


class Reporter:
    """Turns the stages' news into protocol events (progress, log, candidate), thread-safely.

    Every progress event carries ``running``: the units this process runs now, with their time
    shares, which the supervisor's watchdog follows (fits in the pool are watched by the pool).
    """

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._lock = threading.Lock()
        self.running: dict[str, float] = {}
        self.fraction = 0.0
        """How far the search is (0..1): progress moves from 40 to 80 % with it."""

    def log(self, message: str) -> None:
        """Log a line for the user."""
        self._emit(TrainingEvent.log(message))

    def stage(self, stage: Stage, **extra: Any) -> None:
        """Enter ``stage``."""
        self.progress(STAGE_PROGRESS[stage], stage, **extra)

    def progress(self, value: float, stage: Stage | str, **extra: Any) -> None:
        """Report ``value`` percent in ``stage``."""
        with self._lock:
            self._emit(TrainingEvent.progress(value, stage, running=dict(self.running), **extra))

    def search_progress(self, fraction: float, **extra: Any) -> None:
        """Report the search's progress (40–80 %), never going back."""
        self.fraction = max(self.fraction, min(1.0, fraction))
        self.progress(40 + 40 * self.fraction, Stage.TRAIN, **extra)

    def unit(self, unit: str, share_s: float, stage: Stage, label: str) -> None:
        """Announce a unit of this process (the watchdog gives it ``share_s``)."""
        with self._lock:
            self.running[unit] = round(share_s, 1)
        self.progress(STAGE_PROGRESS[stage] if stage is not Stage.TRAIN else 40 + 40 * self.fraction, stage,
                      candidate=label)

    def unit_done(self, unit: str) -> None:
        """Announce that a unit of this process ended."""
        with self._lock:
            self.running.pop(unit, None)

    def candidate(self, entry: dict[str, Any]) -> None:
        """Announce a changed leaderboard row."""
        self._emit(TrainingEvent.candidate(entry))


@dataclass
class Run:
    """One training in progress: what every stage reads and the state it builds.

    Attributes
    ----------
    request, options, spec
        What was asked, and the preset's search settings.
    data
        The prepared table and its column roles.
    exp
        The set-up PyCaret experiment (split, preprocessing, model factory).
    pool
        Where the fits run: this computer's fitting processes, or a Dask cluster.
    metric, metric_reason
        What ranks the candidates, and why.
    infos
        The candidates' catalog entries by model id.
    clock, report, state, checkpoint
        The budget, the events, the findings and their persistence.
    should_stop
        True once the user asked to stop (keep the best model so far).
    """

    request: TrainingRequest
    options: TrainingOptions
    spec: PresetSpec
    data: PreparedData
    exp: Experiment
    pool: Executor
    metric: str
    metric_reason: str
    infos: dict[str, ModelInfo]
    clock: Clock
    report: Reporter
    state: SearchState
    checkpoint: Checkpoint
    should_stop: Callable[[], bool]
    cores: int = 1
    candidates: dict[str, Candidate] = field(default_factory=dict)
    """Every candidate evaluated, by key."""
    prep_seconds_per_row: float = 0.0
    """What preparing a row of a fold cost (fit and transform), for the final fits' share of the budget."""

    @property
    def classification(self) -> bool:
        """Whether the target is a class."""
        return self.exp.classification

    @property
    def n_classes(self) -> int:
        """Classes of the target (0 for regression)."""
        return len(self.data.class_counts) if self.classification else 0

    @property
    def higher_is_better(self) -> bool:
        """The ranking metric's direction."""
        return M.higher_is_better(self.metric)

    def check_stop(self) -> None:
        """Raise `StopRequested` when the user asked to stop."""
        if self.should_stop():
            raise StopRequested

    def threads_for(self, info: ModelInfo, cells: int) -> int:
        """Cores for one fit of ``info`` on a fold of ``cells`` (one level of parallelism only).

        A model's own threads pay off only on enough data: on a small fold, OpenMP's thread start-up
        and synchronisation cost more than the fit (LightGBM with 2 threads was 5× slower than with
        1 on 300 rows), so small folds run side by side instead, one core each.
        """
        if info.threads_param and cells >= THREADED_MIN_CELLS:
            return self.cores
        return 1

    def score_matrix(self, codes: np.ndarray, matrix: np.ndarray) -> float | None:
        """Score predictions ``matrix`` (probabilities, or values) of rows with ``codes`` by the ranking metric."""
        rows = np.all(np.isfinite(matrix), axis=1)
        if not rows.any():
            return None
        codes, matrix = codes[rows], matrix[rows]
        if self.classification:
            scores = M.classification_scores(codes, matrix.argmax(axis=1), self.n_classes, proba=matrix)
        else:
            scores = M.regression_scores(codes, matrix[:, 0])
        return scores.get(self.metric)
