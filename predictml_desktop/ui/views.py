"""The views of the main window, in navigation order. Adding a view is one line in `VIEWS`.

A view is a QWidget built as ``ViewClass(context)`` (see `AppContext`). It is imported and built the
first time it is shown, so the window comes up without paying for every view's imports. A view may
define these optional methods, which the main window calls:

- ``busy_reason() -> str | None``: what would be lost if the app quit now ("A training is running").
- ``shutdown() -> bool``: stop background work before quitting; return True when nothing is left
  running, False when it is still stopping; the view then emits its ``ready_to_close`` signal when
  it has stopped, and the window closes.
- ``activated()``: the view was just shown (reload what may be stale).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from predictml_desktop.ui.context import AppContext

ViewFactory = Callable[[AppContext], QWidget]


@dataclass(frozen=True)
class ViewSpec:
    """One entry of the navigation."""

    key: str
    title: str
    icon: str
    """Name of an SVG in ``resources/icons/``."""
    factory: ViewFactory


def lazy(module: str, name: str) -> ViewFactory:
    """Return a factory that imports ``module`` and builds ``module.name(context)`` when first called."""

    def build(context: AppContext) -> QWidget:
        view_class = getattr(importlib.import_module(module), name)
        widget: QWidget = view_class(context)
        return widget

    return build


def placeholder(title: str, text: str) -> ViewFactory:
    """Return a factory of a page that says what the view will hold (its issue has not landed yet)."""

    def build(context: AppContext) -> QWidget:
        from predictml_desktop.ui.widgets import PlaceholderPage

        return PlaceholderPage(title, text)

    return build


VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec("data", "Data", "data", lazy("predictml_desktop.ui.wizard", "UploadWizard")),
    ViewSpec("training", "Training", "training", lazy("predictml_desktop.ui.training_panel", "TrainingPanel")),
    ViewSpec("jobs", "Jobs", "jobs", lazy("predictml_desktop.ui.jobs_view", "JobsView")),
    ViewSpec("predict", "Predict", "predict", lazy("predictml_desktop.ui.predict_view", "PredictView")),
    ViewSpec("admin", "Admin", "admin", lazy("predictml_desktop.ui.admin_tab", "AdminTab")),
    ViewSpec("server", "Server", "server", lazy("predictml_desktop.ui.server_view", "ServerView")),
)
