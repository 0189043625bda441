"""Server view: a real prediction service child on 127.0.0.1 — start, /health, stop, port in use, kill, key, close."""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit, QPushButton

from predictml_desktop.core.service import ServiceStatus, find_free_port, health, running_service
from predictml_desktop.core.settings import load_settings
from predictml_desktop.ui.server_view import ServerView
from tests.trained_models import DeployedHome

TIMEOUT = 60_000


def _free_port() -> int:
    port = find_free_port(random.randint(20_000, 45_000))
    assert port is not None
    return port


@pytest.fixture
def server(qtbot, make_window) -> Iterator[ServerView]:
    """The Server view of a real main window; any service it started is gone after the test."""
    window = make_window(run_startup=False)
    view = window.show_view("server")
    assert isinstance(view, ServerView)
    qtbot.waitUntil(view.start_button.isEnabled, timeout=TIMEOUT)  # the saved settings are read
    pids: list[int] = []
    view.state_changed.connect(lambda _s: pids.append(view.service.pid) if view.service and view.service.pid else None)
    yield view
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


def _start(qtbot, view: ServerView, port: int | None = None) -> int:
    if port is not None:
        view.port_spin.setValue(port)
    with qtbot.waitSignal(view.state_changed, timeout=TIMEOUT, check_params_cb=lambda s: s == "running"):
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.service is not None and view.service.pid
    return view.service.port


def _stop(qtbot, view: ServerView) -> None:
    with qtbot.waitSignal(view.state_changed, timeout=TIMEOUT, check_params_cb=lambda s: s == "stopped"):
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)


