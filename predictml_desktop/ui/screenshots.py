"""Render every view of the app offscreen with the sample data into PNG files (``make screenshots``).

Runs the real workflow in a temporary data home: the sample dataset through the wizard, a real
training with a short candidate list, an approval for Local through the core governance API (with a
throw-away admin password), a second admin, the verified audit trail and the admin list, a
prediction through the form, and a batch file. Each view is grabbed as the user would see it.

Usage: ``python -m predictml_desktop.ui.screenshots [OUT_DIR]`` (default ``docs/screenshots``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

SIZE = (1280, 800)
SCREENSHOT_MODELS = ["lr", "dt", "rf", "lightgbm"]
"""A short candidate list: the screenshots need a real model, not the best one."""


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(25)
    poll.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline else None)
    poll.start()
    loop.exec()
    poll.stop()
    if not condition():
        raise TimeoutError(f"Timed out after {timeout_s:.0f} s waiting for {what}.")


def _settle(ms: int = 150) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _shoot_data_and_training(window: Any, shot: Callable[[str], None]) -> Any:
    """Shoot the wizard's steps with the sample dataset, then the training live and done; return the panel."""
    from predictml_desktop.core.resources import sample_dataset_path
    from predictml_desktop.ui.training_panel import TrainingPanel
    from predictml_desktop.ui.wizard import STEP_REVIEW, UploadWizard

    shot("01-data-start")
    wizard = cast(UploadWizard, window.view("data"))
    wizard.open_file(sample_dataset_path())
    _wait(lambda: wizard.steps.currentIndex() == STEP_REVIEW, 60, "the sample dataset to load")
    shot("02-data-review")
    wizard.review_tabs.setCurrentIndex(1)
    shot("03-data-columns")
    wizard.review_tabs.setCurrentIndex(0)
    wizard.go_to_target()
    for i in range(wizard.models_list.count()):
        item = wizard.models_list.item(i)
        from PySide6.QtCore import Qt

        keep = item.data(Qt.ItemDataRole.UserRole) in SCREENSHOT_MODELS
        item.setCheckState(Qt.CheckState.Checked if keep else Qt.CheckState.Unchecked)
    wizard.preset_buttons["fast"].setChecked(True)
    shot("04-data-target")

    panel = cast(TrainingPanel, window.view("training"))
    finished: list[str] = []
    panel.training_finished.connect(finished.append)
    wizard.train()
    _wait(lambda: panel.leaderboard.rowCount() >= 2 or bool(finished), 900, "the first candidates")
    shot("05-training-live")
    _wait(lambda: bool(finished), 1800, "the training to finish")
    shot("06-training-done")
    if finished[0] != "pending_review":
        raise RuntimeError(f"The training ended as {finished[0]}: {panel.banner.text}")

    return panel


def _shoot_review_and_approve(window: Any, shot: Callable[[str], None], job_id: str) -> None:
    """Shoot the unlocked review of the trained job (plots drawn), then approve it for Local."""
    # The account is made through the core (a cheap hash, for speed); the review is the real view,
    # unlocked with the password as an admin would, and its plots drawn before the shot.
    from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests
    from predictml_desktop.core.paths import Paths
    from predictml_desktop.ui.admin_tab import PAGE_UNLOCK, AdminTab

    password = secrets.token_urlsafe(24)
    governance = Governance(Paths.default(), hasher=cheap_hasher_for_tests())
    governance.create_admin("screenshots", password)
    admin = cast(AdminTab, window.show_view("admin"))
    _wait(lambda: admin.pages.currentIndex() == PAGE_UNLOCK, 30, "the locked Admin view")
    admin.unlock_page.password_edit.setText(password)
    admin.unlock_page.submit()
    _wait(lambda: admin.session is not None, 60, "unlocking the Admin view")
    plotted: list[str] = []
    admin.review.plots_loaded.connect(plotted.append)
    _wait(lambda: admin.review.select_job(job_id), 30, "the job in the review list")
    _wait(lambda: job_id in plotted, 120, "the review's plots")
    _settle(1000)  # the plot renders on a worker thread after plots_loaded
    shot("10-admin")
    session = admin.session
    assert session is not None
    governance.approve(session, job_id, "local", reason="Screenshots of the workflow", override=True)
    window.context.notify_records_changed()
    # A second admin, then the trail (verified against its signed head) and the admin list.
    governance.add_admin(session, "bob@example.org", secrets.token_urlsafe(24))
    verified: list[Any] = []
    admin.audit.integrity.verified.connect(verified.append)
    admin.tabs.setCurrentWidget(admin.audit)
    _wait(lambda: bool(verified) and admin.audit.page is not None, 30, "the verified audit trail")
    shot("12-admin-audit")
    listed: list[bool] = []
    admin.admins.reloaded.connect(lambda: listed.append(True))
    admin.tabs.setCurrentWidget(admin.admins)
    _wait(lambda: bool(listed) and len(admin.admins.names()) == 2, 30, "the admin list")
    shot("13-admin-admins")
    admin.tabs.setCurrentWidget(admin.review)


