"""The prediction form (generated from a model's input schema) and the result card."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QDateTime, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QGridLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.artifacts import FeatureSpec, InputSchema
from predictml_desktop.core.input_schema import NO_WORDS, YES_WORDS, class_in_words
from predictml_desktop.ui.formatting import format_number
from predictml_desktop.ui.widgets import Card, clear_layout

_ERROR_STYLE = "color: #b3261e;"


def _compact(value: float | None, integer: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if integer or float(value).is_integer():
        return f"{round(value):,}".replace(",", "")
    return f"{value:.10g}"


def _humanise(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def class_label(key: Any) -> str:
    """Return a class label from a probability key of the seed format (``class_1`` -> ``1``)."""
    text = str(key)
    return text[len("class_"):] if text.startswith("class_") else text


def describe_class(target: str, value: Any) -> str:
    """Return a predicted class in words: ``Purchased: Yes`` for 1/true/yes, else ``Target: value``."""
    return f"{_humanise(target)}: {class_in_words(value)}"


class FieldEditor:
    """One input of the form: its editor, its hint and the place where its error is shown."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.label = QLabel(_humanise(spec.name))
        self.hint = QLabel(self._hint_text())
        self.hint.setStyleSheet("color: palette(placeholder-text);")
        self.error = QLabel()
        self.error.setStyleSheet(_ERROR_STYLE)
        self.error.setAccessibleName(f"{spec.name} error")
        self.error.setWordWrap(True)
        self.error.hide()
        self.widget = self._make_editor()
        self.widget.setAccessibleName(spec.name)
        self.widget.setAccessibleDescription(self.hint.text())
        self.widget.setToolTip(self.hint.text())
        self.label.setBuddy(self.widget)
        self.reset()

    # ------------------------------------------------------------------ building

    def _categories(self) -> list[Any]:
        return list(self.spec.categories or [])

    def _is_checkbox(self) -> bool:
        cats = {str(c).lower() for c in self._categories()}
        return self.spec.kind == "boolean" and bool(cats) and cats <= {"true", "false", "0", "1", "1.0", "0.0"}

    def _make_editor(self) -> QWidget:
        spec = self.spec
        if spec.kind == "boolean" and self._is_checkbox():
            return QCheckBox()
        if spec.kind in ("categorical", "boolean"):
            combo = QComboBox()
            # Editable: a value not seen in training is allowed (the model handles it, with a warning).
            combo.setEditable(spec.kind == "categorical")
            for category in self._categories():
                combo.addItem(str(category), category)
            if spec.nullable:
                combo.addItem("(missing)", None)
            return combo
        if spec.kind == "datetime":
            edit = QDateTimeEdit()
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            return edit
        line = QLineEdit()
        if spec.kind == "numeric":
            line.setAlignment(Qt.AlignmentFlag.AlignRight)
        return line

    def _hint_text(self) -> str:
        spec = self.spec
        parts: list[str] = []
        if spec.kind == "numeric":
            parts.append("whole number" if spec.integer else "number")
            if spec.minimum is not None and spec.maximum is not None:
                parts.append(f"seen {_compact(spec.minimum, spec.integer)} – {_compact(spec.maximum, spec.integer)}")
            if spec.median is not None:
                parts.append(f"median {_compact(spec.median)}")
        elif spec.kind == "categorical":
            count = len(spec.categories or [])
            parts.append(f"one of {count} values seen, or another" if count else "category")
        elif spec.kind == "boolean":
            parts.append("yes / no")
        elif spec.kind == "datetime":
            parts.append("date and time")
        else:
            parts.append("text")
        if spec.nullable:
            parts.append("may be left empty")
        return "; ".join(parts)

    def reset(self) -> None:
        """Put the training default back (median, most frequent category)."""
        spec, widget = self.spec, self.widget
        default = spec.default
        if isinstance(widget, QCheckBox):
            widget.setChecked(str(default).lower() in YES_WORDS)
        elif isinstance(widget, QComboBox):
            index = widget.findData(default) if default is not None else -1
            if index < 0 and default is not None:
                index = widget.findText(str(default))
            widget.setCurrentIndex(max(index, 0))
        elif isinstance(widget, QDateTimeEdit):
            parsed = QDateTime.fromString(str(default or ""), Qt.DateFormat.ISODate)
            widget.setDateTime(parsed if parsed.isValid() else QDateTime.currentDateTime())
        elif isinstance(widget, QLineEdit):
            if default is None and spec.kind == "numeric":
                default = spec.median
            if isinstance(default, float) and spec.kind == "numeric":
                widget.setText(_compact(default, spec.integer))
            else:
                widget.setText("" if default is None else str(default))
        self.set_error(None)

    # ------------------------------------------------------------------ values

    def value(self) -> tuple[Any, str | None]:
        """Return ``(value, error)``: the typed value, or the sentence saying what is wrong with it."""
        spec, widget = self.spec, self.widget
        if isinstance(widget, QCheckBox):
            truthy = [c for c in self._categories() if str(c).lower() in YES_WORDS]
            falsy = [c for c in self._categories() if str(c).lower() in NO_WORDS]
            chosen = truthy if widget.isChecked() else falsy
            return (chosen[0] if chosen else widget.isChecked()), None
        if isinstance(widget, QComboBox):
            index = widget.currentIndex()
            if not widget.isEditable() or (index >= 0 and widget.itemText(index) == widget.currentText()):
                return widget.currentData(), None
            text = widget.currentText().strip()
            if not text:
                return (None, None) if spec.nullable else (None, "Choose or type a value.")
            return text, None
        if isinstance(widget, QDateTimeEdit):
            return widget.dateTime().toString(Qt.DateFormat.ISODate), None
        assert isinstance(widget, QLineEdit)
        text = widget.text().strip()
        if spec.kind != "numeric":
            if not text:
                return (None, None) if spec.nullable else (None, "Enter a value.")
            return text, None
        if not text:
            return (None, None) if spec.nullable else (None, "Enter a number.")
        try:
            number = float(text.replace(",", "").replace(" ", ""))
        except ValueError:
            return None, f"“{text}” is not a number."
        if not math.isfinite(number):
            return None, "Enter a finite number."
        if spec.integer:
            if not number.is_integer():
                return None, f"{_humanise(spec.name)} takes whole numbers only."
            return int(number), None
        return number, None

    def set_error(self, message: str | None) -> None:
        """Show ``message`` under the field (or clear it)."""
        self.error.setText(message or "")
        self.error.setVisible(bool(message))


