"""Predicting rows: validate, run the model, answer in the seed's format (plus per-row warnings)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from predictml_desktop.core.prediction import running
from predictml_desktop.core.prediction.answers import PredictionResult, make_result
from predictml_desktop.core.prediction.batching import MicroBatcher
from predictml_desktop.core.prediction.running import rows_to_batch
from predictml_desktop.core.prediction.validation import MAX_BATCH_ROWS, ValidatedRows, validate_input

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.loading import LoadedModel


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
    labels = running.class_labels(model, probabilities.shape[1]) if probabilities is not None else []
    return make_result(model.dataset_id, model.model_name, validated, predictions, probabilities, labels,
                       deployment_id=model.deployment_id, seconds=time.perf_counter() - started)


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
    validated = validate_input(model.schema, rows, strict=strict, max_rows=max_rows)
    return predict_validated(model, validated)
