"""What every view of the main window shares: the data home, the store, and app-wide signals."""

from __future__ import annotations

from PySide6.QtCore import QFileSystemWatcher, QObject, QSettings, QTimer, Signal

from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import Store

UI_STATE_FILE = "ui-state.ini"
"""Pure UI state (window geometry, last view, last folder), kept beside the records, never in the registry."""

_RECORDS_DEBOUNCE_MS = 200


def ui_state(paths: Paths) -> QSettings:
    """Return the QSettings of the window's own state: an ini file in the data home.

    Using a file in the data home (instead of the platform's default store) keeps tests and portable
    installs out of the user's real profile and registry.
    """
    return QSettings(str(paths.home / UI_STATE_FILE), QSettings.Format.IniFormat)


class AppContext(QObject):
    """The data home, its store and the signals that tie the views together.

    Parameters
    ----------
    paths
        The data home's layout.
    parent
        Owner (the main window).
    """

    records_changed = Signal()
    """The record files changed, in this process or another one (the CLI, the service); views reload."""

    training_requested = Signal(str)
    """A training job was created (wizard, Retry) and should be supervised; carries the job id."""

    navigate_requested = Signal(str)
    """A view asks to show another view; carries its key (``data``, ``training``, ``jobs``...)."""

    server_state_changed = Signal(str)
    """The prediction service's state changed; carries a short sentence for the status bar."""

    def __init__(self, paths: Paths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths.ensure()
        self.store = Store(self.paths)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(_RECORDS_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.records_changed)
        # Records are replaced atomically (a temp file renamed over the old one), which shows as a
        # change of the folder's entries: watching the folder catches writes by any process.
        self._watcher = QFileSystemWatcher([str(self.paths.home)], self)
        self._watcher.directoryChanged.connect(self._on_watcher_changed)

    def notify_records_changed(self) -> None:
        """Tell the views to reload (debounced, so a burst of writes causes one reload)."""
        self._debounce.start()

    def _on_watcher_changed(self, _path: str) -> None:
        self._debounce.start()