class PredictionForm(QWidget):
    """A form with one field per model input, built from an `InputSchema`."""

    values_changed = Signal()
    """The user edited a field."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields: dict[str, FieldEditor] = {}
        self.schema: InputSchema | None = None
        self._grid = QGridLayout(self)
        self._grid.setColumnStretch(1, 1)

    def set_schema(self, schema: InputSchema) -> None:
        """Replace the fields by those of ``schema`` (in its order), each at its training default."""
        clear_layout(self._grid)
        self.fields = {}
        self.schema = schema
        previous: QWidget | None = None
        for row, spec in enumerate(schema.features):
            editor = FieldEditor(spec)
            self.fields[spec.name] = editor
            column = QVBoxLayout()
            column.setSpacing(1)
            column.addWidget(editor.widget)
            column.addWidget(editor.error)
            self._grid.addWidget(editor.label, row, 0, Qt.AlignmentFlag.AlignTop)
            self._grid.addLayout(column, row, 1)
            self._grid.addWidget(editor.hint, row, 2, Qt.AlignmentFlag.AlignTop)
            # Tab goes down the form in the schema's order.
            if previous is not None:
                QWidget.setTabOrder(previous, editor.widget)
            previous = editor.widget
            self._connect_changes(editor)

    def _connect_changes(self, editor: FieldEditor) -> None:
        widget = editor.widget
        signal = None
        if isinstance(widget, QLineEdit):
            signal = widget.textChanged
        elif isinstance(widget, QComboBox):
            signal = widget.currentTextChanged
        elif isinstance(widget, QCheckBox):
            signal = widget.toggled
        elif isinstance(widget, QDateTimeEdit):
            signal = widget.dateTimeChanged
        if signal is not None:
            def changed(*_: Any) -> None:
                editor.set_error(None)
                self.values_changed.emit()

            signal.connect(changed)

    def row(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Return the input row and the errors by field name (both shown next to their fields)."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, editor in self.fields.items():
            value, error = editor.value()
            editor.set_error(error)
            if error:
                errors[name] = error
            else:
                values[name] = value
        return values, errors

    def show_error(self, field: str, message: str) -> bool:
        """Show the core's refusal next to ``field``; False if the form has no such field."""
        editor = self.fields.get(field)
        if editor is None:
            return False
        editor.set_error(message)
        editor.widget.setFocus()
        return True

    def reset(self) -> None:
        """Put every field back to its default."""
        for editor in self.fields.values():
            editor.reset()


