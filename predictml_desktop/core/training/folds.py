"""Preprocessed cross-validation folds, shared with the fitting processes, and the fit of one fold.

A fold set is a (repeated) K-fold split of (a sample of) the training rows. For each fold the
preprocessing is fitted on the fold's training rows only (no leakage, as PyCaret's own
cross-validation does), and the transformed arrays are shared once with the fitting processes
(``share``: memory-mapped ``.npy`` files on this computer, scattered arrays on a cluster): every
candidate's fit of that fold uses the same arrays, so preparing a fold costs one preprocessing fit,
not one per model.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.modeling.experiment import Experiment
from predictml_desktop.core.training.pool import resolve

FAULTS_ENV: Final = "PREDICTML_TRAINING_FAULTS"
"""Fault injection for tests: ``hang:dt,crash:nb,abort:qda,spin:mlp`` makes a model's fits sleep
(a deadlock: no CPU used), raise, kill their process (a native crash), or compute for ever. Read in
the fitting processes, which inherit the environment; never set by the application."""


@dataclass(frozen=True)
class FoldRef:
    """How a fitting process gets one fold's arrays: the references ``share`` returned (see `pool.resolve`)."""

    X_tr: Any
    y_tr: Any
    X_va: Any


@dataclass
class Fold:
    """One fold: its shared arrays and, for scoring here, its validation rows' positions and targets."""

    ref: FoldRef
    va_pos: np.ndarray
    """Positions of the validation rows within the fold set's rows."""
    codes_va: np.ndarray
    """Class codes (or target values) of the validation rows."""
    repeat: int
    train_rows: int


@dataclass
class FoldSet:
    """The folds of one (repeated) K-fold split of (a sample of) the training rows.

    Attributes
    ----------
    name
        ``cv`` or ``rung1``…: names the rows it covers (candidates' scores are comparable only on
        the same set).
    folds
        Repeat 0's folds first, then repeat 1's…
    rows
        Rows of the set.
    n_splits, repeats
        K and how many times the K-fold split is drawn (with other shuffles).
    codes
        Target codes (classification) or values of every row of the set.
    width
        Model columns after preprocessing.
    prep_seconds
        Time the preprocessing of the folds took.
    """

    name: str
    folds: list[Fold]
    rows: int
    n_splits: int
    repeats: int
    codes: np.ndarray
    width: int
    prep_seconds: float

    @property
    def train_rows(self) -> int:
        """Mean training rows of a fold."""
        return int(np.mean([f.train_rows for f in self.folds])) if self.folds else 0

    @property
    def cells(self) -> int:
        """Training rows × model columns of a fold (what decides whether a model's threads pay off)."""
        return self.train_rows * self.width

    def fold_ids(self, repeat: int | None = None) -> list[int]:
        """Indexes of the folds of one repeat (all folds when ``repeat`` is None)."""
        return [i for i, f in enumerate(self.folds) if repeat is None or f.repeat == repeat]


