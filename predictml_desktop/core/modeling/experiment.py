"""The training engine's PyCaret: one experiment's set-up, its preprocessing, and its model factory.

Everything the search needs from PyCaret goes through `Experiment`, so a move to another engine (or
to PyCaret 4, an incompatible rewrite) changes this module, not the search: the search sees numpy
arrays of preprocessed folds, unfitted scikit-learn estimators and fitted pipelines.

PyCaret is imported inside functions only: importing this module is cheap, and the GUI and the
command line never load PyCaret through it.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

OHE_MAX_CATEGORIES: Final = 25
"""Categories up to which a column is one-hot encoded; above, PyCaret target-encodes it."""
SETUP_SAMPLE_ROWS: Final = 20_000
"""Above this many rows PyCaret is set up on a sample that keeps the table's structure (see `setup_experiment`)."""

WARM_MODULES: Final = (
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.neighbors",
    "sklearn.neural_network",
    "lightgbm",
    "xgboost",
    "catboost",
)
"""What a fitting process loads before its first task: the estimators' libraries (it never needs
PyCaret itself: it fits estimators on preprocessed arrays)."""

EXTRA_MODELS: Final = ("hgb", "brf")
"""Candidates that are scikit-learn models PyCaret 3.3.2 does not list (built here, not from a container)."""


class SetupError(ValueError):
    """PyCaret refused the data; the message says why."""


@dataclass
class Experiment:
    """A set-up experiment: the split, the preprocessing to fit per fold, and the model factory.

    Attributes
    ----------
    classification
        Whether the target is a class.
    X_train, y_train
        The rows the search and the holdout model train on.
    X_test, y_test
        The holdout rows, never seen by the search.
    seed
        The seed of every split and model.
    """

    classification: bool
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    seed: int
    _base: Any
    _containers: dict[str, Any]

    # ------------------------------------------------------------------ models

    def available(self, model_id: str) -> bool:
        """Whether ``model_id`` can be built here."""
        return model_id in self._containers or model_id in EXTRA_MODELS

    def tune_grid(self, model_id: str) -> dict[str, list[Any]]:
        """PyCaret's tuning grid of ``model_id`` (empty when it has none)."""
        container = self._containers.get(model_id)
        return dict(getattr(container, "tune_grid", {}) or {})

    def make_estimator(self, model_id: str, *, threads: int = 1, threads_param: str | None = None,
                       params: dict[str, Any] | None = None, boosting_rounds: int | None = None) -> Any:
        """Return an unfitted estimator of ``model_id`` with PyCaret's defaults and ``params`` on top.

        Parameters
        ----------
        model_id
            PyCaret's id (``lightgbm``), or one of `EXTRA_MODELS`.
        threads
            Cores the model may use (its ``threads_param``); every other thread knob is set to one.
        threads_param
            The parameter that sets its threads (``n_jobs``, ``thread_count``), if any.
        params
            Settings on top of the defaults (a tuning grid's point).
        boosting_rounds
            CatBoost's trees when ``params`` does not set them (its default 1,000 costs minutes).
        """
        params = dict(params or {})
        if model_id == "hgb":
            from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

            cls: Any = HistGradientBoostingClassifier if self.classification else HistGradientBoostingRegressor
            # Early stopping on an internal split would make the folds' fits depend on chance rows.
            return cls(**{"random_state": self.seed, "early_stopping": False, **params})
        if model_id == "brf":
            from imblearn.ensemble import BalancedRandomForestClassifier

            # imbalanced-learn 0.14's future defaults, set now (its warning says they will change).
            return BalancedRandomForestClassifier(**{
                "n_estimators": 100, "sampling_strategy": "all", "replacement": True, "bootstrap": False,
                "random_state": self.seed, "n_jobs": threads, **params})
        container = self._containers[model_id]
        args = dict(container.args)
        for key in ("n_jobs", "thread_count"):
            if key in args or threads_param == key:
                args[key] = threads if threads_param == key else 1
        if model_id == "lightgbm":
            args["verbose"] = -1
        elif model_id == "catboost":
            args["verbose"] = False
            args["allow_writing_files"] = False  # no catboost_info/ anywhere
            if boosting_rounds and not ({"n_estimators", "iterations"} & set(params)):
                args["n_estimators"] = boosting_rounds
        elif model_id == "xgboost":
            args["verbosity"] = 0
        args.update(params)
        return container.class_def(**args)

    # ------------------------------------------------------------------ preprocessing and pipelines

    def fit_transform(self, X: pd.DataFrame, y: pd.Series) -> tuple[Any, np.ndarray, np.ndarray]:
        """Fit a fresh copy of the preprocessing on ``X, y``; return it and the transformed rows.

        The target comes back as class codes 0..k-1 (classification) or floats.
        """
        pipe = self._preprocessor()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Xt, yt = pipe.fit_transform(X, y)
        return pipe, np.asarray(Xt, dtype=float), np.asarray(yt)

    def transform(self, fitted: Any, X: pd.DataFrame, y: pd.Series | None = None) -> tuple[np.ndarray, Any]:
        """Transform ``X`` (and ``y``) with a fitted preprocessing from `fit_transform`."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if y is None:
                return np.asarray(fitted.transform(X), dtype=float), None
            Xt, yt = fitted.transform(X, y)
        return np.asarray(Xt, dtype=float), np.asarray(yt)

    def fit_on_sample(self, X: pd.DataFrame, y: pd.Series, rows: int) -> Any:
        """Fit a fresh copy of the preprocessing on at most ``rows`` rows of ``X, y``; return it.

        Imputation values, categories, target encodings and scaling learned from a large random
        sample are those of the whole table to a few decimals, at a fraction of the time.
        """
        if len(X) > rows:
            keep = np.sort(np.random.default_rng(self.seed).choice(len(X), rows, replace=False))
            X, y = X.iloc[keep], y.iloc[keep]
        return self.fit_transform(X, y)[0]

    def column_names(self, fitted: Any, X: pd.DataFrame) -> list[str]:
        """Names of the model columns a fitted preprocessing makes from ``X`` (one-hot, date parts…)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Xt = fitted.transform(X.head(2))
        return [str(c) for c in getattr(Xt, "columns", range(np.asarray(Xt).shape[1]))]

    def unfitted_pipeline(self, estimator: Any) -> Any:
        """Return the whole pipeline (preprocessing + ``estimator``), unfitted."""
        from pycaret.internal.pipeline import add_estimator_to_pipeline

        pipe = self._preprocessor()
        add_estimator_to_pipeline(pipe, estimator)
        return pipe

    @staticmethod
    def assemble(fitted_preprocessing: Any, fitted_estimator: Any) -> Any:
        """Join a fitted preprocessing and an estimator fitted on its output into one fitted pipeline.

        The result is the PyCaret ``Pipeline`` the application saves: ``predict`` answers the original
        labels, ``predict_proba`` has a column per class code.
        """
        fitted_preprocessing.steps.append(("actual_estimator", fitted_estimator))
        return fitted_preprocessing

    @staticmethod
    def pipeline_classes(pipe: Any, n_classes: int) -> list[Any]:
        """Return the original labels in the order of ``pipe.predict_proba``'s columns."""
        codes = np.arange(n_classes)
        with contextlib.suppress(Exception):
            return list(np.asarray(pipe.inverse_transform(codes)))
        return list(codes)

    def _preprocessor(self) -> Any:
        from sklearn.base import clone

        return clone(self._base)