class ResultCard(Card):
    """The seed's result display: the prediction in words, confidence per class, the model."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Prediction result", parent)
        self.setAccessibleName("Prediction result")
        self.prediction_label = QLabel()
        self.prediction_label.setAccessibleName("Prediction")
        font = self.prediction_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.prediction_label.setFont(font)
        self.prediction_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.addWidget(self.prediction_label)
        self.detail_label = QLabel()
        self.detail_label.setAccessibleName("Prediction detail")
        self.body.addWidget(self.detail_label)
        self.bars_box = QWidget()
        self.bars = QGridLayout(self.bars_box)
        self.bars.setContentsMargins(0, 4, 0, 4)
        self.body.addWidget(self.bars_box)
        self.model_label = QLabel()
        self.model_label.setAccessibleName("Model")
        self.model_label.setWordWrap(True)
        self.body.addWidget(self.model_label)
        self.warnings_label = QLabel()
        self.warnings_label.setAccessibleName("Prediction warnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #b26a00;")
        self.body.addWidget(self.warnings_label)
        self.probability_bars: dict[str, QProgressBar] = {}
        self.hide()

    def mark_stale(self) -> None:
        """Say that the inputs changed since this result (it no longer answers the form)."""
        if self.isVisible():
            self.title.setText("Prediction result (for the previous inputs; press Predict again)")

    def show_result(
        self,
        *,
        target: str,
        problem_type: str,
        prediction: Any,
        probabilities: dict[str, float] | None,
        model_text: str,
        warnings: list[str] | None = None,
    ) -> None:
        """Show one prediction.

        Parameters
        ----------
        target
            The predicted column's name.
        problem_type
            ``classification`` or ``regression``.
        prediction
            The predicted class or value.
        probabilities
            Probability per class, keyed as the seed's response does (``class_<label>``), or None.
        model_text
            The model's name and its quoted metric.
        warnings
            Per-row warnings from the core (unseen category, value outside the training range).
        """
        clear_layout(self.bars)
        self.probability_bars = {}
        if problem_type == "regression":
            value = format_number(prediction, 4) if isinstance(prediction, float) else str(prediction)
            self.prediction_label.setText(f"Predicted {_humanise(target).lower()}: {value}")
            self.detail_label.setText("")
        else:
            self.prediction_label.setText(describe_class(target, prediction))
            confidence = None
            for key, share in (probabilities or {}).items():
                if class_label(key) == str(prediction) or class_label(key) == _compact(_as_float(prediction)):
                    confidence = share
            self.detail_label.setText(
                f"Class {prediction}" + (f" · confidence {confidence * 100:.0f} %" if confidence is not None else "")
            )
            for row, (key, share) in enumerate(sorted((probabilities or {}).items(), key=lambda kv: -kv[1])):
                label = class_label(key)
                name = QLabel(f"{describe_class(target, label)}  ({label})")
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setValue(round(share * 1000))
                bar.setFormat(f"{share * 100:.1f} %")
                bar.setAccessibleName(f"Probability of {label}")
                self.bars.addWidget(name, row, 0)
                self.bars.addWidget(bar, row, 1)
                self.probability_bars[label] = bar
        self.bars_box.setVisible(bool(self.probability_bars))
        self.model_label.setText(model_text)
        self.warnings_label.setText("\n".join(f"⚠ {w}" for w in warnings or []))
        self.warnings_label.setVisible(bool(warnings))
        self.title.setText("Prediction result")
        self.show()


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
