from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from predictml_desktop.ui.context import UI_STATE_FILE
from predictml_desktop.ui.views import VIEWS
from predictml_desktop.ui.widgets import PlaceholderPage


def test_main_window_shows_the_data_folder_and_the_server_state(make_window, predictml_home: Path) -> None:
    window = make_window(run_startup=False)
    assert str(predictml_home) in window.folder_label.text()
    assert "Prediction service" in window.server_label.text()
    window.context.server_state_changed.emit("Prediction service: running on port 8000")
    assert window.server_label.text() == "Prediction service: running on port 8000"


def test_navigation_lists_every_view_and_switches_pages(make_window, qtbot) -> None:
    window = make_window(run_startup=False)
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert titles == ["Data", "Training", "Jobs", "Predict", "Admin", "Server"]
    window.nav.setCurrentRow(4)
    assert window.current_view_key() == "admin"
    admin = window.view("admin")
    assert isinstance(admin, PlaceholderPage)
    assert "Approve for" in admin.label.text()
    # Ctrl+6 is the Server view's shortcut.
    qtbot.keyClick(window.nav, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
    assert window.current_view_key() == "server"
    assert "predictml serve" in window.view("server").label.text()


def test_views_are_built_only_when_first_shown(make_window) -> None:
    window = make_window(run_startup=False)
    assert set(window.created_views()) == {"data"}
    window.show_view("admin")
    assert set(window.created_views()) == {"data", "admin"}
    assert len(VIEWS) == window.stack.count()


def test_window_geometry_and_view_are_remembered_in_the_data_home(make_window, predictml_home: Path, tmp_path) -> None:
    first = make_window(run_startup=False)
    first.resize(700, 500)
    first.show_view("admin")
    first.close()
    state_file = predictml_home / UI_STATE_FILE
    assert state_file.is_file()
    # QSettings must not have written to the (test's) user home.
    assert not any((tmp_path / "userhome").rglob("*.conf"))
    assert not any((tmp_path / "userhome").rglob("*.ini"))

    second = make_window(run_startup=False)
    assert (second.width(), second.height()) == (700, 500)
    assert second.current_view_key() == "admin"


def _drop(window, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)


def test_a_drag_of_several_files_is_refused(make_window) -> None:
    window = make_window(run_startup=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile("/tmp/a.csv"), QUrl.fromLocalFile("/tmp/b.csv")])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_building_the_window_does_not_import_pycaret(make_window) -> None:
    make_window(run_startup=False)
    assert "pycaret" not in sys.modules
