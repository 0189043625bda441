"""Fixtures of the GUI tests: a window factory, answered confirmations, an idle thread pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from predictml_desktop.core.paths import Paths
from predictml_desktop.ui import widgets
from predictml_desktop.ui.main_window import MainWindow
from predictml_desktop.ui.tasks import wait_for_background_jobs


class Confirmations:
    """Answers the app's yes/no questions in tests (a modal dialog would hang an offscreen run)."""

    def __init__(self) -> None:
        self.answer = True
        self.asked: list[tuple[str, str]] = []

    def __call__(self, parent: Any, title: str, text: str, **_: Any) -> bool:
        self.asked.append((title, text))
        return self.answer


@pytest.fixture(autouse=True)
def confirmations(monkeypatch: pytest.MonkeyPatch) -> Confirmations:
    answers = Confirmations()
    monkeypatch.setattr(widgets, "confirm", answers)
    return answers


@pytest.fixture(autouse=True)
def _idle_thread_pool(qapp: Any) -> Iterator[None]:
    yield
    # A background read or model load still running would outlive the test's data home.
    assert wait_for_background_jobs(30_000), "a background job did not finish within 30 s"


@pytest.fixture
def make_window(qtbot: Any, predictml_home: Path) -> Iterator[Callable[..., MainWindow]]:
    """Build main windows on the test's data home; each is shown, registered and closed at the end."""
    windows: list[MainWindow] = []

    def factory(**kwargs: Any) -> MainWindow:
        window = MainWindow(Paths.default(), **kwargs)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        # Offscreen windows are not activated by showing them; shortcuts and focus need it.
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
        return window

    yield factory
    for window in windows:
        window.close()
