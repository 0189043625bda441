"""The training engine: PyCaret set-up, a staged search within a time budget, holdout evaluation, artifacts.

This is the only module of the application that imports PyCaret (lazily, inside functions), and it
runs in the worker process, never in the GUI.

How it finds a good model fast (PyCaret's plain ``compare_models`` cross-validates every model on
ten folds, CatBoost's 1,000 rounds included, and takes minutes on a few hundred rows):

1. **Set-up** with PyCaret (`ClassificationExperiment` / `RegressionExperiment`) from the dataset
   profile: ignored columns dropped, imputation, one-hot encoding of low-cardinality and target
   encoding of high-cardinality categories, date features, normalisation, imbalance handling,
   a fixed ``session_id`` and a stratified 20 % holdout that no search step sees.
2. **Folds are preprocessed once.** For each fold, PyCaret's preprocessing pipeline is cloned and
   fitted on the fold's training rows only (no leakage, exactly as PyCaret's own cross-validation
   does), and the transformed rows are reused by every candidate. Each candidate then costs only
   its own fits.
3. **Screening**: every PyCaret model of the task on a stratified sample, with few folds; slow
   models only where the data is small enough (each skip is recorded with its reason).
4. **Cross-validation** of the best few on all training rows (up to a cap), then, while the budget
   lasts, a random search of the leader's PyCaret tune grid and a soft-voting blend of the leaders
   (scored on the out-of-fold predictions already computed, so it costs no fit).
5. **Evaluation** of the winner on the holdout (metrics, plots, baseline comparison), then the
   final pipeline is refitted on every row (PyCaret's ``finalize_model``) and saved.

Every finished candidate is persisted at once under ``models/<jobId>/candidates/`` and announced as
a ``candidate`` event, so a cancel or a crash loses none, and a restarted worker (``resume``)
skips them. Each candidate is announced before it starts with its time share (``unit`` and
``timeoutS``); the supervising runner stops a candidate that overruns it for real (see
`core.training.runner`).

Only one level of parallelism is used: a model with threads of its own (random forests, the
boosting libraries, k-NN) gets every core and its folds run one after the other; a single-threaded
model runs its folds in parallel instead. Nothing ever asks for ``n_jobs=-1``. Models whose fit
holds Python's GIL (a network, Theil-Sen, AdaBoost...) would only slow a second thread down, so on
Linux they fit in a forked process (`folds.ProcessLane`), which also refits the final model on
every row while the holdout evaluation runs here.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import json
import logging
import math
import os
import shutil
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import (
    ENVIRONMENT_FILE,
    LEADERBOARD_FILE,
    MODEL_FILE,
    RESULT_FILE,
    SCHEMA_FILE,
    current_environment,
    sha256_file,
    write_json,
)
from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.catalog import BASELINE_ID, BLEND_ID, TUNED_SUFFIX, ModelInfo, models_for
from predictml_desktop.core.training.dataprep import PreparedData, prepare
from predictml_desktop.core.training.events import STAGE_PROGRESS, Stage, TrainingEvent
from predictml_desktop.core.training.folds import (
    Fold,
    FoldOutput,
    FoldSet,
    LaneError,
    ProcessLane,
    fit_fold,
    lane_supported,
)
from predictml_desktop.core.training.jobs import TrainingError
from predictml_desktop.core.training.options import TrainingOptions
from predictml_desktop.core.training.plots import (
    IMPORTANCE_ROWS,
    classification_plots,
    column_groups,
    model_importance,
    permutation_importance,
    regression_plots,
    write_plots,
)
from predictml_desktop.core.training.schema import build_schema, python_value

log = logging.getLogger(__name__)

FAULTS_ENV: Final = "PREDICTML_TRAINING_FAULTS"
"""Fault injection for tests: ``hang:dt,crash:nb,abort:qda`` makes a candidate's fit hang, raise, or
kill the worker (like a native crash). Read by the engine only; never set by the application."""
CANDIDATES_DIR: Final = "candidates"
HOLDOUT_SHARE: Final = 0.2
SEARCH_SHARE: Final = 0.85
"""Part of the budget for the search; the rest is kept for the final fits, evaluation and saving."""
SCREEN_SHARE: Final = 0.5
"""Part of the search budget screening may use before it stops starting new candidates."""
MIN_SHARE_S: Final = 5.0
"""No candidate's time share is smaller than this (a restart after a stop costs several seconds)."""
SETUP_TIMEOUT_S: Final = 900.0
FINAL_TIMEOUT_MIN_S: Final = 300.0
MARGIN: Final = 1e-3
PRUNE_TOLERANCE: Final = 0.05
"""A screened model whose first folds trail the best by more than this (or 3 of its standard deviations) stops."""
"""A tuned model or a blend must beat the best plain model by at least this much to be chosen."""
MAX_CACHE_BYTES: Final = 1_500_000_000
"""Preprocessed folds kept in memory at most; larger tables are cross-validated on a sample."""
OHE_MAX_CATEGORIES: Final = 25
TWO_LANES: Final = True
"""Screen Python-bound candidates in a second lane (see `_Engine._screen`)."""
LANE: Final = os.environ.get("PREDICTML_PROCESS_LANE", "1") != "0"
"""Fit Python-bound candidates in a forked process (`folds.ProcessLane`); ``0`` keeps them in a
thread (to measure what the lane brings)."""
THREADED_MIN_CELLS: Final = 200_000
"""Fold size (training rows × columns) from which a model's own threads beat running folds in parallel."""
_SLOW_LAST: Final = ("ada", "gbc", "gbr", "mlp", "rbfsvm", "svm", "tr", "kr", "ard", "gpc", "catboost")

STAGE_SCREEN: Final = "screening"
STAGE_CV: Final = "cross-validation"
STAGE_TUNE: Final = "tuning"
STAGE_BLEND: Final = "blend"
_STAGE_DEPTH: Final = {STAGE_SCREEN: 1, STAGE_CV: 2, STAGE_TUNE: 3, STAGE_BLEND: 3}

Emit = Callable[[TrainingEvent], None]


class TrainingCancelled(Exception):
    """``should_stop`` asked the engine to stop."""


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