def prepare_fold_set(
    exp: Experiment,
    name: str,
    *,
    max_rows: int,
    n_splits: int,
    repeats: int = 1,
    keep: int | None = None,
    share: Callable[[str, np.ndarray], Any],
    should_stop: Callable[[], bool] = lambda: False,
) -> FoldSet:
    """Preprocess the folds of a (repeated) K-fold split of at most ``max_rows`` training rows.

    Parameters
    ----------
    exp
        The set-up experiment (its training rows and preprocessing).
    name
        The set's name (its files go to ``folder/name``).
    max_rows
        A larger training set is sampled (stratified for classes) down to this.
    n_splits
        K. A class with fewer rows than K lowers it (a stratified split needs one per fold).
    repeats
        How many K-fold splits, each with another shuffle (small tables: more fits, less noise).
    keep
        Prepare only the first ``keep`` folds (a screening rung fits two folds of K).
    share
        Shares an array with the fitting processes under a name; returns its reference.
    should_stop
        Polled between folds.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    t = time.monotonic()
    X, y = exp.X_train, exp.y_train
    if len(X) > max_rows:
        stratify = y if exp.classification else None
        X, _, y, _ = train_test_split(X, y, train_size=max_rows, random_state=exp.seed, stratify=stratify)
    if exp.classification:
        smallest = int(pd.Series(y).value_counts().min())
        n_splits = max(2, min(n_splits, smallest))
    folds: list[Fold] = []
    codes = np.zeros(len(X), dtype=int if exp.classification else float)
    width = 0
    for repeat in range(repeats):
        seed = exp.seed + 7919 * repeat
        splitter: Any = (StratifiedKFold(n_splits, shuffle=True, random_state=seed) if exp.classification
                         else KFold(n_splits, shuffle=True, random_state=seed))
        for number, (tr, va) in enumerate(splitter.split(X, y)):
            if keep is not None and number >= keep:
                break
            if should_stop():
                raise InterruptedError
            _fitted, Xt, yt = exp.fit_transform(X.iloc[tr], y.iloc[tr])
            Xv, yv = exp.transform(_fitted, X.iloc[va], y.iloc[va])
            yv = np.asarray(yv)
            codes[va] = yv
            width = Xt.shape[1]
            tag = f"{name}-r{repeat}f{number}"
            ref = FoldRef(share(f"{tag}-Xtr", Xt), share(f"{tag}-ytr", yt), share(f"{tag}-Xva", Xv))
            folds.append(Fold(ref, va, yv, repeat, len(tr)))
    return FoldSet(name, folds, len(X), n_splits, repeats, codes, width, time.monotonic() - t)


FoldOutput = tuple[float, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]
"""Fit seconds, predictions, probabilities, decision scores and classes of one fold."""


def fit_fold(estimator: Any, X_tr: Any, y_tr: Any, X_va: Any, classification: bool, model_id: str = "") -> FoldOutput:
    """Fit one fold and predict its validation rows (runs in a fitting process; arrays as `pool.resolve` takes them)."""
    inject_fault(model_id)
    return fit_arrays(estimator, resolve(X_tr), resolve(y_tr), resolve(X_va), classification)


def fit_arrays(estimator: Any, X_tr: np.ndarray, y_tr: np.ndarray, X_va: np.ndarray,
               classification: bool) -> FoldOutput:
    """Fit ``estimator`` on ``X_tr, y_tr`` and predict ``X_va``."""
    from sklearn import config_context

    # The estimators come from PyCaret's containers and our variants, so re-validating their
    # parameters on every fit is pure overhead; and it is paid per tree by the ensembles that fit
    # sklearn trees one by one (gradient boosting's 100 stages × classes).
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator.fit(X_tr, y_tr)
        seconds = time.perf_counter() - start
        pred = np.asarray(estimator.predict(X_va))
        if pred.ndim == 2 and pred.shape[1] == 1:  # CatBoost's multiclass predict answers a column
            pred = pred.ravel()
        proba = decision = classes = None
        if classification:
            classes = np.asarray(getattr(estimator, "classes_", np.unique(y_tr)))
            if hasattr(estimator, "predict_proba"):
                try:
                    proba = np.asarray(estimator.predict_proba(X_va), dtype=float)
                except (AttributeError, NotImplementedError):
                    proba = None
            if proba is None and hasattr(estimator, "decision_function"):
                decision = np.asarray(estimator.decision_function(X_va), dtype=float)
    return seconds, pred, proba, decision, classes


def inject_fault(model_id: str) -> None:
    """Act out the test fault `FAULTS_ENV` names for ``model_id``, if any."""
    spec = os.environ.get(FAULTS_ENV, "")
    for item in filter(None, (s.strip() for s in spec.split(","))):
        kind, _, target = item.partition(":")
        if target != model_id:
            continue
        if kind == "hang":
            time.sleep(10**6)
        elif kind == "spin":
            while True:
                pass
        elif kind == "crash":
            raise RuntimeError(f"injected failure of {model_id} (test fault)")
        elif kind == "abort":
            os._exit(134)


def fit_estimator(estimator: Any, X_ref: Any, y_ref: Any, columns: list[str] | None = None,
                  model_id: str = "") -> Any:
    """Fit ``estimator`` on shared arrays and return it fitted (the final fits of the chosen members).

    With ``columns`` the rows are given as a DataFrame of those names: the saved pipeline hands its
    estimator PyCaret's named columns, and a model fitted without names warns (or, for some
    libraries, refuses) when it later predicts named ones.
    """
    from sklearn import config_context

    inject_fault(f"final-{model_id}")
    # Copies, not the read-only maps: this fitted model is kept, and some libraries write to the
    # arrays they were fitted on (scikit-learn's checks flip a DataFrame's arrays to writable).
    X: Any = np.array(resolve(X_ref))
    if columns is not None:
        X = pd.DataFrame(X, columns=columns)
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore")
        estimator.fit(X, np.array(resolve(y_ref)))
    return estimator
