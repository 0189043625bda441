"""ServiceProcess: the service as a real child process (``predictml serve``), started, watched, stopped."""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from predictml_desktop.core.service import (
    PortInUseError,
    ServiceProcess,
    ServiceStatus,
    api_key_path,
    find_free_port,
    running_service,
    stop_recorded_service,
)
from tests.server.conftest import deploy_copy
from tests.trained_models import TrainedTemplate, valid_rows

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_start_serve_watch_and_stop_a_child(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    port = _free_port()
    service = ServiceProcess(paths, port=port, require_api_key=True)
    try:
        snap = service.start(timeout=120)
        assert snap.status == ServiceStatus.RUNNING and snap.url == f"http://127.0.0.1:{port}"
        pid = service.pid
        assert pid is not None
        # Listening on loopback only (L-1).
        listeners = [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listeners and all(c.laddr.ip in ("127.0.0.1", "::1") for c in listeners)
        key_file = api_key_path(paths)
        assert key_file.is_file() and paths.home not in key_file.parents
        if sys.platform != "win32":
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text("utf-8").strip()
        clf = trained_template.jobs["classification"]
        with httpx.Client(base_url=service.url, timeout=60) as client:
            anonymous = client.post(f"/predict/{clf.dataset_id}", json={"inputData": valid_rows(clf, 1)[0]})
            assert anonymous.status_code == 401
            r = client.post(f"/predict/{clf.dataset_id}", json={"inputData": valid_rows(clf, 3)},
                            headers={"X-API-Key": key})
            assert r.status_code == 200 and len(r.json()["prediction"]) == 3
        assert running_service(paths) is not None
        assert service.request_log_path.is_file()
        # A second service on the same port is refused with a free port offered; nothing starts.
        other = ServiceProcess(paths, port=port)
        with pytest.raises(PortInUseError) as info:
            other.start()
        assert info.value.suggested_port and info.value.suggested_port != port
        assert str(info.value.suggested_port) in str(info.value)
        assert other.pid is None
    finally:
        final = service.stop()
    assert final.status == ServiceStatus.STOPPED
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert running_service(paths) is None


def test_a_killed_service_is_reported_failed(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    service = ServiceProcess(paths, port=_free_port())
    service.start(timeout=120)
    pid = service.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    snap = service.snapshot()
    while snap.status != ServiceStatus.FAILED and time.monotonic() < deadline:
        time.sleep(0.05)
        snap = service.snapshot()
    assert snap.status == ServiceStatus.FAILED and snap.exit_code == -signal.SIGKILL
    # It can be started again.
    service.port = find_free_port(service.port + 1) or service.port
    assert service.start(timeout=120).status == ServiceStatus.RUNNING
    service.stop()


def test_a_kept_service_outlives_its_handle_and_is_found_again(trained_template: TrainedTemplate,
                                                               tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    service = ServiceProcess(paths, port=_free_port(), keep_running=True)
    assert "--follow-parent" not in service.command()
    service.start(timeout=120)
    pid = service.pid
    service.detach()
    assert psutil.pid_exists(pid)  # type: ignore[arg-type]
    recorded = running_service(paths)
    assert recorded is not None and recorded["pid"] == pid
    assert stop_recorded_service(paths)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:  # type: ignore[arg-type]
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:  # type: ignore[arg-type]
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    assert running_service(paths) is None
    assert "--follow-parent" in ServiceProcess(paths).command()
