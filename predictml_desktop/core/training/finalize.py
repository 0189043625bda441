"""The final fits: the chosen model on the training rows (scored on the holdout) and on every row (saved).

1. The preprocessing is fitted on the training rows here, and each member of the chosen model is
   fitted on its output in the pool, side by side.
2. Meanwhile the preprocessing is fitted on every row (training + holdout) here, and the members
   again in the pool: that is the model the application saves and serves.
3. The holdout model is assembled and scored on the holdout rows (never seen by the search), at the
   chosen decision threshold, beside the baseline; the review plots are drawn from it.

When the user stopped the training, or too little of the budget is left for step 2, the model fitted
on the training rows is saved instead (and the result says so): the job always ends with a usable,
reviewable model when any candidate finished.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.candidates import build_estimator
from predictml_desktop.core.training.choice import FinalChoice
from predictml_desktop.core.training.context import MIN_SHARE_S, Run
from predictml_desktop.core.training.events import Stage
from predictml_desktop.core.training.folds import fit_estimator
from predictml_desktop.core.training.jobs import TrainingError
from predictml_desktop.core.training.pool import TaskFailed, TaskStopped

PROGRESS_EVERY_S: Final = 15.0
PREP_SAMPLE_ROWS: Final = 100_000
"""Above this many rows the final preprocessing is fitted on a sample and applied in chunks in the pool."""
PREP_CHUNK_ROWS: Final = 100_000
FINAL_SHARE_FACTOR: Final = 20.0
"""A final fit's time share: this many times its estimate (a fold's fit scaled to all rows)."""


@dataclass
class Fitted:
    """A fitted model: its preprocessing, its estimator, and what was dropped on the way."""

    pipeline: Any
    estimator: Any
    members: list[str]
    """The keys of the members that were fitted (a failed member is dropped)."""
    weights: list[float]
    dropped: list[str]
    """Each dropped member with the reason."""


def fit_final(run: Run, choice: FinalChoice, X: pd.DataFrame, y: pd.Series, *, tag: str,
              start_only: bool = False) -> Any:
    """Fit the preprocessing on ``X, y`` here and submit every member's fit to the pool.

    Returns a handle for `collect` (the preprocessing, its output's columns and the members' futures).
    """
    unit = f"prepare:{tag}"
    run.report.unit(unit, max(60.0, 0.5 * run.clock.budget_s), Stage.EVALUATE, f"preparing the {tag} rows")
    try:
        if len(X) > PREP_SAMPLE_ROWS:
            pre, Xt, yt = _prepare_large(run, X, y)
        else:
            pre, Xt, yt = run.exp.fit_transform(X, y)
        columns = run.exp.column_names(pre, X)
    finally:
        run.report.unit_done(unit)
    x_path, y_path = run.pool.share(f"final-{tag}-X", Xt), run.pool.share(f"final-{tag}-y", yt)
    cells = Xt.shape[0] * Xt.shape[1]
    futures: list[tuple[str, float, Future[Any]]] = []
    for candidate, weight in choice.members:
        threads = run.threads_for(candidate.info, cells)
        try:
            estimator = build_estimator(run.exp, candidate, threads=threads, boosting_rounds=run.spec.boosting_rounds)
        except Exception as exc:  # noqa: BLE001 - a member that cannot be built is left out, like a failed fit
            failed: Future[Any] = Future()
            failed.set_exception(TaskFailed(type(exc).__name__, str(exc)[:200]))
            futures.append((candidate.key, weight, failed))
            continue
        timeout = _share(run, choice, candidate.key, len(Xt))
        future = run.pool.submit(fit_estimator, estimator, x_path, y_path, columns, candidate.model_id,
                                 slots=threads, timeout=timeout,
                                 label=f"{candidate.key} on {len(Xt):,} rows")
        futures.append((candidate.key, weight, future))
    return pre, columns, futures


def collect(run: Run, handle: Any, *, tag: str, stoppable: bool = False) -> Fitted:
    """Wait for the members' fits of `fit_final` and assemble the fitted pipeline.

    A member whose fit failed is dropped from an ensemble (the weights of the others are scaled up);
    when none is left, the training fails with one sentence.

    Raises
    ------
    TrainingError
        When no member could be fitted.
    StopRequested
        When ``stoppable`` and the user stops the training meanwhile.
    """
    pre, _columns, futures = handle
    fitted: list[tuple[str, Any]] = []
    weights: list[float] = []
    dropped: list[str] = []
    started = last_news = time.monotonic()
    for key, weight, future in futures:
        while True:
            try:
                estimator = future.result(timeout=0.5)
                break
            except TimeoutError:
                if stoppable:
                    run.check_stop()
                if time.monotonic() - last_news >= PROGRESS_EVERY_S:
                    # A long fit is never silent: the user (and the runner's watchdog) hear from it.
                    last_news = time.monotonic()
                    done = sum(f.done() for _, _, f in futures)
                    run.report.log(f"Still fitting the chosen model on the {tag} rows: {done} of {len(futures)} "
                                   f"member{'s' if len(futures) > 1 else ''} done, "
                                   f"{last_news - started:.0f} s so far.")
                    run.report.progress(80 + min(15.0, (last_news - started) / 10), Stage.EVALUATE)
            except (TaskFailed, TaskStopped) as exc:
                estimator = None
                dropped.append(f"{key} ({exc})")
                break
        if estimator is not None:
            fitted.append((key, estimator))
            weights.append(weight)
    if not fitted:
        raise TrainingError(f"The chosen model could not be fitted on the {tag} rows: {'; '.join(dropped)}.")
    total = sum(weights)
    weights = [w / total for w in weights]
    estimator = fitted[0][1] if len(fitted) == 1 else assemble_ensemble(fitted, weights, run.classification,
                                                                        run.n_classes)
    pipeline = run.exp.assemble(pre, estimator)
    return Fitted(pipeline, estimator, [key for key, _ in fitted], weights, dropped)


def _prepare_large(run: Run, X: pd.DataFrame, y: pd.Series) -> tuple[Any, np.ndarray, np.ndarray]:
    """Fit the preprocessing on a sample of a large table, and transform it in chunks, side by side in the pool.

    PyCaret's pipeline works through pandas one step at a time: on 800,000 rows, fitting and
    transforming them here took minutes, every core but one idle.
    """
    from predictml_desktop.core.modeling.experiment import transform_rows

    started = time.monotonic()
    pre = run.exp.fit_on_sample(X, y, PREP_SAMPLE_ROWS)
    bounds = list(range(0, len(X), PREP_CHUNK_ROWS))
    chunks = [run.pool.submit(transform_rows, pre, X.iloc[i:i + PREP_CHUNK_ROWS], y.iloc[i:i + PREP_CHUNK_ROWS],
                              label=f"preparing rows {i + 1:,}-{min(len(X), i + PREP_CHUNK_ROWS):,}")
              for i in bounds]
    parts = [future.result() for future in chunks]
    Xt = np.concatenate([p[0] for p in parts])
    yt = np.concatenate([p[1] for p in parts])
    run.report.log(f"Prepared {len(X):,} rows in {time.monotonic() - started:.0f} s (the preprocessing fitted on "
                   f"{PREP_SAMPLE_ROWS:,} of them, applied in {len(bounds)} chunks).")
    return pre, Xt, yt


def assemble_ensemble(members: list[tuple[str, Any]], weights: list[float], classification: bool,
                      n_classes: int) -> Any:
    """Join fitted members into a fitted scikit-learn voting ensemble with ``weights``.

    Soft voting (the weighted mean of the members' probabilities) for classes, the weighted mean of
    their predictions for quantities: exactly the blend the out-of-fold selection scored. A standard
    scikit-learn class, so the saved model needs nothing of this application to load.
    """
    from sklearn.ensemble import VotingClassifier, VotingRegressor
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import Bunch

    names = [_safe_name(key, i) for i, (key, _) in enumerate(members)]
    estimators = [est for _, est in members]
    pairs = list(zip(names, estimators, strict=True))
    ensemble: Any
    if classification:
        ensemble = VotingClassifier(pairs, voting="soft", weights=weights)
        ensemble.le_ = LabelEncoder().fit(np.arange(n_classes))
        ensemble.classes_ = ensemble.le_.classes_
    else:
        ensemble = VotingRegressor(pairs, weights=weights)
    ensemble.estimators_ = estimators
    ensemble.named_estimators_ = Bunch(**dict(pairs))
    return ensemble


def holdout_predictions(run: Run, fitted: Fitted, threshold: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions (class codes, or values) and probabilities of the holdout rows.

    A yes/no model answers the positive class from the threshold on, as every prediction path does.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not run.classification:
            return np.asarray(fitted.pipeline.predict(run.exp.X_test), dtype=float), None
        proba = np.asarray(fitted.pipeline.predict_proba(run.exp.X_test), dtype=float)
    if threshold is not None and proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(int), proba
    return proba.argmax(axis=1), proba


def baseline_scores(run: Run, classes: list[Any]) -> dict[str, float | None]:
    """Return the baseline's holdout scores (the most frequent class, or the mean)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    y_train, y_test = run.exp.y_train, run.exp.y_test
    if not run.classification:
        guess = DummyRegressor().fit(np.zeros((len(y_train), 1)), y_train).predict(np.zeros((len(y_test), 1)))
        return M.regression_scores(np.asarray(y_test, dtype=float), guess)
    codes_train, codes_test = label_codes(classes, y_train), label_codes(classes, y_test)
    dummy = DummyClassifier().fit(np.zeros((len(codes_train), 1)), codes_train)
    proba = _expand(dummy.predict_proba(np.zeros((len(codes_test), 1))), dummy.classes_, run.n_classes)
    return M.classification_scores(codes_test, proba.argmax(axis=1), run.n_classes, proba=proba)


def label_codes(classes: list[Any], labels: Any) -> np.ndarray:
    """Original labels → class codes (positions in ``classes``, the order of ``predict_proba``'s columns)."""
    from predictml_desktop.core.training.schema import python_value

    lookup = {python_value(c): i for i, c in enumerate(classes)}
    return np.array([lookup.get(python_value(v), -1) for v in np.asarray(labels)], dtype=int)


def _expand(matrix: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((matrix.shape[0], k))
    out[:, np.asarray(classes, dtype=int)] = matrix
    return out


def estimate_seconds(run: Run, choice: FinalChoice, rows: int) -> float:
    """About how long fitting ``choice`` on ``rows`` rows takes (its members' fold times, scaled, side by side)."""
    total = 0.0
    for candidate, _weight in choice.members:
        evaluation = run.state.evaluations.get(candidate.key)
        if evaluation is None or not evaluation.ok or evaluation.rows_per_fold <= 0:
            continue
        ratio = max(1.0, rows / evaluation.rows_per_fold)
        total += evaluation.fold_seconds * ratio ** candidate.info.cost_exponent
    return total / max(1, min(run.cores, len(choice.members)))


def _share(run: Run, choice: FinalChoice, key: str, rows: int) -> float:
    evaluation = run.state.evaluations.get(key)
    if evaluation is None or not evaluation.ok or evaluation.rows_per_fold <= 0:
        return max(MIN_SHARE_S, 0.5 * run.clock.budget_s)
    estimate = evaluation.fold_seconds * max(1.0, rows / evaluation.rows_per_fold)
    return max(MIN_SHARE_S * 2, FINAL_SHARE_FACTOR * estimate, 0.1 * run.clock.budget_s)


def _safe_name(key: str, index: int) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in key).strip("_") or "member"
    return f"{cleaned}_{index}" if "__" in cleaned else cleaned
