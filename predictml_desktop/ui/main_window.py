"""The main window: navigation between the views, menus, status bar, drops, start-up checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop import APP_NAME, __version__
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import SPECS, Store, StoreCorruptError, StoreError
from predictml_desktop.ui import widgets
from predictml_desktop.ui.context import AppContext, ui_state
from predictml_desktop.ui.resources import app_icon, icon
from predictml_desktop.ui.tasks import Tasks, set_error_log
from predictml_desktop.ui.views import VIEWS, ViewSpec


@dataclass
class StartupReport:
    """What the start-up checks found in the data home."""

    removed_temp_files: int = 0
    problems: list[StoreError] = field(default_factory=list)
    interrupted_jobs: list[str] = field(default_factory=list)


def run_startup_checks(store: Store) -> StartupReport:
    """Sweep temp files, check the record files, and fail the jobs a dead worker left in training.

    Runs off the GUI thread (it takes the store's lock and reads every record file).
    """
    report = StartupReport(removed_temp_files=len(store.startup()))
    report.problems = store.check()
    jobs_damaged = any(
        isinstance(p, StoreCorruptError) and p.path == store.file_of("jobs") for p in report.problems
    )
    if not jobs_damaged:
        from predictml_desktop.core.training import fail_stale_jobs

        report.interrupted_jobs = list(fail_stale_jobs(store))
    return report


def warm_up_imports() -> None:
    """Import what the views need next (pandas, numpy, the core's data modules) off the GUI thread.

    The window shows without them; loading them in the background afterwards keeps the first
    read of a file, or the first leaderboard, from paying for the imports on the GUI thread.
    PyCaret is never among them: only the worker and the prediction path load it.
    """
    import predictml_desktop.core.ingest
    import predictml_desktop.core.profile
    import predictml_desktop.core.training.metrics  # noqa: F401


class MainWindow(QMainWindow):
    """Top-level window of PredictML Desktop.

    Parameters
    ----------
    paths
        The data home; `Paths.default()` if None.
    run_startup
        Run the start-up checks (temp sweep, damaged files, interrupted jobs) once the window shows.
    """

    startup_finished = Signal(object)
    """The start-up checks ended; carries the `StartupReport` (or None when they failed)."""

    def __init__(self, paths: Paths | None = None, *, run_startup: bool = True) -> None:
        super().__init__()
        self.context = AppContext(paths or Paths.default(), self)
        set_error_log(self.context.paths.logs / "ui.log")
        self.tasks = Tasks(self)
        self._views: dict[str, QWidget] = {}
        self._containers: dict[str, QVBoxLayout] = {}
        self._closing = False
        self.startup_report: StartupReport | None = None

        self.setWindowTitle("PredictML Desktop")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._build_central()
        self._build_menus()
        self._build_status_bar()

        self.context.navigate_requested.connect(self.show_view)
        self.context.training_requested.connect(self._on_context_training_requested)
        self.context.server_state_changed.connect(self.server_label.setText)

        self._state = ui_state(self.context.paths)
        geometry = self._state.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 800)
        last = str(self._state.value("window/view", "data"))
        self.show_view(last if last in self.view_keys() else "data")
        if run_startup:
            # After the first paint: the checks take the store's lock, which another process may hold.
            QTimer.singleShot(0, self.run_startup_checks)

    # ------------------------------------------------------------------ layout

    def _build_central(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.banner = widgets.Banner(name="Data folder message")
        outer.addWidget(self.banner)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(row, 1)

        self.nav = QListWidget()
        self.nav.setAccessibleName("Views")
        self.nav.setFixedWidth(150)
        self.nav.setIconSize(self.nav.iconSize() * 1.3)
        self.stack = QStackedWidget()
        for spec in VIEWS:
            item = QListWidgetItem(icon(spec.icon), spec.title)
            item.setData(Qt.ItemDataRole.UserRole, spec.key)
            self.nav.addItem(item)
            container = QWidget()
            container.setObjectName(f"page_{spec.key}")
            layout = QVBoxLayout(container)
            layout.setContentsMargins(12, 12, 12, 12)
            self._containers[spec.key] = layout
            self.stack.addWidget(container)
        self.nav.currentRowChanged.connect(self._on_nav_row_changed)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction(icon("open"), "&Open…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setStatusTip("Open a CSV, Excel or Parquet file in the upload wizard")
        self.open_action.triggered.connect(self._on_open_triggered)
        file_menu.addAction(self.open_action)
        self.sample_action = QAction(icon("sample"), "Try the &sample dataset", self)
        self.sample_action.triggered.connect(self._on_sample_triggered)
        file_menu.addAction(self.sample_action)
        folder_action = QAction("Show the data &folder", self)
        folder_action.triggered.connect(self._on_show_folder_triggered)
        file_menu.addAction(folder_action)
        self.settings_action = QAction("Se&ttings…", self)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self._on_settings_triggered)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        # Not every platform defines a Quit key sequence (Windows has none); Ctrl+Q everywhere.
        if self.quit_action.shortcut().isEmpty():
            self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        view_menu = self.menuBar().addMenu("&View")
        group = QActionGroup(self)
        self.view_actions: dict[str, QAction] = {}
        for n, spec in enumerate(VIEWS, start=1):
            action = QAction(icon(spec.icon), spec.title, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(f"Ctrl+{n}"))
            action.triggered.connect(lambda _checked=False, key=spec.key: self.show_view(key))
            group.addAction(action)
            view_menu.addAction(action)
            self.view_actions[spec.key] = action

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction(f"&About {APP_NAME}", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._on_about_triggered)
        help_menu.addAction(about)
        about_qt = QAction("About &Qt", self)
        about_qt.setMenuRole(QAction.MenuRole.AboutQtRole)
        about_qt.triggered.connect(lambda: QMessageBox.aboutQt(self))
        help_menu.addAction(about_qt)

    def _build_status_bar(self) -> None:
        self.folder_label = QLabel(f"Data folder: {self.context.paths.home}")
        self.folder_label.setAccessibleName("Data folder")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.server_label = QLabel("Prediction service: not running")
        self.server_label.setAccessibleName("Prediction service state")
        self.statusBar().addWidget(self.folder_label, 1)
        self.statusBar().addPermanentWidget(self.server_label)

    # ------------------------------------------------------------------ views

    @staticmethod
    def view_keys() -> list[str]:
        """Return the keys of the views, in navigation order."""
        return [spec.key for spec in VIEWS]

    def _spec(self, key: str) -> ViewSpec:
        for spec in VIEWS:
            if spec.key == key:
                return spec
        raise KeyError(f"There is no view {key!r}; the views are {', '.join(self.view_keys())}.")

    def view(self, key: str) -> QWidget:
        """Return the view ``key``, building it the first time."""
        if key not in self._views:
            widget = self._spec(key).factory(self.context)
            widget.setObjectName(f"view_{key}")
            self._containers[key].addWidget(widget)
            self._views[key] = widget
            ready = getattr(widget, "ready_to_close", None)
            if ready is not None:
                ready.connect(self._on_view_ready_to_close)
        return self._views[key]

    def created_views(self) -> dict[str, QWidget]:
        """Return the views built so far."""
        return dict(self._views)

    def current_view_key(self) -> str:
        """Return the key of the view shown."""
        return VIEWS[self.stack.currentIndex()].key

    def show_view(self, key: str) -> QWidget:
        """Show the view ``key`` (building it if needed) and return it."""
        row = self.view_keys().index(self._spec(key).key)
        if self.nav.currentRow() != row:
            self.nav.setCurrentRow(row)  # -> _on_nav_row_changed
        else:
            self._on_nav_row_changed(row)
        return self._views[key]

    def _on_nav_row_changed(self, row: int) -> None:
        if row < 0:
            return
        key = VIEWS[row].key
        widget = self.view(key)
        self.stack.setCurrentIndex(row)
        self.view_actions[key].setChecked(True)
        activated = getattr(widget, "activated", None)
        if callable(activated):
            activated()

    # ------------------------------------------------------------------ files

    def open_file(self, path: str | Path) -> None:
        """Show the upload wizard with ``path`` loading."""
        wizard = self.show_view("data")
        wizard.open_file(Path(path))  # type: ignore[attr-defined]

    def ask_open_path(self) -> Path | None:
        """Ask the user for a table to open (a modal dialog; tests replace this method)."""
        start = str(self._state.value("files/last_folder", str(Path.home())))
        name, _ = QFileDialog.getOpenFileName(self, "Open a table", start, widgets.TABLE_FILE_FILTER)
        if not name:
            return None
        self._state.setValue("files/last_folder", str(Path(name).parent))
        return Path(name)

    def _on_open_triggered(self) -> None:
        path = self.ask_open_path()
        if path is not None:
            self.open_file(path)

    def _on_sample_triggered(self) -> None:
        self.show_view("data").open_sample()  # type: ignore[attr-defined]

    def _on_settings_triggered(self) -> None:
        from predictml_desktop.ui.settings_dialog import open_settings

        open_settings(self)

    def _on_show_folder_triggered(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.context.paths.home)))

    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>PredictML Desktop {__version__}</b><p>Offline AutoML: drop a table, confirm the target, "
            f"train, have an admin approve the model, and predict — in the app, from a file and over a "
            f"local HTTP API. Nothing leaves this computer.</p><p>Data folder: {self.context.paths.home}</p>",
        )

    @staticmethod
    def _dropped_file(event: QDragEnterEvent | QDropEvent) -> Path | None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        local = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        return local[0] if len(local) == 1 else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept a drag that carries exactly one local file."""
        if self._dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """Open the dropped file in the upload wizard."""
        path = self._dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_file(path)

    # ------------------------------------------------------------------ training

    def _on_context_training_requested(self, job_id: str) -> None:
        panel = self.show_view("training")
        panel.supervise(job_id)  # type: ignore[attr-defined]

    def supervised_job_id(self) -> str | None:
        """Return the job whose training this window supervises now, if any."""
        panel = self._views.get("training")
        thread = getattr(panel, "training_thread", None)
        return thread.job_id if thread is not None and thread.isRunning() else None

    def training_busy_reason(self) -> str | None:
        """Say why a new training cannot start now (one runs already), or None."""
        panel = self._views.get("training")
        busy = getattr(panel, "busy_reason", None)
        reason = busy() if callable(busy) else None
        return f"{reason} Wait for it or cancel it before starting another." if reason else None

    # ------------------------------------------------------------------ start-up

    def run_startup_checks(self) -> None:
        """Check the data home off the GUI thread; problems appear in the banner."""
        self.statusBar().showMessage("Checking the data folder…")
        self.tasks.start(
            run_startup_checks,
            self.context.store,
            on_result=self._on_startup_result,
            on_error=self._on_startup_error,
        )

    def _on_startup_result(self, report: StartupReport) -> None:
        self.startup_report = report
        self.statusBar().clearMessage()
        corrupt = [p for p in report.problems if isinstance(p, StoreCorruptError)]
        if corrupt:
            problem = corrupt[0]
            name = next(n for n in SPECS if self.context.store.file_of(n) == problem.path)
            self.banner.show_message("error", str(problem), [("Recover", lambda: self._recover(name))])
        elif report.problems:
            self.banner.show_message("warning", str(report.problems[0]))
        elif report.interrupted_jobs:
            count = len(report.interrupted_jobs)
            jobs = ", ".join(report.interrupted_jobs)
            self.banner.show_message(
                "warning",
                f"{count} training{'s were' if count > 1 else ' was'} interrupted when PredictML last "
                f"closed ({jobs}); {'they are' if count > 1 else 'it is'} marked failed and can be retried.",
                [("Show jobs", lambda: self.show_view("jobs")), ("Dismiss", self.banner.clear)],
            )
        if report.interrupted_jobs:
            self.context.notify_records_changed()
        self.tasks.start(warm_up_imports)
        self.startup_finished.emit(report)

    def _on_startup_error(self, message: str) -> None:
        self.statusBar().clearMessage()
        self.banner.show_message("error", message, [("Check again", self.run_startup_checks)])
        self.startup_finished.emit(None)

    def _recover(self, name: str) -> None:
        self.banner.show_message("info", f"Recovering {self.context.store.file_of(name).name}…")
        self.tasks.start(
            self.context.store.recover,
            name,
            on_result=self._on_recovered,
            on_error=lambda message: self.banner.show_message("error", message),
        )

    def _on_recovered(self, message: str) -> None:
        self.banner.show_message("success", message, [("Dismiss", self.banner.clear)])
        self.context.notify_records_changed()
        # Another file may be damaged too, and the jobs file is readable only now.
        self.tasks.start(run_startup_checks, self.context.store, on_result=self._on_recheck_result)

    def _on_recheck_result(self, report: StartupReport) -> None:
        if report.problems or report.interrupted_jobs:
            self._on_startup_result(report)
        else:
            self.startup_report = report
            self.startup_finished.emit(report)

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before cancelling running work, stop it, and remember the window's geometry."""
        if not self._closing:
            reasons = [r for r in (self._busy_reason(v) for v in self._views.values()) if r]
            if reasons and not widgets.confirm(
                self,
                "Quit PredictML?",
                " ".join(reasons) + " Quitting cancels it. Quit anyway?",
                yes="Cancel it and quit",
                no="Keep working",
            ):
                event.ignore()
                return
            self._closing = True
        pending = [v for v in self._views.values() if not self._shutdown(v)]
        if pending:
            # Children are still stopping (a training's worker ends within seconds): close again
            # when they report, instead of blocking the event loop here.
            self.statusBar().showMessage("Stopping the training before quitting…")
            event.ignore()
            return
        self.tasks.cancel_all()
        self._state.setValue("window/geometry", self.saveGeometry())
        self._state.setValue("window/view", self.current_view_key())
        self._state.sync()
        event.accept()

    @staticmethod
    def _busy_reason(view: QWidget) -> str | None:
        busy = getattr(view, "busy_reason", None)
        return busy() if callable(busy) else None

    @staticmethod
    def _shutdown(view: QWidget) -> bool:
        shutdown = getattr(view, "shutdown", None)
        return bool(shutdown()) if callable(shutdown) else True

    def _on_view_ready_to_close(self) -> None:
        if self._closing:
            # Queued: the view that signalled may still be inside its own slot.
            QTimer.singleShot(0, self.close)
