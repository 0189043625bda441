"""The main window: navigation between the app's views."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow

from predictml_desktop.core.paths import Paths


class MainWindow(QMainWindow):
    """Top-level window of PredictML Desktop."""

    def __init__(self, paths: Paths | None = None) -> None:
        super().__init__()
        self.paths = (paths or Paths.default()).ensure()
        self.setWindowTitle("PredictML Desktop")
        self.setCentralWidget(QLabel(f"Data folder: {self.paths.home}"))
        self.statusBar().showMessage(str(self.paths.home))
