"""What a finished training writes and reports: plots, feature importance, leaderboard, result document."""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.choice import FinalChoice
from predictml_desktop.core.training.context import Run
from predictml_desktop.core.training.finalize import Fitted
from predictml_desktop.core.training.plots import (
    IMPORTANCE_ROWS,
    classification_plots,
    column_groups,
    model_importance,
    permutation_importance,
    regression_plots,
    write_plots,
)
from predictml_desktop.core.training.state import STAGE_DEPTH


def draw_plots(run: Run, fitted: Fitted, y_true: np.ndarray, proba: np.ndarray | None, pred: np.ndarray,
               classes: list[Any]) -> list[str]:
    """Write the review plots of the holdout model; return their names (none if drawing failed)."""
    try:
        if run.classification:
            docs = classification_plots(y_true, pred, classes, proba)
        else:
            docs = regression_plots(y_true, pred)
        docs["feature_importance"] = importance(run, fitted, y_true)
        summary = contribution_summary(run, fitted, classes)
        if summary is not None:
            docs["contribution_summary"] = summary
        return write_plots(run.request.model_dir, docs)
    except Exception as exc:  # noqa: BLE001 - the review screen can do without a plot; the model is what matters
        run.report.log(f"The review plots could not be drawn ({type(exc).__name__}: {exc}).")
        return []


SUMMARY_ROWS = 200
"""Holdout rows explained for the review's contribution summary (the sampling method's cost is bounded too)."""


def contribution_summary(run: Run, fitted: Fitted, classes: list[Any]) -> dict[str, Any] | None:
    """Explain holdout rows with the prediction path's own method (`core.prediction.explaining`); None if it fails."""
    from predictml_desktop.core.modeling.fast_path import ColumnBatch
    from predictml_desktop.core.prediction.explaining import explain_features, summary_document
    from predictml_desktop.core.prediction.loading import LoadedModel
    from predictml_desktop.core.training.schema import build_schema

    try:
        schema = build_schema(run.data, classes)
        names = [f.name for f in schema.features]
        rows = run.exp.X_test[names].head(SUMMARY_ROWS).reset_index(drop=True)
        model = LoadedModel(dataset_id=run.request.dataset_id, job_id=run.request.job_id, model_name="holdout",
                            schema=schema, pipeline=fitted.pipeline, sha256="", path=run.request.model_dir)
        explanation = explain_features(model, ColumnBatch({c: rows[c].to_numpy() for c in names}, names), rows)
        return summary_document(explanation, title=f"Contributions ({len(rows):,} holdout rows)")
    except Exception as exc:  # noqa: BLE001 - the review can do without this plot; the model is what matters
        run.report.log(f"The contribution summary could not be computed ({type(exc).__name__}: {exc}).")
        return None


def importance(run: Run, fitted: Fitted, y_true: np.ndarray) -> dict[str, Any]:
    """Each input column's importance: the model's own where it has one, else permutation on the holdout."""
    estimator = fitted.estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xt = fitted.pipeline[:-1].transform(run.exp.X_test)
    if not isinstance(Xt, pd.DataFrame):
        Xt = pd.DataFrame(np.asarray(Xt))
    groups = column_groups([str(c) for c in Xt.columns], list(run.data.features))
    native = native_importance(estimator, Xt.shape[1])
    if native is not None:
        # The model's own importances cost nothing; shuffling columns costs model calls on every column.
        return model_importance(native, groups)
    sign = 1.0 if run.higher_is_better else -1.0
    needs_proba = run.classification and hasattr(estimator, "predict_proba")

    def score_blocks(rows: pd.DataFrame, blocks: int) -> list[float | None]:
        n = len(rows) // blocks
        if n != len(y_true):
            return [None] * blocks
        # One model call for every block: probabilities for classes, values otherwise.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = np.asarray(estimator.predict_proba(rows) if needs_proba else estimator.predict(rows))
        values: list[float | None] = []
        for b in range(blocks):
            part = out[b * n:(b + 1) * n]
            if not run.classification:
                s = M.regression_scores(y_true, part.ravel())
            elif needs_proba:
                s = M.classification_scores(y_true, part.argmax(axis=1), run.n_classes, proba=part)
            else:
                s = M.classification_scores(y_true, part.ravel().astype(int), run.n_classes)
            value = s.get(run.metric)
            values.append(None if value is None else sign * value)
        return values

    if len(Xt) > IMPORTANCE_ROWS:
        # The importance shuffles only the rows it can score: a sample, in their order.
        keep = np.sort(np.random.default_rng(run.exp.seed).choice(len(Xt), IMPORTANCE_ROWS, replace=False))
        Xt, y_true = Xt.iloc[keep], y_true[keep]
    return permutation_importance(score_blocks, Xt, groups, seed=run.exp.seed)


def native_importance(estimator: Any, width: int) -> np.ndarray | None:
    """Return the model's own importance of each model column (trees, linear models, their weighted ensembles)."""
    values: np.ndarray | None = None
    if hasattr(estimator, "feature_importances_"):
        with contextlib.suppress(Exception):
            values = np.abs(np.asarray(estimator.feature_importances_, dtype=float)).ravel()
    elif hasattr(estimator, "coef_"):
        with contextlib.suppress(Exception):
            coef = np.abs(np.asarray(estimator.coef_, dtype=float))
            values = coef.mean(axis=0) if coef.ndim == 2 else coef.ravel()
    elif isinstance(getattr(estimator, "estimators_", None), list):
        parts = [native_importance(member, width) for member in estimator.estimators_]
        weights = list(getattr(estimator, "weights", None) or [1.0] * len(parts))
        if parts and all(p is not None for p in parts):
            shares = [p / p.sum() if p.sum() > 0 else p for p in parts if p is not None]
            values = np.average(shares, axis=0, weights=weights)
    if values is None or values.shape != (width,) or not np.all(np.isfinite(values)):
        return None
    return values


def leaderboard(run: Run, choice: FinalChoice) -> list[dict[str, Any]]:
    """Every candidate's latest row, finished first and deepest stage first, best score first."""
    key = M.sort_key(run.metric)
    rows = [e.to_entry() for e in run.state.evaluations.values()]
    status_order = {"done": 0, "stopped": 1, "failed": 2, "skipped": 3}
    rows.sort(key=lambda e: (status_order.get(e["status"], 4), -STAGE_DEPTH.get(e["stage"], 0),
                             key((e.get("scores") or {}).get(run.metric))))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        row["chosen"] = row["model"] == choice.key
    return rows


def ensemble_document(run: Run, choice: FinalChoice, fitted: Fitted) -> list[dict[str, Any]]:
    """Return the final model's members, their weights after the final fits, and their names."""
    names = {candidate.key: candidate.name for candidate, _ in choice.members}
    return [{"model": key, "name": names.get(key, key), "weight": round(weight, 4)}
            for key, weight in zip(fitted.members, fitted.weights, strict=True)]


def finite(value: float | None) -> str:
    """Format a score for a log line."""
    return f"{value:.4f}" if value is not None and math.isfinite(value) else "n/a"
