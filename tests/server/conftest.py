"""A real uvicorn on 127.0.0.1 (a free port) serving really trained and approved models."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from predictml_desktop.core.governance import AdminSession, Governance, cheap_hasher_for_tests
from predictml_desktop.core.paths import Paths
from predictml_desktop.server.app import create_app
from tests.trained_models import ADMIN_PASSWORD, TrainedJob, TrainedTemplate


@contextlib.contextmanager
def live_server(paths: Paths, **options: Any) -> Iterator[str]:
    """Run the service under uvicorn in a thread on 127.0.0.1 and a free port; yield its base URL."""
    options.setdefault("preload", False)
    app = create_app(paths, **options)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Served:
    paths: Paths
    url: str
    jobs: dict[str, TrainedJob]
    governance: Governance
    session: AdminSession

    @property
    def clf(self) -> TrainedJob:
        return self.jobs["classification"]

    @property
    def reg(self) -> TrainedJob:
        return self.jobs["regression"]

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


def deploy_copy(template: TrainedTemplate, root: Path) -> tuple[Paths, Governance, AdminSession]:
    """Copy the trained template to ``root`` and approve both jobs for the local service."""
    home = root / "home"
    shutil.copytree(template.root / "home", home)
    paths = Paths(home, root / "config").ensure()
    gov = Governance(paths, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada@example.org", ADMIN_PASSWORD)
    for job in template.jobs.values():
        gov.approve(session, job.job_id, "local", override=True, reason="server tests")
    return paths, gov, session


@pytest.fixture(scope="module")
def served(trained_template: TrainedTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One service for the read-only tests of a module (both models deployed, no API key)."""
    paths, gov, session = deploy_copy(trained_template, tmp_path_factory.mktemp("served"))
    with live_server(paths, preload=True) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            deadline = time.monotonic() + 60
            while client.get("/models").json()["models"][0]["status"] != "loaded" and time.monotonic() < deadline:
                time.sleep(0.1)
        yield Served(paths, url, trained_template.jobs, gov, session)
