"""The drift summary of a batch file: computed off the GUI thread when the file is chosen, shown before saving.

The core (`core.drift`) reads the file and compares it with the model's training data; this widget
shows the one-sentence summary and the flagged columns, and writes the HTML report beside the
predictions once they are saved.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from predictml_desktop.core.drift import DriftReport, drift_of_file, report_path, write_html_report
from predictml_desktop.core.drift.report import LEVEL_WORDS
from predictml_desktop.core.paths import Paths
from predictml_desktop.ui.tasks import Tasks

log = logging.getLogger(__name__)

_HEADINGS = ("Column", "Level", "PSI", "Missing (training → file)", "Why")


class DriftSummary(QWidget):
    """How far a file's columns moved from the training data, shown under the batch controls."""

    computed = Signal(object)
    """The file's `DriftReport` is ready."""
    failed = Signal(str)
    """Drift could not be computed; carries the sentence shown."""
    report_written = Signal(str)
    """The HTML report was written beside the predictions; carries its path."""

    def __init__(self, paths: Paths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.tasks = Tasks(self)
        self.report: DriftReport | None = None
        self._generation = 0
        self._pending_output: Path | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Drift summary")
        layout.addWidget(self.label)
        self.table = QTableWidget(0, len(_HEADINGS))
        self.table.setHorizontalHeaderLabels(list(_HEADINGS))
        self.table.setAccessibleName("Drifted columns")
        self.table.verticalHeader().hide()
        self.table.setMaximumHeight(150)
        self.table.hide()
        layout.addWidget(self.table)
        self.hide()

    def check(self, dataset_id: str, path: Path) -> None:
        """Start comparing ``path`` with the training data of ``dataset_id`` (a newer call wins)."""
        self._generation += 1
        generation = self._generation
        self.report = None
        self._pending_output = None
        self.table.hide()
        self.label.setText(f"Comparing {path.name} with the training data…")
        self.show()
        self.tasks.start(drift_of_file, self.paths, dataset_id, path,
                         on_result=lambda report: self._on_computed(generation, report),
                         on_error=lambda message: self._on_failed(generation, message))

    def _on_computed(self, generation: int, report: DriftReport) -> None:
        if generation != self._generation:
            return
        self.report = report
        self.label.setText(report.summary() + ("" if report.thresholds.enabled else
                                               " (The policy does not flag drift.)"))
        flagged = report.flagged
        self.table.setRowCount(len(flagged))
        for i, col in enumerate(flagged):
            row = col.to_dict()
            cells = (col.name, LEVEL_WORDS[col.level], "" if col.psi is None else f"{col.psi:.3f}",
                     f"{row['missingReference']:.1%} → {row['missingCurrent']:.1%}", col.reason)
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.setVisible(bool(flagged))
        self.table.resizeColumnsToContents()
        if self._pending_output is not None:
            self.write_report(self._pending_output)
        self.computed.emit(report)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.label.setText(f"Drift not computed: {message}")
        self.failed.emit(message)

    def write_report(self, output: Path) -> None:
        """Write the HTML report beside the saved predictions (off the GUI thread), if the drift is known."""
        report = self.report
        if report is None:
            # A small file can be saved before its drift is known: write the report when it is.
            self._pending_output = output
            return
        self._pending_output = None
        target = report_path(output)

        def done(path: Any) -> None:
            self.label.setText(f"{report.summary()} Report: {path}")
            self.report_written.emit(str(path))

        self.tasks.start(write_html_report, report, target, on_result=done,
                         on_error=lambda message: log.warning("drift report not written: %s", message))