def test_start_on_a_free_port_answers_health_lists_the_deployments_and_stops(
        qtbot, deployed_home: DeployedHome, server: ServerView) -> None:
    window = server.window()
    qtbot.waitUntil(lambda: server.served_model.rowCount() == 2, timeout=TIMEOUT)
    port = _start(qtbot, server, _free_port())
    pid = server.service.pid
    assert server.state_label.text() == f"Running on http://127.0.0.1:{port}."
    assert server.url_edit.text() == f"http://127.0.0.1:{port}"
    assert health(port)["status"] == "ok"
    assert window.server_label.text().startswith(f"Prediction service: running on http://127.0.0.1:{port}")
    assert not server.start_button.isEnabled() and not server.port_spin.isEnabled()
    endpoints = {server.served_model.index(r, 3).data() for r in range(2)}
    assert endpoints == {f"http://127.0.0.1:{port}/predict/{job.dataset_id}" for job in deployed_home.jobs.values()}
    assert load_settings(deployed_home.paths).server_port == port  # remembered for the next start

    # The request log pane shows what the service answered.
    assert httpx.get(f"http://127.0.0.1:{port}/models", timeout=10).status_code == 200
    qtbot.waitUntil(lambda: "GET /models 200" in server.log_view.toPlainText(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: server.models_served == 2, timeout=TIMEOUT)  # from /health, every few seconds

    _stop(qtbot, server)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert health(port, timeout=0.5) is None
    assert window.server_label.text() == "Prediction service: not running"
    assert server.start_button.isEnabled()


def test_a_port_in_use_is_reported_with_a_free_one_offered_and_used_in_one_click(qtbot, server: ServerView) -> None:
    busy = _free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", busy))
        blocker.listen()
        server.port_spin.setValue(busy)
        with qtbot.waitSignal(server.port_in_use, timeout=TIMEOUT) as refused:
            qtbot.mouseClick(server.start_button, Qt.MouseButton.LeftButton)
        port, offered = refused.args
        assert port == busy and offered > busy
        assert server.status == ServiceStatus.STOPPED
        assert f"Port {busy} on 127.0.0.1 is already in use by another program. Port {offered} is free." \
            == server.banner.text
        [use] = [b for b in server.banner.findChildren(QPushButton) if b.text() == f"Use port {offered}"]
        with qtbot.waitSignal(server.state_changed, timeout=TIMEOUT, check_params_cb=lambda s: s == "running"):
            qtbot.mouseClick(use, Qt.MouseButton.LeftButton)
    assert server.service.port == offered and health(offered) is not None
    _stop(qtbot, server)


def test_a_killed_service_is_shown_stopped_within_five_seconds_and_starts_again(qtbot, server: ServerView) -> None:
    port = _start(qtbot, server, _free_port())
    killed_at = time.monotonic()
    os.kill(server.service.pid, signal.SIGKILL)
    with qtbot.waitSignal(server.state_changed, timeout=5_000, check_params_cb=lambda s: s == "failed"):
        pass
    assert time.monotonic() - killed_at < 5
    assert server.state_label.text().startswith("Stopped unexpectedly (exit code -9)")
    assert server.window().server_label.text() == "Prediction service: stopped unexpectedly"
    assert server.start_button.isEnabled() and not server.stop_button.isEnabled()
    assert _start(qtbot, server) == port
    assert health(port) is not None
    _stop(qtbot, server)


def test_the_api_key_is_required_generated_shown_copied_and_regenerated(qtbot, server: ServerView,
                                                                       confirmations) -> None:
    with qtbot.waitSignal(server.key_changed, timeout=TIMEOUT):
        server.require_key_check.setChecked(True)
    key = server.api_key
    assert key and len(key) >= 40 and server.key_edit.text() == key
    assert server.key_edit.echoMode() == QLineEdit.EchoMode.Password
    qtbot.mouseClick(server.show_key_button, Qt.MouseButton.LeftButton)
    assert server.key_edit.echoMode() == QLineEdit.EchoMode.Normal
    qtbot.mouseClick(server.copy_key_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == key
    qtbot.waitUntil(lambda: load_settings(server.paths).require_api_key, timeout=TIMEOUT)

    port = _start(qtbot, server, _free_port())
    url = f"http://127.0.0.1:{port}/models"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"X-API-Key": key}, timeout=10).status_code == 200

    with qtbot.waitSignal(server.key_changed, timeout=TIMEOUT):
        qtbot.mouseClick(server.generate_key_button, Qt.MouseButton.LeftButton)
    assert confirmations.asked[-1][0] == "Replace the API key?"
    new_key = server.api_key
    assert new_key != key and server.key_edit.text() == new_key
    # The running service reads the new key at once: the old one is refused from now on.
    qtbot.waitUntil(lambda: httpx.get(url, headers={"X-API-Key": key}, timeout=10).status_code == 401,
                    timeout=TIMEOUT)
    assert httpx.get(url, headers={"X-API-Key": new_key}, timeout=10).status_code == 200
    _stop(qtbot, server)


def test_the_service_stops_with_the_app_unless_it_was_kept_running(qtbot, make_window, server: ServerView) -> None:
    window = server.window()
    _start(qtbot, server, _free_port())
    pid = server.service.pid
    with qtbot.waitSignal(server.ready_to_close, timeout=TIMEOUT):
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    second = make_window(run_startup=False)
    view = second.show_view("server")
    qtbot.waitUntil(lambda: view.keep_running_check.isEnabled(), timeout=TIMEOUT)
    view.keep_running_check.setChecked(True)
    port = _start(qtbot, view, _free_port())
    kept = view.service.pid
    try:
        second.close()
        qtbot.waitUntil(lambda: not second.isVisible(), timeout=TIMEOUT)
        assert psutil.pid_exists(kept) and health(port) is not None
        assert running_service(view.paths)["pid"] == kept

        # The next session finds it and can stop it.
        third = make_window(run_startup=False)
        later = third.show_view("server")  # may be built already: the window reopens on its last view
        qtbot.waitUntil(lambda: later.status == ServiceStatus.RUNNING, timeout=TIMEOUT)
        assert "kept running from an earlier session" in later.state_label.text()
        _stop(qtbot, later)
        assert health(port, timeout=0.5) is None
    finally:
        try:
            psutil.Process(kept).kill()
        except psutil.Error:
            pass
