"""Start the desktop application."""

from __future__ import annotations

import sys


def run_app(argv: list[str] | None = None) -> int:
    """Create the QApplication and the main window, run the event loop, return its exit code."""
    from PySide6.QtWidgets import QApplication

    from predictml_desktop import APP_NAME
    from predictml_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    window = MainWindow()
    window.show()
    return app.exec()
