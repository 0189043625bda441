from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QPushButton

from predictml_desktop.ui.context import UI_STATE_FILE
from predictml_desktop.ui.views import VIEWS, placeholder
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
    window.nav.setCurrentRow(2)
    assert window.current_view_key() == "jobs"
    assert window.stack.currentWidget().findChild(type(window.view("jobs"))) is window.view("jobs")
    # Ctrl+4 is the Predict view's shortcut.
    qtbot.keyClick(window.nav, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.current_view_key() == "predict"
    assert window.view_actions["predict"].isChecked()


def test_a_view_whose_issue_has_not_landed_gets_a_placeholder_saying_what_will_be_there(make_window) -> None:
    window = make_window(run_startup=False)
    page = placeholder("Reports", "Here the monthly reports will be listed.")(window.context)
    assert isinstance(page, PlaceholderPage)
    assert page.label.text() == "Here the monthly reports will be listed."
    assert page.label.accessibleName() == "Reports (coming soon)"


def test_views_are_built_only_when_first_shown(make_window) -> None:
    window = make_window(run_startup=False)
    assert set(window.created_views()) == {"data"}
    window.show_view("jobs")
    assert set(window.created_views()) == {"data", "jobs"}
    assert len(VIEWS) == window.stack.count()


def test_window_geometry_and_view_are_remembered_in_the_data_home(make_window, predictml_home: Path, tmp_path) -> None:
    first = make_window(run_startup=False)
    first.resize(700, 520)
    first.show_view("jobs")
    size = (first.width(), first.height())  # what the layout allowed
    assert size != (1200, 800)
    first.close()
    state_file = predictml_home / UI_STATE_FILE
    assert state_file.is_file()
    # QSettings must not have written to the (test's) user home.
    assert not any((tmp_path / "userhome").rglob("*.conf"))
    assert not any((tmp_path / "userhome").rglob("*.ini"))

    second = make_window(run_startup=False)
    assert (second.width(), second.height()) == size
    assert second.current_view_key() == "jobs"


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


def test_a_damaged_record_file_is_reported_with_an_offer_to_recover(qtbot, make_window, predictml_home) -> None:
    from predictml_desktop.core.store import Store

    Store().startup()
    jobs_file = predictml_home / "training-jobs.json"
    jobs_file.write_text('{"schemaVersion": 1, "jobs": [ {"id": "training_1", ', encoding="utf-8")
    window = make_window(run_startup=False)
    with qtbot.waitSignal(window.startup_finished, timeout=20_000):
        window.run_startup_checks()
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert "training-jobs.json" in window.banner.text and "damaged" in window.banner.text
    recover = next(b for b in window.banner.findChildren(QPushButton) if b.text() == "Recover")
    with qtbot.waitSignal(window.startup_finished, timeout=20_000):
        qtbot.mouseClick(recover, Qt.MouseButton.LeftButton)
    assert window.banner.kind == "success"
    assert "kept as training-jobs.json.corrupt-" in window.banner.text
    assert Store().check() == []
    assert any(p.name.startswith("training-jobs.json.corrupt-") for p in predictml_home.iterdir())


def test_a_job_left_training_by_a_dead_app_shows_as_interrupted_with_retry(
    qtbot, make_window, predictml_home, tmp_path
) -> None:
    from predictml_desktop.core.ingest import import_dataset
    from predictml_desktop.core.store import Store
    from predictml_desktop.core.training import create_job
    from tests.ui.data import write_customers_csv

    store = Store()
    dataset = import_dataset(store, write_customers_csv(tmp_path / "c.csv"), target="purchased")
    job = create_job(store, dataset.id, "purchased")
    dead = {"pid": 2**22 + 7, "createTime": 1.0}
    with store.transaction() as tx:
        tx.jobs.update(job.id, worker={**dead, "supervisor": dead})

    window = make_window(run_startup=False)
    with qtbot.waitSignal(window.startup_finished, timeout=20_000) as checked:
        window.run_startup_checks()
    assert checked.args[0].interrupted_jobs == [job.id]
    assert "interrupted" in window.banner.text and job.id in window.banner.text
    jobs = window.view("jobs")
    with qtbot.waitSignal(jobs.reloaded, timeout=20_000):
        window.show_view("jobs")
    assert jobs.select_job(job.id)
    assert jobs.model.index(0, 1).data() == "Failed (interrupted)"
    assert not jobs.retry_button.isHidden()