def _shoot_predictions(window: Any, shot: Callable[[str], None], home: Path) -> None:
    """Shoot the Predict view: one row with the form, then a batch file."""
    from predictml_desktop.core.resources import sample_dataset_path
    from predictml_desktop.ui.predict_view import PredictView

    predict = cast(PredictView, window.show_view("predict"))
    _wait(lambda: predict.model is not None, 120, "the model to load")
    # A customer unlike the typical one: the form's defaults are the typical row, whose reasons are all
    # "did not change the chance".
    for name, text in (("age", "34"), ("visits", "9"), ("time_on_site_min", "18.5"), ("pages_per_visit", "7.2"),
                       ("previous_purchases", "4"), ("days_since_last_visit", "12")):
        field = predict.form.fields.get(name)
        if field is not None:
            field.widget.setText(text)
    explained: list[Any] = []
    predict.why_panel.explained.connect(explained.append)
    predict.predict()
    _wait(lambda: predict.result_card.isVisible() and bool(explained), 60, "the prediction and its explanation")
    _settle()
    shot("08-predict-form")
    batch_input = home.parent / "customers_to_score.csv"
    import pandas as pd

    pd.read_csv(sample_dataset_path()).drop(columns=["purchased"]).head(500).to_csv(batch_input, index=False)
    predict.tabs.setCurrentIndex(1)
    predict.score_file(batch_input, batch_input.with_name("customers_scored.csv"))
    _wait(lambda: predict.batch_result is not None, 120, "the batch predictions")
    shot("09-predict-batch")


def _shoot_drift(window: Any, shot: Callable[[str], None], home: Path) -> None:
    """Shoot a shifted batch file's drift summary, then Admin → Monitoring over logged requests."""
    import pandas as pd

    from predictml_desktop.core.drift.prediction_log import PredictionLog
    from predictml_desktop.core.prediction import ModelRegistry, predict_rows
    from predictml_desktop.core.resources import sample_dataset_path
    from predictml_desktop.ui.admin_tab import AdminTab
    from predictml_desktop.ui.predict_view import PredictView

    frame = pd.read_csv(sample_dataset_path()).drop(columns=["purchased"]).tail(600).reset_index(drop=True)
    # The kind of change drift is for: a tracking change doubled the visits, a new region appeared.
    frame["visits"] = frame["visits"] * 2 + 3
    frame.loc[frame.index % 6 == 0, "region"] = "Overseas"
    shifted = home.parent / "customers_autumn.csv"
    frame.to_csv(shifted, index=False)
    predict = cast(PredictView, window.show_view("predict"))
    predict.tabs.setCurrentIndex(1)
    predict.batch_result = None
    predict.score_file(shifted, shifted.with_name("customers_autumn_scored.csv"))
    _wait(lambda: predict.batch_result is not None and predict.drift_summary.report is not None, 120,
          "the drift summary")
    shot("14-predict-drift")

    # Served traffic, as the service logs it with the prediction log on.
    paths = window.context.paths
    model = ModelRegistry(paths).get(predict.model.dataset_id)
    log = PredictionLog(paths, enabled=True)
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for start in range(0, len(records), 10):
        rows = records[start:start + 10]
        result = predict_rows(model, rows)
        log.record(dataset_id=model.dataset_id, deployment_id=model.deployment_id, job_id=model.job_id,
                   model_name=model.model_name, rows=rows, predictions=result.predictions,
                   latency_ms=result.seconds * 1000)
    log.close()
    admin = cast(AdminTab, window.show_view("admin"))
    shown: list[Any] = []
    admin.monitoring.loaded.connect(shown.append)
    admin.tabs.setCurrentWidget(admin.monitoring)
    _wait(lambda: bool(shown), 60, "the monitoring summary")
    canvas = admin.monitoring.plots.show_plot("drift_per_column")
    _wait(lambda: getattr(canvas, "image", None) is not None, 60, "the drift chart")
    shot("15-admin-monitoring")
    admin.tabs.setCurrentWidget(admin.review)


