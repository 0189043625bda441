"""Per-prediction explanations for a loaded model: the one function every path calls (issue 15, item 1).

`explain_rows(model, rows)` answers, for validated feature rows, each input column's signed
contribution to the answer (`core.modeling.attribution` says how, and in which units). The Predict
form's Why panel, batch files (`reason_columns`, `contribution_frame`), the HTTP service
(``"explain": true``), ``predictml predict --explain``, the Admin review's summary and the self-test
all go through it.

The reference row, against which the linear and sampling methods measure a contribution, is the
model's typical row: each column's training median or most frequent value (the schema's
``default``), so "lowered the chance of Yes by 12 points" means "compared with a typical customer".
The tree methods start from the trees' own average answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.input_schema import class_in_words
from predictml_desktop.core.modeling import attribution
from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.modeling.fast_path import ColumnBatch, FastPathUnsupported
from predictml_desktop.core.prediction import running
from predictml_desktop.core.prediction.answers import jsonable
from predictml_desktop.core.prediction.errors import ModelFailedError
from predictml_desktop.core.prediction.validation import validate_input, validate_rows

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.loading import LoadedModel

TOP_REASONS = 3


@dataclass
class Explanation:
    """Contributions of each input column to each row's answer, with what they mean."""

    attribution: attribution.Attribution
    rows: Sequence[dict[str, Any]] | pd.DataFrame
    """The rows' input values (as validated), for the sentences."""
    target: str
    classes: list[Any]
    """Probability columns' labels (classification), else empty."""

    @property
    def columns(self) -> list[str]:
        """The input columns."""
        return self.attribution.columns

    @property
    def method(self) -> str:
        """How the contributions were computed (shown to the user)."""
        return self.attribution.method

    @property
    def classification(self) -> bool:
        """True if the contributions are in probability of a class."""
        return self.attribution.explained_class is not None

    def explained_label(self, i: int) -> Any:
        """Return the class whose probability row ``i`` explains (None for a regressor)."""
        k = self.attribution.explained_class
        return None if k is None else self.classes[int(k[i])]

    def ranked(self, i: int) -> list[tuple[str, float]]:
        """Return row ``i``'s (column, contribution) pairs, largest effect first."""
        values = self.attribution.values[i]
        order = np.argsort(-np.abs(values), kind="stable")
        return [(self.columns[j], float(values[j])) for j in order]

    def value(self, i: int, column: str) -> Any:
        """Return row ``i``'s input value of ``column``."""
        if isinstance(self.rows, pd.DataFrame):
            found = self.rows[column].iat[i]
            return None if found is pd.NaT else found
        return self.rows[i].get(column)

    def reason(self, i: int, column: str, value: float) -> str:
        """Return one sentence: ``Income 40,276 lowered the chance of Yes by 12 points``."""
        shown = format_value(self.value(i, column))
        verb = "raised" if value > 0 else "lowered" if value < 0 else "did not change"
        if self.classification:
            points = abs(value) * 100
            amount = f"{points:.1f}" if points < 10 else f"{points:.0f}"
            what = f"the chance of {class_in_words(self.explained_label(i))}"
            tail = f" by {amount} points" if value else ""
        else:
            what = self.target
            tail = f" by {format_value(abs(value))}" if value else ""
        return f"{column} {shown} {verb} {what}{tail}"

    def reasons(self, i: int, n: int = TOP_REASONS) -> list[str]:
        """Return the sentences of row ``i``'s ``n`` largest contributions."""
        return [self.reason(i, column, value) for column, value in self.ranked(i)[:n]]

    def row_document(self, i: int) -> dict[str, Any]:
        """Return row ``i``'s explanation as JSON (the HTTP service's and the CLI's format)."""
        a = self.attribution
        doc: dict[str, Any] = {
            "method": a.method,
            "exact": a.exact,
            "explains": "probability" if self.classification else "value",
            "explainedClass": jsonable(self.explained_label(i)),
            "baseValue": _finite(a.base[i]),
            "output": _finite(a.output[i]),
            "contributions": {c: _finite(v) for c, v in zip(self.columns, a.values[i].tolist(), strict=True)},
        }
        return doc

    def documents(self) -> list[dict[str, Any]]:
        """Return `row_document` of every row."""
        return [self.row_document(i) for i in range(len(self.rows))]


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def format_value(value: Any) -> str:
    """Return a value as a sentence shows it (``40,276``, ``3.5``, ``yes``, ``missing``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- computing


def _reference(model: LoadedModel) -> ColumnBatch:
    """Return the model's typical row (each feature's default), validated like any input; cached on the model."""
    found = model.__dict__.get("_explain_reference")
    if found is None:
        row = {f.name: f.default for f in model.schema.features}
        validated = validate_rows(model.schema, [row], strict=False)
        found = running.rows_to_batch(model.schema, validated.rows)
        model.__dict__["_explain_reference"] = found
    return found


def _transform(model: LoadedModel, features: ColumnBatch) -> pd.DataFrame:
    """Return the rows as the estimator receives them (the compiled path when it can, else the pipeline)."""
    if model.fast is not None:
        try:
            return model.fast.transform(features)
        except FastPathUnsupported:
            pass
    transformed = pycaret_pipeline.transform(model.pipeline, features.to_frame())
    if not isinstance(transformed, pd.DataFrame):
        transformed = pd.DataFrame(np.asarray(transformed))
    return transformed


def explain_rows(model: LoadedModel, rows: Sequence[dict[str, Any]], *, seed: int = 0,
                 budget: int = attribution.SAMPLING_BUDGET) -> Explanation:
    """Explain validated rows: each input column's signed contribution to each row's answer.

    Parameters
    ----------
    model
        The loaded model.
    rows
        Rows as `validate_rows` returns them (``ValidatedRows.rows``).
    seed, budget
        For the sampling method (deterministic; `attribution.SAMPLING_BUDGET` model rows at most).

    Raises
    ------
    ModelFailedError
        If the model raises while being explained.
    """
    rows = list(rows)
    return explain_features(model, running.rows_to_batch(model.schema, rows), rows, seed=seed, budget=budget)


def explain_features(model: LoadedModel, features: ColumnBatch, rows: Sequence[dict[str, Any]] | pd.DataFrame, *,
                     seed: int = 0, budget: int = attribution.SAMPLING_BUDGET) -> Explanation:
    """Explain validated feature columns (`explain_rows` for rows already in columns, as batch files hold them).

    Raises
    ------
    ModelFailedError
        If the model raises while being explained.
    """
    schema = model.schema
    names = [f.name for f in schema.features]
    n = len(features)
    try:
        predictions, proba = running.run_model(model, features)
        classes: list[Any] = []
        k: np.ndarray | None = None
        n_classes = 0
        if proba is not None:
            classes = running.class_labels(model, proba.shape[1])
            n_classes = proba.shape[1]
            if n_classes == 2:
                positive = schema.positive_class if schema.positive_class in classes else classes[1]
                k = np.full(n, classes.index(positive), dtype=int)
            else:
                index = {jsonable(c): j for j, c in enumerate(classes)}
                k = np.array([index.get(jsonable(p), int(np.argmax(proba[i])))
                              for i, p in enumerate(predictions.tolist())], dtype=int)
        reference = _reference(model)
        with model.lock:
            result = _explain(model, features, reference, names, n_classes, k, seed, budget)
    except ModelFailedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the model refusing is reported, never a traceback
        raise ModelFailedError(
            f"The prediction could not be explained ({type(exc).__name__}: {str(exc)[:200]})."
        ) from None
    return Explanation(result, rows, schema.target, classes)


def _explain(model: LoadedModel, features: ColumnBatch, reference: ColumnBatch, names: list[str], n_classes: int,
             k: np.ndarray | None, seed: int, budget: int) -> attribution.Attribution:
    estimator = model.pipeline.steps[-1][1] if hasattr(model.pipeline, "steps") else None
    Xt = _transform(model, features)
    Rt = _transform(model, reference)
    groups = attribution.model_column_groups(list(Xt.columns), names) if estimator is not None else None
    if groups is not None and list(Rt.columns) == list(Xt.columns):
        return attribution.explain_transformed(estimator, Xt, Rt, groups, names, n_classes=n_classes,
                                               explained_class=k, seed=seed, budget=budget)
    # A preprocessing step that mixes columns: sample the whole pipeline on the input columns.
    frame = features.to_frame()
    dtypes = frame.dtypes
    pipeline = model.pipeline

    def evaluate(batch: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        matrix, owner = batch
        hybrid = pd.DataFrame(matrix, columns=names).astype(dtypes)
        if k is None:
            return np.asarray(pipeline.predict(hybrid), dtype="float64").reshape(len(hybrid))
        probabilities = np.asarray(pipeline.predict_proba(hybrid), dtype="float64")
        return np.asarray(probabilities[np.arange(len(hybrid)), k[owner]])

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):  # as explain_transformed
        values, base, output, count = attribution.explain_function(
            evaluate, frame.to_numpy(dtype=object), reference.to_frame().to_numpy(dtype=object)[0],
            [[j] for j in range(len(names))], seed=seed, budget=budget)
    return attribution.Attribution(names, values, base, output, attribution.sampling_method(count), False, k)


def explain_documents(model: LoadedModel, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return `Explanation.row_document` of each validated row (the HTTP service's ``explanations``).

    Raises
    ------
    ModelFailedError
        If the model raises while being explained.
    """
    return explain_rows(model, rows).documents()


