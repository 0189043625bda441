"""Calling a loaded model: the compiled fast path where it can answer, else the pipeline, under the model's lock.

The model failing on validated input becomes `ModelFailedError` (one sentence, no traceback).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.modeling.fast_path import ColumnBatch, FastPathUnsupported, FastPipeline
from predictml_desktop.core.prediction import answers
from predictml_desktop.core.prediction.errors import ModelFailedError
from predictml_desktop.core.prediction.frames import feature_columns

if TYPE_CHECKING:
    from predictml_desktop.core.input_schema import InputSchema
    from predictml_desktop.core.prediction.loading import LoadedModel

log = logging.getLogger(__name__)


def rows_to_batch(schema: InputSchema, rows: list[dict[str, Any]]) -> ColumnBatch:
    """Return `rows_to_frame`'s columns as numpy arrays, without building the DataFrame.

    The fast path reads these directly; building the DataFrame costs more than the whole compiled
    prediction of one row.
    """
    return ColumnBatch(feature_columns(schema, rows), [f.name for f in schema.features])


def wants_probabilities(model: LoadedModel) -> bool:
    """Return True if the model answers class probabilities (a classifier whose estimator has them)."""
    return model.problem_type == "classification" and pycaret_pipeline.has_probabilities(model.pipeline)


def _run_fast(model: LoadedModel, fast: FastPipeline, features: pd.DataFrame | ColumnBatch,
              want_proba: bool) -> tuple[np.ndarray, Any] | None:
    """Predict with the compiled pipeline; None when these rows need the full pipeline."""
    try:
        X = fast.transform(features)  # no lock: numpy on arrays of this call only
        with model.lock:  # the estimator's own thread-safety is not promised by every library
            return fast.predict_transformed(X, want_proba)
    except FastPathUnsupported as exc:
        log.debug("rows for %s take the full pipeline: %s", model.dataset_id, exc)
    except Exception as exc:  # noqa: BLE001 - the full pipeline gives the answer, or the error, it always gave
        log.debug("the fast path failed for %s (%s: %s); using the full pipeline", model.dataset_id,
                  type(exc).__name__, exc)
    return None


def run_model(model: LoadedModel, features: pd.DataFrame | ColumnBatch) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (predictions, class probabilities or None) for validated feature columns.

    Raises
    ------
    ModelFailedError
        If the model raises on them.
    """
    pipeline = model.pipeline
    try:
        # No warnings.catch_warnings() here: it swaps process-wide state and is not thread-safe.
        want_proba = wants_probabilities(model)
        fast = model.fast
        answer = _run_fast(model, fast, features, want_proba) if fast is not None else None
        if answer is None:
            frame = features.to_frame() if isinstance(features, ColumnBatch) else features
            with model.lock:
                answer = pycaret_pipeline.predict(pipeline, frame, probabilities=want_proba)
        predictions, proba = answer
        probabilities = None if proba is None else np.asarray(proba, dtype="float64")
        if probabilities is not None and model.schema.decision_threshold is not None:
            labels = class_labels(model, probabilities.shape[1])
            predictions = answers.decide(model.schema.decision_threshold, predictions, probabilities, labels)
    except Exception as exc:  # the model refusing validated input is reported, never a traceback
        log.warning("the model of %s failed on %d row(s): %s", model.dataset_id, len(features), exc, exc_info=True)
        raise ModelFailedError(
            f"The model could not make a prediction for this input ({type(exc).__name__}: {str(exc)[:200]})."
        ) from None
    return predictions, probabilities


def class_labels(model: LoadedModel, n_columns: int) -> list[Any]:
    """Return the class labels of ``n_columns`` probability columns: the schema's, else the pipeline's."""
    return answers.class_labels(model.classes, model.pipeline, n_columns)
