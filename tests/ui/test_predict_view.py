from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests
from predictml_desktop.core.ingest import import_dataset
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import TrainingOptions, TrainingRunner, create_job
from predictml_desktop.ui.predict_view import PredictView
from tests.ui.data import customers, write_customers_csv

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A data home with one really trained (logistic regression) model, approved for Local."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as env:
        # Module scope runs before the per-test isolation: keep the worker out of the real home too.
        for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MPLCONFIGDIR"):
            env.setenv(name, str(root / "userhome" / name.lower()))
        paths = Paths(root / "home", root / "config").ensure()
        store = Store(paths)
        dataset = import_dataset(store, write_customers_csv(root / "customers.csv", rows=400), target="purchased")
        job = create_job(store, dataset.id, "purchased", TrainingOptions(preset="fast", models=["lr"]))
        job = TrainingRunner(store, job.id).run()
        assert job.status == JobStatus.PENDING_REVIEW, job.error
        governance = Governance(paths, hasher=cheap_hasher_for_tests())
        session = governance.create_admin("test-admin", "correct horse battery staple for tests")
        governance.approve(session, job.id, "local", reason="predict view tests")
    return paths


@pytest.fixture
def view(qtbot, trained: Paths, predictml_home: Path, make_window) -> PredictView:
    shutil.copytree(trained.home, predictml_home, dirs_exist_ok=True)
    shutil.copytree(trained.config, Paths.default().config, dirs_exist_ok=True)
    window = make_window(run_startup=False)
    predict = window.view("predict")
    assert isinstance(predict, PredictView)
    return predict


def _load(qtbot, view: PredictView) -> None:
    with qtbot.waitSignal(view.model_loaded, timeout=TIMEOUT):
        view.window().show_view("predict")


def test_nothing_deployed_shows_the_model_not_deployed_state_with_what_to_do(qtbot, make_window) -> None:
    window = make_window(run_startup=False)
    view = window.view("predict")
    with qtbot.waitSignal(view.deployments_loaded, timeout=20_000):
        window.show_view("predict")
    assert view.pages.currentIndex() == 0
    assert view.empty_card.title.text() == "Model not deployed"
    assert "Admin" in view.empty_text.text() and "Train" in view.empty_text.text()
    qtbot.mouseClick(view.go_data_button, Qt.MouseButton.LeftButton)
    assert window.current_view_key() == "data"


def test_the_deployed_model_loads_and_its_form_predicts(qtbot, view: PredictView) -> None:
    _load(qtbot, view)
    assert view.model_combo.count() == 1 and "Logistic Regression" in view.model_combo.currentText()
    assert list(view.form.fields) == ["age", "income", "gender", "region", "visits"]
    assert "Accuracy" in view.model_status.text()
    with qtbot.waitSignal(view.predicted, timeout=TIMEOUT) as done:
        qtbot.mouseClick(view.predict_button, Qt.MouseButton.LeftButton)
    assert done.args[0].predictions[0] in (0, 1)
    assert view.result_card.prediction_label.text() in ("Purchased: Yes", "Purchased: No")
    assert set(view.result_card.probability_bars) == {"0", "1"}
    assert view.result_card.title.text() == "Prediction result"
    view.form.fields["age"].widget.setText("30")  # the shown result no longer answers the form
    assert "previous inputs" in view.result_card.title.text()


def test_invalid_form_values_are_shown_next_to_their_fields(qtbot, view: PredictView) -> None:
    _load(qtbot, view)
    view.form.fields["age"].widget.setText("old")
    with qtbot.waitSignal(view.prediction_failed, timeout=TIMEOUT) as failed:
        qtbot.mouseClick(view.predict_button, Qt.MouseButton.LeftButton)
    assert "age" in failed.args[0]
    assert view.form.fields["age"].error.text() == "“old” is not a number."
    assert view.form.fields["age"].error.isVisibleTo(view)
    assert not view.result_card.isVisible()


def test_an_unseen_category_is_predicted_with_a_warning(qtbot, view: PredictView) -> None:
    _load(qtbot, view)
    view.form.fields["region"].widget.setEditText("Atlantis")
    with qtbot.waitSignal(view.predicted, timeout=TIMEOUT):
        qtbot.mouseClick(view.predict_button, Qt.MouseButton.LeftButton)
    assert "Atlantis" in view.result_card.warnings_label.text()


def test_a_tampered_model_file_is_refused_with_a_sentence(qtbot, view: PredictView, predictml_home: Path) -> None:
    for model_file in (predictml_home / "models").glob("*/model.pkl"):
        model_file.write_bytes(model_file.read_bytes() + b"tampered")
    with qtbot.waitSignal(view.model_failed, timeout=TIMEOUT) as failed:
        view.window().show_view("predict")
    # The approval pinned the model's hash (core.evidence), checked before the record's own.
    assert "the model file (model.pkl) changed after the approval" in failed.args[0]
    assert view.banner.kind == "error" and "Traceback" not in view.banner.text
    assert not view.tabs.isEnabled()


