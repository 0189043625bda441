"""Start the desktop application."""

from __future__ import annotations

import sys
from pathlib import Path

from predictml_desktop.core.paths import Paths


def run_app(argv: list[str] | None = None, *, open_path: Path | None = None) -> int:
    """Create the QApplication and the main window, run the event loop, return its exit code.

    Parameters
    ----------
    argv
        Qt's command-line arguments (the program name first).
    open_path
        A table to open in the upload wizard at once.
    """
    from PySide6.QtWidgets import QApplication

    from predictml_desktop import APP_NAME
    from predictml_desktop.ui.main_window import MainWindow
    from predictml_desktop.ui.resources import app_icon
    from predictml_desktop.ui.tasks import wait_for_background_jobs

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(app_icon())
    window = MainWindow(Paths.default())
    window.show()
    if open_path is not None:
        window.open_file(open_path)
    code = app.exec()
    # Let a background read or model load finish instead of tearing down a running Python thread.
    wait_for_background_jobs(5_000)
    return code
