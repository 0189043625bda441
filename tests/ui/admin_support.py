"""Helpers of the Admin, Audit and Settings view tests: a fake clock, an Admin view factory, a second job.

Import ``make_admin_tab_fixture`` into a test module to use the ``make_admin_tab`` fixture.

The Admin view is built on the test's data home with a `Governance` that has an injected clock (to
step through lockouts and the idle lock) and the cheap argon2 profile that only tests may use.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import TrainingJob
from predictml_desktop.core.status import DatasetStatus, JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.ui.admin_tab import PAGE_CREATE, PAGE_OPEN, PAGE_UNLOCK, AdminTab
from predictml_desktop.ui.context import AppContext
from tests.trained_models import ADMIN_PASSWORD

ADMIN_NAME = "ada@example.org"
TIMEOUT = 20_000


class FakeClock:
    """A clock the test moves by hand (starts at the real time, so audit dates are today)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class AdminHarness:
    tab: AdminTab
    governance: Governance
    clock: FakeClock
    context: AppContext

    @property
    def paths(self) -> Paths:
        return self.context.paths

    def unlock(self, qtbot: Any, password: str = ADMIN_PASSWORD) -> None:
        """Unlock through the view's own password field and button."""
        page = self.tab.unlock_page
        qtbot.waitUntil(lambda: self.tab.pages.currentIndex() == PAGE_UNLOCK, timeout=TIMEOUT)
        page.password_edit.setText(password)
        with qtbot.waitSignal(self.tab.unlocked, timeout=TIMEOUT):
            qtbot.mouseClick(page.unlock_button, Qt.MouseButton.LeftButton)
        assert self.tab.pages.currentIndex() == PAGE_OPEN


@pytest.fixture(name="make_admin_tab")
def make_admin_tab_fixture(qtbot: Any, predictml_home: Path) -> Iterator[Callable[..., AdminHarness]]:
    """Build Admin views on the test's data home; ``create_admin=True`` makes the account first."""
    contexts: list[AppContext] = []

    def factory(*, create_admin: bool = True, clock: FakeClock | None = None) -> AdminHarness:
        clock = clock or FakeClock()
        context = AppContext(Paths.default())
        contexts.append(context)
        governance = Governance(context.paths, clock=clock, hasher=cheap_hasher_for_tests())
        if create_admin and not governance.has_admin():
            governance.create_admin(ADMIN_NAME, ADMIN_PASSWORD)
        tab = AdminTab(context, governance=governance)
        qtbot.addWidget(tab)
        tab.resize(1300, 900)
        tab.show()
        qtbot.waitUntil(lambda: tab.pages.currentIndex() in (PAGE_CREATE, PAGE_UNLOCK), timeout=TIMEOUT)
        return AdminHarness(tab, governance, clock, context)

    yield factory
    for context in contexts:
        context.deleteLater()


def clone_job(paths: Paths, job_id: str) -> str:
    """Add a second job waiting for review on the same dataset, with a copy of ``job_id``'s real model.

    The champion/challenger and rollback tests need two models of one dataset; the copy is a
    really trained model (same file, same hash), which spares a second training of ~30 s.
    """
    store = Store(paths)
    with store.transaction() as tx:
        source = tx.jobs.get(job_id)
        new_id = tx.jobs.new_id()
        shutil.copytree(paths.model_dir(job_id), paths.model_dir(new_id))
        data = {k: v for k, v in source.to_dict().items()
                if k not in ("id", "status", "review", "worker", "modelPath")}
        job = TrainingJob.from_dict({**data, "id": new_id,
                                     "modelPath": paths.relative(paths.model_dir(new_id) / "model.pkl")})
        job.status = JobStatus.TRAINING
        tx.jobs.add(job)
        tx.jobs.update(new_id, status=JobStatus.PENDING_REVIEW)
        dataset = tx.datasets.get(source.dataset_id)
        if dataset.status != DatasetStatus.PENDING_REVIEW:
            tx.datasets.update(dataset.id, status=DatasetStatus.TRAINING)
            tx.datasets.update(dataset.id, status=DatasetStatus.PENDING_REVIEW)
    return new_id
