from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from predictml_desktop.ui.wizard import STEP_CHOOSE, STEP_REVIEW, STEP_TARGET, UploadWizard
from tests.ui.data import customers, fake_worker, write_customers_csv

LOAD_TIMEOUT = 20_000


@pytest.fixture
def wizard(make_window) -> UploadWizard:
    window = make_window(run_startup=False)
    view = window.show_view("data")
    assert isinstance(view, UploadWizard)
    return view


def _open(qtbot, wizard: UploadWizard, path: Path) -> None:
    with qtbot.waitSignal(wizard.loaded, timeout=LOAD_TIMEOUT):
        wizard.open_file(path)


def test_a_csv_is_read_off_the_gui_thread_then_previewed_and_profiled(qtbot, wizard, tmp_path) -> None:
    path = write_customers_csv(tmp_path / "customers.csv", rows=300)
    _open(qtbot, wizard, path)
    assert wizard.steps.currentIndex() == STEP_REVIEW
    assert "300 rows × 7 columns" in wizard.summary_label.text()
    # The preview is a model over one page of the DataFrame (200 rows), not a copy of every cell.
    assert wizard.preview_model.rowCount() == 200
    assert wizard.preview_model.columnCount() == 7
    assert wizard.preview_model.frame is not None and wizard.preview_model.frame.shape == (200, 7)
    assert wizard.preview_model.index(0, 0).data() == "C00000"
    assert wizard.preview_model.table is not None and len(wizard.preview_model.table) == 300
    assert wizard.columns_model.rowCount() == 7
    kinds = {wizard.columns_model.index(r, 0).data(): wizard.columns_model.index(r, 1).data() for r in range(7)}
    assert kinds["customer_id"] == "identifier"
    warnings = [wizard.warnings_list.item(i).text() for i in range(wizard.warnings_list.count())]
    assert any("customer_id" in w and "identifier" in w for w in warnings)
    # The sheet chooser is only for workbooks.
    assert wizard.sheet_combo.isHidden()


def test_the_preview_pages_through_the_whole_table(qtbot, wizard, tmp_path) -> None:
    path = write_customers_csv(tmp_path / "customers.csv", rows=450)
    _open(qtbot, wizard, path)
    model, bar = wizard.preview_model, wizard.preview_pages
    assert bar.isVisibleTo(wizard) and bar.rows_label.text() == "Rows 1–200 of 450"
    assert not bar.previous_button.isEnabled() and bar.next_button.isEnabled()
    qtbot.mouseClick(bar.next_button, Qt.MouseButton.LeftButton)
    assert model.page == 1 and model.rowCount() == 200 and bar.rows_label.text() == "Rows 201–400 of 450"
    # Row numbers count from the table's first row; the cells are the table's rows 201 on.
    assert model.headerData(0, Qt.Orientation.Vertical) == "201"
    assert model.index(0, 0).data() == "C00200"
    qtbot.mouseClick(bar.last_button, Qt.MouseButton.LeftButton)
    assert model.rowCount() == 50 and bar.rows_label.text() == "Rows 401–450 of 450"
    assert model.index(49, 0).data() == "C00449" and not bar.next_button.isEnabled()
    bar.page_box.setValue(1)  # typing a page number turns to it
    assert model.page == 0 and model.index(0, 0).data() == "C00000"
    # A table that fits on one page has no page bar.
    _open(qtbot, wizard, write_customers_csv(tmp_path / "small.csv", rows=150))
    assert not bar.isVisibleTo(wizard) and model.rowCount() == 150


def test_the_suggested_target_is_preselected_with_its_reason(qtbot, wizard, tmp_path) -> None:
    _open(qtbot, wizard, write_customers_csv(tmp_path / "customers.csv"))
    wizard.go_to_target()
    assert wizard.steps.currentIndex() == STEP_TARGET
    assert wizard.target == "purchased"
    assert "(suggested)" in wizard.target_combo.currentText()
    assert wizard.target_reason.text().startswith("Suggested")
    assert wizard.problem_type == "classification"
    assert wizard.problem_reason.text()
    assert "customer_id" in wizard.excluded_columns()
    # The target itself is never offered for exclusion; IDs are not offered as targets.
    excludable = [wizard.exclude_list.item(i).data(Qt.ItemDataRole.UserRole)
                  for i in range(wizard.exclude_list.count())]
    assert "purchased" not in excludable
    targets = [wizard.target_combo.itemData(i) for i in range(wizard.target_combo.count())]
    assert "customer_id" not in targets


