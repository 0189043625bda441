"""The Server view's calls into the core, each run on a worker thread (starting waits for ``/health``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, Deployment
from predictml_desktop.core.service import (
    DEFAULT_HOST,
    REQUEST_LOG,
    ServiceError,
    ServiceProcess,
    ServiceSnapshot,
    read_api_key,
    running_service,
)
from predictml_desktop.core.settings import Settings, load_settings, save_settings
from predictml_desktop.core.status import DeploymentStatus

LOG_TAIL_BYTES = 64 * 1024
LOG_TAIL_LINES = 300


@dataclass
class ServerState:
    """What the view needs when it is first shown (read off the GUI thread)."""

    settings: Settings
    api_key: str | None
    recorded: dict[str, Any] | None
    """A service kept running by an earlier session of the app (``service.json``), if it still runs."""


@dataclass
class StartResult:
    """The outcome of a start: the service and its state, or the refusal."""

    service: ServiceProcess | None = None
    snapshot: ServiceSnapshot | None = None
    error: ServiceError | None = None


def read_state(paths: Paths) -> ServerState:
    """Read the settings, the API key and a service left running earlier."""
    return ServerState(load_settings(paths), read_api_key(paths), running_service(paths))


def start_service(paths: Paths, port: int, *, keep_running: bool, require_api_key: bool,
                  command: list[str] | None = None) -> StartResult:
    """Remember the choices in the settings, start the service and wait for /health.

    Returns the refusal (port in use, child exited) instead of raising it, so the view can offer
    a free port.
    """
    settings = load_settings(paths)
    settings.server_port, settings.server_keep_running = port, keep_running
    settings.require_api_key = require_api_key
    save_settings(paths, settings)
    service = ServiceProcess(paths, host=DEFAULT_HOST, port=port, require_api_key=require_api_key,
                             keep_running=keep_running, command=command)
    try:
        return StartResult(service, service.start())
    except ServiceError as exc:
        return StartResult(service, None, exc)


def save_server_settings(paths: Paths, **changes: Any) -> Settings:
    """Save some of the service's settings (``require_api_key``, ``server_keep_running``...)."""
    settings = load_settings(paths)
    for name, value in changes.items():
        setattr(settings, name, value)
    save_settings(paths, settings)
    return settings


def load_served(store: Any) -> tuple[list[Deployment], dict[str, Dataset]]:
    """Return the active local deployments (what the service answers for) and the datasets."""
    snapshot = store.read()
    active = [d for d in snapshot.deployments.list()
              if d.status == DeploymentStatus.ACTIVE and d.target == "local"]
    return active, {d.id: d for d in snapshot.datasets.list()}


def read_log_tail(paths: Paths) -> str:
    """Return the last lines of ``logs/service-requests.log`` ("" when there is none yet)."""
    path = paths.logs / REQUEST_LOG
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            data = fh.read()
    except FileNotFoundError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > LOG_TAIL_BYTES:
        lines = lines[1:]  # the first line was cut by the seek
    return "\n".join(lines[-LOG_TAIL_LINES:])


