"""Start the desktop application."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from predictml_desktop.core.paths import Paths

STARTUP_PROBE_ENV = "PREDICTML_STARTUP_PROBE"
"""When set to a file path, the app writes the wall-clock time of its first painted window there and
quits (bench/startup.py measures cold start through the real entry point this way)."""


def run_app(argv: list[str] | None = None) -> int:
    """Create the QApplication and the main window, run the event loop, return its exit code.

    Parameters
    ----------
    argv
        Qt's command-line arguments (the program name first).
    """
    from PySide6.QtWidgets import QApplication

    from predictml_desktop import APP_NAME
    from predictml_desktop.ui.main_window import MainWindow
    from predictml_desktop.ui.resources import app_icon
    from predictml_desktop.ui.tasks import wait_for_background_jobs

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(app_icon())
    window = MainWindow(Paths.default())
    probe = os.environ.get(STARTUP_PROBE_ENV)
    if probe:
        _quit_after_first_paint(window, Path(probe))
    window.show()
    code = app.exec()
    # Let a background read or model load finish instead of tearing down a running Python thread.
    wait_for_background_jobs(5_000)
    return code


def _quit_after_first_paint(window: object, probe: Path) -> None:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and not self.property("seen"):
                self.setProperty("seen", True)
                # Recorded after this paint event is handled, when the window is really on screen.
                QTimer.singleShot(0, lambda: (probe.write_text(repr(time.time())), QApplication.quit()))
            return False

    watcher = FirstPaint(window)  # type: ignore[arg-type]
    window.installEventFilter(watcher)  # type: ignore[attr-defined]
