from __future__ import annotations

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QTabBar,
    QWidget,
)

from predictml_desktop.ui.views import VIEWS

CONTROLS = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QAbstractItemView, QPlainTextEdit, QProgressBar)
INTERNAL_PARENTS = (QComboBox, QAbstractSpinBox, QAbstractItemView, QTabBar)


def _inside_a_control(widget: QWidget) -> bool:
    # A combo box's popup list, a spin box's line edit: parts of a control, named through it.
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, INTERNAL_PARENTS):
            return True
        parent = parent.parentWidget()
    return False


def _unnamed_controls(root: QWidget) -> list[str]:
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or _inside_a_control(widget):
            continue
        # Qt's own helpers (the table corner button, scroll-area internals) carry qt_ object names.
        if widget.objectName().startswith("qt_"):
            continue
        if not widget.accessibleName():
            missing.append(f"{type(widget).__name__} {getattr(widget, 'text', lambda: '')()!r}")
    return missing


@pytest.mark.parametrize("key", [spec.key for spec in VIEWS])
def test_every_control_of_each_view_has_an_accessible_name(make_window, key: str) -> None:
    window = make_window(run_startup=False)
    view = window.show_view(key)
    assert _unnamed_controls(view) == []


def test_the_main_window_controls_have_accessible_names(make_window) -> None:
    window = make_window(run_startup=False)
    assert window.nav.accessibleName() == "Views"
    assert window.folder_label.accessibleName() and window.server_label.accessibleName()