def shoot_compute_setting(window: Any, out_dir: Path) -> Path:
    """Shoot Settings with Compute set to a Dask cluster (shown, not saved)."""
    from predictml_desktop.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.context.paths, parent=window)
    loaded: list[bool] = []
    dialog.loaded.connect(lambda: loaded.append(True))
    dialog.open()
    _wait(lambda: bool(loaded), 30, "the settings")
    dialog.compute_combo.setCurrentIndex(dialog.compute_combo.findData("cluster"))
    dialog.cluster_edit.setText("tcp://compute-1.example.org:8786")
    _settle()
    path = out_dir / "16-settings-compute.png"
    dialog.grab().save(str(path))
    dialog.reject()
    return path


def render(out_dir: Path, home: Path) -> list[Path]:
    """Drive the app through the workflow in ``home`` and save one PNG per step in ``out_dir``."""
    os.environ["PREDICTML_HOME"] = str(home)
    os.environ.setdefault("PREDICTML_CONFIG_HOME", str(home.parent / "config"))
    from PySide6.QtWidgets import QApplication

    from predictml_desktop.core.paths import Paths
    from predictml_desktop.ui.jobs_view import JobsView
    from predictml_desktop.ui.main_window import MainWindow

    _app = QApplication.instance() or QApplication(sys.argv[:1])  # kept alive while rendering
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    window = MainWindow(Paths.default())
    window.resize(*SIZE)
    window.show()
    _wait(lambda: window.startup_report is not None, 30, "the start-up checks")

    def shot(name: str) -> None:
        _settle()
        path = out_dir / f"{name}.png"
        window.grab().save(str(path))
        saved.append(path)

    panel = _shoot_data_and_training(window, shot)
    jobs = cast(JobsView, window.show_view("jobs"))
    _wait(lambda: jobs.model.rowCount() > 0, 30, "the job list")
    jobs.select_job(jobs.model.row_object(0).id)
    shot("07-jobs")
    _shoot_review_and_approve(window, shot, panel.job.id if panel.job else jobs.model.row_object(0).id)
    _shoot_predictions(window, shot, home)
    _shoot_drift(window, shot, home)
    window.show_view("server")
    shot("11-server")
    saved.append(shoot_compute_setting(window, out_dir))
    window.close()
    from predictml_desktop.ui.tasks import wait_for_background_jobs

    # Closing locks the Admin view, which writes its audit entry on a worker: let it finish before
    # the temporary data home is removed.
    wait_for_background_jobs(30_000)
    return saved


def main(argv: list[str] | None = None) -> int:
    """Render the screenshots; return the exit code."""
    parser = argparse.ArgumentParser(description="Render the app's views into PNG files.")
    parser.add_argument("out", nargs="?", default="docs/screenshots", help="folder for the PNG files")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="predictml-shots-") as tmp:
        saved = render(Path(args.out).resolve(), Path(tmp) / "home")
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