def test_a_model_trained_with_other_library_versions_can_be_loaded_after_confirmation(
    qtbot, view: PredictView, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The libraries installed now differ from those recorded at training (the record itself is
    # pinned by the approval: editing it would be refused as tampering, not offered as drift).
    from predictml_desktop.core import artifacts

    running = {**artifacts.current_environment(), "pycaret": "9.9.9"}
    monkeypatch.setattr(artifacts, "current_environment", lambda: running)
    with qtbot.waitSignal(view.model_failed, timeout=TIMEOUT) as failed:
        view.window().show_view("predict")
    assert "(running 9.9.9)" in failed.args[0]
    anyway = next(b for b in view.banner.findChildren(QPushButton) if b.text() == "Load it anyway")
    with qtbot.waitSignal(view.model_loaded, timeout=TIMEOUT):
        qtbot.mouseClick(anyway, Qt.MouseButton.LeftButton)
    assert view.banner.kind == "warning" and "other library versions" in view.banner.text


def test_a_file_is_scored_off_the_gui_thread_into_the_chosen_file_and_previewed(qtbot, view: PredictView,
                                                                                tmp_path: Path) -> None:
    _load(qtbot, view)
    source = tmp_path / "to_score.csv"
    frame = customers(300, seed=5).drop(columns=["purchased"])
    frame.loc[0, "region"] = "=HYPERLINK(\"http://evil\")"
    frame.to_csv(source, index=False)
    for name in ("scored.csv", "scored.xlsx", "scored.parquet"):
        asked: list[Path] = []
        view.ask_save_path = (  # type: ignore[method-assign]
            lambda src, name=name, asked=asked: asked.append(src) or tmp_path / name)
        with qtbot.waitSignal(view.batch_finished, timeout=TIMEOUT) as done:
            view.score_file(source)
        assert asked == [source]
        written = done.args[0]
        assert written.path == tmp_path / name and written.rows == 300
        assert view.batch_model.rowCount() == 200
        assert view.batch_model.headerData(0, Qt.Orientation.Horizontal) == "prediction"
        assert "Scored 300 rows" in view.batch_summary.text()
        assert f"Wrote the predictions to {tmp_path / name}" in view.banner.text
        back = (pd.read_csv if name.endswith(".csv") else pd.read_excel if name.endswith(".xlsx")
                else pd.read_parquet)(tmp_path / name)
        assert len(back) == 300 and {"prediction", "probability_0", "probability_1", "warnings"} <= set(back.columns)
        if not name.endswith(".parquet"):
            assert back.loc[0, "region"].startswith("'=")  # neutralised for spreadsheets
    # Choosing no output file scores nothing.
    qtbot.waitUntil(lambda: view._batch_task is None, timeout=TIMEOUT)
    view.ask_save_path = lambda src: None  # type: ignore[method-assign]
    view.score_file(source)
    assert view._batch_task is None and view.batch_button.isEnabled()


def test_scoring_a_file_can_be_cancelled_and_writes_nothing(qtbot, view: PredictView, tmp_path: Path,
                                                            monkeypatch) -> None:
    import threading

    import predictml_desktop.core.prediction.batch_files as batch_files

    _load(qtbot, view)
    folder = tmp_path / "files"
    folder.mkdir()
    source = folder / "to_score.csv"
    customers(3_000, seed=6).drop(columns=["purchased"]).to_csv(source, index=False)
    monkeypatch.setattr(batch_files, "STREAM_CHUNK_ROWS", 100)
    real = batch_files.predict_table
    scored_chunks: list[int] = []
    clicked = threading.Event()

    def counting(*args, **kwargs):
        scored_chunks.append(1)
        if len(scored_chunks) == 3:
            clicked.wait(TIMEOUT / 1000)  # the third chunk is being scored when Cancel is clicked
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_files, "predict_table", counting)
    out = folder / "scored.csv"
    view.score_file(source, out)
    qtbot.waitUntil(lambda: len(scored_chunks) == 3, timeout=TIMEOUT)
    qtbot.mouseClick(view.batch_cancel_button, Qt.MouseButton.LeftButton)
    clicked.set()
    qtbot.waitUntil(lambda: view._batch_task is None, timeout=TIMEOUT)
    assert len(scored_chunks) == 3 and not out.exists()  # stopped after that chunk, of 30
    assert sorted(p.name for p in folder.iterdir()) == ["to_score.csv"]
    assert view.batch_summary.text() == "Scoring cancelled; nothing was written." and view.batch_result is None
    assert view.batch_button.isEnabled() and not view.batch_cancel_button.isVisible()


def test_a_file_without_the_model_inputs_is_refused_naming_them(qtbot, view: PredictView, tmp_path: Path) -> None:
    _load(qtbot, view)
    source = tmp_path / "wrong.csv"
    pd.DataFrame({"colour": ["red"], "size": [3]}).to_csv(source, index=False)
    with qtbot.waitSignal(view.batch_failed, timeout=TIMEOUT) as failed:
        view.score_file(source, tmp_path / "scored.csv")
    assert "age" in failed.args[0] and "income" in failed.args[0]
    assert view.banner.kind == "error"
    assert view.batch_button.isEnabled()