def setup_experiment(frame: pd.DataFrame, target: str, *, classification: bool, numeric: list[str],
                     categorical: list[str], dates: list[str], holdout_share: float, seed: int) -> Experiment:
    """Set up PyCaret on the prepared table: the holdout split and the preprocessing.

    The preprocessing is PyCaret's (imputation, one-hot encoding of low-cardinality and target
    encoding of high-cardinality categories, date features, normalisation), with no resampling:
    candidates are ranked by how well they order the rows, and the decision threshold is set
    afterwards (see `core.training.threshold`), which serves imbalanced classes better than
    synthetic rows.

    PyCaret's ``setup`` fits and transforms its whole pipeline on the data it is given, which the
    engine never uses (it fits the pipeline per fold): on a million rows that took a minute and
    gigabytes. A table over `SETUP_SAMPLE_ROWS` is therefore set up on a sample that keeps its
    structure (every class, and the values that decide each category column's encoding), and split
    here exactly as PyCaret splits (its dtype shrinking, then scikit-learn's ``train_test_split`` with
    the same seed, stratified): the same holdout rows, the same pipeline.

    Raises
    ------
    SetupError
        When PyCaret refuses the data.
    """
    big = len(frame) > SETUP_SAMPLE_ROWS
    setup_frame = _structure_sample(frame, target, categorical, classification, seed) if big else frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if classification:
            from pycaret.classification import ClassificationExperiment

            exp: Any = ClassificationExperiment()
        else:
            from pycaret.regression import RegressionExperiment

            exp = RegressionExperiment()
    kwargs: dict[str, Any] = {
        "data": setup_frame,
        "target": target,
        "train_size": 1 - holdout_share,
        "data_split_shuffle": True,
        "data_split_stratify": classification,
        "numeric_features": numeric or None,
        "categorical_features": categorical or None,
        "date_features": dates or None,
        # PyCaret's default makes day, month and year of a date; the day of the week is what most
        # dated records turn on (ridership, sales, visits), and trees cannot derive it from the others.
        "create_date_columns": ["day", "month", "year", "dayofweek"],
        "imputation_type": "simple",
        "max_encoding_ohe": OHE_MAX_CATEGORIES,
        # Scale-sensitive candidates (linear, kernel, neighbours, networks) need it; trees do not mind.
        "normalize": True,
        "n_jobs": 1,
        "use_gpu": False,
        "session_id": seed,
        "html": False,
        "verbose": False,
        # No logs.log in the working folder, no joblib cache in /tmp: nothing outside the data home.
        "system_log": False,
        "memory": False,
    }
    try:
        with warnings.catch_warnings(), _fast_tune_grids():
            warnings.simplefilter("ignore")
            exp.setup(**kwargs)
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    if big:
        X_train, X_test, y_train, y_test = _split(frame, target, holdout_share, seed, classification)
    else:
        X_train, X_test, y_train, y_test = exp.X_train, exp.X_test, exp.y_train, exp.y_test
    return Experiment(
        classification=classification, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, seed=seed,
        _base=_with_label_encoding(exp.pipeline, classification),
        _containers=dict(exp._all_models_internal),
    )


