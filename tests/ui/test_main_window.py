from __future__ import annotations

from pathlib import Path

from predictml_desktop.ui.main_window import MainWindow


def test_main_window_shows_the_data_folder(qtbot, predictml_home: Path) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert str(predictml_home) in window.statusBar().currentMessage()
