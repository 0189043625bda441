"""Start, watch and stop the prediction service as a child process (Qt-free; the Server view wraps it).

The service is ``predictml serve --port N`` (frozen: ``PredictML serve --port N``) started through
`core.processes.spawn`, in a process group of its own. `ServiceProcess.start` refuses a port that is
in use and names a free one; it returns once ``/health`` answers. Unless the user chose to keep the
service running after the app closes, the child follows its parent (it exits when the app dies).

A small ``service.json`` in the data home records the running service (PID, create time, port), so
a restarted app can find and stop a service that was kept running.

API key: `generate_api_key` writes a random key to the configuration folder (mode 0600, outside
the data home); the service reads it with ``--api-key-file`` and re-reads it when it changes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from predictml_desktop.core import processes
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
API_KEY_FILE = "service-api-key"
SERVICE_FILE = "service.json"
SERVICE_LOG = "service.log"
REQUEST_LOG = "service-requests.log"


class ServiceStatus(StrEnum):
    """What the Server view shows."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FAILED = "failed"


class ServiceError(Exception):
    """The service could not be started or stopped; the message says why."""


class PortInUseError(ServiceError):
    """The port is taken; ``suggested_port`` is a free one."""

    def __init__(self, port: int, suggested_port: int | None, host: str = DEFAULT_HOST) -> None:
        self.port, self.suggested_port, self.host = port, suggested_port, host
        offer = f" Port {suggested_port} is free." if suggested_port else ""
        super().__init__(f"Port {port} on {host} is already in use by another program.{offer}")


def port_available(port: int, host: str = DEFAULT_HOST) -> bool:
    """Return True if a server could listen on ``host:port`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if sys.platform != "win32":
            # Same as uvicorn: a port in TIME_WAIT after a stop is reusable.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(start: int = DEFAULT_PORT, host: str = DEFAULT_HOST, attempts: int = 200) -> int | None:
    """Return the first free port from ``start`` on (None if ``attempts`` ports are all taken)."""
    for port in range(start, min(start + attempts, 65536)):
        if port_available(port, host):
            return port
    return None


def api_key_path(paths: Paths) -> Path:
    """Return the file of the service's API key (in the configuration folder)."""
    return paths.config / API_KEY_FILE


def read_api_key(paths: Paths) -> str | None:
    """Return the stored API key, or None if none was generated."""
    try:
        key = api_key_path(paths).read_text("utf-8").strip()
    except OSError:
        return None
    return key or None


def generate_api_key(paths: Paths) -> str:
    """Create (or replace) the service's API key and return it. A running service picks it up at once."""
    path = api_key_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    atomic_write_bytes(path, key.encode("utf-8"), keep_backup=False)
    if sys.platform != "win32":
        os.chmod(path, 0o600)
    return key


def health(port: int, host: str = DEFAULT_HOST, timeout: float = 1.0) -> dict[str, Any] | None:
    """Return the ``/health`` answer of a service on ``host:port``, or None if none answers."""
    url_host = f"[{host}]" if ":" in host else host
    try:
        with urllib.request.urlopen(f"http://{url_host}:{port}/health", timeout=timeout) as resp:
            if resp.status != 200:
                return None
            body = json.loads(resp.read())
            return body if isinstance(body, dict) and body.get("status") == "ok" else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


@dataclass
class ServiceSnapshot:
    """The state of the service at one moment."""

    status: ServiceStatus
    host: str
    port: int
    pid: int | None = None
    message: str = ""
    exit_code: int | None = None
    models: int | None = None

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://{self.host}:{self.port}"


