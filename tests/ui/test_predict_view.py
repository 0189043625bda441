from __future__ import annotations

from PySide6.QtCore import Qt

from predictml_desktop.ui.predict_view import PredictView


def test_nothing_deployed_shows_the_model_not_deployed_state_with_what_to_do(qtbot, make_window) -> None:
    window = make_window(run_startup=False)
    view = window.view("predict")
    assert isinstance(view, PredictView)
    with qtbot.waitSignal(view.deployments_loaded, timeout=20_000):
        window.show_view("predict")
    assert view.pages.currentIndex() == 0
    assert view.empty_card.title.text() == "Model not deployed"
    assert "Admin" in view.empty_text.text() and "Train" in view.empty_text.text()
    qtbot.mouseClick(view.go_data_button, Qt.MouseButton.LeftButton)
    assert window.current_view_key() == "data"