def run_training(
    request: TrainingRequest,
    emit: Emit,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and save a model for ``request``; return the result document.

    Parameters
    ----------
    request
        The data, target and options.
    emit
        Receives every progress, log and candidate event (the worker prints them).
    should_stop
        Polled between candidates and folds; returning True raises `TrainingCancelled`.

    Returns
    -------
    dict
        The result document (also written as ``result.json``): the seed's ``success``,
        ``model_name``, ``problem_type``, ``metrics``, ``model_path`` plus the job's extras.

    Raises
    ------
    TrainingError
        With one sentence for the user when the data cannot be trained on.
    """
    from threadpoolctl import threadpool_limits

    # One level of parallelism: the engine runs folds (or a model's own threads) on the cores, so
    # BLAS stays on one thread. Measured on digits: an MLP fold took 1.2 s with one BLAS thread,
    # 1.7 s with two, and two folds in parallel threads took 6.2 s with BLAS threads against
    # 1.2 s without.
    with threadpool_limits(limits=1, user_api="blas"):
        return _Engine(request, emit, should_stop or (lambda: False)).run()


def _inject_fault(model_id: str) -> None:
    spec = os.environ.get(FAULTS_ENV, "")
    for item in filter(None, (s.strip() for s in spec.split(","))):
        kind, _, target = item.partition(":")
        if target != model_id:
            continue
        if kind == "hang":
            time.sleep(10**6)
        elif kind == "crash":
            raise RuntimeError(f"injected failure of {model_id} (test fault)")
        elif kind == "abort":
            os._exit(134)


# --------------------------------------------------------------------------- persisted candidates


class _Checkpoint:
    """Finished candidates of a job, one file per unit, written at once (atomically)."""

    def __init__(self, folder: Path, *, fresh: bool) -> None:
        self.folder = folder
        if fresh and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, unit: str, suffix: str) -> Path:
        return self.folder / (unit.replace(":", "-") + suffix)

    def load(self, unit: str) -> dict[str, Any] | None:
        path = self._path(unit, ".json")
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def save(self, unit: str, entry: dict[str, Any], oof: np.ndarray | None = None) -> None:
        if oof is not None:
            buf = io.BytesIO()
            np.save(buf, oof, allow_pickle=False)
            _replace_file(self._path(unit, ".npy"), buf.getvalue())
        _replace_file(self._path(unit, ".json"), json.dumps(entry, allow_nan=False, default=str).encode())

    def oof(self, unit: str) -> np.ndarray | None:
        path = self._path(unit, ".npy")
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None


# --------------------------------------------------------------------------- the engine


class _Engine:
    def __init__(self, request: TrainingRequest, emit: Emit, should_stop: Callable[[], bool]) -> None:
        self.req = request
        self.opts = request.options.validate()
        self.spec = self.opts.spec
        self._emit = emit
        self.should_stop = should_stop
        self.seed = self.opts.session_id
        self.budget = self.opts.effective_budget_s
        self.n_jobs = max(1, min(self.opts.n_jobs or (os.cpu_count() or 1), os.cpu_count() or 1))
        self.backend = self.opts.parallel_backend
        self.entries: dict[str, dict[str, Any]] = {}
        self.oofs: dict[str, np.ndarray] = {}
        self.warnings: list[dict[str, Any]] = []
        self.units_done = 0
        self.units_total = 1
        self.budget_hit = False
        self._executor: Any = None
        self.search_started = 0.0
        self._lock = threading.RLock()
        self.running: dict[str, float] = {}
        self._concurrent = False
        self._lane: ProcessLane | None = None
        self._here = threading.local()
        """``active`` while this thread fits Python-bound models itself rather than in the lane."""

    # ------------------------------------------------------------------ reporting

    def elapsed(self) -> float:
        return max(0.0, time.time() - self.req.started_at)

    def search_left(self) -> float:
        return self.budget * SEARCH_SHARE - self.elapsed()

    def elapsed_search(self) -> float:
        return time.monotonic() - self.search_started if self.search_started else 0.0

    def log(self, message: str) -> None:
        self._emit(TrainingEvent.log(message))

    def progress(self, value: float, stage: Stage | str, **extra: Any) -> None:
        # Every progress event carries the complete set of candidates running now and their time
        # shares: the supervisor's watchdog follows it (two may run at once, see `_search`).
        with self._lock:
            self._emit(TrainingEvent.progress(value, stage, running=dict(self.running), **extra))

    def stage(self, stage: Stage, **extra: Any) -> None:
        self.progress(STAGE_PROGRESS[stage], stage, **extra)

    def unit_started(self, unit: str, timeout: float, label: str, stage: Stage = Stage.TRAIN) -> None:
        with self._lock:
            self.running[unit] = round(timeout, 1)
            done = self.units_done / max(1, self.units_total)
            value = 40 + 40 * min(1.0, done) if stage is Stage.TRAIN else STAGE_PROGRESS[stage]
            self.progress(value, stage, candidate=label)

    def unit_finished(self, unit: str, stage: Stage = Stage.TRAIN) -> None:
        with self._lock:
            self.running.pop(unit, None)
            self.progress(STAGE_PROGRESS[stage] if stage is not Stage.TRAIN else 40 + 40 * min(
                1.0, self.units_done / max(1, self.units_total)), stage)

    def check_stop(self) -> None:
        if self.should_stop():
            raise TrainingCancelled("Training was cancelled.")

    # ------------------------------------------------------------------ main flow

    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        req = self.req
        self.stage(Stage.DETECT)
        data = prepare(req.frame, req.target, problem_type=req.problem_type, columns=req.columns,
                       excluded_columns=req.excluded_columns, user_excluded=self.opts.excluded_columns,
                       problem_type_reason=req.problem_type_reason)
        self.data = data
        self.classification = data.problem_type == "classification"
        for note in data.notes:
            self.log(note)
        self.warnings.extend(data.warnings)
        try:
            self.metric, reason = M.choose_ranking_metric(data.problem_type, data.class_counts,
                                                          self.opts.ranking_metric)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        self.metric_reason = reason
        self.log(f"Problem type: {data.problem_type} ({data.problem_type_reason}).")
        self.log(f"Candidates are ranked by {M.METRIC_LABELS[self.metric]}: {reason}")
        self.stage(Stage.DETECT, problemType=data.problem_type, rankingMetric=self.metric)

        self.unit_started("setup", SETUP_TIMEOUT_S, "set-up", Stage.SETUP)
        self._setup(data)
        with self._lock:
            self.running.pop("setup", None)
        self.checkpoint = _Checkpoint(req.model_dir / CANDIDATES_DIR, fresh=not req.resume)
        candidates = self._candidates()

        self.stage(Stage.TRAIN)
        self.search_started = time.monotonic()
        try:
            self._search(candidates)
            if self.budget_hit:
                self.warnings.append({"code": "budget_reached", "level": "info", "message": (
                    f"The time budget of {self.budget:.0f} s ran out; the best model finished by then was kept.")})
            self.stage(Stage.EVALUATE)
            result = self._evaluate_and_save(time.monotonic() - t0)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            if self._lane is not None:
                self._lane.close()
                self._lane = None
        self.stage(Stage.SAVED)
        return result

    # ------------------------------------------------------------------ set-up

    def _setup(self, data: PreparedData) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.classification:
                from pycaret.classification import ClassificationExperiment

                exp: Any = ClassificationExperiment()
            else:
                from pycaret.regression import RegressionExperiment

                exp = RegressionExperiment()
        balance = self._imbalance_method(data)
        t = time.monotonic()
        kwargs: dict[str, Any] = {
            "data": data.frame,
            "target": data.target,
            "train_size": 1 - HOLDOUT_SHARE,
            "data_split_shuffle": True,
            "data_split_stratify": self.classification,
            "numeric_features": data.numeric or None,
            "categorical_features": data.categorical or None,
            "date_features": data.dates or None,
            "imputation_type": "simple",
            "max_encoding_ohe": OHE_MAX_CATEGORIES,
            # Scale-sensitive candidates (linear, kernel, neighbours, networks) need it; trees do not mind.
            "normalize": True,
            "fold": self.spec.cv_folds,
            "fold_shuffle": True,
            "n_jobs": 1,
            "use_gpu": False,
            "session_id": self.seed,
            "html": False,
            "verbose": False,
            # No logs.log in the working folder, no joblib cache in /tmp: nothing outside the data home.
            "system_log": False,
            "memory": False,
        }
        if balance is not None:
            kwargs["fix_imbalance"] = True
            kwargs["fix_imbalance_method"] = balance
        try:
            with warnings.catch_warnings(), _fast_tune_grids():
                warnings.simplefilter("ignore")
                exp.setup(**kwargs)
        except ValueError as exc:
            raise TrainingError(f"The data could not be prepared for training: {exc}") from None
        self.exp = exp
        self._base_pipeline = self._with_label_encoding(exp.pipeline)
        self.X_train: pd.DataFrame = exp.X_train
        self.y_train: pd.Series = exp.y_train
        self.X_test: pd.DataFrame = exp.X_test
        self.y_test: pd.Series = exp.y_test
        # Class codes 0..k-1 in the estimators' space: PyCaret label-encodes (in sorted order) a target
        # that is not already 0..k-1, and the pipeline's predict() decodes it again.
        self.est_classes = np.arange(len(data.class_counts)) if self.classification else np.array([])
        self.n_classes = len(self.est_classes)
        self.log(f"Set up in {time.monotonic() - t:.1f} s: {len(self.X_train):,} training rows, "
                 f"{len(self.X_test):,} holdout rows (never seen by the search), "
                 f"{len(data.features)} features ({len(data.numeric)} numeric, {len(data.categorical)} categorical, "
                 f"{len(data.dates)} dates).")
        self.containers = exp._all_models_internal

    def _imbalance_method(self, data: PreparedData) -> Any:
        if not self.classification or not M.is_imbalanced(list(data.class_counts.values())):
            return None
        smallest = min(data.class_counts.values())
        share = smallest / sum(data.class_counts.values())
        # The smallest class in a screening fold's training rows: SMOTE needs k+1 of its rows.
        sample_share = min(1.0, self.spec.screen_rows / max(1, len(data.frame) * (1 - HOLDOUT_SHARE)))
        minority_in_fold = int(smallest * (1 - HOLDOUT_SHARE) * sample_share * (1 - 1 / self.spec.screen_folds))
        from imblearn.over_sampling import SMOTE, RandomOverSampler

        if minority_in_fold >= 6:
            method: Any = SMOTE(k_neighbors=5, random_state=self.seed)
            how = "SMOTE (synthetic rows of the small classes, made from their nearest neighbours)"
        else:
            method = RandomOverSampler(random_state=self.seed)
            how = "random oversampling (too few rows of the small class for SMOTE)"
        message = (f"The classes are imbalanced (the smallest has {share:.1%} of the rows); training rows are "
                   f"rebalanced with {how}. Holdout and validation rows keep the real proportions.")
        self.log(message)
        self.warnings.append({"code": "imbalance", "level": "info", "message": message})
        return method

    def _with_label_encoding(self, pipeline: Any) -> Any:
        """Return an unfitted copy of PyCaret's pipeline that always decodes class labels.

        PyCaret adds its label-encoding step only when the classes are not already 0..k-1, and
        only that step turns the estimator's answer into a flat series of labels: without it,
        CatBoost's multiclass ``predict`` answers an (n, 1) column. Adding the (then identity)
        step keeps ``pipeline.predict`` the same shape for every model and every target, using
        PyCaret's own classes only (the saved model needs nothing of this application to load).
        """
        from sklearn.base import clone

        base = clone(pipeline)
        if self.classification and "label_encoding" not in dict(base.steps):
            from pycaret.internal.preprocess.transformers import TransformerWrapperWithInverse
            from sklearn.preprocessing import LabelEncoder

            base.steps.insert(0, ("label_encoding", TransformerWrapperWithInverse(LabelEncoder())))
        return base

    def _preprocessor(self) -> Any:
        from sklearn.base import clone

        return clone(self._base_pipeline)

    def _codes(self, y_est: Any) -> np.ndarray:
        values = np.asarray(y_est)
        if not self.classification:
            return values.astype(float)
        return np.searchsorted(self.est_classes, values)

    # ------------------------------------------------------------------ candidates

    def _candidates(self) -> list[ModelInfo]:
        known = set(self.containers)
        wanted = self.opts.models
        out: list[ModelInfo] = []
        for info in models_for(self.data.problem_type):
            if info.id not in known:
                self.log(f"{info.name} is not available in this PyCaret installation; skipped.")
                continue
            if wanted is not None and info.id not in wanted and info.id != BASELINE_ID:
                continue
            out.append(info)
        order = {m: i for i, m in enumerate(_SLOW_LAST)}
        out.sort(key=lambda m: (m.id != BASELINE_ID, order.get(m.id, -1)))
        if wanted is not None:
            missing = [m for m in wanted if m not in {i.id for i in out}]
            if missing:
                raise TrainingError(f"Unknown {self.data.problem_type} model(s): {', '.join(missing)}.")
        self.infos = {m.id: m for m in out}
        return out

    def _parallelism(self, info: ModelInfo | None, n_folds: int, cells: int = 0) -> tuple[int, int]:
        """Return (threads per model, folds in parallel): one level of parallelism only.

        A model's own threads pay off only on enough data: on a small fold, OpenMP's thread start-up
        and synchronisation cost more than the fit (LightGBM with 2 threads was 5× slower than with
        1 on 300 rows), so small folds run in parallel instead, one thread each.
        """
        if self.n_jobs <= 1:
            return 1, 1
        if self.backend == "loky":
            return 1, min(self.n_jobs, n_folds)
        if info is not None and info.python_bound:
            if not self._in_lane(info):
                return 1, 1
            # One fold in the process lane and, outside screening's second lane (which the
            # process lane then is), one more here meanwhile.
            return 1, 1 if self._concurrent else min(2, n_folds)
        if self._concurrent:
            # A Python-bound candidate runs on the other core (see `_search`): one fold at a time here.
            return 1, 1
        if info is not None and info.threads_param and cells >= THREADED_MIN_CELLS:
            return self.n_jobs, 1
        return 1, min(self.n_jobs, n_folds)

    def _lane_usable(self) -> bool:
        return self._lane is not None and not self._lane.broken

    def _in_lane(self, info: ModelInfo | None) -> bool:
        return info is not None and info.python_bound and self._lane_usable() and \
            not getattr(self._here, "active", False)

    def _start_lane(self, candidates: list[ModelInfo], fold_sets: list[FoldSet]) -> None:
        """Fork the process lane for the Python-bound candidates, where it helps and can run."""
        if self.n_jobs < 2 or self.backend != "threading" or not LANE or not lane_supported() \
                or not any(c.python_bound for c in candidates):
            return
        try:
            # The training and holdout rows too: the final model is refitted there (`_evaluate_and_save`).
            self._lane = ProcessLane(fold_sets, {"rows": (self.X_train, self.y_train, self.X_test, self.y_test)})
        except OSError as exc:  # out of processes or memory: the thread lane still works
            self.log(f"Python-bound models stay in this process ({exc}).")
            return
        log.debug("process lane started (pid %s)", self._lane.pid)

    def _lane_fits(self, base: Any, fs: FoldSet, batch: list[int]) -> list[FoldOutput]:
        """Fit a Python-bound model's folds: the first in the lane, any other here meanwhile."""
        from sklearn.base import clone

        lane = self._lane
        assert lane is not None
        if len(batch) == 1:
            return [lane.fit(clone(base), fs.name, batch[0], self.classification)]
        remote = self._pool().submit(lane.fit, clone(base), fs.name, batch[0], self.classification)
        local = [fit_fold(clone(base), f.X_tr, f.y_tr, f.X_va, self.classification)
                 for f in (fs.folds[i] for i in batch[1:])]
        return [remote.result(), *local]

    def make_estimator(self, model_id: str, threads: int = 1, params: dict[str, Any] | None = None) -> Any:
        """Return an unfitted estimator from PyCaret's container of ``model_id``."""
        container = self.containers[model_id]
        info = self.infos.get(model_id)
        args = dict(container.args)
        for key in ("n_jobs", "thread_count"):
            if key in args or (info is not None and info.threads_param == key):
                args[key] = threads if info is not None and info.threads_param == key else 1
        if model_id == "lightgbm":
            args["verbose"] = -1
        elif model_id == "catboost":
            args["verbose"] = False
            args["allow_writing_files"] = False  # no catboost_info/ anywhere
            params = dict(params or {})
            if self.spec.boosting_rounds and not ({"n_estimators", "iterations"} & set(params)):
                args["n_estimators"] = self.spec.boosting_rounds
        elif model_id == "xgboost":
            args["verbosity"] = 0
        args.update(params or {})
        return container.class_def(**args)

    # ------------------------------------------------------------------ folds

    def _fold_set(self, name: str, max_rows: int, n_folds: int, keep: int | None = None) -> FoldSet:
        """Preprocess the folds of a K-fold split of (a sample of) the training rows.

        ``keep`` prepares only the first folds of the split (screening uses two of four folds:
        each trains on three quarters of the sample).
        """
        from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

        t = time.monotonic()
        X, y = self.X_train, self.y_train
        n_cols = X.shape[1] * 4 + 8  # one-hot and date features widen the table; a rough bound
        cap = max(200, int(MAX_CACHE_BYTES / (8 * n_cols * 2)))
        rows = min(len(X), max_rows, cap)
        if rows < len(X):
            stratify = y if self.classification else None
            X, _, y, _ = train_test_split(X, y, train_size=rows, random_state=self.seed, stratify=stratify)
        if self.classification:
            smallest = int(pd.Series(y).value_counts().min())
            n_folds = max(2, min(n_folds, smallest))
            splitter: Any = StratifiedKFold(n_folds, shuffle=True, random_state=self.seed)
        else:
            splitter = KFold(n_folds, shuffle=True, random_state=self.seed)
        folds: list[Fold] = []
        codes = np.zeros(len(X)) if not self.classification else np.zeros(len(X), dtype=int)
        for number, (tr, va) in enumerate(splitter.split(X, y)):
            if keep is not None and number >= keep:
                break
            self.check_stop()
            pipe = self._preprocessor()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Xt, yt = pipe.fit_transform(X.iloc[tr], y.iloc[tr])
                Xv, yv = pipe.transform(X.iloc[va], y.iloc[va])
            fold_codes = self._codes(yv)
            codes[va] = fold_codes
            folds.append(Fold(np.asarray(Xt, dtype=float), np.asarray(yt), np.asarray(Xv, dtype=float),
                               fold_codes, va))
        return FoldSet(name, folds, len(X), codes, time.monotonic() - t)

    def _evaluate(self, model_id: str, fs: FoldSet, *, estimator: Any = None, params: dict[str, Any] | None = None,
                  timeout: float, prune: list[dict[str, Any]] | None = None, fold_ids: list[int] | None = None,
                  prior: tuple[dict[str, Any], np.ndarray | None] | None = None) -> tuple[dict[str, Any], np.ndarray]:
        """Cross-validate one model on a fold set; return its scores and out-of-fold predictions.

        Folds run in rounds (as many at once as the model's parallelism allows). With ``prune`` (the
        screened entries to compare with), a model whose first round scores far below the best of
        them stops there: a slow model that is clearly losing does not get to spend the rest of its
        folds. ``fold_ids``
        limits the run to some folds; ``prior`` (an entry and its out-of-fold predictions on other
        folds of the same set) is merged in, so a leader screened on two folds only fits the rest.
        """
        info = self.infos.get(model_id)
        ids = list(range(len(fs.folds))) if fold_ids is None else list(fold_ids)
        threads, workers = self._parallelism(info, len(ids), fs.cells)
        base = estimator if estimator is not None else self.make_estimator(model_id, threads, params)
        from sklearn.base import clone

        _inject_fault(model_id)
        started = time.monotonic()
        keys = M.metrics_for(self.data.problem_type)
        width = self.n_classes if self.classification else 1
        per_fold: list[dict[str, float | None]] = []
        oof = np.full((fs.rows, max(1, width)), np.nan)
        fit_seconds = 0.0
        if prior is not None:
            per_fold = [dict(f) for f in prior[0].get("_foldScores", [])]
            fit_seconds = float(prior[0].get("fitSeconds") or 0.0)
            if prior[1] is not None and prior[1].shape == oof.shape:
                oof = prior[1].copy()
        first_new = len(per_fold)
        pruned: str | None = None
        done = 0
        while done < len(ids):
            self.check_stop()
            if done and time.monotonic() - started > timeout:
                raise _Overrun(f"stopped: exceeded its time share ({timeout:.0f} s) after {done} "
                               f"of {len(ids)} folds")
            batch = [fs.folds[i] for i in ids[done:done + workers]]
            if self._in_lane(info):
                outs = self._lane_fits(base, fs, ids[done:done + workers])
            elif len(batch) > 1 and self.backend == "loky":
                from joblib import Parallel, delayed

                outs = Parallel(n_jobs=len(batch), backend="loky")(
                    delayed(fit_fold)(clone(base), f.X_tr, f.y_tr, f.X_va, self.classification) for f in batch)
            elif len(batch) > 1:
                # A pool kept for the whole run: on tiny folds, starting threads per call cost more
                # than the fits (joblib's threading backend did, for ridge's 30 tuning fits).
                futures = [self._pool().submit(fit_fold, clone(base), f.X_tr, f.y_tr, f.X_va, self.classification)
                           for f in batch]
                outs = [future.result() for future in futures]
            else:
                single = clone(base)
                if workers > 1 and info is not None and info.threads_param and estimator is None:
                    # A lone fold in a parallel run would leave cores idle: give them to the model.
                    single = self.make_estimator(model_id, self.n_jobs, params)
                outs = [fit_fold(single, f.X_tr, f.y_tr, f.X_va, self.classification) for f in batch]
            for f, (seconds, pred, proba, decision, classes) in zip(batch, outs, strict=True):
                fit_seconds += seconds
                if self.classification:
                    matrix = self._expand(proba if proba is not None else decision, classes)
                    per_fold.append(M.classification_scores(
                        f.codes_va, self._codes(pred), self.n_classes,
                        proba=matrix if proba is not None else None,
                        decision=matrix if proba is None else None))
                    if matrix is not None and proba is not None:
                        oof[f.va_pos] = matrix
                else:
                    per_fold.append(M.regression_scores(f.codes_va, pred))
                    oof[f.va_pos, 0] = pred
            done += len(batch)
            if prune is not None and done < len(ids):
                pruned = self._prune_reason(per_fold, done, len(ids), prune)
                if pruned:
                    break
        means, stds = M.mean_std(per_fold, keys)
        new_seconds = fit_seconds - (float(prior[0].get("fitSeconds") or 0.0) if prior is not None else 0.0)
        out: dict[str, Any] = {
            "scores": M.ordered(means, self.metric),
            "std": M.ordered(stds, self.metric),
            "folds": len(per_fold),
            "rows": fs.rows,
            "rowsPerFold": fs.train_rows,
            "fitSeconds": round(fit_seconds, 3),
            "foldSeconds": round(new_seconds / max(1, len(per_fold) - first_new), 4),
            "wallSeconds": round(time.monotonic() - started, 3),
            "threads": threads,
            "parallelFolds": workers,
            "_foldScores": per_fold,
        }
        if pruned:
            out["reason"] = pruned
        return out, oof

    def _pool(self) -> Any:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=self.n_jobs, thread_name_prefix="fold")
        return self._executor

    def _prune_reason(self, per_fold: list[dict[str, float | None]], done: int, total: int,
                      reference: list[dict[str, Any]]) -> str | None:
        leaders = [e for e in reference if e["stage"] == STAGE_SCREEN and e["status"] == "done"
                   and e["model"] != BASELINE_ID and not e.get("reason")]
        if not leaders:
            return None
        best = self._ranked(leaders)[0]
        best_score = best["scores"].get(self.metric)
        values = [f[self.metric] for f in per_fold if f.get(self.metric) is not None]
        if best_score is None or not values:
            return None
        partial = float(np.mean(values))  # type: ignore[arg-type]
        if M.higher_is_better(self.metric):
            tolerance = max(PRUNE_TOLERANCE, 3 * float((best.get("std") or {}).get(self.metric) or 0.0))
        else:
            tolerance = max(abs(best_score) * 0.15, 3 * float((best.get("std") or {}).get(self.metric) or 0.0))
        if M.improvement(partial, best_score, self.metric) < -tolerance:
            return (f"screened on {done} of {total} folds only: {M.METRIC_LABELS[self.metric]} {partial:.3f}, "
                    f"far behind {best['name']} ({best_score:.3f})")
        return None

    def _expand(self, matrix: np.ndarray | None, classes: np.ndarray | None) -> np.ndarray | None:
        """Put a fold model's score columns in the order of every class (a fold may miss a class)."""
        if matrix is None or classes is None:
            return None
        matrix = np.asarray(matrix, dtype=float)
        if matrix.ndim == 1:  # binary decision_function
            matrix = np.column_stack([-matrix, matrix])
        if matrix.shape[1] == self.n_classes and len(classes) == self.n_classes:
            return matrix
        out = np.zeros((matrix.shape[0], self.n_classes))
        out[:, np.searchsorted(self.est_classes, classes)] = matrix
        return out

    # ------------------------------------------------------------------ the staged search

    def _entry(self, info_id: str, name: str, unit: str, stage: str, status: str = "done",
               reason: str | None = None, **fields: Any) -> dict[str, Any]:
        return {"model": info_id, "name": name, "unit": unit, "stage": stage, "status": status, "reason": reason,
                **fields}

    def _publish(self, entry: dict[str, Any], oof: np.ndarray | None = None, *, persist: bool = True) -> None:
        baseline = self.entries.get(BASELINE_ID)
        if entry.get("status") == "done" and entry["model"] != BASELINE_ID and baseline and \
                baseline.get("status") == "done" and _STAGE_DEPTH.get(baseline["stage"], 0) >= \
                min(_STAGE_DEPTH.get(entry["stage"], 0), 2):
            gain = M.improvement(entry["scores"].get(self.metric), baseline["scores"].get(self.metric), self.metric)
            entry["vsBaseline"] = round(gain, 6) if math.isfinite(gain) else None
        if persist:
            self.checkpoint.save(entry["unit"], entry, oof)
        public = {k: v for k, v in entry.items() if not k.startswith("_")}
        with self._lock:
            if oof is not None:
                self.oofs[entry["unit"]] = oof
            self.running.pop(entry["unit"], None)
            self.entries[entry["model"]] = public
            self._emit(TrainingEvent.candidate(public))

    def _run_unit(self, unit: str, model_id: str, name: str, stage: str, fs: FoldSet, timeout: float,
                  *, estimator: Any = None, params: dict[str, Any] | None = None,
                  extra: dict[str, Any] | None = None, fold_ids: list[int] | None = None,
                  prior_unit: str | None = None, prune: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Run (or reuse) one candidate unit; return its entry (never raises for a candidate's failure)."""
        saved = self.checkpoint.load(unit) if self.req.resume else None
        if saved is not None:
            oof = self.checkpoint.oof(unit)
            self._publish(saved, oof, persist=False)
            return saved
        if unit in self.req.stopped_units:
            entry = self._entry(model_id, name, unit, stage, "stopped", self.req.stopped_units[unit])
            self.log(f"{name}: {entry['reason']}.")
            self._publish(entry)
            return entry
        self.check_stop()
        self.unit_started(unit, timeout, name)
        prior = None
        if prior_unit is not None:
            screened = self.checkpoint.load(prior_unit)
            if screened is not None and screened.get("status") == "done" and screened.get("_foldScores"):
                prior = (screened, self.checkpoint.oof(prior_unit))
            else:
                fold_ids = None  # nothing to build on: every fold
        try:
            scores, oof = self._evaluate(model_id, fs, estimator=estimator, params=params, timeout=timeout,
                                         prune=prune, fold_ids=fold_ids, prior=prior)
        except TrainingCancelled:
            raise
        except _Overrun as exc:
            entry = self._entry(model_id, name, unit, stage, "stopped", str(exc))
            self.log(f"{name}: {exc}.")
            self._publish(entry)
            return entry
        except Exception as exc:  # one candidate's crash never ends the run
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            kind = exc.kind if isinstance(exc, LaneError) else type(exc).__name__
            if kind == LaneError.STOPPED:
                reason = f"failed: {detail}"
            else:
                reason = f"failed: {kind}{': ' + detail if detail else ''}"
            entry = self._entry(model_id, name, unit, stage, "failed", reason)
            self.log(f"{name} {reason}; skipped.")
            log.debug("candidate %s failed", unit, exc_info=True)
            self._publish(entry)
            return entry
        entry = self._entry(model_id, name, unit, stage, **scores, **(extra or {}))
        self._publish(entry, oof)
        value = entry["scores"].get(self.metric)
        shown = f"{value:.4f}" if isinstance(value, float) else "n/a"
        self.log(f"{name} ({stage}): {M.METRIC_LABELS[self.metric]} {shown} in {entry['wallSeconds']:.1f} s.")
        return entry

    def _search(self, candidates: list[ModelInfo]) -> None:
        spec = self.spec
        tunable = spec.tune_iterations > 0
        self.units_total = len(candidates) + spec.top_k + 1 + int(tunable) + int(spec.blend)
        cv = self._fold_set("cv", spec.cv_rows, spec.cv_folds)
        # A small table is screened on some folds of the cross-validation itself (each fold trains on
        # most rows, and the leaders later only fit the remaining folds); a larger one on a sample.
        shared = len(self.X_train) <= spec.screen_rows
        n_screen = max(1, min(len(cv.folds) - 1, spec.screen_folds))
        if shared:
            screen = cv
            screen_ids: list[int] | None = list(range(n_screen))
        else:
            screen = self._fold_set("screen", spec.screen_rows, spec.cv_folds, keep=n_screen)
            screen_ids = None
        self._start_lane(candidates, [cv] if shared else [cv, screen])
        prep = screen.prep_seconds + (0 if shared else cv.prep_seconds)
        self.log(f"Screening {len(candidates)} models on {screen.rows:,} rows with {n_screen} folds of "
                 f"{len(cv.folds)} (folds prepared in {prep:.1f} s).")
        self._screen(candidates, screen, screen_ids)
        del screen
        rest = [i for i in range(len(cv.folds)) if i not in (screen_ids or [])] if shared else None

        def prior(model_id: str) -> str | None:
            return f"screen:{model_id}" if shared else None

        ranked = self._ranked([e for e in self.entries.values()
                               if e["stage"] == STAGE_SCREEN and e["status"] == "done" and e["model"] != BASELINE_ID])
        if not ranked:
            reasons = sorted({str(e.get("reason") or "") for e in self.entries.values() if e["model"] != BASELINE_ID})
            detail = f" ({'; '.join(r for r in reasons if r)[:300]})" if any(reasons) else ""
            raise TrainingError(f"No model could be trained on this data: every candidate failed or was "
                                f"stopped{detail}; see the job's log.")
        self.log(f"Cross-validating the leaders on {cv.rows:,} rows with {len(cv.folds)} folds.")
        self._run_unit(f"cv:{BASELINE_ID}", BASELINE_ID, self.infos[BASELINE_ID].name, STAGE_CV, cv, MIN_SHARE_S,
                       fold_ids=rest, prior_unit=prior(BASELINE_ID))
        self.units_done += 1
        chosen = 0
        for entry in ranked:
            if chosen >= spec.top_k:
                break
            info = self.infos[entry["model"]]
            unit = f"cv:{info.id}"
            estimate = self._estimate(entry, cv, len(rest) if rest is not None else len(cv.folds))
            left = self.search_left()
            if estimate > left and not self._saved(unit) and chosen > 0:
                self.budget_hit = True
                entry = dict(entry, reason=f"not cross-validated: needs about {estimate:.0f} s, more than the "
                                           f"{max(0.0, left):.0f} s left")
                self._publish(entry, persist=False)
                continue
            timeout = max(MIN_SHARE_S, min(max(left, MIN_SHARE_S), max(5 * estimate, 0.25 * self.budget)))
            result = self._run_unit(unit, info.id, info.name, STAGE_CV, cv, timeout, fold_ids=rest,
                                    prior_unit=prior(info.id))
            if result["status"] == "done":
                chosen += 1
            self.units_done += 1
        self.units_done = len(candidates) + spec.top_k + 1
        best = self._best_single()
        if tunable and best is not None:
            self._tune(best, cv)
        self.units_done += int(tunable)
        if spec.blend:
            self._blend(cv)
        self.cv = cv

    def _screen(self, candidates: list[ModelInfo], screen: FoldSet, screen_ids: list[int] | None) -> None:
        """Screen every candidate, in two lanes when some are Python-bound.

        Quick models (linear, neighbours, naive Bayes, single trees) run first; the best of them is
        the fixed reference a Python-bound model is compared with after its first fold. Then the
        Python-bound models (a network, Theil-Sen, gradient boosting's Python loop...) run one after
        the other on one core, in a second thread, while the other models run on the other core:
        one holds the GIL, the others mostly release it, so both lanes progress. With the process
        lane (`folds.ProcessLane`) the second lane's fits run in another process, and this thread
        takes the Python-bound models still waiting once its own are done. A Python-bound model is
        compared with the fixed reference only, so the outcome does not depend on which lane ran it
        or on timing.
        """
        quick = [c for c in candidates if c.id == BASELINE_ID or (c.quick_tune and not c.python_bound)]
        slow = [c for c in candidates if c.python_bound and c not in quick]
        rest = [c for c in candidates if c not in quick and c not in slow]
        for info in quick:
            self._screen_one(info, screen, screen_ids, None)
        with self._lock:
            reference = [dict(e) for e in self.entries.values()]
        if not slow or self.n_jobs <= 1 or self.backend == "loky" or not TWO_LANES:
            own: list[dict[str, Any]] = list(reference)
            for info in rest + slow:
                self._screen_one(info, screen, screen_ids, own if info.python_bound else None)
            return
        failure: list[BaseException] = []
        # The costliest first: whatever is left when the other lane is done can move over to it.
        queue = collections.deque(reversed(slow))

        def take() -> ModelInfo | None:
            with self._lock:
                return queue.popleft() if queue and not failure else None

        def lane() -> None:
            try:
                while (info := take()) is not None:
                    self._screen_one(info, screen, screen_ids, list(reference))
            except BaseException as exc:  # surfaced in the main thread
                failure.append(exc)

        self._concurrent = True
        second = threading.Thread(target=lane, name="screen-python-bound", daemon=True)
        second.start()
        try:
            for info in rest:
                self._screen_one(info, screen, screen_ids, None)
            if self._lane_usable():
                # With the process lane, this thread is free once its own list is done: it takes
                # Python-bound models too, fitting them here while the lane fits its own.
                self._here.active = True
                while (waiting := take()) is not None:
                    self._screen_one(waiting, screen, screen_ids, list(reference))
        finally:
            self._here.active = False
            second.join()
            self._concurrent = False
        if failure:
            raise failure[0]

    def _screen_one(self, info: ModelInfo, screen: FoldSet, screen_ids: list[int] | None,
                    reference: list[dict[str, Any]] | None) -> None:
        unit = f"screen:{info.id}"
        train_rows = len(self.X_train)
        if info.max_rows is not None and train_rows > info.max_rows:
            reason = f"skipped: too slow for {train_rows:,} rows (used up to {info.max_rows:,})"
            self._skip(info, unit, STAGE_SCREEN, reason)
        elif info.id != BASELINE_ID and self.elapsed() > self.budget * SEARCH_SHARE * SCREEN_SHARE \
                and not self._saved(unit) and self._any_model_done():
            self.budget_hit = True
            self._skip(info, unit, STAGE_SCREEN, "skipped: the time budget ran out before it could be screened")
        else:
            entry = self._run_unit(unit, info.id, info.name, STAGE_SCREEN, screen,
                                   max(MIN_SHARE_S, 0.25 * self.budget), fold_ids=screen_ids, prune=reference)
            if reference is not None:
                reference.append(entry)
        with self._lock:
            self.units_done += 1

    def _any_model_done(self) -> bool:
        # The budget never leaves the run without a model: the first real candidate always runs.
        with self._lock:
            return any(e["status"] == "done" and e["model"] != BASELINE_ID for e in self.entries.values())

    def _saved(self, unit: str) -> bool:
        return self.req.resume and self.checkpoint.load(unit) is not None

    def _skip(self, info: ModelInfo, unit: str, stage: str, reason: str) -> None:
        saved = self.checkpoint.load(unit) if self.req.resume else None
        if saved is not None:
            self._publish(saved, self.checkpoint.oof(unit), persist=False)
            return
        self._publish(self._entry(info.id, info.name, unit, stage, "skipped", reason))

    def _ranked(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        key = M.sort_key(self.metric)
        return sorted(entries, key=lambda e: (key(e["scores"].get(self.metric)), e.get("fitSeconds") or 0.0))

    def _estimate(self, screened: dict[str, Any], cv: FoldSet, folds: int) -> float:
        info = self.infos[screened["model"]]
        per_fold = float(screened.get("foldSeconds") or 0.0)
        ratio = cv.train_rows / max(1, int(screened.get("rowsPerFold") or 1))
        per_fold *= max(1.0, ratio) ** info.cost_exponent
        _threads, workers = self._parallelism(info, folds, cv.cells)
        return per_fold * math.ceil(folds / workers)

    def _best_single(self) -> dict[str, Any] | None:
        done = [e for e in self.entries.values()
                if e["stage"] == STAGE_CV and e["status"] == "done" and e["model"] != BASELINE_ID]
        ranked = self._ranked(done)
        return ranked[0] if ranked else None

    # ------------------------------------------------------------------ tuning and blending

    def _tune(self, best: dict[str, Any], cv: FoldSet) -> None:
        info = self.infos[best["model"]]
        unit = f"tune:{info.id}"
        model_key = info.id + TUNED_SUFFIX
        name = f"{info.name} (tuned)"
        grid = dict(getattr(self.containers[info.id], "tune_grid", {}) or {})
        if not info.tunable or not grid or (self.spec.quick_tune_only and not info.quick_tune):
            return
        saved = self.checkpoint.load(unit) if self.req.resume else None
        if saved is not None:
            self._publish(saved, self.checkpoint.oof(unit), persist=False)
            return
        if unit in self.req.stopped_units:
            self._publish(self._entry(model_key, name, unit, STAGE_TUNE, "stopped", self.req.stopped_units[unit]))
            return
        # One configuration costs a whole cross-validation (the leader's own run may have reused
        # its screening folds), and random settings are on average heavier than the defaults.
        per_config = 1.5 * float(best.get("fitSeconds") or 0.0) / max(1, int(best.get("parallelFolds") or 1))
        left = self.search_left()
        # The number of settings tried depends on the budget only when the budget binds, so the same
        # data and options give the same model (which models get tuned is fixed by the preset).
        allowance = 0.6 * left
        affordable = int(allowance / per_config) if per_config > 0 else self.spec.tune_iterations
        n = min(self.spec.tune_iterations, affordable)
        if n < 2:
            self.budget_hit = self.budget_hit or left < per_config * 2
            self.log(f"No time left to tune {info.name} (each try takes about {per_config:.1f} s).")
            return
        rng = np.random.default_rng(self.seed)
        configs: list[dict[str, Any]] = []
        for _ in range(n * 4):
            config = {k: python_value(v[int(rng.integers(len(v)))]) for k, v in grid.items() if len(v)}
            if config not in configs:
                configs.append(config)
            if len(configs) >= n:
                break
        timeout = max(MIN_SHARE_S, min(max(left, MIN_SHARE_S), max(allowance, per_config) * 3))
        self.unit_started(unit, timeout, name)
        started = time.monotonic()
        best_entry: dict[str, Any] | None = None
        best_oof: np.ndarray | None = None
        tried = 0
        threads, _ = self._parallelism(info, len(cv.folds), cv.cells)
        for config in configs:
            self.check_stop()
            if tried and time.monotonic() - started + per_config > allowance:
                break
            try:
                estimator = self.make_estimator(info.id, threads, config)
                scores, oof = self._evaluate(info.id, cv, estimator=estimator, timeout=timeout)
            except TrainingCancelled:
                raise
            except Exception as exc:
                log.debug("tuning %s with %s failed: %s", info.id, config, exc)
                tried += 1
                continue
            tried += 1
            if best_entry is None or M.improvement(scores["scores"].get(self.metric),
                                                   best_entry["scores"].get(self.metric), self.metric) > 0:
                best_entry = dict(scores, params=config)
                best_oof = oof
        if best_entry is None:
            entry = self._entry(model_key, name, unit, STAGE_TUNE, "failed", f"failed: none of {tried} settings worked")
            self._publish(entry)
            return
        gain = M.improvement(best_entry["scores"].get(self.metric), best["scores"].get(self.metric), self.metric)
        reason = None if gain >= MARGIN else "no better than the default settings"
        entry = self._entry(model_key, name, unit, STAGE_TUNE, "done", reason, base=info.id, configsTried=tried,
                            **best_entry)
        entry["wallSeconds"] = round(time.monotonic() - started, 3)
        self._publish(entry, best_oof)
        self.log(f"Tuned {info.name}: {tried} settings tried; best {M.METRIC_LABELS[self.metric]} "
                 f"{entry['scores'].get(self.metric) or float('nan'):.4f} "
                 f"({'kept' if reason is None else 'not kept: ' + reason}).")

    def _blend(self, cv: FoldSet) -> None:
        unit = "blend"
        pool = [e for e in self.entries.values() if e["status"] == "done" and e["unit"] in self.oofs
                and e["stage"] in (STAGE_CV, STAGE_TUNE) and e["model"] != BASELINE_ID
                and (e["stage"] != STAGE_TUNE or e.get("reason") is None)]
        if self.classification:
            pool = [e for e in pool if self._has_proba(e)]
        # A tuned model replaces its untuned self in the blend.
        tuned_bases = {e.get("base") for e in pool if e["stage"] == STAGE_TUNE}
        pool = [e for e in pool if not (e["stage"] == STAGE_CV and e["model"] in tuned_bases)]
        members = self._ranked(pool)[:3]
        if len(members) < 2:
            return
        saved = self.checkpoint.load(unit) if self.req.resume else None
        if saved is not None:
            self._publish(saved, self.checkpoint.oof(unit), persist=False)
            return
        oof = np.mean([self.oofs[m["unit"]] for m in members], axis=0)
        keys = M.metrics_for(self.data.problem_type)
        per_fold: list[dict[str, float | None]] = []
        for f in cv.folds:
            part = oof[f.va_pos]
            if self.classification:
                per_fold.append(M.classification_scores(f.codes_va, part.argmax(axis=1), self.n_classes, proba=part))
            else:
                per_fold.append(M.regression_scores(f.codes_va, part[:, 0]))
        means, stds = M.mean_std(per_fold, keys)
        best = members[0]
        gain = M.improvement(means.get(self.metric), best["scores"].get(self.metric), self.metric)
        names = [m["model"] for m in members]
        reason = None if gain >= MARGIN else f"no better than {best['name']} alone"
        entry = self._entry(BLEND_ID, f"Blend ({' + '.join(names)})", unit, STAGE_BLEND, "done", reason,
                            scores=M.ordered(means, self.metric), std=M.ordered(stds, self.metric),
                            folds=len(cv.folds), rows=cv.rows,
                            fitSeconds=round(sum(float(m.get("fitSeconds") or 0) for m in members), 3),
                            wallSeconds=0.0, members=names)
        self._publish(entry, oof)
        self.log(f"Blend of {', '.join(names)}: {M.METRIC_LABELS[self.metric]} "
                 f"{means.get(self.metric) or float('nan'):.4f} "
                 f"({'kept' if reason is None else 'not kept: ' + reason}).")

    def _has_proba(self, entry: dict[str, Any]) -> bool:
        base = entry.get("base") or entry["model"]
        info = self.infos.get(base)
        return info is not None and info.probabilities

    # ------------------------------------------------------------------ choosing, evaluating, saving

    def _winner(self) -> dict[str, Any]:
        pool = [e for e in self.entries.values() if e["status"] == "done" and e["model"] != BASELINE_ID
                and e.get("reason") is None and e["stage"] in (STAGE_CV, STAGE_TUNE, STAGE_BLEND)]
        for entry in self._ranked(pool):
            if not self.req.stopped_units.get(f"final:{entry['model']}"):
                return entry
        screened = [e for e in self.entries.values() if e["status"] == "done" and e["model"] != BASELINE_ID]
        for entry in self._ranked(screened):
            if not self.req.stopped_units.get(f"final:{entry['model']}"):
                return entry
        raise TrainingError("No model could be trained on this data: every candidate failed or was stopped.")

    def _final_estimator(self, entry: dict[str, Any]) -> tuple[Any, str, list[str]]:
        """Return the unfitted estimator of the chosen entry, its display name and notes."""
        notes: list[str] = []
        if entry["model"] == BLEND_ID:
            from sklearn.ensemble import VotingClassifier, VotingRegressor

            members = []
            for key in entry["members"]:
                member = self.entries[key]
                base = member.get("base") or key
                info = self.infos[base]
                threads = self._final_threads(info)
                members.append((key, self.make_estimator(base, threads, member.get("params"))))
            if self.classification:
                est: Any = VotingClassifier(members, voting="soft")
            else:
                est = VotingRegressor(members)
            return est, entry["name"], notes
        base = entry.get("base") or entry["model"]
        info = self.infos[base]
        est = self.make_estimator(base, self._final_threads(info), entry.get("params"))
        name = info.name + (" (tuned)" if entry["stage"] == STAGE_TUNE else "")
        if self.classification and not hasattr(est, "predict_proba"):
            from sklearn.calibration import CalibratedClassifierCV

            est = CalibratedClassifierCV(est, method="sigmoid", cv=3)
            notes.append(f"{info.name} gives no probabilities, so it was calibrated (Platt scaling, 3 folds) to "
                         "report them.")
            name += " (calibrated)"
        return est, name, notes

    def _single_threaded(self, entry: dict[str, Any]) -> bool:
        """Whether the final fit of ``entry`` (each member of a blend) uses one thread."""
        keys = [self.entries[k].get("base") or k for k in entry["members"]] if entry["model"] == BLEND_ID \
            else [entry.get("base") or entry["model"]]
        return all(self._final_threads(self.infos[k]) == 1 for k in keys)

    def _final_threads(self, info: ModelInfo) -> int:
        cells = len(self.X_train) * len(self.data.features)
        threads, _ = self._parallelism(info, 1, cells)
        return threads if self.backend != "loky" else (self.n_jobs if info.threads_param else 1)

    def _pipeline(self, estimator: Any) -> Any:
        from pycaret.internal.pipeline import add_estimator_to_pipeline

        pipe = self._preprocessor()
        add_estimator_to_pipeline(pipe, estimator)
        return pipe

    def _holdout(self, pipe: Any) -> tuple[dict[str, float | None], np.ndarray, np.ndarray | None, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = np.asarray(pipe.predict(self.X_test))
            proba = None
            if self.classification and hasattr(pipe, "predict_proba"):
                proba = np.asarray(pipe.predict_proba(self.X_test), dtype=float)
        if not self.classification:
            y_true = np.asarray(self.y_test, dtype=float)
            return M.regression_scores(y_true, pred), y_true, None, pred
        y_true = self._label_codes(self.y_test)
        pred_codes = self._label_codes(pred)
        scores = M.classification_scores(y_true, pred_codes, self.n_classes, proba=proba)
        return scores, y_true, proba, pred_codes

    def _label_codes(self, labels: Any) -> np.ndarray:
        """Original labels → class codes (the order of predict_proba's columns)."""
        lookup = {python_value(v): i for i, v in enumerate(self.classes)}
        return np.array([lookup.get(python_value(v), -1) for v in np.asarray(labels)], dtype=int)

    def _fit(self, unit: str, label: str, estimator: Any, X: pd.DataFrame, y: pd.Series, estimate: float) -> Any:
        timeout = max(FINAL_TIMEOUT_MIN_S, 10 * estimate)
        self.unit_started(unit, timeout, label, Stage.EVALUATE)
        pipe = self._pipeline(estimator)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe.fit(X, y)
        self.unit_finished(unit, Stage.EVALUATE)
        return pipe

    def _evaluate_and_save(self, engine_seconds: float) -> dict[str, Any]:
        from sklearn.base import clone

        req = self.req
        winner = self._winner()
        estimator, name, notes = self._final_estimator(winner)
        for note in notes:
            self.log(note)
            self.warnings.append({"code": "calibrated", "level": "info", "message": note})
        self.log(f"Chosen: {name} (cross-validated {M.METRIC_LABELS[self.metric]} "
                 f"{winner['scores'].get(self.metric) or float('nan'):.4f}).")
        fold_seconds = float(winner.get("foldSeconds") or winner.get("fitSeconds") or 1.0)
        estimate = fold_seconds * max(1.0, len(self.X_train) / max(1, int(winner.get("rowsPerFold") or 1)))
        t = time.monotonic()
        req.model_dir.mkdir(parents=True, exist_ok=True)
        finalize = f"finalize:{winner['model']}"
        refit = None
        if self._lane_usable() and self._single_threaded(winner):
            # The model refitted on every row does not depend on the holdout evaluation: the lane
            # fits and saves it meanwhile, on the other core.
            self.unit_started(finalize, max(FINAL_TIMEOUT_MIN_S, 13 * estimate), name, Stage.EVALUATE)
            refit = self._pool().submit(self._lane.call, _refit_and_save,  # type: ignore[union-attr]
                                        self._pipeline(clone(estimator)), req.model_dir / MODEL_FILE)
        pipe_train = self._fit(f"final:{winner['model']}", name, clone(estimator), self.X_train, self.y_train, estimate)
        self.classes = self._pipeline_classes(pipe_train)
        holdout, y_true, proba, pred = self._holdout(pipe_train)
        baseline_pipe = self._pipeline(self.make_estimator(BASELINE_ID))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            baseline_pipe.fit(self.X_train, self.y_train)
        baseline, *_ = self._holdout(baseline_pipe)
        gain = M.improvement(holdout.get(self.metric), baseline.get(self.metric), self.metric)
        beats = bool(gain > 1e-9)
        label = M.METRIC_LABELS[self.metric]
        self.log(f"Holdout {label}: {holdout.get(self.metric) or float('nan'):.4f} "
                 f"(baseline {baseline.get(self.metric) or float('nan'):.4f}).")
        if not beats:
            message = (f"The chosen model is no better than the baseline on the holdout rows ({label} "
                       f"{holdout.get(self.metric) or float('nan'):.3f} against "
                       f"{baseline.get(self.metric) or float('nan'):.3f} for always predicting the "
                       f"{'most frequent class' if self.classification else 'mean'}): the columns may not "
                       "carry the signal needed to predict the target. Do not deploy it as it is.")
            self.log(message)
            self.warnings.append({"code": "no_better_than_baseline", "level": "warning", "message": message})

        # The review plots need only the holdout model; they are drawn while the final model is
        # refitted on every row (matplotlib's Agg canvas, one figure per plot, nothing shared).
        from concurrent.futures import ThreadPoolExecutor

        model_path = req.model_dir / MODEL_FILE
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="plots") as drawer:
            drawn = drawer.submit(self._plots, pipe_train, y_true, proba, pred)
            digest = None
            if refit is not None:
                try:
                    digest = refit.result()
                except LaneError as exc:
                    self.log(f"Refitting in the second process failed ({exc}); refitting here.")
                self.unit_finished(finalize, Stage.EVALUATE)
            if digest is None:
                pipe_final = self._fit(finalize, name, clone(estimator), pd.concat([self.X_train, self.X_test]),
                                       pd.concat([self.y_train, self.y_test]), estimate * 1.3)
                digest = _save_model(pipe_final, model_path)
            plots = drawn.result()
        del pipe_train
        final_seconds = time.monotonic() - t

        schema = build_schema(self.data, self.classes)
        write_json(req.model_dir / SCHEMA_FILE, schema.to_dict())
        environment = current_environment()
        write_json(req.model_dir / ENVIRONMENT_FILE, environment)
        leaderboard = self._leaderboard(winner)
        write_json(req.model_dir / LEADERBOARD_FILE, {"rankingMetric": self.metric, "leaderboard": leaderboard})
        home = req.home or req.model_dir.parent.parent
        relative = model_path.resolve().relative_to(home.resolve()).as_posix()
        holdout_ordered = M.ordered(holdout, self.metric)
        result: dict[str, Any] = {
            "success": True,
            "jobId": req.job_id,
            "datasetId": req.dataset_id,
            "model_name": name,
            "modelId": winner["model"],
            "estimator": type(estimator).__name__,
            "problem_type": self.data.problem_type,
            "metrics": holdout_ordered,
            "model_path": relative,
            "modelSha256": digest,
            "durationS": round(self.elapsed(), 2),
            "engineSeconds": round(engine_seconds + final_seconds, 2),
            "rankingMetric": self.metric,
            "rankingMetricReason": self.metric_reason,
            "cv": winner["scores"],
            "cvStd": winner.get("std"),
            "baseline": M.ordered(baseline, self.metric),
            "beatsBaseline": beats,
            "holdoutRows": len(self.X_test),
            "samples": len(self.data.frame),
            "features": len(self.data.features),
            "classes": [python_value(c) for c in self.classes],
            "target": self.data.target,
            "ignoredColumns": self.data.ignored,
            "leaderboard": leaderboard,
            "warnings": self.warnings,
            "environment": environment,
            "plots": plots,
            "preset": self.opts.preset,
            "budgetS": self.budget,
            "finalizedOnAllRows": True,
            "metricsNote": ("Holdout metrics are those of the chosen model fitted on the training rows and scored on "
                            "the 20% holdout; the saved model is then refitted on all rows."),
        }
        write_json(req.model_dir / RESULT_FILE, result)
        return result

    def _pipeline_classes(self, pipe: Any) -> list[Any]:
        if not self.classification:
            return []
        # predict_proba's columns follow the final estimator's classes_, decoded like predict() does.
        encoded = np.asarray(getattr(pipe, "classes_", self.est_classes))
        with contextlib.suppress(Exception):
            decoded = pipe.inverse_transform(encoded)
            return list(np.asarray(decoded))
        return list(encoded)

    def _plots(self, pipe: Any, y_true: np.ndarray, proba: np.ndarray | None, pred: np.ndarray) -> list[str]:
        try:
            if self.classification:
                docs = classification_plots(y_true, pred, self.classes, proba)
            else:
                docs = regression_plots(y_true, pred)
            docs["feature_importance"] = self._importance(pipe, y_true)
            return write_plots(self.req.model_dir, docs)
        except Exception as exc:  # the review screen can do without a plot; the model is what matters
            self.log(f"The review plots could not be drawn ({type(exc).__name__}: {exc}).")
            return []

    def _importance(self, pipe: Any, y_true: np.ndarray) -> dict[str, Any]:
        estimator = pipe.steps[-1][1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Xt = pipe[:-1].transform(self.X_test)
        if not isinstance(Xt, pd.DataFrame):
            Xt = pd.DataFrame(np.asarray(Xt))
        groups = column_groups([str(c) for c in Xt.columns], list(self.data.features))
        native = _native_importance(estimator, Xt.shape[1])
        if native is not None:
            # The model's own importances cost nothing; shuffling columns costs model calls on every column.
            return model_importance(native, groups)
        sign = 1.0 if M.higher_is_better(self.metric) else -1.0
        metric = self.metric
        needs_proba = metric in ("auc", "log_loss") and hasattr(estimator, "predict_proba")

        def score_blocks(rows: pd.DataFrame, blocks: int) -> list[float | None]:
            n = len(rows) // blocks
            if n != len(y_true):
                return [None] * blocks
            # One model call for every block: probabilities for AUC and log loss, labels otherwise.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.classification and needs_proba:
                    out = self._expand(estimator.predict_proba(rows), np.asarray(estimator.classes_))
                else:
                    out = np.asarray(estimator.predict(rows)).ravel()
            values: list[float | None] = []
            for b in range(blocks):
                part = out[b * n:(b + 1) * n]  # type: ignore[index]
                if not self.classification:
                    s = M.regression_scores(y_true, part)
                elif needs_proba:
                    s = M.classification_scores(y_true, part.argmax(axis=1), self.n_classes, proba=part)
                else:
                    s = M.classification_scores(y_true, self._codes(part), self.n_classes)
                value = s.get(metric)
                values.append(None if value is None else sign * value)
            return values

        if len(Xt) > IMPORTANCE_ROWS:
            # The importance shuffles only the rows it can score: a sample, in their order.
            keep = np.sort(np.random.default_rng(self.seed).choice(len(Xt), IMPORTANCE_ROWS, replace=False))
            Xt, y_true = Xt.iloc[keep], y_true[keep]
        return permutation_importance(score_blocks, Xt, groups, seed=self.seed)

    def _leaderboard(self, winner: dict[str, Any]) -> list[dict[str, Any]]:
        key = M.sort_key(self.metric)
        rows = [dict(e) for e in self.entries.values()]
        status_order = {"done": 0, "stopped": 1, "failed": 2, "skipped": 3}
        rows.sort(key=lambda e: (status_order.get(e["status"], 4), -_STAGE_DEPTH.get(e["stage"], 0),
                                 key((e.get("scores") or {}).get(self.metric))))
        for rank, row in enumerate(rows, 1):
            row["rank"] = rank
            row["chosen"] = row["model"] == winner["model"]
        return rows


@contextlib.contextmanager
def _fast_tune_grids() -> Any:
    """Memoise PyCaret's ``np_list_arange`` while ``setup`` runs.

    ``setup`` builds every model container (with its tuning grids) about fourteen times, and each
    grid is made by ``np_list_arange``, which rounds every value in Python: 345,000 ``round`` calls,
    measured at 5 of the 6 seconds ``setup`` took on the 442-row diabetes table (0.9 s with this).
    The function is pure, so caching its result per argument changes nothing but the time. The
    original is put back afterwards, so PyCaret used elsewhere in the process is untouched.
    """
    import pycaret.containers.models.classification as clf
    import pycaret.containers.models.regression as reg
    import pycaret.utils.generic as generic

    original = generic.np_list_arange
    cached = functools.lru_cache(maxsize=None)(lambda *args: tuple(original(*args)))

    def fast(start: float, stop: float, step: float, inclusive: bool = False) -> list[float]:
        return list(cached(start, stop, step, inclusive))

    modules = [m for m in (clf, reg) if getattr(m, "np_list_arange", None) is original]
    for module in modules:
        module.np_list_arange = fast
    try:
        yield
    finally:
        for module in modules:
            module.np_list_arange = original


def _native_importance(estimator: Any, width: int) -> np.ndarray | None:
    """Return the model's own importance of each model column (trees, linear models, their blends)."""
    values: np.ndarray | None = None
    if hasattr(estimator, "feature_importances_"):
        with contextlib.suppress(Exception):
            values = np.abs(np.asarray(estimator.feature_importances_, dtype=float)).ravel()
    elif hasattr(estimator, "coef_"):
        with contextlib.suppress(Exception):
            coef = np.abs(np.asarray(estimator.coef_, dtype=float))
            values = coef.mean(axis=0) if coef.ndim == 2 else coef.ravel()
    elif hasattr(estimator, "estimators_") and isinstance(getattr(estimator, "estimators_", None), list):
        parts = [_native_importance(member, width) for member in estimator.estimators_]
        if parts and all(p is not None for p in parts):
            values = np.mean([p / p.sum() if p.sum() > 0 else p for p in parts if p is not None], axis=0)
    if values is None or values.shape != (width,) or not np.all(np.isfinite(values)):
        return None
    return values


class _Overrun(Exception):
    """A candidate exceeded its time share between two folds."""


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


def _refit_and_save(inherited: dict[str, Any], pipe: Any, path: Path) -> str:
    """In the process lane: fit ``pipe`` on every row (training + holdout), save it, return its SHA-256."""
    X_train, y_train, X_test, y_test = inherited["rows"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(pd.concat([X_train, X_test]), pd.concat([y_train, y_test]))
    return _save_model(pipe, path)


def _save_model(pipe: Any, path: Path) -> str:
    """Write the pipeline atomically (temp file, fsync, rename), then hash the file on disk."""
    import joblib

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            joblib.dump(pipe, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return sha256_file(path)
