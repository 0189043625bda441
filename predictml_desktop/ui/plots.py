"""The review's plots: the engine's ``plots/*.json`` drawn with matplotlib inside Qt (PNG as a fallback).

matplotlib is imported only here and only on worker threads: the import costs a noticeable
fraction of a second and the window must never pay for it at start-up. Each plot is shown by a
`ThreadedCanvas`, a ``FigureCanvasQTAgg`` whose drawing runs on a worker: the figure is built from
its JSON document at its first render, only when the admin looks at it, and Agg renders it there
too. A plain canvas renders on the GUI thread at every show and resize (measured 40-150 ms per plot
on the 2-core CI box), and building every figure up front kept the interpreter busy enough to stall
the event loop for 100-200 ms. pyplot is never used: it keeps global state and picks a backend of
its own.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QStackedWidget, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

PLOT_ORDER = ("confusion_matrix", "roc", "precision_recall", "feature_importance", "contribution_summary", "residuals",
              "predicted_vs_actual")
"""The order the review lists plots in: the engine's classification plots, then regression ones."""

PLOT_HELP = {
    "confusion_matrix": "How many holdout rows of each actual class (rows) were predicted as each class "
                        "(columns). The diagonal holds the correct answers.",
    "roc": "How many true positives the model catches (up) for each share of false alarms it accepts "
           "(right). The dashed diagonal is guessing; the closer the curve hugs the top-left corner, the better.",
    "precision_recall": "For each share of the actual positives found (right), how many of the rows flagged "
                        "positive really are (up). The dashed line is what guessing would give.",
    "feature_importance": "How much the holdout score drops when one column's values are shuffled: the "
                          "longer the bar, the more the model relies on that column.",
    "contribution_summary": "How much each column moves the model's answers on holdout rows, with the same "
                            "method as the Predict view's Why panel: the bar is the average size of its "
                            "contribution, each dot one row (green raises the answer, red lowers it).",
    "residuals": "The error of each holdout prediction (actual minus predicted). A shapeless band around "
                 "zero is good; a curve or a funnel means the model misses a pattern.",
    "predicted_vs_actual": "Each holdout row's prediction against its true value. Perfect predictions "
                           "lie on the dashed diagonal.",
}

PLOT_RC = {"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}
"""DejaVu Sans ships with matplotlib; PyCaret's stack, which the prediction path may load into this
process, switches the default to fonts a desktop may not have (Arial...)."""
_RENDER_LOCK = threading.Lock()

FIGURE_SIZE = (6.0, 4.2)
"""Inches; the canvas is resized by its layout, this only sets the aspect the figure is laid out for."""


@dataclass
class PlotData:
    """One plot of a job: its JSON document, its PNG, and the figure drawn from the document."""

    name: str
    title: str
    doc: dict[str, Any] | None = None
    png: Path | None = None
    figure: Any = None
    """The ``matplotlib.figure.Figure`` it is drawn on, once its canvas exists."""
    image: QImage | None = None
    """The PNG, read on the worker thread (QImage, unlike QPixmap, may be made off the GUI thread)."""
    error: str | None = None

    @property
    def help(self) -> str:
        """One or two sentences on how to read the plot."""
        return PLOT_HELP.get(self.name, "")


def _title(name: str, doc: dict[str, Any] | None) -> str:
    if doc and isinstance(doc.get("title"), str):
        return doc["title"]
    return name.replace("_", " ").capitalize()


def _finite(values: Any) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def _draw_confusion_matrix(ax: Any, doc: dict[str, Any]) -> None:
    import numpy as np

    matrix = np.asarray(doc["matrix"], dtype=float)
    labels = [str(v)[:14] for v in doc["labels"]]
    ax.imshow(matrix, cmap="Blues")
    ticks = list(range(len(labels)))
    ax.set_xticks(ticks, labels, rotation=45 if len(labels) > 4 else 0)
    ax.set_yticks(ticks, labels)
    if matrix.size <= 400:
        top = matrix.max() if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{int(value)}", ha="center", va="center",
                    color="white" if value > top / 2 else "black")