def explain_input(model: LoadedModel, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate one row or a list of rows (as `predict_rows` does, not strict) and return their explanations.

    Raises
    ------
    InputValidationError, ModelFailedError
        As `predict_rows`.
    """
    validated = validate_input(model.schema, rows, strict=False)
    return explain_documents(model, validated.rows)


def summary(explanation: Explanation) -> list[dict[str, Any]]:
    """Mean absolute and mean signed contribution of each column, largest first (the review's plot)."""
    values = explanation.attribution.values
    mean_abs = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(explanation.columns))
    mean = values.mean(axis=0) if len(values) else np.zeros(len(explanation.columns))
    order = np.argsort(-mean_abs, kind="stable")
    return [{"name": explanation.columns[j], "meanAbs": float(mean_abs[j]), "mean": float(mean[j])} for j in order]


SUMMARY_COLUMNS = 15
SUMMARY_DOTS = 200


def summary_document(explanation: Explanation, *, title: str = "Contributions (holdout rows)") -> dict[str, Any]:
    """Return the review's summary plot document: mean |contribution| per column, and each row's as a dot.

    Contributions are in points of probability for classifiers (x 100), in the target's units otherwise.
    """
    scale = 100.0 if explanation.classification else 1.0
    values = explanation.attribution.values * scale
    keep = np.unique(np.linspace(0, len(values) - 1, min(len(values), SUMMARY_DOTS)).round().astype(int)) \
        if len(values) else np.array([], dtype=int)
    features = []
    for row in summary(explanation)[:SUMMARY_COLUMNS]:
        j = explanation.columns.index(row["name"])
        features.append({"name": row["name"], "meanAbs": row["meanAbs"] * scale, "mean": row["mean"] * scale,
                         "dots": [round(float(v), 6) for v in values[keep, j]]})
    unit = "points of probability" if explanation.classification else explanation.target
    what = (f"the chance of {explanation.explained_label(0)}" if explanation.classification and len(values)
            else explanation.target)
    return {
        "kind": "contribution_summary",
        "title": title,
        "method": explanation.method,
        "rows": len(values),
        "explains": what,
        "features": features,
        "xLabel": f"Contribution to {what} ({unit}); bar = mean |contribution|, dots = rows",
        "yLabel": "Feature",
    }
