from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateTimeEdit, QLineEdit

from predictml_desktop.core.artifacts import FeatureSpec, InputSchema
from predictml_desktop.ui.prediction_form import PredictionForm, ResultCard, class_label, describe_class


def _schema() -> InputSchema:
    return InputSchema(
        target="purchased",
        problem_type="classification",
        classes=[0, 1],
        features=[
            FeatureSpec("age", "numeric", dtype="int64", integer=True, minimum=18, maximum=85, median=41, default=41),
            FeatureSpec("income", "numeric", dtype="float64", minimum=9000.5, maximum=250000.0, median=52000.25,
                        default=52000.25, nullable=True),
            FeatureSpec("region", "categorical", dtype="object", categories=["North", "South", "East"],
                        default="North"),
            FeatureSpec("email_opt_in", "boolean", dtype="int64", categories=[1, 0], default=1),
            FeatureSpec("plan", "boolean", dtype="object", categories=["gold", "basic"], default="basic"),
            FeatureSpec("signup_date", "datetime", dtype="object", default="2023-05-01T00:00:00"),
        ],
    )


@pytest.fixture
def form(qtbot) -> PredictionForm:
    widget = PredictionForm()
    qtbot.addWidget(widget)
    widget.set_schema(_schema())
    return widget


def test_the_form_has_one_field_per_input_with_the_training_defaults(form: PredictionForm) -> None:
    assert list(form.fields) == ["age", "income", "region", "email_opt_in", "plan", "signup_date"]
    assert isinstance(form.fields["age"].widget, QLineEdit)
    assert form.fields["age"].widget.text() == "41"
    assert "18 – 85" in form.fields["age"].hint.text() and "whole number" in form.fields["age"].hint.text()
    assert form.fields["income"].widget.text() == "52000.25"
    region = form.fields["region"].widget
    assert isinstance(region, QComboBox) and region.isEditable() and region.currentText() == "North"
    assert isinstance(form.fields["email_opt_in"].widget, QCheckBox)
    assert form.fields["email_opt_in"].widget.isChecked()
    plan = form.fields["plan"].widget
    assert isinstance(plan, QComboBox) and not plan.isEditable() and plan.currentText() == "basic"
    assert isinstance(form.fields["signup_date"].widget, QDateTimeEdit)
    for name, editor in form.fields.items():
        assert editor.widget.accessibleName() == name
    values, errors = form.row()
    assert errors == {}
    assert values["age"] == 41 and isinstance(values["age"], int)
    assert values["region"] == "North"
    assert values["email_opt_in"] == 1
    assert values["plan"] == "basic"
    assert values["signup_date"].startswith("2023-05-01")


def test_validation_is_shown_next_to_each_field(form: PredictionForm) -> None:
    form.fields["age"].widget.setText("forty")
    form.fields["income"].widget.setText("")  # nullable: allowed
    form.fields["region"].widget.setEditText("")
    values, errors = form.row()
    assert errors["age"] == "“forty” is not a number."
    assert form.fields["age"].error.isVisibleTo(form)
    assert "region" in errors
    assert values["income"] is None
    form.fields["age"].widget.setText("41.5")
    _, errors = form.row()
    assert errors["age"] == "Age takes whole numbers only."
    form.fields["age"].widget.setText("  37 ")
    form.fields["region"].widget.setEditText("Atlantis")  # unseen categories go to the model, which warns
    values, errors = form.row()
    assert errors == {} and values["age"] == 37 and values["region"] == "Atlantis"
    assert not form.fields["age"].error.isVisibleTo(form)


def test_a_core_refusal_is_shown_at_its_field_and_reset_restores_defaults(form: PredictionForm) -> None:
    assert form.show_error("income", "income: must be at most 1e9")
    assert form.fields["income"].error.text() == "income: must be at most 1e9"
    assert not form.show_error("nope", "x")
    form.fields["age"].widget.setText("99")
    form.reset()
    assert form.fields["age"].widget.text() == "41"
    assert not form.fields["income"].error.isVisibleTo(form)


def test_the_result_card_shows_the_class_in_words_and_a_bar_per_class(qtbot) -> None:
    card = ResultCard()
    qtbot.addWidget(card)
    card.show_result(target="purchased", problem_type="classification", prediction=1,
                     probabilities={"class_0": 0.23, "class_1": 0.77}, model_text="Model: RF · Accuracy: 92.0 %",
                     warnings=["region: 'Atlantis' was not seen in training"])
    assert card.prediction_label.text() == "Purchased: Yes"
    assert "77 %" in card.detail_label.text()
    assert set(card.probability_bars) == {"0", "1"}
    assert card.probability_bars["1"].text() == "77.0 %"
    assert card.probability_bars["0"].value() == 230
    assert "Accuracy" in card.model_label.text()
    assert "Atlantis" in card.warnings_label.text()

    card.show_result(target="price", problem_type="regression", prediction=123456.789, probabilities=None,
                     model_text="Model: Ridge · R²: 0.810")
    assert card.prediction_label.text() == "Predicted price: 123,456.7890"
    assert card.probability_bars == {}
    assert card.warnings_label.isHidden()


def test_class_words() -> None:
    assert describe_class("churned", "yes") == "Churned: Yes"
    assert describe_class("churned", 0) == "Churned: No"
    assert describe_class("species", "setosa") == "Species: setosa"
    assert class_label("class_setosa") == "setosa"