def test_choosing_another_target_reprofiles_and_changes_the_problem_type(qtbot, wizard, tmp_path) -> None:
    _open(qtbot, wizard, write_customers_csv(tmp_path / "customers.csv"))
    wizard.go_to_target()
    with qtbot.waitSignal(wizard.profile_updated, timeout=LOAD_TIMEOUT):
        wizard.target_combo.setCurrentIndex(wizard.target_combo.findData("income"))
    assert wizard.problem_type == "regression"
    assert "income" not in [wizard.exclude_list.item(i).data(Qt.ItemDataRole.UserRole)
                            for i in range(wizard.exclude_list.count())]
    assert wizard.train_button.isEnabled()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", b"", "empty"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, ".xls"),
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n", "line"),
        ("picture.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, "PNG image"),
    ],
)
def test_refusals_from_ingestion_are_shown_as_one_sentence_and_the_wizard_stays_usable(
    qtbot, wizard, tmp_path, name: str, content: bytes, expected: str
) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    with qtbot.waitSignal(wizard.load_failed, timeout=LOAD_TIMEOUT) as blocker:
        wizard.open_file(bad)
    message = blocker.args[0]
    assert expected.lower() in message.lower()
    assert "Traceback" not in message and "\n" not in message.strip()
    assert wizard.steps.currentIndex() == STEP_CHOOSE
    assert wizard.banner.isVisible() and wizard.banner.kind == "error"
    assert wizard.banner.text == message
    # Still usable: a good file opens next.
    _open(qtbot, wizard, write_customers_csv(tmp_path / "good.csv"))
    assert wizard.steps.currentIndex() == STEP_REVIEW
    assert not wizard.banner.isVisible()


def test_a_missing_file_is_refused_naming_it(qtbot, wizard, tmp_path) -> None:
    with qtbot.waitSignal(wizard.load_failed, timeout=LOAD_TIMEOUT) as blocker:
        wizard.open_file(tmp_path / "nowhere.csv")
    assert "nowhere.csv" in blocker.args[0]


def test_reading_can_be_cancelled(qtbot, wizard, tmp_path) -> None:
    path = write_customers_csv(tmp_path / "customers.csv", rows=50_000)
    wizard.open_file(path)
    assert wizard.cancel_load_button.isVisible()
    qtbot.mouseClick(wizard.cancel_load_button, Qt.MouseButton.LeftButton)
    assert wizard.steps.currentIndex() == STEP_CHOOSE
    assert "cancelled" in wizard.banner.text
    # Whatever the reader was doing when cancelled, its result is dropped.
    QApplication.processEvents()
    qtbot.waitUntil(lambda: not wizard.tasks.busy, timeout=LOAD_TIMEOUT)
    QApplication.processEvents()
    assert wizard.steps.currentIndex() == STEP_CHOOSE
    assert wizard.table is None


def test_a_workbook_offers_its_sheets(qtbot, wizard, tmp_path) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["x", "y"]}).to_excel(writer, sheet_name="Readme", index=False)
        customers(120).to_excel(writer, sheet_name="Customers", index=False)
    _open(qtbot, wizard, path)
    assert not wizard.sheet_combo.isHidden()
    assert [wizard.sheet_combo.itemText(i) for i in range(wizard.sheet_combo.count())] == ["Readme", "Customers"]
    assert wizard.table is not None and wizard.table.sheet == "Readme"
    with qtbot.waitSignal(wizard.loaded, timeout=LOAD_TIMEOUT):
        wizard.sheet_combo.setCurrentIndex(1)
        wizard.sheet_combo.activated.emit(1)
    assert wizard.table.sheet == "Customers"
    assert "120 rows" in wizard.summary_label.text()


