"""One run through the real widgets: sample file -> wizard -> real training -> approval -> form prediction."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import Qt

from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.status import JobStatus
from predictml_desktop.ui.wizard import STEP_REVIEW, STEP_TARGET

TRAIN_TIMEOUT = 600_000
TEST_ADMIN_PASSWORD = "correct horse battery staple for tests"


@pytest.mark.slow
def test_sample_data_to_a_prediction_through_the_real_widgets(qtbot, make_window) -> None:
    # Another test of this session may have loaded a model (which imports PyCaret's modules) into
    # this process; test_gui_process.py checks the GUI alone in a fresh process.
    pycaret_before = "pycaret" in sys.modules
    # Started by hand: run on showing, the checks may finish while make_window waits for the window,
    # before any waitSignal could see them (seen once in CI).
    window = make_window(run_startup=False)
    with qtbot.waitSignal(window.startup_finished, timeout=30_000):
        window.run_startup_checks()

    # Phase 1: the wizard, from the sample dataset, with a tiny candidate list.
    wizard = window.view("data")
    with qtbot.waitSignal(wizard.loaded, timeout=60_000):
        qtbot.mouseClick(wizard.sample_button, Qt.MouseButton.LeftButton)
    assert wizard.steps.currentIndex() == STEP_REVIEW
    assert "3,000 rows" in wizard.summary_label.text()
    qtbot.mouseClick(wizard.review_next_button, Qt.MouseButton.LeftButton)
    assert wizard.steps.currentIndex() == STEP_TARGET
    assert wizard.target == "purchased" and wizard.problem_type == "classification"
    for i in range(wizard.models_list.count()):
        item = wizard.models_list.item(i)
        keep = item.data(Qt.ItemDataRole.UserRole) in ("lr", "dt")
        item.setCheckState(Qt.CheckState.Checked if keep else Qt.CheckState.Unchecked)
    wizard.preset_buttons["fast"].setChecked(True)
    assert wizard.training_options() == {"preset": "fast", "models": ["lr", "dt"]}

    # Phases 2-3: a real training in the worker process, supervised by the TrainingThread.
    panel = window.view("training")
    with qtbot.waitSignal(panel.training_finished, timeout=TRAIN_TIMEOUT) as finished:
        qtbot.mouseClick(wizard.train_button, Qt.MouseButton.LeftButton)
    assert finished.args == ["pending_review"], panel.banner.text
    job = panel.job
    assert job is not None and job.status == JobStatus.PENDING_REVIEW
    assert {r["model"] for r in panel.leaderboard.rows} >= {"lr", "dt", "dummy"}
    assert panel.summary.isVisible() and panel.banner.kind == "success"
    # The GUI process never imported PyCaret: only the worker did.
    assert pycaret_before or "pycaret" not in sys.modules

    # Phase 4-5: an admin approves it for Local, through the core governance API.
    governance = Governance(Paths.default(), hasher=cheap_hasher_for_tests())
    session = governance.create_admin("test-admin", TEST_ADMIN_PASSWORD)
    governance.approve(session, job.id, "local", reason="end-to-end test")
    window.context.notify_records_changed()

    # Phase 6: the Predict view loads it off the GUI thread and predicts the form's row.
    predict = window.view("predict")
    with qtbot.waitSignal(predict.model_loaded, timeout=120_000):
        window.show_view("predict")
    assert predict.pages.currentIndex() == 1
    assert predict.model.model_name == job.model_name
    assert "age" in predict.form.fields and "customer_id" not in predict.form.fields
    predict.form.fields["visits"].widget.setText("9")
    with qtbot.waitSignal(predict.predicted, timeout=60_000) as predicted:
        qtbot.mouseClick(predict.predict_button, Qt.MouseButton.LeftButton)
    result = predicted.args[0]
    card = predict.result_card
    assert card.isVisible()
    assert card.prediction_label.text() in ("Purchased: Yes", "Purchased: No")
    assert set(card.probability_bars) == {"0", "1"}
    shares = result.probabilities[0]
    assert abs(sum(shares.values()) - 1) < 1e-6
    assert card.probability_bars["1"].value() == round(shares["class_1"] * 1000)
    assert job.model_name in card.model_label.text() and "Accuracy" in card.model_label.text()
