"""Admin review of REALLY trained jobs (the session's shared template, trained once by the real engine).

Details, plain-language metrics, data warnings, plots drawn by matplotlib inside Qt, policy gates,
and the decisions: approve (with the password step-up and an override), reject with and without a
reason, archive, delete, Azure export, champion versus challenger, rollback, model card to PDF.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from predictml_desktop.core.audit import AuditLog
from predictml_desktop.core.governance import STEP_UP_S
from predictml_desktop.core.status import DeploymentStatus, JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.ui.admin_tab import PAGE_UNLOCK
from predictml_desktop.ui.review_view import ReviewView
from tests.trained_models import ADMIN_PASSWORD, TrainedHome
from tests.ui.admin_support import TIMEOUT, AdminHarness, clone_job, make_admin_tab_fixture  # noqa: F401
from tests.ui.test_accessibility import _unnamed_controls

pytestmark = pytest.mark.slow


@pytest.fixture
def admin(qtbot, trained_home: TrainedHome, make_admin_tab) -> AdminHarness:
    harness = make_admin_tab()
    with qtbot.waitSignal(harness.tab.review.reloaded, timeout=TIMEOUT):
        harness.unlock(qtbot)
    return harness


def _select(qtbot, review: ReviewView, job_id: str, *, plots: bool = False) -> None:
    with qtbot.waitSignal(review.details_loaded, timeout=60_000, check_params_cb=lambda j: j == job_id):
        assert review.select_job(job_id)
    assert review.details is not None and review.details.job.id == job_id
    if plots:
        qtbot.waitUntil(lambda: review.plots_job == job_id and review.plots.picker.count() > 0, timeout=60_000)


def _job(paths, job_id):
    return Store(paths).read().jobs.get(job_id)


def _audit(paths, action: str):
    return [e for e in AuditLog(paths).events() if e.action == action]


def test_review_shows_a_real_classifier_with_readings_warnings_gates_and_plots(
        qtbot, admin: AdminHarness, trained_home: TrainedHome) -> None:
    review = admin.tab.review
    clf = trained_home.clf
    assert set(review.visible_job_ids()) == {clf.job_id, trained_home.reg.job_id}
    _select(qtbot, review, clf.job_id, plots=True)
    job = _job(admin.paths, clf.job_id)
    auc_value = job.metrics["auc"]

    assert review.summary_value("Model") == job.model_name
    assert review.summary_value("Samples") == f"{job.samples:,} rows"
    assert review.summary_value("Features") == str(job.features)
    assert review.summary_value("Holdout rows") == str(job.metrics["holdoutRows"])
    assert review.summary_value("Training time").endswith("s")
    auc = next(r for r in review.metrics_model.rows if r[0] == "AUC")
    assert auc[1] == f"{auc_value:.3f}"
    assert "ranks them the right way round" in auc[4] and "(50 % is guessing" in auc[4]
    assert auc[3] == "0.500"  # the dummy baseline's AUC
    accuracy = next(r for r in review.metrics_model.rows if r[0] == "Accuracy")
    assert f"{job.metrics['accuracy'] * 100:.0f} of every 100 holdout rows are predicted correctly" in accuracy[4]

    warnings = review.warnings_model.rows
    assert ("Data", "customer_id", next(w[2] for w in warnings if w[1] == "customer_id")) in warnings
    assert review.board_model.rowCount() >= 2  # lr and dt (and the baseline)

    expected = admin.governance.evaluate_gates(job)
    words = {"pass": "✔ Pass", "warn": "⚠ Warning", "block": "✖ Blocks approval"}
    assert review.gate_texts() == [f"{words[g.outcome]} — {g.title}: {g.message}" for g in expected]
    assert f"{auc_value:.3f}" in review.gate_texts()[0]
    assert not any(g.outcome == "block" for g in expected)  # the template's model is a sound one
    assert review.approve_local_button.isEnabled() and review.approve_azure_button.isEnabled()
    assert not review.reject_button.isEnabled()  # no reason yet
    assert not review.archive_button.isEnabled()  # waiting for review: approve or reject first

    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    names = [review.plots.picker.itemData(i) for i in range(review.plots.picker.count())]
    # The contribution summary (issue 15) sits beside the importance, drawn like the others.
    assert names == ["confusion_matrix", "roc", "precision_recall", "feature_importance", "contribution_summary"]
    review.tabs.setCurrentWidget(review.plots)
    for name in names:
        canvas = review.plots.show_plot(name)
        assert isinstance(canvas, FigureCanvasQTAgg)
        # Built from its JSON and rendered by Agg on a worker, at the canvas's size, then painted.
        qtbot.waitUntil(lambda c=canvas: c.image is not None and c.image.width() == c.width(), timeout=TIMEOUT)
        assert canvas.figure.axes and (canvas.figure.axes[0].lines or canvas.figure.axes[0].images
                                       or canvas.figure.axes[0].patches)
        assert len({canvas.image.pixel(x, y) for x in range(0, canvas.width(), 7)
                    for y in range(0, canvas.height(), 7)}) > 10  # drawn, not blank
    summary = review.plots.show_plot("contribution_summary")
    assert len(summary.figure.axes[0].collections) >= 1  # each holdout row's contribution as a dot
    assert "Why panel" in review.plots.help_label.text()
    roc = review.plots.show_plot("roc")
    assert roc.figure.axes[0].get_legend().get_texts()[0].get_text().endswith(f"(AUC {auc_value:.3f})")
    assert "Model card" in review.card_browser.toPlainText()
    assert _unnamed_controls(admin.tab) == []  # with the job's details, plots and banner filled in


def test_review_of_a_regressor_draws_residuals_and_predicted_vs_actual(
        qtbot, admin: AdminHarness, trained_home: TrainedHome) -> None:
    review = admin.tab.review
    _select(qtbot, review, trained_home.reg.job_id, plots=True)
    names = [review.plots.picker.itemData(i) for i in range(review.plots.picker.count())]
    assert names == ["feature_importance", "contribution_summary", "residuals", "predicted_vs_actual"]
    review.tabs.setCurrentWidget(review.plots)
    scatter = review.plots.show_plot("predicted_vs_actual")
    qtbot.waitUntil(lambda: scatter.image is not None, timeout=TIMEOUT)
    holdout_rows = _job(admin.paths, trained_home.reg.job_id).metrics["holdoutRows"]
    assert len(scatter.figure.axes[0].collections[0].get_offsets()) == holdout_rows  # every holdout row
    r2 = next(r for r in review.metrics_model.rows if r[0] == "R²")
    assert "of the variation of basket_value" in r2[4]


def test_a_damaged_plot_falls_back_to_its_png(qtbot, admin: AdminHarness, trained_home: TrainedHome) -> None:
    plots = admin.paths.model_dir(trained_home.clf.job_id) / "plots"
    (plots / "roc.json").write_text("{ not json")  # unreadable: known at once
    (plots / "precision_recall.json").write_text('{"kind": "precision_recall", "title": "PR"}')  # no curves
    review = admin.tab.review
    _select(qtbot, review, trained_home.clf.job_id, plots=True)
    review.tabs.setCurrentWidget(review.plots)
    page = review.plots.show_plot("roc")
    assert page.accessibleName() == "Roc" and page.widget().pixmap().width() > 100
    # Readable but not drawable: found at its first render, then replaced by the PNG.
    review.plots.show_plot("precision_recall")
    qtbot.waitUntil(lambda: hasattr(review.plots.stack.currentWidget(), "widget"), timeout=TIMEOUT)
    assert review.plots.stack.currentWidget().widget().pixmap().width() > 100
    assert "could not be drawn" in review.plots.plots[2].error


def test_approve_for_local_asks_the_password_again_and_deploys(qtbot, admin: AdminHarness,
                                                               trained_home: TrainedHome) -> None:
    review, clf = admin.tab.review, trained_home.clf
    _select(qtbot, review, clf.job_id)
    admin.clock.advance(STEP_UP_S + 60)  # the password was entered more than 5 minutes ago
    review.reason_edit.setText("meets the bar")
    qtbot.mouseClick(review.approve_local_button, Qt.MouseButton.LeftButton)
    dialog = review.decisions.password_dialog
    assert dialog is not None and dialog.isVisible()
    assert _unnamed_controls(dialog) == []
    assert not review.approve_local_button.isEnabled()

    dialog.password_edit.setText("not the admin password")
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.message.text() == "Wrong password.", timeout=TIMEOUT)
    assert _job(admin.paths, clf.job_id).status == JobStatus.PENDING_REVIEW

    dialog.password_edit.setText(ADMIN_PASSWORD)
    with qtbot.waitSignal(review.decided, timeout=60_000) as decided:
        dialog.submit()
    assert decided.args == ["approve_local", clf.job_id]
    job = _job(admin.paths, clf.job_id)
    assert job.status == JobStatus.DEPLOYED and job.review["reason"] == "meets the bar"
    active = [d for d in Store(admin.paths).read().deployments.list() if d.status == DeploymentStatus.ACTIVE]
    assert [(d.training_job_id, d.target) for d in active] == [(clf.job_id, "local")]
    assert review.banner.text.startswith(f"{clf.job_id} is deployed: it answers predictions at http://")
    [line] = _audit(admin.paths, "approved")
    assert line.job_id == clf.job_id and line.actor == "ada@example.org" and line.reason == "meets the bar"
    assert (admin.paths.model_dir(clf.job_id) / "report.html").is_file()


def test_an_approval_over_a_warning_needs_an_explicit_override_which_is_recorded(
        qtbot, admin: AdminHarness, trained_home: TrainedHome, confirmations) -> None:
    admin.governance.set_policy(admin.tab.session, {"minHoldoutScore": {"mode": "warn", "classification": 0.9}})
    review, clf = admin.tab.review, trained_home.clf
    _select(qtbot, review, clf.job_id)
    assert review.gate_texts()[0].startswith("⚠ Warning — Minimum holdout score")

    confirmations.answer = False
    qtbot.mouseClick(review.approve_local_button, Qt.MouseButton.LeftButton)
    assert confirmations.asked[-1][0] == "Approve despite policy warnings?"
    assert "below the minimum 0.900" in confirmations.asked[-1][1]
    assert _job(admin.paths, clf.job_id).status == JobStatus.PENDING_REVIEW

    confirmations.answer = True
    with qtbot.waitSignal(review.decided, timeout=60_000):
        qtbot.mouseClick(review.approve_local_button, Qt.MouseButton.LeftButton)
    job = _job(admin.paths, clf.job_id)
    assert "minHoldoutScore" in [g["gate"] for g in job.review["overriddenGates"]]
    assert "minHoldoutScore" in [g["gate"] for g in _audit(admin.paths, "approved")[-1].details["overriddenGates"]]


def test_a_blocking_gate_disables_approval(qtbot, admin: AdminHarness, trained_home: TrainedHome) -> None:
    admin.governance.set_policy(admin.tab.session, {"minHoldoutScore": {"mode": "block", "classification": 0.9}})
    review = admin.tab.review
    _select(qtbot, review, trained_home.clf.job_id)
    assert review.gate_texts()[0].startswith("✖ Blocks approval — Minimum holdout score")
    assert not review.approve_local_button.isEnabled() and not review.approve_azure_button.isEnabled()
    assert "blocks approval" in review.approve_local_button.toolTip()


def test_reject_needs_a_reason_and_records_it(qtbot, admin: AdminHarness, trained_home: TrainedHome) -> None:
    review, reg = admin.tab.review, trained_home.reg
    _select(qtbot, review, reg.job_id)
    assert not review.reject_button.isEnabled()
    review.reason_edit.setText("   ")
    assert not review.reject_button.isEnabled()

    # Even called directly (the button bypassed), the core refuses a rejection without a reason.
    with qtbot.waitSignal(review.decision_failed, timeout=TIMEOUT) as failed:
        review.reject()
    assert failed.args == ["A rejection needs a reason."]
    assert _job(admin.paths, reg.job_id).status == JobStatus.PENDING_REVIEW

    review.reason_edit.setText("basket values of 2024 are missing")
    assert review.reject_button.isEnabled()
    with qtbot.waitSignal(review.decided, timeout=TIMEOUT):
        qtbot.mouseClick(review.reject_button, Qt.MouseButton.LeftButton)
    job = _job(admin.paths, reg.job_id)
    assert job.status == JobStatus.REJECTED and job.review["reason"] == "basket values of 2024 are missing"
    [line] = _audit(admin.paths, "rejected")
    assert line.reason == "basket values of 2024 are missing" and line.job_id == reg.job_id
    qtbot.waitUntil(lambda: reg.job_id not in review.visible_job_ids(), timeout=TIMEOUT)  # no longer waiting


def test_archive_then_delete_removes_the_model_files(qtbot, admin: AdminHarness, trained_home: TrainedHome,
                                                     confirmations) -> None:
    review, reg = admin.tab.review, trained_home.reg
    admin.governance.reject(admin.tab.session, reg.job_id, "not needed")
    review.show_all_jobs()
    review.reload()
    qtbot.waitUntil(lambda: reg.job_id in review.visible_job_ids() and review.model.rows
                    and next(j for j in review.model.rows if j.id == reg.job_id).status == JobStatus.REJECTED,
                    timeout=TIMEOUT)
    _select(qtbot, review, reg.job_id)
    assert review.archive_button.isEnabled()
    with qtbot.waitSignal(review.decided, timeout=TIMEOUT):
        qtbot.mouseClick(review.archive_button, Qt.MouseButton.LeftButton)
    assert _job(admin.paths, reg.job_id).status == JobStatus.ARCHIVED
    _select(qtbot, review, reg.job_id)

    confirmations.answer = False
    qtbot.mouseClick(review.delete_button, Qt.MouseButton.LeftButton)
    assert "model files" in confirmations.asked[-1][1]
    assert admin.paths.model_dir(reg.job_id).is_dir()
    confirmations.answer = True
    with qtbot.waitSignal(review.decided, timeout=TIMEOUT):
        qtbot.mouseClick(review.delete_button, Qt.MouseButton.LeftButton)
    assert not admin.paths.model_dir(reg.job_id).exists()
    assert Store(admin.paths).read().jobs.find(reg.job_id) is None
    assert _audit(admin.paths, "deleted")[0].job_id == reg.job_id


def test_approve_for_azure_exports_the_bundle_to_the_chosen_folder(qtbot, admin: AdminHarness,
                                                                   trained_home: TrainedHome, tmp_path: Path) -> None:
    review, clf = admin.tab.review, trained_home.clf
    _select(qtbot, review, clf.job_id)
    chosen = tmp_path / "for-azure"
    review.ask_output_folder = lambda job: chosen / f"predictml-{job.id}-azure"
    with qtbot.waitSignal(review.decided, timeout=120_000) as decided:
        qtbot.mouseClick(review.approve_azure_button, Qt.MouseButton.LeftButton)
    assert decided.args == ["approve_azure", clf.job_id]
    bundle = chosen / f"predictml-{clf.job_id}-azure"
    assert (bundle / "code" / "score.py").is_file() and (bundle / "README.md").is_file()
    [dep] = Store(admin.paths).read().deployments.list()
    assert dep.status == DeploymentStatus.EXPORTED and dep.target == "azure"
    assert str(bundle) in review.banner.text


def test_champion_versus_challenger_then_one_click_rollback(qtbot, admin: AdminHarness,
                                                            trained_home: TrainedHome, confirmations) -> None:
    clf = trained_home.clf
    admin.governance.approve(admin.tab.session, clf.job_id, "local", reason="first model")
    challenger = clone_job(admin.paths, clf.job_id)
    review = admin.tab.review
    review.reload()  # an earlier reload (records changed) may answer first: wait for the new job itself
    qtbot.waitUntil(lambda: challenger in review.visible_job_ids(), timeout=TIMEOUT)
    _select(qtbot, review, challenger)
    assert "approving this job for Local replaces it" in review.summary_value("Deployed now")

    # Keeping the deployed model changes nothing.
    qtbot.mouseClick(review.approve_local_button, Qt.MouseButton.LeftButton)
    dialog = review.comparison_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.mouseClick(dialog.keep_button, Qt.MouseButton.LeftButton)
    assert review.comparison_dialog is None
    assert _job(admin.paths, challenger).status == JobStatus.PENDING_REVIEW

    qtbot.mouseClick(review.approve_local_button, Qt.MouseButton.LeftButton)
    dialog = review.comparison_dialog
    assert _unnamed_controls(dialog) == []
    rows = {r[0]: r[1:] for r in dialog.rows}
    assert rows["Job"] == (clf.job_id, challenger)
    holdout_rows = str(_job(admin.paths, clf.job_id).metrics["holdoutRows"])
    assert rows["AUC"][0] == rows["AUC"][1] and rows["Holdout rows"] == (holdout_rows, holdout_rows)
    assert rows["Deployed since"][0] and rows["Trained"][1]
    with qtbot.waitSignal(review.decided, timeout=60_000):
        qtbot.mouseClick(dialog.replace_button, Qt.MouseButton.LeftButton)
    snapshot = Store(admin.paths).read()
    assert snapshot.jobs.get(clf.job_id).status == JobStatus.SUPERSEDED
    assert snapshot.jobs.get(challenger).status == JobStatus.DEPLOYED
    assert f"it replaced {clf.job_id}" in review.banner.text

    # The banner's "Roll back" restores the old model in one click (the password is still recent).
    [roll_back] = [b for b in review.banner.findChildren(type(review.reject_button)) if b.text() == "Roll back"]
    deployments = admin.tab.deployments
    with qtbot.waitSignal(deployments.rolled_back, timeout=60_000):
        qtbot.mouseClick(roll_back, Qt.MouseButton.LeftButton)
    assert admin.tab.tabs.currentWidget() is deployments
    snapshot = Store(admin.paths).read()
    assert snapshot.jobs.get(clf.job_id).status == JobStatus.DEPLOYED
    assert snapshot.jobs.get(challenger).status == JobStatus.APPROVED_FOR_INFERENCE
    active = [d for d in snapshot.deployments.list() if d.status == DeploymentStatus.ACTIVE]
    assert [d.training_job_id for d in active] == [clf.job_id]
    assert _audit(admin.paths, "rolled_back")[0].job_id == clf.job_id

    # From the deployment's row: deploy the challenger again, then roll back with the row's button.
    admin.governance.approve(admin.tab.session, challenger, "local")
    deployments.reload()
    qtbot.waitUntil(lambda: any(d.training_job_id == challenger and d.status == DeploymentStatus.ACTIVE
                                for d in deployments.model.rows), timeout=TIMEOUT)
    assert deployments.select_active(clf.dataset_id)
    assert deployments.rollback_button.isEnabled() and clf.job_id in deployments.rollback_button.text()
    with qtbot.waitSignal(deployments.rolled_back, timeout=60_000):
        qtbot.mouseClick(deployments.rollback_button, Qt.MouseButton.LeftButton)
    assert Store(admin.paths).read().jobs.get(clf.job_id).status == JobStatus.DEPLOYED


def test_the_model_card_is_shown_and_exported_to_pdf(qtbot, admin: AdminHarness, trained_home: TrainedHome,
                                                     tmp_path: Path) -> None:
    review = admin.tab.review
    _select(qtbot, review, trained_home.clf.job_id)
    text = review.card_browser.toPlainText()
    assert "Holdout metrics" in text and "Policy gates" in text and "Leaderboard" in text
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    # The five plot images (the contribution summary included), decoded off the GUI thread, are in the card.
    assert len(review.details.card_images) == 5
    for name in review.details.card_images:
        assert review.card_browser.document().resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
    target = tmp_path / "cards" / "card.pdf"
    review.ask_pdf_path = lambda job: target
    with qtbot.waitSignal(review.pdf_exported, timeout=60_000) as exported:
        qtbot.mouseClick(review.export_pdf_button, Qt.MouseButton.LeftButton)
    assert exported.args == [str(target)]
    data = target.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:] and len(data) > 20_000  # text and plot images


def test_a_decision_after_the_idle_lock_locks_the_view_and_changes_nothing(
        qtbot, admin: AdminHarness, trained_home: TrainedHome) -> None:
    review, reg = admin.tab.review, trained_home.reg
    _select(qtbot, review, reg.job_id)
    review.reason_edit.setText("too late")
    admin.clock.advance(16 * 60)
    with qtbot.waitSignal(admin.tab.locked, timeout=TIMEOUT):
        review.reject()
    assert admin.tab.pages.currentIndex() == PAGE_UNLOCK
    assert _job(admin.paths, reg.job_id).status == JobStatus.PENDING_REVIEW
