"""Admin → Monitoring: served traffic of a deployed model from the opt-in prediction log.

Requests per day, latency, predictions against the training distribution and drift per column
over a chosen window (`core.drift.monitoring`), read and computed off the GUI thread; the charts
are drawn by `ui.plots.PlotsPanel` (matplotlib on worker threads).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.drift.monitoring import WINDOWS_DAYS, MonitoringSummary, monitoring_summary
from predictml_desktop.core.drift.report import LEVEL_WORDS
from predictml_desktop.core.status import DeploymentStatus
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.plots import PlotData, PlotsPanel
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import Banner

_DRIFT_HEADINGS = ("Column", "Level", "PSI", "Missing (training → served)", "Unseen", "Why")


def list_served(store: Any) -> list[tuple[str, str]]:
    """Return (dataset id, label) of every active local deployment (runs off the GUI thread)."""
    snapshot = store.read()
    names = {d.id: d.name for d in snapshot.datasets.list()}
    return [(d.dataset_id, f"{names.get(d.dataset_id, d.dataset_id)} — {d.model_name or d.training_job_id}")
            for d in snapshot.deployments.list()
            if d.status == DeploymentStatus.ACTIVE and d.target == "local"]


class MonitoringView(QWidget):
    """Pick a deployed model and a window; see its traffic, latency, predictions and drift."""

    loaded = Signal(object)
    """A `MonitoringSummary` is shown."""
    failed = Signal(str)
    """The log or the training data could not be read; carries the sentence shown."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.tasks = Tasks(self)
        self.summary: MonitoringSummary | None = None
        self._generation = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = Banner(name="Monitoring message")
        layout.addWidget(self.banner)
        top = QHBoxLayout()
        model_label = QLabel("&Model:")
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Deployed model to monitor")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setMinimumContentsLength(30)
        model_label.setBuddy(self.model_combo)
        window_label = QLabel("&Window:")
        self.window_combo = QComboBox()
        self.window_combo.setAccessibleName("Monitoring window")
        for days in WINDOWS_DAYS:
            self.window_combo.addItem("Last day" if days == 1 else f"Last {days} days", days)
        self.window_combo.setCurrentIndex(WINDOWS_DAYS.index(7))
        window_label.setBuddy(self.window_combo)
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setAccessibleName("Refresh the monitoring")
        self.refresh_button.clicked.connect(self.refresh)
        for widget in (model_label, self.model_combo, window_label, self.window_combo, self.refresh_button):
            top.addWidget(widget)
        top.addStretch(1)
        layout.addLayout(top)
        self.summary_label = QLabel("Choose a deployed model.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setAccessibleName("Monitoring summary")
        layout.addWidget(self.summary_label)
        splitter = QSplitter()
        self.plots = PlotsPanel()
        splitter.addWidget(self.plots)
        self.drift_table = QTableWidget(0, len(_DRIFT_HEADINGS))
        self.drift_table.setHorizontalHeaderLabels(list(_DRIFT_HEADINGS))
        self.drift_table.setAccessibleName("Drift per column")
        self.drift_table.verticalHeader().hide()
        splitter.addWidget(self.drift_table)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)
        self.model_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.window_combo.currentIndexChanged.connect(lambda _i: self.refresh())

    def reload(self) -> None:
        """List the deployed models again (off the GUI thread), then refresh the chosen one."""
        self.tasks.start(list_served, self.context.store, on_result=self._on_served_listed,
                         on_error=lambda message: self.banner.show_message("error", message))

    def _on_served_listed(self, served: list[tuple[str, str]]) -> None:
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for dataset_id, label in served:
            self.model_combo.addItem(label, dataset_id)
        index = self.model_combo.findData(current)
        self.model_combo.setCurrentIndex(index if index >= 0 else 0)
        self.model_combo.blockSignals(False)
        if not served:
            self.summary_label.setText("No model is deployed for the local service, so there is nothing to monitor.")
            self.plots.set_plots([])
            return
        self.refresh()

    def refresh(self) -> None:
        """Read the log of the chosen model over the chosen window, off the GUI thread."""
        dataset_id = self.model_combo.currentData()
        if not dataset_id:
            return
        days = float(self.window_combo.currentData())
        self._generation += 1
        generation = self._generation
        self.summary_label.setText("Reading the prediction log…")
        self.plots.show_loading()
        self.tasks.start(monitoring_summary, self.context.paths, dataset_id, days=days,
                         on_result=lambda summary: self._on_summary(generation, summary),
                         on_error=lambda message: self._on_failed(generation, message))

    def _on_summary(self, generation: int, summary: MonitoringSummary) -> None:
        if generation != self._generation:
            return  # a newer choice of model or window is being read
        self.summary = summary
        self.summary_label.setText(summary.summary())
        self.plots.set_plots([PlotData(doc["name"], doc["title"], doc=doc) for doc in summary.plots])
        if not summary.plots:
            self.plots.status.setText("No logged requests in this window.")
        columns = summary.drift.columns if summary.drift is not None else []
        order = {id(c): i for i, c in enumerate(summary.drift.flagged)} if summary.drift is not None else {}
        columns = sorted(columns, key=lambda c: (order.get(id(c), len(order)), c.name))
        self.drift_table.setRowCount(len(columns))
        for i, col in enumerate(columns):
            cells = (col.name, LEVEL_WORDS[col.level], "" if col.psi is None else f"{col.psi:.3f}",
                     f"{col.missing_reference:.1%} → {col.missing_current:.1%}",
                     f"{col.unseen_share:.1%}" if col.kind == "categorical" else "", col.reason)
            for j, text in enumerate(cells):
                self.drift_table.setItem(i, j, QTableWidgetItem(text))
        self.drift_table.resizeColumnsToContents()
        if summary.drift is not None and summary.drift.acting:
            self.banner.show_message("warning", summary.drift.summary())
        else:
            self.banner.clear()
        self.loaded.emit(summary)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.summary_label.setText("")
        self.plots.show_error(message)
        self.banner.show_message("error", message)
        self.failed.emit(message)
