"""Start the desktop application."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from predictml_desktop.core.paths import Paths

STARTUP_PROBE_ENV = "PREDICTML_STARTUP_PROBE"
"""When set to a file path, the app writes the wall-clock time of its first painted window there and
quits (bench/startup.py measures cold start through the real entry point this way)."""

_X11_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4", "xcb-image": "libxcb-image0",
    "xcb-keysyms": "libxcb-keysyms1", "xcb-randr": "libxcb-randr0", "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0", "xcb-util": "libxcb-util1", "xcb-xkb": "libxcb-xkb1",
    "xkbcommon-x11": "libxkbcommon-x11-0", "EGL": "libegl1", "fontconfig": "libfontconfig1",
}
"""Libraries Qt's X11 plugin loads that a minimal Linux may lack (library → Debian/Ubuntu package)."""


def display_problem(env: Mapping[str, str] | None = None,
                    find_library: Callable[[str], str | None] | None = None) -> str | None:
    """Return why Qt cannot open a window here (one sentence with the fix), or None.

    Without this check Qt aborts the process with a message about "platform plugins" that tells a
    user nothing about what to install.
    """
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux") or env.get("QT_QPA_PLATFORM", "xcb") not in ("xcb", "wayland"):
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("No graphical display was found (DISPLAY and WAYLAND_DISPLAY are not set): start PredictML from a "
                "desktop session, or use the command line (predictml --help).")
    if env.get("WAYLAND_DISPLAY"):
        return None  # Qt falls back on its own between Wayland and XWayland
    if find_library is None:
        find_library = _ldconfig_finder()
        if find_library is None:
            return None  # no library cache to ask: let Qt try
    missing = [package for lib, package in _X11_LIBRARIES.items() if find_library(lib) is None]
    if missing:
        return (f"Qt needs system libraries that are not installed: {', '.join(missing)}. "
                f"Install them (Debian/Ubuntu: sudo apt install {' '.join(missing)}) and start PredictML again.")
    return None


def _ldconfig_finder() -> Callable[[str], str | None] | None:
    """Return a lookup in the system's library cache, or None when there is no usable one.

    The cache is read once (~5 ms); ctypes.util.find_library runs ldconfig again for every name.
    """
    import subprocess

    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        try:
            listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        names = {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}
        if names:  # an empty cache proves nothing missing: a false alarm would keep the app from starting
            return lambda lib: next((n for n in names if n.startswith(f"lib{lib}.so")), None)
    return None


def run_app(argv: list[str] | None = None) -> int:
    """Create the QApplication and the main window, run the event loop, return its exit code.

    Parameters
    ----------
    argv
        Qt's command-line arguments (the program name first).
    """
    from PySide6.QtWidgets import QApplication

    problem = None if QApplication.instance() is not None else display_problem()
    if problem:
        print(f"predictml: {problem}", file=sys.stderr)
        return 2

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
