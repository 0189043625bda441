"""The Server view (issue 6): start and stop the local prediction service, its port, URL, key and request log.

The service is a child process (`core.service.ServiceProcess`: ``predictml serve`` bound to
127.0.0.1). Starting waits for ``/health`` and stopping waits for the child, so both run on a
worker thread. A one-second timer polls the child (``Popen.poll``, microseconds), so a service that
dies, even by SIGKILL, shows as stopped within about a second and Start works again. Unless the
user chose "keep running", the service stops with the app (`shutdown`), and the child also follows
the app if the app dies.

Over 600 lines on purpose: one view drives one service process, and its controls (start/stop, port,
key, keep running, the prediction log, the request log) all follow that process's state; the state
itself, the process and the log live in the core (`core.service`, `core.drift.prediction_log`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.records import Dataset, Deployment
from predictml_desktop.core.service import (
    DEFAULT_HOST,
    PortInUseError,
    ServiceProcess,
    ServiceSnapshot,
    ServiceStatus,
    generate_api_key,
    health,
    read_api_key,
    running_service,
    stop_recorded_service,
)
from predictml_desktop.ui import widgets
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.formatting import format_timestamp
from predictml_desktop.ui.server_calls import (
    ServerState,
    StartResult,
    load_served,
    read_log_tail,
    read_state,
    save_server_settings,
    start_service,
)
from predictml_desktop.ui.table_models import Column, RecordTableModel
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import Banner, Card, heading

WATCH_MS = 1000
"""How often the child is polled: a dead service shows as stopped within about this long."""
HEALTH_EVERY = 5
"""Ask /health (off the GUI thread) every this many polls, for the number of models served."""
LOG_REFRESH_MS = 2000


# --------------------------------------------------------------------------- the view


class ServerView(QWidget):
    """Start, stop and watch the local prediction service.

    Parameters
    ----------
    context
        The app's shared state.
    command
        Replace the service's command line (tests); ``predictml serve ...`` by default.
    """

    state_changed = Signal(str)
    """The service's state changed; carries a `ServiceStatus` value."""

    start_failed = Signal(str)
    """A start was refused or failed; carries the sentence shown."""

    port_in_use = Signal(int, int)
    """The chosen port is taken; carries it and the free port offered (0 if none was found)."""

    log_refreshed = Signal()
    """The request log pane was read again."""

    deployments_loaded = Signal()
    """The list of served deployments was read again."""

    key_changed = Signal()
    """The API key was generated or regenerated."""

    loaded = Signal()
    """The saved settings, the key and any service left running are shown."""

    ready_to_close = Signal()
    """The service stopped after the window asked to close."""

    def __init__(self, context: AppContext, parent: QWidget | None = None, *,
                 command: list[str] | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.paths = context.paths
        self.command = command
        self.tasks = Tasks(self)
        self.service: ServiceProcess | None = None
        self.recorded: dict[str, Any] | None = None
        self.status = ServiceStatus.STOPPED
        self.models_served: int | None = None
        self.api_key: str | None = None
        self._ticks = 0
        self._closing = False
        self._loaded = False
        """The saved settings have been read: until then the controls wait (the read would undo a click)."""
        self._build()
        self._watch = QTimer(self)
        self._watch.setInterval(WATCH_MS)
        self._watch.timeout.connect(self._on_watch_tick)
        self._log_timer = QTimer(self)
        self._log_timer.setInterval(LOG_REFRESH_MS)
        self._log_timer.timeout.connect(self.refresh_log)
        self._log_timer.start()
        context.records_changed.connect(self.reload_deployments)
        self._set_status(ServiceStatus.STOPPED, "Stopped.")
        self.tasks.start(read_state, self.paths, on_result=self._on_state_read, on_error=self._on_state_failed)
        self.reload_deployments()
        self.refresh_log()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading("Prediction service"))
        intro = QLabel("The local HTTP service answers predictions for every deployed model, for other programs "
                       "on this computer (it listens on 127.0.0.1 only).")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.banner = Banner(name="Server message")
        layout.addWidget(self.banner)

        layout.addWidget(self._build_service_card())
        layout.addWidget(self._build_key_card())
        splitter = QSplitter()
        splitter.addWidget(self._build_served_list())
        splitter.addWidget(self._build_request_log())
        layout.addWidget(splitter, 1)
        self._datasets: dict[str, Dataset] = {}
        self._update_url()

    def _build_service_card(self) -> QWidget:
        control = Card("Service")
        form = QFormLayout()
        self.state_label = QLabel()
        self.state_label.setAccessibleName("Service state")
        self.state_label.setWordWrap(True)
        form.addRow("State:", self.state_label)
        port_row = QHBoxLayout()
        self.port_spin = QSpinBox()
        self.port_spin.setAccessibleName("Port")
        self.port_spin.setRange(1024, 65535)
        self.port_spin.setValue(8000)
        self.port_spin.valueChanged.connect(self._update_url)
        port_row.addWidget(self.port_spin)
        self.start_button = QPushButton("&Start")
        self.start_button.setAccessibleName("Start the service")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("S&top")
        self.stop_button.setAccessibleName("Stop the service")
        self.stop_button.clicked.connect(self.stop)
        port_row.addWidget(self.start_button)
        port_row.addWidget(self.stop_button)
        port_row.addStretch(1)
        port_label = QLabel("&Port:")
        port_label.setBuddy(self.port_spin)
        form.addRow(port_label, port_row)
        url_row = QHBoxLayout()
        self.url_edit = QLineEdit()
        self.url_edit.setReadOnly(True)
        self.url_edit.setAccessibleName("Service address")
        self.copy_url_button = QPushButton("Cop&y")
        self.copy_url_button.setAccessibleName("Copy the service address")
        self.copy_url_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.url_edit.text()))
        self.docs_button = QPushButton("API &docs")
        self.docs_button.setAccessibleName("Open the API documentation")
        self.docs_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl(f"{self.url_edit.text()}/docs")))
        url_row.addWidget(self.url_edit, 1)
        url_row.addWidget(self.copy_url_button)
        url_row.addWidget(self.docs_button)
        form.addRow("Address:", url_row)
        self.keep_running_check = QCheckBox("&Keep running after PredictML closes")
        self.keep_running_check.setAccessibleName("Keep the service running after the app closes")
        self.keep_running_check.toggled.connect(self._on_keep_running_toggled)
        form.addRow("", self.keep_running_check)
        self.prediction_log_check = QCheckBox("Keep a &log of predictions for monitoring")
        self.prediction_log_check.setAccessibleName("Keep a log of served predictions")
        self.prediction_log_check.toggled.connect(self._on_prediction_log_toggled)
        form.addRow("", self.prediction_log_check)
        self.prediction_log_note = QLabel()
        self.prediction_log_note.setWordWrap(True)
        self.prediction_log_note.setAccessibleName("Prediction log statement")
        form.addRow("", self.prediction_log_note)
        self._update_prediction_log_note(False)
        control.body.addLayout(form)

        return control

    def _build_key_card(self) -> QWidget:
        key_card = Card("API key")
        key_form = QFormLayout()
        self.require_key_check = QCheckBox("&Require an API key (X-API-Key or Authorization: Bearer)")
        self.require_key_check.setAccessibleName("Require an API key")
        self.require_key_check.toggled.connect(self._on_require_key_toggled)
        key_form.addRow("", self.require_key_check)
        key_row = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setReadOnly(True)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setAccessibleName("API key")
        self.key_edit.setPlaceholderText("no key generated yet")
        self.show_key_button = QPushButton("S&how")
        self.show_key_button.setAccessibleName("Show the API key")
        self.show_key_button.setCheckable(True)
        self.show_key_button.toggled.connect(self._on_show_key_toggled)
        self.copy_key_button = QPushButton("Copy &key")
        self.copy_key_button.setAccessibleName("Copy the API key")
        self.copy_key_button.clicked.connect(self.copy_key)
        self.generate_key_button = QPushButton("&Generate")
        self.generate_key_button.setAccessibleName("Generate a new API key")
        self.generate_key_button.clicked.connect(self.generate_key)
        for widget in (self.key_edit, self.show_key_button, self.copy_key_button, self.generate_key_button):
            key_row.addWidget(widget, 1 if widget is self.key_edit else 0)
        key_form.addRow("Key:", key_row)
        self.key_note = QLabel()
        self.key_note.setWordWrap(True)
        self.key_note.setAccessibleName("API key note")
        key_form.addRow("", self.key_note)
        key_card.body.addLayout(key_form)

        return key_card

    def _build_served_list(self) -> QWidget:
        served = QWidget()
        served_layout = QVBoxLayout(served)
        served_layout.setContentsMargins(0, 0, 0, 0)
        served_layout.addWidget(heading("Models it answers for", 2))
        self.served_model = RecordTableModel([
            Column("Dataset", self._dataset_name),
            Column("Model", lambda d: d.model_name or ""),
            Column("Job", lambda d: d.training_job_id),
            Column("Endpoint", self._endpoint),
            Column("Deployed", lambda d: format_timestamp(d.deployed_at)),
        ], parent=self)
        self.served_view = QTableView()
        self.served_view.setAccessibleName("Deployed models served")
        self.served_view.setModel(self.served_model)
        self.served_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.served_view.verticalHeader().hide()
        self.served_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.served_view.horizontalHeader().setStretchLastSection(True)
        served_layout.addWidget(self.served_view, 1)
        self.served_empty = QLabel("No model is deployed yet: approve one for Local in the Admin view.")
        self.served_empty.setWordWrap(True)
        served_layout.addWidget(self.served_empty)
        return served

    def _build_request_log(self) -> QWidget:
        log = QWidget()
        log_layout = QVBoxLayout(log)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addWidget(heading("Request log", 2))
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setAccessibleName("Request log")
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setPlaceholderText("Requests appear here once the service answers some.")
        log_layout.addWidget(self.log_view, 1)
        return log

    # ------------------------------------------------------------------ small helpers

    @property
    def url(self) -> str:
        """The service's base URL for the port shown."""
        port = self.service.port if self.service is not None and self.running else self.port_spin.value()
        return f"http://{DEFAULT_HOST}:{port}"

    @property
    def running(self) -> bool:
        """True while the service answers (started here or kept running earlier)."""
        return self.status == ServiceStatus.RUNNING

    def _dataset_name(self, dep: Deployment) -> str:
        dataset = self._datasets.get(dep.dataset_id)
        return f"{dataset.name} ({dep.dataset_id})" if dataset and dataset.name else dep.dataset_id

    def _endpoint(self, dep: Deployment) -> str:
        return f"{self.url}/predict/{dep.dataset_id}"

    def _update_url(self, *_args: Any) -> None:
        self.url_edit.setText(self.url)
        self.served_model.layoutChanged.emit()

    def _set_status(self, status: ServiceStatus, text: str) -> None:
        changed = status != self.status or text != self.state_label.text()
        self.status = status
        self.state_label.setText(text)
        busy = status in (ServiceStatus.STARTING, ServiceStatus.STOPPING) or not self._loaded
        self.start_button.setEnabled(status in (ServiceStatus.STOPPED, ServiceStatus.FAILED) and not self._closing
                                     and self._loaded)
        self.stop_button.setEnabled(status == ServiceStatus.RUNNING and self._loaded)
        self.port_spin.setEnabled(not busy and status != ServiceStatus.RUNNING)
        self.keep_running_check.setEnabled(not busy and status != ServiceStatus.RUNNING)
        for widget in (self.require_key_check, self.generate_key_button):
            widget.setEnabled(self._loaded)
        self._update_url()
        if status == ServiceStatus.RUNNING:
            models = "" if self.models_served is None else (
                f", {self.models_served} model{'s' if self.models_served != 1 else ''}")
            bar = f"Prediction service: running on {self.url}{models}"
        elif status == ServiceStatus.STARTING:
            bar = "Prediction service: starting…"
        elif status == ServiceStatus.STOPPING:
            bar = "Prediction service: stopping…"
        elif status == ServiceStatus.FAILED:
            bar = "Prediction service: stopped unexpectedly"
        else:
            bar = "Prediction service: not running"
        if changed:
            self.context.server_state_changed.emit(bar)
            self.state_changed.emit(status.value)

    # ------------------------------------------------------------------ state read at start

    def _on_state_read(self, state: ServerState) -> None:
        self._loaded = True
        settings = state.settings
        self._update_prediction_log_note(settings.prediction_log)
        for widget, value in ((self.keep_running_check, settings.server_keep_running),
                              (self.require_key_check, settings.require_api_key),
                              (self.prediction_log_check, settings.prediction_log)):
            widget.blockSignals(True)
            widget.setChecked(value)
            widget.blockSignals(False)
        if self.service is None:
            self.port_spin.setValue(settings.server_port)
        self._show_key(state.api_key)
        if state.recorded is not None and self.service is None:
            self.recorded = state.recorded
            port = int(state.recorded.get("port") or settings.server_port)
            self.port_spin.setValue(port)
            self._set_status(ServiceStatus.RUNNING,
                             f"Running on http://{state.recorded.get('host', DEFAULT_HOST)}:{port} "
                             f"(kept running from an earlier session, process {state.recorded.get('pid')}).")
            self._watch.start()
        else:
            self._set_status(self.status, self.state_label.text())  # enables the controls
        self.loaded.emit()

    def _on_state_failed(self, message: str) -> None:
        # The defaults stay in the controls; the user can still start the service.
        self._loaded = True
        self.banner.show_message("error", message)
        self._set_status(self.status, self.state_label.text())
        self.loaded.emit()

    # ------------------------------------------------------------------ start / stop

    def busy_reason(self) -> str | None:
        """Say what quitting now would interrupt (a start or stop in progress)."""
        if self.status == ServiceStatus.STARTING:
            return "The prediction service is starting."
        return None

    def start(self) -> None:
        """Start the service on the port shown (off the GUI thread; it waits for /health)."""
        if self.status not in (ServiceStatus.STOPPED, ServiceStatus.FAILED) or self._closing:
            return
        port = self.port_spin.value()
        self.banner.clear()
        self.models_served = None
        self._set_status(ServiceStatus.STARTING, f"Starting on http://{DEFAULT_HOST}:{port}…")
        self.tasks.start(start_service, self.paths, port, keep_running=self.keep_running_check.isChecked(),
                         require_api_key=self.require_key_check.isChecked(), command=self.command,
                         on_result=self._on_start_result, on_error=self._on_start_error)

    def _on_start_result(self, result: StartResult) -> None:
        error = result.error
        if error is None and result.snapshot is not None:
            self.service = result.service
            self.recorded = None
            self._ticks = 0
            self._set_status(ServiceStatus.RUNNING, f"Running on {result.snapshot.url}.")
            self._watch.start()
            self.refresh_health()
            if self.require_key_check.isChecked():
                # The service generated the key if there was none: show it.
                self.tasks.start(read_api_key, self.paths, on_result=self._show_key)
            if self._closing:
                self._stop_for_close()
            return
        self.service = None
        message = str(error)
        self._set_status(ServiceStatus.STOPPED, "Stopped.")
        if isinstance(error, PortInUseError):
            suggested = error.suggested_port or 0
            actions: list[tuple[str, Callable[[], object]]] = []
            if suggested:
                actions.append((f"Use port {suggested}", lambda: self.use_port(suggested)))
            self.banner.show_message("warning", message, actions)
            self.port_in_use.emit(error.port, suggested)
        else:
            self.banner.show_message("error", message)
        self.start_failed.emit(message)
        if self._closing:
            self.ready_to_close.emit()

    def _on_start_error(self, message: str) -> None:
        self.service = None
        self._set_status(ServiceStatus.STOPPED, "Stopped.")
        self.banner.show_message("error", message)
        self.start_failed.emit(message)
        if self._closing:
            self.ready_to_close.emit()

    def use_port(self, port: int) -> None:
        """Switch to ``port`` (the free one offered) and start."""
        self.port_spin.setValue(port)
        self.start()

    def stop(self) -> None:
        """Stop the service (off the GUI thread: a clean stop may take a few seconds)."""
        if self.status != ServiceStatus.RUNNING:
            return
        self._set_status(ServiceStatus.STOPPING, "Stopping…")
        self._watch.stop()
        if self.service is not None:
            self.tasks.start(self.service.stop, on_result=self._on_stopped, on_error=self._on_stop_error)
        else:
            self.tasks.start(stop_recorded_service, self.paths, on_result=self._on_stopped,
                             on_error=self._on_stop_error)

    def _on_stopped(self, _result: object) -> None:
        self.recorded = None
        self.models_served = None
        self._set_status(ServiceStatus.STOPPED, "Stopped.")
        if self._closing:
            self.ready_to_close.emit()

    def _on_stop_error(self, message: str) -> None:
        self.banner.show_message("error", f"The service could not be stopped: {message}")
        self._on_stopped(None)

    # ------------------------------------------------------------------ watching

    def _on_watch_tick(self) -> None:
        if self.status != ServiceStatus.RUNNING:
            self._watch.stop()
            return
        if self.service is not None:
            snapshot = self.service.snapshot(check_health=False)  # poll() only: no I/O on the GUI thread
            if snapshot.status != ServiceStatus.RUNNING:
                self._on_died(snapshot)
                return
        elif self.recorded is not None:
            self.tasks.start(running_service, self.paths, on_result=self._on_recorded_checked)
        self._ticks += 1
        if self._ticks % HEALTH_EVERY == 0:
            self.refresh_health()

    def _on_died(self, snapshot: ServiceSnapshot) -> None:
        self._watch.stop()
        self.service = None
        self.models_served = None
        code = snapshot.exit_code
        how = f" (exit code {code})" if code is not None else ""
        detail = f" {snapshot.message}" if snapshot.message else ""
        self._set_status(ServiceStatus.FAILED, f"Stopped unexpectedly{how}. Press Start to run it again.")
        self.banner.show_message("error", f"The prediction service stopped unexpectedly{how}.{detail}",
                                 [("Start again", self.start)])

    def _on_recorded_checked(self, doc: dict[str, Any] | None) -> None:
        if doc is None and self.recorded is not None and self.service is None:
            self.recorded = None
            self._watch.stop()
            self._set_status(ServiceStatus.STOPPED, "Stopped (the service started earlier has ended).")

    def refresh_health(self) -> None:
        """Ask /health off the GUI thread (how many models the service serves)."""
        if not self.running:
            return
        port = self.service.port if self.service is not None else self.port_spin.value()
        self.tasks.start(health, port, on_result=self._on_health)

    def _on_health(self, answer: dict[str, Any] | None) -> None:
        if not self.running or answer is None:
            return
        models = answer.get("models")
        self.models_served = models if isinstance(models, int) else None
        self._set_status(ServiceStatus.RUNNING, self.state_label.text())

    # ------------------------------------------------------------------ settings and key

    def _on_keep_running_toggled(self, checked: bool) -> None:
        self.tasks.start(save_server_settings, self.paths, server_keep_running=checked)

    def _on_prediction_log_toggled(self, checked: bool) -> None:
        self._update_prediction_log_note(checked)
        self.tasks.start(save_server_settings, self.paths, prediction_log=checked,
                         on_error=lambda message: self.banner.show_message("error", message))

    def _update_prediction_log_note(self, on: bool) -> None:
        folder = self.paths.home / "prediction-log"
        self.prediction_log_note.setText(
            f"On: every answered request — its input rows, the prediction, the model and the time — is written to "
            f"{folder} (rotated by size), for Admin → Monitoring. Turn it off to stop; what was logged stays there."
            if on else
            "Off (the default): requests are not recorded. When on, each request's input rows, prediction, model and "
            "time are kept in the data folder so Admin → Monitoring can show traffic and drift.")

    def _on_require_key_toggled(self, checked: bool) -> None:
        self.tasks.start(save_server_settings, self.paths, require_api_key=checked)
        if checked and self.api_key is None:
            self.generate_key(confirm=False)
        self._update_key_note()

    def _show_key(self, key: str | None) -> None:
        self.api_key = key
        self.key_edit.setText(key or "")
        self.generate_key_button.setText("Re&generate" if key else "&Generate")
        self.copy_key_button.setEnabled(bool(key))
        self.show_key_button.setEnabled(bool(key))
        self._update_key_note()

    def _update_key_note(self) -> None:
        if not self.require_key_check.isChecked():
            note = ("Any program on this computer may call the service. Require a key to limit it to the "
                    "programs you give it to.")
        elif self.running and self.service is not None and not self.service.require_api_key:
            note = "Stop and start the service for the key requirement to take effect."
        else:
            note = "Send the key in the X-API-Key header (or Authorization: Bearer KEY); /health stays open."
        self.key_note.setText(note)

    def _on_show_key_toggled(self, shown: bool) -> None:
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_key_button.setText("&Hide" if shown else "S&how")

    def copy_key(self) -> None:
        """Put the API key on the clipboard."""
        if self.api_key:
            QGuiApplication.clipboard().setText(self.api_key)
            self.banner.show_message("info", "The API key is on the clipboard.")

    def generate_key(self, *, confirm: bool = True) -> None:
        """Generate (or replace) the API key; a running service uses the new one at once."""
        if confirm and self.api_key and not widgets.confirm(
            self, "Replace the API key?",
            "Programs that use the current key will be refused until they get the new one.",
            yes="Replace the key", no="Keep it",
        ):
            return
        self.tasks.start(generate_api_key, self.paths, on_result=self._on_key_generated,
                         on_error=lambda message: self.banner.show_message("error", message))

    def _on_key_generated(self, key: str) -> None:
        self._show_key(key)
        self.banner.show_message("success", "A new API key is ready; copy it into the programs that call "
                                            "the service.")
        self.key_changed.emit()

    # ------------------------------------------------------------------ deployments and log

    def reload_deployments(self) -> None:
        """Read the active local deployments off the GUI thread."""
        self.tasks.start(load_served, self.context.store, on_result=self._on_served_loaded,
                         on_error=lambda message: self.banner.show_message("error", message))

    def _on_served_loaded(self, result: tuple[list[Deployment], dict[str, Dataset]]) -> None:
        deployments, self._datasets = result
        self.served_model.set_rows(deployments)
        self.served_empty.setVisible(not deployments)
        self.deployments_loaded.emit()

    def refresh_log(self) -> None:
        """Read the tail of the request log off the GUI thread (only while the view is visible)."""
        if not self.isVisible() and self.log_view.toPlainText():
            return
        self.tasks.start(read_log_tail, self.paths, on_result=self._on_log_read)

    def _on_log_read(self, text: str) -> None:
        if text != self.log_view.toPlainText():
            self.log_view.setPlainText(text)
            bar = self.log_view.verticalScrollBar()
            bar.setValue(bar.maximum())
        self.log_refreshed.emit()

    def activated(self) -> None:
        """Reload what may be stale (the view was just shown)."""
        self.reload_deployments()
        self.refresh_log()

    # ------------------------------------------------------------------ closing

    def shutdown(self) -> bool:
        """Stop the service with the app unless the user chose to keep it running.

        Returns True when nothing is left to wait for; False while the service stops (the view then
        emits `ready_to_close`).
        """
        self._closing = True
        self._log_timer.stop()
        if self.status == ServiceStatus.STARTING:
            return False  # _on_start_result stops it and signals
        if self.status == ServiceStatus.STOPPING:
            return False
        if self.status != ServiceStatus.RUNNING:
            return True
        if self.keep_running_check.isChecked():
            self._watch.stop()
            if self.service is not None:
                self.service.detach()  # service.json lets the next session find and stop it
            return True
        if self.recorded is not None and self.service is None:
            return True  # started by an earlier session and kept running on purpose: leave it
        self._stop_for_close()
        return False

    def _stop_for_close(self) -> None:
        if self.keep_running_check.isChecked() and self.service is not None:
            self.service.detach()
            self.ready_to_close.emit()
            return
        self.stop()
