"""pytest-qt: the batch file's drift summary (shown before saving, report beside the output)."""

from __future__ import annotations

from pathlib import Path

from predictml_desktop.ui.predict_view import PredictView
from tests.trained_models import DeployedHome

TIMEOUT = 120_000


def test_batch_file_drift_is_shown_before_saving_and_reported_beside_the_output(
        qtbot, deployed_home: DeployedHome, make_window, tmp_path: Path) -> None:
    window = make_window(run_startup=False)
    view = window.view("predict")
    assert isinstance(view, PredictView)
    with qtbot.waitSignal(view.model_loaded, timeout=TIMEOUT):
        window.show_view("predict")
    if view.model.dataset_id != deployed_home.clf.dataset_id:
        index = next(i for i, m in enumerate(view.deployed) if m.dataset_id == deployed_home.clf.dataset_id)
        with qtbot.waitSignal(view.model_loaded, timeout=TIMEOUT):
            view.model_combo.setCurrentIndex(index)
    frame = deployed_home.clf.frame.sample(n=400, replace=True, random_state=3).reset_index(drop=True)
    frame["visits"] = frame["visits"] + 12
    source = tmp_path / "new.csv"
    frame.to_csv(source, index=False)
    seen_before_saving: list[str] = []

    def ask(_src: Path) -> Path:
        # The save dialog is open: the summary must arrive while the user chooses.
        qtbot.waitUntil(lambda: view.drift_summary.report is not None, timeout=TIMEOUT)
        seen_before_saving.append(view.drift_summary.label.text())
        return tmp_path / "scored.csv"

    view.ask_save_path = ask  # type: ignore[method-assign]
    with qtbot.waitSignal(view.drift_summary.report_written, timeout=TIMEOUT) as written:
        view.score_file(source)
    assert seen_before_saving and "visits" in seen_before_saving[0] and "act on" in seen_before_saving[0]
    assert not view.drift_summary.table.isHidden()
    assert view.drift_summary.table.item(0, 0).text() == "visits"
    assert written.args[0] == str(tmp_path / "scored.drift.html")
    assert "visits" in (tmp_path / "scored.drift.html").read_text("utf-8")