def _draw_roc(ax: Any, doc: dict[str, Any]) -> None:
    for curve in doc["curves"]:
        ax.plot(_finite(curve["fpr"]), _finite(curve["tpr"]),
                label=f"{curve['label']} (AUC {float(curve['auc']):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="Guessing")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)


def _draw_precision_recall(ax: Any, doc: dict[str, Any]) -> None:
    for curve in doc["curves"]:
        ax.plot(_finite(curve["recall"]), _finite(curve["precision"]),
                label=f"{curve['label']} (AP {float(curve['averagePrecision']):.3f})")
        prevalence = curve.get("prevalence")
        if isinstance(prevalence, (int, float)):
            ax.axhline(float(prevalence), linestyle="--", color="grey", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=8)


def _draw_feature_importance(ax: Any, doc: dict[str, Any]) -> None:
    features = list(doc["features"])[::-1]
    ax.barh([str(f["name"])[:30] for f in features], [float(f["importance"]) for f in features],
            color="#4c72b0")
    ax.axvline(0, color="grey", linewidth=1)


def _draw_contribution_summary(ax: Any, doc: dict[str, Any]) -> None:
    from predictml_desktop.core.training.plots import draw_contribution_summary

    draw_contribution_summary(ax, doc)


def _draw_residuals(ax: Any, doc: dict[str, Any]) -> None:
    ax.scatter(_finite(doc["predicted"]), _finite(doc["residual"]), s=8, alpha=0.5)
    ax.axhline(0, color="grey", linestyle="--", linewidth=1)


def _draw_predicted_vs_actual(ax: Any, doc: dict[str, Any]) -> None:
    actual, predicted = _finite(doc["actual"]), _finite(doc["predicted"])
    ax.scatter(actual, predicted, s=8, alpha=0.5)
    values = [v for v in actual + predicted if v == v]  # NaN != NaN
    if values:
        lo, hi = min(values), max(values)
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)


def _draw_bars(ax: Any, doc: dict[str, Any]) -> None:
    # Generic grouped bars (Monitoring): one group per label, one bar per series.
    import numpy as np

    labels = [str(v)[:24] for v in doc["labels"]]
    series = list(doc["series"])
    positions = np.arange(len(labels), dtype=float)
    width = 0.8 / max(1, len(series))
    for i, one in enumerate(series):
        offsets = positions - 0.4 + width * (i + 0.5)
        values = _finite(one["values"])
        if doc.get("horizontal"):
            ax.barh(offsets, values, height=width, label=str(one["label"]))
        else:
            ax.bar(offsets, values, width=width, label=str(one["label"]))
    if doc.get("horizontal"):
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        for value, colour in zip(doc.get("thresholds", []), ("#a15c00", "#b3261e"), strict=False):
            ax.axvline(float(value), color=colour, linestyle="--", linewidth=1)
    else:
        ax.set_xticks(positions, labels, rotation=45 if len(labels) > 6 else 0, ha="right"
                      if len(labels) > 6 else "center")
    if len(series) > 1:
        ax.legend(fontsize=8)


def _draw_lines(ax: Any, doc: dict[str, Any]) -> None:
    labels = [str(v) for v in doc["labels"]]
    for one in doc["series"]:
        ax.plot(labels, _finite(one["values"]), marker="o", label=str(one["label"]))
    ax.tick_params(axis="x", labelrotation=45 if len(labels) > 6 else 0)
    ax.legend(fontsize=8)


_DRAWERS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "confusion_matrix": _draw_confusion_matrix,
    "roc": _draw_roc,
    "precision_recall": _draw_precision_recall,
    "feature_importance": _draw_feature_importance,
    "contribution_summary": _draw_contribution_summary,
    "residuals": _draw_residuals,
    "predicted_vs_actual": _draw_predicted_vs_actual,
    "bars": _draw_bars,
    "lines": _draw_lines,
}


def draw_plot(figure: Any, doc: dict[str, Any]) -> None:
    """Draw one plot document of the engine (``plots/<name>.json``) on a matplotlib ``Figure``.

    Parameters
    ----------
    figure
        An empty ``matplotlib.figure.Figure``.
    doc
        The document: ``kind`` (one of `_DRAWERS`: the engine's ``confusion_matrix``, ``roc``,
        ``precision_recall``, ``feature_importance``, ``contribution_summary``, ``residuals``,
        ``predicted_vs_actual``, and Monitoring's ``bars`` and ``lines``) and its data.

    Raises
    ------
    ValueError
        For an unknown kind or a document without its data.
    """
    ax = figure.add_subplot(1, 1, 1)
    kind = doc.get("kind")
    drawer = _DRAWERS.get(str(kind))
    if drawer is None:
        raise ValueError(f"unknown plot kind {kind!r}")
    try:
        drawer(ax, doc)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the {kind} plot data has no {exc}") from None
    ax.set_title(str(doc.get("title", "")), fontsize=10)
    ax.set_xlabel(str(doc.get("xLabel", "")), fontsize=9)
    ax.set_ylabel(str(doc.get("yLabel", "")), fontsize=9)
    ax.tick_params(labelsize=8)
    figure.tight_layout()
    if kind in ("bars", "lines"):
        # Laid out again at every draw (tight_layout above does it once, at the document's size): the
        # canvas renders at its own size, and long column names must stay in view.
        figure.set_layout_engine("tight")


