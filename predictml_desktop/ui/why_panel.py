"""The Predict form's "Why" panel: the row's top contributions as a signed bar chart, its values, and sentences.

The explanation is the core's (`core.prediction.explaining.explain_rows`, the same function the
batch files, the HTTP service and the command line call); it and the chart's rendering (matplotlib's
Agg, through `ui.plots.render_figure`) run on a worker thread, never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QWidget

from predictml_desktop.core.input_schema import class_in_words
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import Card

CHART_BARS = 8
CHART_SIZE = (520, 300)
"""Pixels of the chart image (the panel's width on a laptop screen)."""
RAISES = "#2e7d32"
LOWERS = "#c62828"


@dataclass
class WhyResult:
    """One row's explanation and its chart, made off the GUI thread."""

    explanation: Any
    """The core's `Explanation` of the row."""
    chart: QImage


def contributions_document(explanation: Any, row: int = 0, bars: int = CHART_BARS) -> dict[str, Any]:
    """Return the chart's data: the ``bars`` largest contributions of ``row``, largest first."""
    from predictml_desktop.core.prediction.explaining import format_value

    ranked = explanation.ranked(row)[:bars]
    unit = "points of probability" if explanation.classification else explanation.target
    scale = 100.0 if explanation.classification else 1.0
    return {
        "labels": [f"{name[:24]} = {format_value(explanation.value(row, name))[:16]}" for name, _ in ranked],
        "values": [value * scale for _, value in ranked],
        "xLabel": f"Contribution ({unit})",
    }


def draw_contributions(doc: dict[str, Any], width_px: int, height_px: int) -> QImage:
    """Draw a signed horizontal bar chart of ``doc`` and return it as an image (runs off the GUI thread)."""
    from matplotlib.figure import Figure

    from predictml_desktop.ui.plots import render_figure

    figure = Figure(figsize=(width_px / 100, height_px / 100), dpi=100)
    ax = figure.add_subplot(1, 1, 1)
    labels, values = doc["labels"][::-1], doc["values"][::-1]
    ax.barh(labels, values, color=[RAISES if v > 0 else LOWERS for v in values])
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_xlabel(doc["xLabel"], fontsize=9)
    ax.tick_params(labelsize=8)
    figure.subplots_adjust(left=0.42, right=0.97, top=0.95, bottom=0.16)
    return render_figure(figure, width_px, height_px)


def explain_one(model: Any, row: dict[str, Any]) -> WhyResult:
    """Explain one form row and draw its chart (runs off the GUI thread)."""
    from predictml_desktop.core.prediction import validate_rows
    from predictml_desktop.core.prediction.explaining import explain_rows

    validated = validate_rows(model.schema, [row], strict=False, single=True)
    explanation = explain_rows(model, validated.rows)
    return WhyResult(explanation, draw_contributions(contributions_document(explanation), *CHART_SIZE))


class WhyPanel(Card):
    """Why the form's row got its answer: sentences, a signed bar chart and each column's contribution."""

    explained = Signal(object)
    """The row was explained: carries the core's `Explanation`."""

    failed = Signal(str)
    """Explaining failed; carries the sentence shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Why this prediction", parent)
        self.setAccessibleName("Why this prediction")
        self.tasks = Tasks(self)
        self._generation = 0
        self.status_label = QLabel()
        self.status_label.setAccessibleName("Explanation status")
        self.status_label.setWordWrap(True)
        self.body.addWidget(self.status_label)
        self.sentences_label = QLabel()
        self.sentences_label.setAccessibleName("Main reasons")
        self.sentences_label.setWordWrap(True)
        self.sentences_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.addWidget(self.sentences_label)
        self.chart_label = QLabel()
        self.chart_label.setAccessibleName("Contributions chart")
        self.chart_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.addWidget(self.chart_label)
        self.method_label = QLabel()
        self.method_label.setAccessibleName("Explanation method")
        self.method_label.setWordWrap(True)
        self.method_label.setStyleSheet("color: palette(mid);")
        self.body.addWidget(self.method_label)
        self.table = QTableWidget(0, 3)
        self.table.setAccessibleName("Contribution of each column")
        self.table.setHorizontalHeaderLabels(["Column", "Value", "Contribution"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(160)
        self.body.addWidget(self.table)
        self.explanation: Any = None
        self.hide()

    def explain(self, model: Any, row: dict[str, Any]) -> None:
        """Explain ``row`` with ``model`` off the GUI thread; the panel shows it when done."""
        self._generation += 1
        generation = self._generation
        self.show()
        self.status_label.setText("Working out why…")
        self.tasks.start(explain_one, model, row,
                         on_result=lambda result: self._on_explained(generation, result),
                         on_error=lambda message: self._on_failed(generation, message))

    def mark_stale(self) -> None:
        """Say the explanation is of an earlier row (the form changed)."""
        if self.explanation is not None:
            self.status_label.setText("The form changed: press Predict to explain the new row.")

    def _on_explained(self, generation: int, result: WhyResult) -> None:
        if generation != self._generation:
            return
        explanation = self.explanation = result.explanation
        a = explanation.attribution
        self.status_label.setText("")
        self.sentences_label.setText("\n".join(f"• {text}." for text in explanation.reasons(0)))
        self.chart_label.setPixmap(QPixmap.fromImage(result.chart))
        if explanation.classification:
            what = f"chance of {class_in_words(explanation.explained_label(0))}"
            start, end = f"{a.base[0] * 100:.1f} %", f"{a.output[0] * 100:.1f} %"
        else:
            what = explanation.target
            start, end = f"{a.base[0]:,.4g}", f"{a.output[0]:,.4g}"
        # The start is the trees' average answer (TreeSHAP) or a typical row's answer (the other methods).
        self.method_label.setText(f"Method: {explanation.method}. Starting from {start} (the model's usual {what}), "
                                  f"the contributions add up to this row's {end}.")
        from predictml_desktop.core.prediction.explaining import format_value

        ranked = explanation.ranked(0)
        self.table.setRowCount(len(ranked))
        scale, unit = (100.0, " pts") if explanation.classification else (1.0, "")
        for i, (name, value) in enumerate(ranked):
            cells = [name, format_value(explanation.value(0, name)), f"{value * scale:+.2f}{unit}"]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 2:
                    item.setForeground(Qt.GlobalColor.darkGreen if value > 0 else Qt.GlobalColor.darkRed)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.explained.emit(explanation)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.status_label.setText(f"This prediction could not be explained: {message}")
        self.failed.emit(message)
