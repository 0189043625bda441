"""The Predict form's Why panel with a really trained model, in the real view (pytest-qt, offscreen)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt

from predictml_desktop.ui.predict_view import PredictView
from predictml_desktop.ui.why_panel import WhyPanel, contributions_document
from tests.ui.test_predict_view import TIMEOUT, _load, trained, view  # noqa: F401 - the module's fixtures


def test_predicting_a_row_explains_it_in_the_why_panel(qtbot, view: PredictView) -> None:  # noqa: F811
    _load(qtbot, view)
    view.form.fields["income"].widget.setText("40276")
    results: list = []
    view.predicted.connect(results.append)
    with qtbot.waitSignal(view.why_panel.explained, timeout=TIMEOUT) as done:
        qtbot.mouseClick(view.predict_button, Qt.MouseButton.LeftButton)
    explanation = done.args[0]
    panel: WhyPanel = view.why_panel
    assert panel.isVisibleTo(view)
    a = explanation.attribution
    assert explanation.columns == ["age", "income", "gender", "region", "visits"]
    assert abs(a.base[0] + math.fsum(a.values[0]) - a.output[0]) < 1e-6
    # The explained probability is the one the prediction answered for that class.
    probability = results[0].probabilities[0][f"class_{explanation.explained_label(0)}"]
    assert abs(a.output[0] - probability) < 1e-9
    sentences = panel.sentences_label.text().splitlines()
    assert len(sentences) == 3
    assert all(("raised" in s or "lowered" in s or "did not change" in s) and "chance of" in s for s in sentences)
    if any(s.startswith("• income") for s in sentences):
        assert any("income 40,276" in s for s in sentences)
    assert explanation.method in panel.method_label.text()
    assert not panel.chart_label.pixmap().isNull()
    assert panel.table.rowCount() == 5
    assert {panel.table.item(i, 0).text() for i in range(5)} == set(explanation.columns)
    assert panel.table.item(0, 2).text().endswith("pts")
    # The chart's bars are the largest contributions, in points of probability.
    doc = contributions_document(explanation)
    assert abs(abs(doc["values"][0]) - abs(explanation.ranked(0)[0][1]) * 100) < 1e-9
    view.form.fields["age"].widget.setText("30")
    assert "form changed" in panel.status_label.text()


def test_the_file_option_adds_reasons_and_writes_the_contributions(qtbot, view: PredictView,  # noqa: F811
                                                                   tmp_path) -> None:
    import pandas as pd

    from tests.ui.data import customers

    _load(qtbot, view)
    source = tmp_path / "to_score.csv"
    customers(50, seed=5).drop(columns=["purchased"]).to_csv(source, index=False)
    view.explain_check.setChecked(True)
    with qtbot.waitSignal(view.batch_finished, timeout=TIMEOUT) as done:
        view.score_file(source, tmp_path / "scored.csv")
    written = done.args[0]
    assert written.contributions == tmp_path / "scored.contributions.csv"
    assert "scored.contributions.csv" in view.banner.text
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["reason_1"].str.contains("the chance of").all()
    matrix = pd.read_csv(written.contributions)
    assert len(matrix) == 50 and {"age", "income", "gender", "region", "visits", "base_value", "output"} <= set(
        matrix.columns)
    view.explain_check.setChecked(False)
    with qtbot.waitSignal(view.batch_finished, timeout=TIMEOUT) as done:
        view.score_file(source, tmp_path / "plain.csv")
    assert done.args[0].contributions is None and "reason_1" not in pd.read_csv(tmp_path / "plain.csv").columns
