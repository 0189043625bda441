"""Plot data for the review screen, as JSON and as PNG (drawn with matplotlib's Agg canvas).

Classification: confusion matrix, ROC and precision-recall curves, feature importance.
Regression: residuals, predicted vs actual, feature importance. Everything is computed on the
holdout rows, which no search step saw. Curves and scatters are thinned so each JSON stays small.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import PLOTS_DIR, write_json

log = logging.getLogger(__name__)

MAX_CURVE_POINTS: Final = 400
MAX_SCATTER_POINTS: Final = 2_000
MAX_CURVE_CLASSES: Final = 10
TOP_FEATURES: Final = 20
IMPORTANCE_TIME_S: Final = 6.0
IMPORTANCE_ROWS: Final = 2_000
STACK_CELLS: Final = 4_000_000
"""Cells of shuffled copies stacked into one model call (about 32 MB of floats)."""


def _thin(n: int, limit: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _floats(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def _label(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def classification_plots(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: list[Any],
    proba: np.ndarray | None,
) -> dict[str, dict[str, Any]]:
    """Return confusion matrix, ROC and precision-recall documents for holdout predictions (class codes)."""
    from sklearn.metrics import auc, average_precision_score, confusion_matrix, precision_recall_curve, roc_curve

    n = len(classes)
    labels = [_label(c) for c in classes]
    docs: dict[str, dict[str, Any]] = {
        "confusion_matrix": {
            "kind": "confusion_matrix",
            "title": "Confusion matrix (holdout)",
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=list(range(n))).astype(int).tolist(),
            "xLabel": "Predicted", "yLabel": "Actual",
        }
    }
    if proba is None:
        return docs
    targets = [1] if n == 2 else list(range(min(n, MAX_CURVE_CLASSES)))
    roc_curves, pr_curves = [], []
    for c in targets:
        positives = y_true == c
        if positives.all() or not positives.any():
            continue
        fpr, tpr, _ = roc_curve(positives, proba[:, c])
        keep = _thin(len(fpr), MAX_CURVE_POINTS)
        roc_curves.append({"label": labels[c], "fpr": _floats(fpr[keep]), "tpr": _floats(tpr[keep]),
                           "auc": float(auc(fpr, tpr))})
        precision, recall, _ = precision_recall_curve(positives, proba[:, c])
        keep = _thin(len(precision), MAX_CURVE_POINTS)
        pr_curves.append({"label": labels[c], "precision": _floats(precision[keep]), "recall": _floats(recall[keep]),
                          "averagePrecision": float(average_precision_score(positives, proba[:, c])),
                          "prevalence": float(positives.mean())})
    if roc_curves:
        docs["roc"] = {"kind": "roc", "title": "ROC curve (holdout)", "curves": roc_curves,
                       "xLabel": "False positive rate", "yLabel": "True positive rate"}
        docs["precision_recall"] = {"kind": "precision_recall", "title": "Precision-recall curve (holdout)",
                                    "curves": pr_curves, "xLabel": "Recall", "yLabel": "Precision"}
    return docs


def regression_plots(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, dict[str, Any]]:
    """Return residuals and predicted-vs-actual documents for holdout predictions."""
    keep = _thin(len(y_true), MAX_SCATTER_POINTS)
    actual, predicted = np.asarray(y_true, dtype=float)[keep], np.asarray(y_pred, dtype=float)[keep]
    return {
        "residuals": {"kind": "residuals", "title": "Residuals (holdout)", "predicted": _floats(predicted),
                      "residual": _floats(actual - predicted), "xLabel": "Predicted", "yLabel": "Actual − predicted"},
        "predicted_vs_actual": {"kind": "predicted_vs_actual", "title": "Predicted vs actual (holdout)",
                                "actual": _floats(actual), "predicted": _floats(predicted),
                                "xLabel": "Actual", "yLabel": "Predicted"},
    }


def permutation_importance(
    score_blocks: Callable[[pd.DataFrame, int], list[float | None]],
    Xt: pd.DataFrame,
    groups: dict[str, list[int]],
    *,
    seed: int,
    time_limit_s: float = IMPORTANCE_TIME_S,
) -> dict[str, Any]:
    """Return the drop of the score when each input column is shuffled (model-agnostic importance).

    Works on the preprocessed holdout, so the preprocessing is not repeated: every model column
    derived from one input column (its one-hot columns, its date parts) is shuffled with the same
    permutation, which is exactly shuffling the input column itself, as every preprocessing step
    works row by row.

    The shuffled copies are stacked, so the model is called once per batch of columns rather than
    once per column: a forest's or a blend's fixed cost per call (one pass over every tree) was
    most of the time on a 60-column table.

    Parameters
    ----------
    score_blocks
        ``score_blocks(rows, m)`` scores ``m`` stacked blocks of ``len(Xt)`` preprocessed rows each
        and returns one score per block (higher is better; None where it cannot be computed).
    Xt
        The preprocessed holdout rows. The caller keeps at most `IMPORTANCE_ROWS` of them, as
        ``score_blocks`` must know the true values of exactly these rows.
    groups
        Input column → positions of the model columns made from it.
    seed
        Seed of the shuffles.
    time_limit_s
        Columns not reached within this time are left out (and the document says so).
    """
    rng = np.random.default_rng(seed)
    Xt = Xt.reset_index(drop=True)
    base = score_blocks(Xt, 1)[0] if len(Xt) else None
    out: list[dict[str, Any]] = []
    started = time.monotonic()
    complete = True
    names = list(groups)
    per_call = max(1, STACK_CELLS // max(1, Xt.shape[0] * Xt.shape[1]))
    values = Xt.to_numpy(copy=True)
    for first in range(0, len(names) if base is not None else 0, per_call):
        if time.monotonic() - started > time_limit_s:
            complete = False
            break
        batch = names[first:first + per_call]
        blocks = []
        for name in batch:
            order = rng.permutation(len(Xt))
            shuffled = values.copy()
            for pos in groups[name]:
                shuffled[:, pos] = values[order, pos]
            blocks.append(shuffled)
        stacked = pd.DataFrame(np.vstack(blocks), columns=Xt.columns).astype(Xt.dtypes.to_dict())
        for name, value in zip(batch, score_blocks(stacked, len(batch)), strict=True):
            if value is not None:
                out.append({"name": str(name), "importance": float(base - value)})  # type: ignore[operator]
    out.sort(key=lambda d: d["importance"], reverse=True)
    return {
        "kind": "feature_importance",
        "title": "Feature importance (holdout, drop in score when a column is shuffled)",
        "method": "permutation",
        "features": out[:TOP_FEATURES],
        "complete": complete,
        "xLabel": "Drop in score", "yLabel": "Feature",
    }


def model_importance(values: np.ndarray, groups: dict[str, list[int]]) -> dict[str, Any]:
    """Return the model's own importances summed per input column, scaled to add up to 1.

    Trees give their impurity decrease, linear models their coefficients (on normalised inputs).
    """
    total = float(np.sum(values)) or 1.0
    shares = sorted(((float(np.sum(values[positions]) / total), str(name)) for name, positions in groups.items()),
                    reverse=True)
    out = [{"name": name, "importance": share} for share, name in shares]
    return {
        "kind": "feature_importance",
        "title": "Feature importance (from the model, share of the total)",
        "method": "model",
        "features": out[:TOP_FEATURES],
        "complete": True,
        "xLabel": "Share of importance", "yLabel": "Feature",
    }


def column_groups(model_columns: list[str], inputs: list[str]) -> dict[str, list[int]]:
    """Map each input column to the model columns made from it (``city`` → ``city_Oslo``, ``city_Lima``).

    A model column is matched to the longest input name equal to it or followed by ``_``; one that
    matches none stays a group of its own.
    """
    ordered = sorted(inputs, key=len, reverse=True)
    groups: dict[str, list[int]] = {name: [] for name in inputs}
    for pos, column in enumerate(model_columns):
        owner = next((n for n in ordered if column == n or column.startswith(f"{n}_")), None)
        groups.setdefault(owner if owner is not None else column, []).append(pos)
    return {name: positions for name, positions in groups.items() if positions}


# --------------------------------------------------------------------------- drawing


def _draw(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    # PyCaret's plotting dependencies change the default fonts to ones a desktop may not have
    # (Arial...); DejaVu Sans ships with matplotlib itself.
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
        _draw_figure(doc, path)


def _draw_figure(doc: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    kind = doc["kind"]
    if kind == "confusion_matrix":
        matrix = np.asarray(doc["matrix"])
        ax.imshow(matrix, cmap="Blues")
        ticks = range(len(doc["labels"]))
        names = [str(v)[:12] for v in doc["labels"]]
        ax.set_xticks(list(ticks), names, rotation=45 if len(names) > 4 else 0)
        ax.set_yticks(list(ticks), names)
        if matrix.size <= 400:
            top = matrix.max() if matrix.size else 0
            for (i, j), v in np.ndenumerate(matrix):
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
    elif kind == "roc":
        for c in doc["curves"]:
            ax.plot(c["fpr"], c["tpr"], label=f"{c['label']} (AUC {c['auc']:.3f})")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        ax.legend(loc="lower right", fontsize=8)
    elif kind == "precision_recall":
        for c in doc["curves"]:
            ax.plot(c["recall"], c["precision"], label=f"{c['label']} (AP {c['averagePrecision']:.3f})")
        ax.legend(loc="lower left", fontsize=8)
    elif kind == "feature_importance":
        feats = doc["features"][::-1]
        ax.barh([str(f["name"])[:30] for f in feats], [f["importance"] for f in feats], color="#4c72b0")
    elif kind == "contribution_summary":
        draw_contribution_summary(ax, doc)
    elif kind == "residuals":
        ax.scatter(doc["predicted"], doc["residual"], s=8, alpha=0.5)
        ax.axhline(0, color="grey", linestyle="--", linewidth=1)
    elif kind == "predicted_vs_actual":
        ax.scatter(doc["actual"], doc["predicted"], s=8, alpha=0.5)
        values = [v for v in doc["actual"] + doc["predicted"] if v is not None]
        if values:
            lo, hi = min(values), max(values)
            ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)
    ax.set_title(doc.get("title", ""))
    ax.set_xlabel(doc.get("xLabel", ""))
    ax.set_ylabel(doc.get("yLabel", ""))
    # Fixed margins instead of tight_layout(), which draws the figure twice (half of a plot's time).
    left = 0.3 if kind in ("feature_importance", "contribution_summary") else 0.14
    fig.subplots_adjust(left=left, right=0.97, top=0.92, bottom=0.16 if kind == "confusion_matrix" else 0.12)
    fig.savefig(path, format="png")


def draw_contribution_summary(ax: Any, doc: dict[str, Any]) -> None:
    """Draw the contribution summary: mean |contribution| bars, each row's signed contribution as a dot on them.

    Shared by the PNG drawn here and the review's own canvas (`ui.plots.draw_plot`).
    """
    features = list(doc["features"])[::-1]
    names = [str(f["name"])[:30] for f in features]
    ax.barh(names, [float(f["meanAbs"]) for f in features], color="#c7d3e6", label="mean |contribution|")
    rng = np.random.default_rng(0)
    for y, feature in enumerate(features):
        dots = np.asarray([v for v in feature.get("dots", []) if v is not None], dtype=float)
        if len(dots):
            jitter = y + rng.uniform(-0.25, 0.25, len(dots))
            ax.scatter(dots, jitter, s=6, alpha=0.6, c=np.where(dots > 0, "#2e7d32", "#c62828"), linewidths=0)
    ax.axvline(0, color="grey", linewidth=1)


def write_plots(model_dir: Path, docs: dict[str, dict[str, Any]]) -> list[str]:
    """Write ``plots/<name>.json`` and ``plots/<name>.png`` for each document; return the names written.

    A plot that cannot be drawn is logged and left out; it never fails the training.
    """
    folder = model_dir / PLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for name, doc in docs.items():
        try:
            write_json(folder / f"{name}.json", doc)
            tmp = folder / f".{name}.png.tmp"
            _draw(doc, tmp)
            tmp.replace(folder / f"{name}.png")
            written.append(name)
        except Exception as exc:  # noqa: BLE001 - a plot is a nice-to-have; the model is what matters
            log.warning("could not draw the %s plot: %s", name, exc)
    return written