def running_service(paths: Paths) -> dict[str, Any] | None:
    """Return the recorded service (``pid``, ``createTime``, ``host``, ``port``) if it still runs."""
    try:
        doc = json.loads((paths.home / SERVICE_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not processes.identity_alive(doc):
        return None
    return doc


def stop_recorded_service(paths: Paths, timeout: float = 5.0) -> bool:
    """Stop a service recorded in ``service.json`` (one kept running by an earlier app); True if one was stopped."""
    doc = running_service(paths)
    if doc is None:
        return False
    import psutil

    try:
        proc = psutil.Process(int(doc["pid"]))
        proc.terminate()
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.Error):
            psutil.Process(int(doc["pid"])).kill()
    except psutil.Error:
        pass
    with contextlib.suppress(OSError):
        (paths.home / SERVICE_FILE).unlink()
    return True


class ServiceProcess:
    """The prediction service as a child process: start, watch, stop.

    Parameters
    ----------
    paths
        The data home (passed to the child through ``PREDICTML_HOME``).
    host, port
        Where the service listens (127.0.0.1 by default: only this computer can reach it).
    require_api_key
        Start the service with the key file from `generate_api_key` (generated if missing).
    keep_running
        Let the service outlive the app; otherwise it exits when the app does.
    extra_args
        More ``serve`` options (``--max-rows``...).
    command
        Replace the command line (tests); ``app_command("serve", ...)`` by default.
    """

    def __init__(
        self,
        paths: Paths | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        require_api_key: bool = False,
        keep_running: bool = False,
        extra_args: tuple[str, ...] = (),
        command: list[str] | None = None,
    ) -> None:
        self.paths = (paths or Paths.default()).ensure()
        self.host = host
        self.port = port
        self.require_api_key = require_api_key
        self.keep_running = keep_running
        self.extra_args = extra_args
        self._command = command
        self._proc: subprocess.Popen[bytes] | None = None
        self._status = ServiceStatus.STOPPED
        self._message = ""

    @property
    def log_path(self) -> Path:
        """The service's own log (start-up messages, errors)."""
        return self.paths.logs / SERVICE_LOG

    @property
    def request_log_path(self) -> Path:
        """One line per request: client, method, path, status, milliseconds."""
        return self.paths.logs / REQUEST_LOG

    @property
    def pid(self) -> int | None:
        """The child's PID while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """Return the command line that starts the service."""
        if self._command is not None:
            return list(self._command)
        args = ["serve", "--host", self.host, "--port", str(self.port)]
        if not self.keep_running:
            args.append("--follow-parent")
        if self.require_api_key:
            if read_api_key(self.paths) is None:
                generate_api_key(self.paths)
            args += ["--api-key-file", str(api_key_path(self.paths))]
        return processes.app_command(*args, *self.extra_args)

    def start(self, timeout: float = 60.0) -> ServiceSnapshot:
        """Start the service and wait until ``/health`` answers.

        Raises
        ------
        PortInUseError
            If the port is taken (with a free port suggested); nothing is started.
        ServiceError
            If the child exits or does not answer within ``timeout`` seconds (it is stopped then).
        """
        if self._proc is not None and self._proc.poll() is None:
            return self.snapshot()
        if not port_available(self.port, self.host):
            raise PortInUseError(self.port, find_free_port(self.port + 1, self.host), self.host)
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        env = processes.child_environment({"PREDICTML_HOME": str(self.paths.home),
                                           "PREDICTML_CONFIG_HOME": str(self.paths.config)})
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"--- starting on {self.host}:{self.port} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                           .encode())
            log_file.flush()
            self._proc = processes.spawn(self.command(), cwd=self.paths.work, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log_file, stderr=log_file)
        self._status = ServiceStatus.STARTING
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._status = ServiceStatus.FAILED
                self._message = self._last_log_line() or f"The service exited with code {code}."
                raise ServiceError(f"The prediction service stopped while starting: {self._message}")
            if health(self.port, self.host, timeout=0.5) is not None:
                self._status = ServiceStatus.RUNNING
                self._message = f"Serving on {self.url}"
                self._record()
                return self.snapshot()
            time.sleep(0.1)
        self.stop()
        self._status = ServiceStatus.FAILED
        self._message = f"The service did not answer within {timeout:g} s."
        raise ServiceError(self._message)

    def _record(self) -> None:
        if self._proc is None:
            return
        try:
            ident = processes.process_identity(self._proc.pid)
        except Exception:  # noqa: BLE001 - the child may be gone already; poll() will say so
            return
        doc = {**ident, "host": self.host, "port": self.port, "keepRunning": self.keep_running}
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.paths.home / SERVICE_FILE, json.dumps(doc).encode("utf-8"), keep_backup=False)

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text("utf-8", errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def snapshot(self, *, check_health: bool = True) -> ServiceSnapshot:
        """Return the current state; a child that died is reported as ``failed`` with its exit code."""
        proc = self._proc
        if proc is None:
            return ServiceSnapshot(self._status, self.host, self.port, message=self._message)
        code = proc.poll()
        if code is not None:
            if self._status not in (ServiceStatus.STOPPED, ServiceStatus.STOPPING):
                self._status = ServiceStatus.FAILED
                self._message = self._last_log_line() or f"The service exited with code {code}."
            elif self._status == ServiceStatus.STOPPING:
                self._status = ServiceStatus.STOPPED
            return ServiceSnapshot(self._status, self.host, self.port, None, self._message, code)
        models = None
        if check_health and self._status == ServiceStatus.RUNNING:
            answer = health(self.port, self.host, timeout=1.0)
            if answer is None:
                return ServiceSnapshot(self._status, self.host, self.port, proc.pid,
                                       "The service does not answer /health.")
            models = answer.get("models")
        return ServiceSnapshot(self._status, self.host, self.port, proc.pid, self._message, None, models)

    def stop(self, timeout: float = 5.0) -> ServiceSnapshot:
        """Stop the service (SIGTERM for a clean shutdown, then kill) and return the final state."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self._status = ServiceStatus.STOPPED
            return self.snapshot(check_health=False)
        self._status = ServiceStatus.STOPPING
        processes.kill_tree(proc, grace_s=timeout)
        self._status = ServiceStatus.STOPPED
        self._message = "Stopped."
        with contextlib.suppress(OSError):
            (self.paths.home / SERVICE_FILE).unlink()
        return ServiceSnapshot(ServiceStatus.STOPPED, self.host, self.port, None, self._message, proc.poll())

    def detach(self) -> None:
        """Forget the child without stopping it (the user chose to keep it running after the app closes)."""
        self._proc = None
        self._status = ServiceStatus.STOPPED
