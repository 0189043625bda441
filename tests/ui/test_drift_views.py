"""pytest-qt: the batch file's drift summary (shown before saving, report beside the output)."""

from __future__ import annotations

from pathlib import Path

from predictml_desktop.ui.predict_view import PredictView
from tests.trained_models import DeployedHome, valid_rows
from tests.ui.admin_support import make_admin_tab_fixture  # noqa: F401 - the make_admin_tab fixture

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


def _log_real_predictions(home: DeployedHome) -> None:
    """Predict shifted rows with the deployed classifier and log them as the service does."""
    from predictml_desktop.core.drift.prediction_log import PredictionLog
    from predictml_desktop.core.prediction import ModelRegistry, predict_rows

    registry = ModelRegistry(home.paths)
    model = registry.get(home.clf.dataset_id)
    log = PredictionLog(home.paths, enabled=True)
    rows = valid_rows(home.clf, 160, seed=9)
    shifted = [{**row, "visits": int(row["visits"]) + 15} for row in rows]
    for start in range(0, len(shifted), 20):
        chunk = shifted[start:start + 20]
        result = predict_rows(model, chunk)
        log.record(dataset_id=model.dataset_id, deployment_id=model.deployment_id, job_id=model.job_id,
                   model_name=model.model_name, rows=chunk, predictions=result.predictions,
                   latency_ms=result.seconds * 1000 or 1.0)
    log.close()


def test_monitoring_tab_shows_traffic_predictions_and_drift_from_the_log(
        qtbot, deployed_home: DeployedHome, make_admin_tab) -> None:
    _log_real_predictions(deployed_home)
    harness = make_admin_tab()
    harness.unlock(qtbot)
    tab = harness.tab
    monitoring = tab.monitoring
    with qtbot.waitSignal(monitoring.loaded, timeout=TIMEOUT) as shown:
        tab.tabs.setCurrentWidget(monitoring)
        qtbot.waitUntil(lambda: monitoring.model_combo.count() == 2, timeout=TIMEOUT)
        index = monitoring.model_combo.findData(deployed_home.clf.dataset_id)
        monitoring.model_combo.setCurrentIndex(index)
    summary = shown.args[0]
    if summary.dataset_id != deployed_home.clf.dataset_id:
        with qtbot.waitSignal(monitoring.loaded, timeout=TIMEOUT) as shown:
            monitoring.refresh()
        summary = shown.args[0]
    assert summary.requests == 8 and summary.rows == 160
    assert "8 requests (160 rows)" in monitoring.summary_label.text()
    assert [p.name for p in monitoring.plots.plots] == ["requests_per_day", "latency", "predictions_vs_training",
                                                      "drift_per_column"]
    assert monitoring.drift_table.item(0, 0).text() == "visits" and monitoring.drift_table.item(0, 1).text() == "act"
    assert monitoring.banner.kind == "warning"
    # Each chart draws (matplotlib on a worker thread).
    for name in ("predictions_vs_training", "drift_per_column"):
        canvas = monitoring.plots.show_plot(name)
        qtbot.waitUntil(lambda canvas=canvas: getattr(canvas, "image", None) is not None, timeout=TIMEOUT)
    # The deployment is flagged in Admin → Deployments.
    with qtbot.waitSignal(tab.deployments.drift_loaded, timeout=TIMEOUT):
        tab.tabs.setCurrentWidget(tab.deployments)
    column = tab.deployments.model.columnCount() - 1
    texts = [tab.deployments.model.index(r, column).data() for r in range(tab.deployments.model.rowCount())]
    assert any(t and t.startswith("⚠ Act: visits") for t in texts)


def test_prediction_log_toggle_in_the_server_view_and_drift_policy_in_settings(qtbot, make_window,
                                                                              make_admin_tab) -> None:
    from predictml_desktop.core.drift import thresholds_for
    from predictml_desktop.core.settings import load_settings
    from predictml_desktop.ui.server_view import ServerView
    from predictml_desktop.ui.settings_dialog import SettingsDialog

    window = make_window(run_startup=False)
    server = window.show_view("server")
    assert isinstance(server, ServerView)
    qtbot.waitUntil(server.start_button.isEnabled, timeout=TIMEOUT)
    assert not server.prediction_log_check.isChecked()
    assert server.prediction_log_note.text().startswith("Off (the default)")
    server.prediction_log_check.setChecked(True)
    qtbot.waitUntil(lambda: load_settings(window.context.paths).prediction_log, timeout=TIMEOUT)
    assert "prediction-log" in server.prediction_log_note.text()

    admin = make_admin_tab()
    admin.unlock(qtbot)
    admin.tab.open_settings()
    dialog = admin.tab.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    qtbot.waitUntil(dialog.save_button.isEnabled, timeout=TIMEOUT)
    assert dialog.prediction_log_check.isChecked()
    assert (dialog.drift_watch_spin.value(), dialog.drift_act_spin.value()) == (0.1, 0.25)
    dialog.drift_watch_spin.setValue(0.2)
    dialog.drift_act_spin.setValue(0.4)
    with qtbot.waitSignal(dialog.saved, timeout=TIMEOUT):
        dialog.save()
    limits = thresholds_for(admin.paths)
    assert (limits.psi_watch, limits.psi_act, limits.enabled) == (0.2, 0.4, True)
