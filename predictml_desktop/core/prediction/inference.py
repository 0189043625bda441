"""Predicting rows: validate, run the model, answer in the seed's format (plus per-row warnings)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from predictml_desktop.core.prediction import running
from predictml_desktop.core.prediction.batching import MicroBatcher
from predictml_desktop.core.prediction.errors import FieldProblem, InputValidationError
from predictml_desktop.core.prediction.frames import rows_to_batch
from predictml_desktop.core.prediction.validation import MAX_BATCH_ROWS, ValidatedRows, validate_rows

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.loading import LoadedModel


def jsonable(value: Any) -> Any:
    """Return a label or value as JSON can carry it (numpy scalars unwrapped, NaN and infinities as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def class_key(label: Any) -> str:
    """Return the probability key of a class label, as the seed names it: ``class_<label>``."""
    label = jsonable(label)
    if isinstance(label, bool):
        return f"class_{label}"
    if isinstance(label, float) and label.is_integer():
        return f"class_{int(label)}"
    return f"class_{label}"


@dataclass
class PredictionResult:
    """Predictions for a list of rows, ready for the seed's response format."""

    dataset_id: str
    model_name: str
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    warnings: list[list[str]]
    ignored_columns: list[str] = field(default_factory=list)
    deployment_id: str | None = None
    seconds: float = 0.0

    def to_response(self) -> dict[str, Any]:
        """Return the seed's response: ``success``, ``datasetId``, ``modelName``, ``prediction``, ``probability``.

        Plus ``warnings`` (one list per row) and ``ignoredColumns``. ``probability`` is present only
        for classifiers.
        """
        out: dict[str, Any] = {
            "success": True,
            "datasetId": self.dataset_id,
            "modelName": self.model_name,
            "prediction": self.predictions,
        }
        if self.probabilities is not None:
            out["probability"] = self.probabilities
        out["warnings"] = self.warnings
        out["ignoredColumns"] = self.ignored_columns
        return out


def _result(model: LoadedModel, validated: ValidatedRows, predictions: np.ndarray,
            probabilities: np.ndarray | None, started: float) -> PredictionResult:
    preds = [jsonable(p) for p in predictions.tolist()]
    probs = None
    if probabilities is not None:
        keys = [class_key(c) for c in running.class_labels(model, probabilities.shape[1])]
        probs = [dict(zip(keys, (float(p) for p in row), strict=True)) for row in probabilities.tolist()]
    return PredictionResult(
        dataset_id=model.dataset_id,
        model_name=model.model_name,
        predictions=preds,
        probabilities=probs,
        warnings=validated.warnings,
        ignored_columns=validated.ignored_columns,
        deployment_id=model.deployment_id,
        seconds=time.perf_counter() - started,
    )


def predict_validated(model: LoadedModel, validated: ValidatedRows, *, batched: bool = False) -> PredictionResult:
    """Predict rows that `validate_rows` accepted.

    Parameters
    ----------
    model
        The loaded model.
    validated
        From `validate_rows`.
    batched
        Let the model's `MicroBatcher` merge these rows with other threads' concurrent requests
        into one pipeline call (the HTTP service sets this; see `MicroBatcher`).
    """
    started = time.perf_counter()
    if batched and len(validated.rows) < MicroBatcher.MAX_ROWS:
        predictions, probabilities = model.batcher.predict(validated.rows)
    else:
        predictions, probabilities = running.run_model(model, rows_to_batch(model.schema, validated.rows))
    return _result(model, validated, predictions, probabilities, started)


def predict_rows(
    model: LoadedModel,
    rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    strict: bool = False,
    max_rows: int = MAX_BATCH_ROWS,
) -> PredictionResult:
    """Validate one row (a mapping) or a batch (a list of mappings) and predict it.

    Parameters
    ----------
    model
        From `ModelRegistry.get`.
    rows
        ``{"age": 41, ...}`` or ``[{...}, {...}]``.
    strict
        Refuse numbers given as strings (the HTTP API is strict; the Python API and CLI are not).
    max_rows
        The batch limit (`BatchTooLargeError` above it).

    Raises
    ------
    InputValidationError
        A missing feature, wrong type, non-finite number, empty batch... naming the field.
    BatchTooLargeError
        Too many rows.
    ModelFailedError
        The model raised on the validated input.
    """
    single = isinstance(rows, Mapping)
    batch: Sequence[Mapping[str, Any]] = [rows] if isinstance(rows, Mapping) else rows
    if isinstance(rows, (str, bytes)) or not isinstance(batch, Sequence):
        raise InputValidationError([FieldProblem("inputData", "inputData must be an object or a list of objects.",
                                                 "wrong_type")])
    validated = validate_rows(model.schema, batch, strict=strict, max_rows=max_rows, single=single)
    return predict_validated(model, validated)

