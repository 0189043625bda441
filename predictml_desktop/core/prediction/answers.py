"""Answers in the seed's format: labels and values as JSON carries them, one probability key per class.

Copied into the Azure ML bundle with `validation` (see `core.azure`), so the bundle answers in the
same format as the local service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.prediction.validation import ValidatedRows


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


def class_labels(classes: list[Any], pipeline: Any, n_columns: int) -> list[Any]:
    """Return the labels of ``n_columns`` probability columns: the schema's ``classes``, else the pipeline's."""
    if len(classes) == n_columns:
        return list(classes)
    fitted = pycaret_pipeline.fitted_class_labels(pipeline, n_columns)
    return fitted if fitted is not None else list(range(n_columns))


def decide(threshold: float | None, predictions: np.ndarray, probabilities: np.ndarray | None,
           labels: list[Any]) -> np.ndarray:
    """Return a yes/no model's answers at its decision threshold (the model's own answers otherwise).

    The threshold was chosen at training on out-of-fold predictions (`core.training.threshold`): the
    positive class (the second of ``labels``) is answered from that probability on. Every path that
    predicts (form, batch file, HTTP, the Azure bundle) answers through here, so they agree.
    """
    if threshold is None or probabilities is None or probabilities.ndim != 2 or probabilities.shape[1] != 2 \
            or len(labels) != 2:
        return predictions
    positive = probabilities[:, 1] >= threshold
    # Objects: a numpy string array would silently cut a label longer than the model's own answers.
    out = np.empty(len(positive), dtype=object)
    out[positive], out[~positive] = labels[1], labels[0]
    return out


def make_result(dataset_id: str, model_name: str, validated: ValidatedRows, predictions: np.ndarray,
                probabilities: np.ndarray | None, labels: list[Any], *, deployment_id: str | None = None,
                seconds: float = 0.0) -> PredictionResult:
    """Return the `PredictionResult` of validated rows: JSON-ready labels, one probability dict per row."""
    preds = [jsonable(p) for p in predictions.tolist()]
    probs = None
    if probabilities is not None:
        keys = [class_key(c) for c in labels]
        probs = [dict(zip(keys, (float(p) for p in row), strict=True)) for row in probabilities.tolist()]
    return PredictionResult(
        dataset_id=dataset_id,
        model_name=model_name,
        predictions=preds,
        probabilities=probs,
        warnings=validated.warnings,
        ignored_columns=validated.ignored_columns,
        deployment_id=deployment_id,
        seconds=seconds,
    )