def load_plots(model_dir: Path) -> list[PlotData]:
    """Read a job's ``plots/`` folder: each JSON document, and its PNG (runs off the GUI thread).

    A document that cannot be read falls back to its PNG; a plot with neither is listed with its
    error, so the review says what is missing instead of showing nothing. The figures themselves
    are built by their canvas, off the GUI thread, when first shown. matplotlib is imported here,
    so that making a canvas later costs the GUI thread no import.

    Parameters
    ----------
    model_dir
        The job's artifact folder (``models/<jobId>``).

    Returns
    -------
    list of PlotData
        In `PLOT_ORDER`, then any other plot by name.
    """
    folder = model_dir / "plots"
    if not folder.is_dir():
        return []
    names = {p.stem for p in folder.iterdir() if p.suffix in (".json", ".png") and not p.name.startswith(".")}
    ordered = [n for n in PLOT_ORDER if n in names] + sorted(names - set(PLOT_ORDER))
    plots: list[PlotData] = []
    for name in ordered:
        json_path, png_path = folder / f"{name}.json", folder / f"{name}.png"
        plot = PlotData(name=name, title=name.replace("_", " ").capitalize(),
                        png=png_path if png_path.is_file() else None)
        try:
            loaded = json.loads(json_path.read_bytes())
            if not isinstance(loaded, dict) or not isinstance(loaded.get("kind"), str):
                raise ValueError("not a plot document")
            plot.doc, plot.title = loaded, _title(name, loaded)
        except FileNotFoundError:
            plot.error = "no plot data"
        except (OSError, ValueError) as exc:  # a damaged plot must not hide the others; the PNG may be good
            log.warning("could not read the %s plot of %s: %s", name, model_dir.name, exc)
            plot.error = f"the plot data could not be read ({exc})"
        if plot.png is not None:
            image = QImage(str(plot.png))
            if not image.isNull():
                plot.image = image
        plots.append(plot)
    if any(p.doc is not None for p in plots):
        import matplotlib.backends.backend_agg
        import matplotlib.backends.backend_qtagg
        import matplotlib.figure  # noqa: F401
    return plots


def render_figure(figure: Any, width_px: int, height_px: int, doc: dict[str, Any] | None = None) -> QImage:
    """Render ``figure`` at ``width_px`` x ``height_px`` with Agg and return the picture (runs off the GUI thread).

    Only one render of a figure runs at a time (`ThreadedCanvas` waits for the previous one), and the
    GUI thread does not touch the figure meanwhile, so matplotlib's single-thread rule is kept.

    Parameters
    ----------
    figure
        The canvas's figure.
    width_px, height_px
        The canvas's size in device pixels.
    doc
        At the first render: the plot document to draw on the empty figure (`draw_plot`).

    Raises
    ------
    ValueError
        If ``doc`` cannot be drawn.
    """
    import matplotlib
    import numpy as np
    from matplotlib.backends.backend_agg import RendererAgg

    # One render at a time in the whole app: rc_context changes matplotlib's global settings.
    with _RENDER_LOCK, matplotlib.rc_context(PLOT_RC):
        if doc is not None:
            draw_plot(figure, doc)
        dpi = figure.dpi
        figure.set_size_inches(width_px / dpi, height_px / dpi, forward=False)
        renderer = RendererAgg(width_px, height_px, dpi)
        figure.draw(renderer)
    pixels = np.ascontiguousarray(np.asarray(renderer.buffer_rgba()))
    image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], QImage.Format.Format_RGBA8888)
    return image.copy()  # own the pixels: the renderer's buffer goes away with it


def _canvas_class() -> type:
    # Defined on first use: importing backend_qtagg imports matplotlib, which must stay off start-up.
    global _CANVAS_CLASS
    if _CANVAS_CLASS is not None:
        return _CANVAS_CLASS
    from predictml_desktop.ui.threaded_canvas import ThreadedCanvas

    _CANVAS_CLASS = ThreadedCanvas
    return ThreadedCanvas