def test_dropping_a_file_on_the_window_opens_it_in_the_wizard(qtbot, make_window, tmp_path) -> None:
    window = make_window(run_startup=False)
    window.show_view("jobs")  # the drop works from any view
    path = write_customers_csv(tmp_path / "dropped.csv")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    wizard = window.view("data")
    with qtbot.waitSignal(wizard.loaded, timeout=LOAD_TIMEOUT):
        QApplication.sendEvent(window, QDropEvent(QPointF(40, 40), Qt.DropAction.CopyAction, mime,
                                                  Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert window.current_view_key() == "data"
    assert "dropped.csv" in wizard.summary_label.text()


def test_file_open_uses_the_dialog_answer(qtbot, make_window, tmp_path, monkeypatch) -> None:
    window = make_window(run_startup=False)
    path = write_customers_csv(tmp_path / "chosen.csv")
    monkeypatch.setattr(window, "ask_open_path", lambda: path)
    wizard = window.view("data")
    with qtbot.waitSignal(wizard.loaded, timeout=LOAD_TIMEOUT):
        window.open_action.trigger()
    assert "chosen.csv" in wizard.summary_label.text()


def test_the_wizard_can_be_completed_from_the_keyboard(qtbot, make_window) -> None:
    window = make_window(run_startup=False)
    wizard = window.show_view("data")
    panel = window.view("training")
    panel.command = fake_worker("success")  # the training itself is not under test
    window.show_view("data")

    # Focus order on the first step: Open a file, then Try the sample dataset.
    wizard.open_button.setFocus()
    qtbot.keyClick(wizard.open_button, Qt.Key.Key_Tab)
    assert wizard.focusWidget() is wizard.sample_button
    with qtbot.waitSignal(wizard.loaded, timeout=LOAD_TIMEOUT):
        qtbot.keyClick(wizard.sample_button, Qt.Key.Key_Space)
    assert wizard.steps.currentIndex() == STEP_REVIEW
    assert wizard.focusWidget() is wizard.review_next_button
    qtbot.keyClick(wizard.review_next_button, Qt.Key.Key_Return)
    assert wizard.steps.currentIndex() == STEP_TARGET
    assert wizard.focusWidget() is wizard.target_combo
    # Escape goes back a step, Return comes forward again.
    qtbot.keyClick(wizard.target_combo, Qt.Key.Key_Escape)
    assert wizard.steps.currentIndex() == STEP_REVIEW
    qtbot.keyClick(wizard.review_next_button, Qt.Key.Key_Return)
    # Tab walks the target step's controls in reading order.
    order = []
    widget = wizard.target_combo
    for _ in range(4):
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
        widget = wizard.focusWidget()
        order.append(widget)
    assert order[:2] == [wizard.problem_combo, wizard.exclude_list]
    with qtbot.waitSignal(panel.training_finished, timeout=LOAD_TIMEOUT) as finished:
        qtbot.keyClick(wizard.target_combo, Qt.Key.Key_Return)
    assert finished.args == ["pending_review"]
    assert window.current_view_key() == "training"
    job = window.context.store.read().jobs.get(panel.job.id)
    assert job.target_column == "purchased"


def test_train_stores_the_dataset_and_creates_the_job_with_the_users_choices(qtbot, make_window, tmp_path) -> None:
    window = make_window(run_startup=False)
    wizard = window.show_view("data")
    window.view("training").command = fake_worker("hang")
    _open(qtbot, wizard, write_customers_csv(tmp_path / "customers.csv"))
    wizard.go_to_target()
    wizard.name_edit.setText("Spring customers")
    for i in range(wizard.exclude_list.count()):
        item = wizard.exclude_list.item(i)
        name = item.data(Qt.ItemDataRole.UserRole)
        if name in ("customer_id", "region"):  # keep the ID (the user's call), drop region
            item.setCheckState(Qt.CheckState.Unchecked if name == "customer_id" else Qt.CheckState.Checked)
    wizard.budget_check.setChecked(True)
    wizard.budget_spin.setValue(45)
    wizard.ranking_combo.setCurrentIndex(wizard.ranking_combo.findData("f1"))
    for i in range(wizard.models_list.count()):
        item = wizard.models_list.item(i)
        keep = item.data(Qt.ItemDataRole.UserRole) in ("lr", "rf")
        item.setCheckState(Qt.CheckState.Checked if keep else Qt.CheckState.Unchecked)
    with qtbot.waitSignal(wizard.job_created, timeout=LOAD_TIMEOUT) as created:
        qtbot.mouseClick(wizard.train_button, Qt.MouseButton.LeftButton)
    records = window.context.store.read()
    job = records.jobs.get(created.args[0])
    dataset = records.datasets.get(job.dataset_id)
    assert dataset.name == "Spring customers" and dataset.target_column == "purchased"
    assert dataset.excluded_columns == ["region"]
    assert job.options["budgetS"] == 45 and job.options["models"] == ["lr", "rf"]
    assert job.options["rankingMetric"] == "f1" and job.options["excludedColumns"] == ["region"]
    assert window.current_view_key() == "training"
    assert wizard.steps.currentIndex() == STEP_CHOOSE  # ready for the next file
    # A second training cannot start while this one runs.
    _open(qtbot, wizard, write_customers_csv(tmp_path / "more.csv"))
    wizard.go_to_target()
    qtbot.mouseClick(wizard.train_button, Qt.MouseButton.LeftButton)
    assert "already running" in wizard.banner.text or "A training is running" in wizard.banner.text
    panel = window.view("training")
    with qtbot.waitSignal(panel.training_finished, timeout=LOAD_TIMEOUT):
        panel.cancel()


def test_a_refusal_when_storing_is_shown_and_nothing_is_trained(qtbot, make_window, tmp_path) -> None:
    window = make_window(run_startup=False)
    wizard = window.show_view("data")
    path = write_customers_csv(tmp_path / "customers.csv")
    _open(qtbot, wizard, path)
    wizard.go_to_target()
    path.write_text("changed,after,reading\n1,2,3\n")  # the file changed since it was read
    with qtbot.waitSignal(wizard.train_failed, timeout=LOAD_TIMEOUT) as failed:
        qtbot.mouseClick(wizard.train_button, Qt.MouseButton.LeftButton)
    assert "changed" in failed.args[0]
    assert wizard.banner.kind == "error" and wizard.train_button.isEnabled()
    assert window.context.store.read().datasets.list() == [] and window.context.store.read().jobs.list() == []


def _leaky_customers(path: Path) -> Path:
    """Customers with ``refund`` (recorded after a purchase: a leak of ``purchased``) and ``yearly_income``
    (the same as ``income``: a leak when ``income`` is the target)."""
    frame = customers(300)
    frame["refund"] = np.where(frame["purchased"] == 1, "issued", "none")
    frame["yearly_income"] = frame["income"] * 1.0 + 0.5
    frame.to_csv(path, index=False)
    return path


def _exclusions(wizard: UploadWizard) -> dict[str, tuple[bool, str, str]]:
    out = {}
    for i in range(wizard.exclude_list.count()):
        item = wizard.exclude_list.item(i)
        out[item.data(Qt.ItemDataRole.UserRole)] = (item.checkState() == Qt.CheckState.Checked, item.text(),
                                                    item.toolTip())
    return out


def test_a_suspected_leak_is_ticked_with_why_follows_the_target_and_can_be_included_again(
        qtbot, make_window, tmp_path) -> None:
    window = make_window(run_startup=False)
    wizard = window.show_view("data")
    window.view("training").command = fake_worker("hang")
    _open(qtbot, wizard, _leaky_customers(tmp_path / "customers.csv"))
    wizard.go_to_target()
    assert wizard.target == "purchased" and wizard.profile.target == "purchased"
    ticked, text, why = _exclusions(wizard)["refund"]
    assert ticked and "suspected leak of the target" in text and "alone predicts the target" in why
    assert _exclusions(wizard)["customer_id"][0] and "identifier" in _exclusions(wizard)["customer_id"][1]
    assert not _exclusions(wizard)["yearly_income"][0]
    assert wizard.exclude_note.text() == ""
    # Another target: the warnings are recomputed for it.
    with qtbot.waitSignal(wizard.profile_updated, timeout=LOAD_TIMEOUT):
        wizard.target_combo.setCurrentIndex(wizard.target_combo.findData("income"))
    assert _exclusions(wizard)["yearly_income"][0] and not _exclusions(wizard)["refund"][0]
    with qtbot.waitSignal(wizard.profile_updated, timeout=LOAD_TIMEOUT):
        wizard.target_combo.setCurrentIndex(wizard.target_combo.findData("purchased"))
    # The user includes the leak again: the wizard says what that means, and the job records it.
    for i in range(wizard.exclude_list.count()):
        item = wizard.exclude_list.item(i)
        if item.data(Qt.ItemDataRole.UserRole) == "refund":
            item.setCheckState(Qt.CheckState.Unchecked)
    assert "'refund'" in wizard.exclude_note.text() and "blocks" in wizard.exclude_note.text()
    with qtbot.waitSignal(wizard.job_created, timeout=LOAD_TIMEOUT) as created:
        qtbot.mouseClick(wizard.train_button, Qt.MouseButton.LeftButton)
    job = window.context.store.read().jobs.get(created.args[0])
    assert [w["column"] for w in job.data_warnings or [] if w["code"] == "leakage"] == ["refund"]
    panel = window.view("training")
    with qtbot.waitSignal(panel.training_finished, timeout=LOAD_TIMEOUT):
        panel.cancel()