def _structure_sample(frame: pd.DataFrame, target: str, categorical: list[str], classification: bool,
                      seed: int) -> pd.DataFrame:
    """Return a sample of ``frame`` on which PyCaret builds the same pipeline as on the whole table.

    PyCaret chooses each category column's encoding from its number of distinct values (two: ordinal;
    up to `OHE_MAX_CATEGORIES`: one-hot; more: target encoding), so the sample holds a row of each of
    the most frequent ``OHE_MAX_CATEGORIES + 1`` values of every category column, and of every class.
    """
    rng = np.random.default_rng(seed)
    keep: set[int] = set(rng.choice(len(frame), size=SETUP_SAMPLE_ROWS, replace=False).tolist())
    covered = [*categorical, target] if classification else list(categorical)
    for column in covered:
        values = frame[column]
        for value in values.value_counts().index[:OHE_MAX_CATEGORIES + 1]:
            keep.add(int(np.flatnonzero((values == value).to_numpy())[0]))
    return frame.iloc[sorted(keep)]


def _split(frame: pd.DataFrame, target: str, holdout_share: float, seed: int,
           classification: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Split as PyCaret 3.3.2's ``setup`` does: dtypes shrunk, then ``train_test_split`` (shuffled, seeded)."""
    from pycaret.utils.generic import df_shrink_dtypes
    from sklearn.model_selection import train_test_split

    data = df_shrink_dtypes(frame)
    X, y = data.drop(columns=[target]), data[target]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=holdout_share, random_state=seed, shuffle=True, stratify=y if classification else None)
    return X_train, X_test, y_train, y_test


def _with_label_encoding(pipeline: Any, classification: bool) -> Any:
    """Return an unfitted copy of PyCaret's pipeline that always decodes class labels.

    PyCaret adds its label-encoding step only when the classes are not already 0..k-1, and only
    that step turns the estimator's answer into a flat series of labels: without it, CatBoost's
    multiclass ``predict`` answers an (n, 1) column. Adding the (then identity) step keeps
    ``pipeline.predict`` the same shape for every model and every target, using PyCaret's own
    classes only (the saved model needs nothing of this application to load).
    """
    from sklearn.base import clone

    base = clone(pipeline)
    if classification and "label_encoding" not in dict(base.steps):
        from pycaret.internal.preprocess.transformers import TransformerWrapperWithInverse
        from sklearn.preprocessing import LabelEncoder

        base.steps.insert(0, ("label_encoding", TransformerWrapperWithInverse(LabelEncoder())))
    return base


@contextlib.contextmanager
def _fast_tune_grids() -> Iterator[None]:
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


def transform_rows(fitted: Any, X: pd.DataFrame, y: pd.Series | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Transform rows with a fitted preprocessing; run in a fitting process, on one chunk of a large table."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if y is None:
            return np.asarray(fitted.transform(X), dtype=float), None
        Xt, yt = fitted.transform(X, y)
    return np.asarray(Xt, dtype=float), np.asarray(yt)