_CANVAS_CLASS: type | None = None


class PlotsPanel(QWidget):
    """A picker of the job's plots and the chosen plot, drawn by matplotlib's Qt canvas.

    Canvases are made the first time a plot is chosen, so only the plot on screen is drawn.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        label = QLabel("&Plot:")
        self.picker = QComboBox()
        self.picker.setAccessibleName("Choose a plot")
        label.setBuddy(self.picker)
        self.picker.currentIndexChanged.connect(self._on_picker_changed)
        top.addWidget(label)
        top.addWidget(self.picker, 1)
        layout.addLayout(top)
        self.help_label = QLabel()
        self.help_label.setWordWrap(True)
        self.help_label.setAccessibleName("How to read the plot")
        layout.addWidget(self.help_label)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)
        self.status = QLabel("Select a job to see its plots.")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Plots status")
        layout.addWidget(self.status)
        self.plots: list[PlotData] = []
        self._pages: dict[int, QWidget] = {}

    def show_loading(self) -> None:
        """Say that the plots are being read."""
        self.set_plots([])
        self.status.setText("Loading the plots…")

    def show_error(self, message: str) -> None:
        """Say why the plots could not be read."""
        self.set_plots([])
        self.status.setText(message)

    def set_plots(self, plots: list[PlotData]) -> None:
        """Show ``plots`` (from `load_plots`); the first one is drawn."""
        self.plots = list(plots)
        while self.stack.count():
            page = self.stack.widget(0)
            assert page is not None
            self.stack.removeWidget(page)
            page.deleteLater()
        self._pages.clear()
        self.picker.blockSignals(True)
        self.picker.clear()
        for plot in self.plots:
            self.picker.addItem(plot.title, plot.name)
        self.picker.blockSignals(False)
        self.status.setText("" if self.plots else "This job has no plots.")
        self.status.setVisible(not self.plots)
        self.help_label.clear()
        if self.plots:
            self._on_picker_changed(0)

    def show_plot(self, name: str) -> QWidget | None:
        """Show the plot ``name``; return its page (a matplotlib canvas, or a label with the PNG)."""
        index = self.picker.findData(name)
        if index < 0:
            return None
        self.picker.setCurrentIndex(index)
        self._on_picker_changed(index)
        return self._pages.get(index)

    def _on_picker_changed(self, index: int) -> None:
        if not 0 <= index < len(self.plots):
            return
        plot = self.plots[index]
        self.help_label.setText(plot.help)
        if index not in self._pages:
            page = self._make_page(plot)
            self._pages[index] = page
            self.stack.addWidget(page)
        self.stack.setCurrentWidget(self._pages[index])

    def _make_page(self, plot: PlotData) -> QWidget:
        if plot.doc is not None and plot.error is None:
            from matplotlib.figure import Figure  # imported by load_plots already: no cost here

            plot.figure = Figure(figsize=FIGURE_SIZE, dpi=100)
            canvas = _canvas_class()(plot.figure, plot.doc)
            canvas.setAccessibleName(plot.title)
            canvas.setMinimumSize(320, 240)
            canvas.failed.connect(lambda message, p=plot: self._on_canvas_failed(p, message))
            return canvas
        return self._fallback_page(plot)

    def _fallback_page(self, plot: PlotData) -> QWidget:
        label = QLabel()
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setAccessibleName(plot.title)
        if plot.image is not None:
            label.setPixmap(QPixmap.fromImage(plot.image))
            scroll = QScrollArea()
            scroll.setWidget(label)
            scroll.setWidgetResizable(True)
            scroll.setAccessibleName(plot.title)
            return scroll
        label.setText(f"{plot.title}: {plot.error or 'nothing to show'}.")
        label.setWordWrap(True)
        return label

    def _on_canvas_failed(self, plot: PlotData, message: str) -> None:
        # The document did not draw: show the engine's PNG of the same plot instead.
        plot.error = f"the plot data could not be drawn ({message})"
        plot.figure = None
        index = self.plots.index(plot) if plot in self.plots else -1
        old = self._pages.get(index)
        if index < 0 or old is None:
            return
        page = self._fallback_page(plot)
        self._pages[index] = page
        self.stack.insertWidget(self.stack.indexOf(old), page)
        if self.stack.currentWidget() is old:
            self.stack.setCurrentWidget(page)
        self.stack.removeWidget(old)
        old.deleteLater()
