"""The scoring program of the Azure ML bundle: ``init()`` loads the approved model, ``run()`` predicts.

`core.azure.export_bundle` copies this file into the bundle as ``code/score.py``, with the modules it
imports (the bundle's "scoring kit": `core.input_schema`, `core.prediction.errors`, ``validation``,
``frames`` and ``answers``, and `core.modeling.pipeline`) under ``code/predictml_desktop/``, and the
model's identity in ``code/bundle.json``. So a request is validated by the same code as in the app
(`core.prediction.validation`, strict like the local HTTP service) and answered in the same format:
``{"success": true, "datasetId", "modelName", "prediction", "probability", "warnings",
"ignoredColumns"}``, or the local service's error body.

Azure ML's inference server calls ``init()`` once and ``run(raw_data)`` per request (the request body).
Under that server a refusal also carries the local service's HTTP status (422, 400 for a body that is
not JSON…) instead of 200; imported anywhere else, ``run`` answers plain dicts.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from predictml_desktop.core.input_schema import InputSchema
from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.prediction.answers import class_labels, decide, make_result
from predictml_desktop.core.prediction.errors import (
    FieldProblem,
    InputValidationError,
    ModelFailedError,
    PredictionError,
)
from predictml_desktop.core.prediction.frames import rows_to_frame
from predictml_desktop.core.prediction.validation import validate_input

try:  # Azure ML's inference server provides it (its answer type with an HTTP status)
    from azureml_inference_server_http.api.aml_response import AMLResponse
except ImportError:
    AMLResponse = None

BUNDLE_FILE = "bundle.json"
"""Beside this file: ``{"modelSha256", "datasetId", "modelName"}``, written by the export."""

log = logging.getLogger(__name__)

model: Any = None
schema: InputSchema | None = None
bundle: dict[str, Any] = {}


def _find(name: str) -> Path:
    """Return a model file: Azure ML mounts the model folder under ``AZUREML_MODEL_DIR``."""
    base = os.environ.get("AZUREML_MODEL_DIR", os.path.join(os.path.dirname(__file__), "..", "model"))
    for candidate in (os.path.join(base, "model", name), os.path.join(base, name)):
        if os.path.isfile(candidate):
            return Path(candidate)
    found = glob.glob(os.path.join(base, "**", name), recursive=True)
    if not found:
        raise FileNotFoundError(f"{name} not found under {base}")
    return Path(found[0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def init() -> None:
    """Load the approved model, refusing a model file whose SHA-256 is not the approved one.

    Raises
    ------
    RuntimeError
        If ``model.pkl`` differs from the approved model (a pickle can run code: it is not loaded).
    """
    global model, schema, bundle
    bundle = json.loads(Path(__file__).with_name(BUNDLE_FILE).read_text(encoding="utf-8"))
    path = _find("model.pkl")
    if _sha256(path) != bundle["modelSha256"]:
        raise RuntimeError("model.pkl does not match the approved model (SHA-256 differs); refusing to load it")
    schema = InputSchema.from_dict(json.loads(_find("schema.json").read_text(encoding="utf-8")))
    model = pycaret_pipeline.load_pipeline(path, drift_allowed=False)
    log.info("PredictML model %s for %s loaded", bundle.get("modelName"), bundle.get("datasetId"))


class _RequestError(PredictionError):
    """A request the local service refuses before validating rows (server/routes.py: same sentences)."""

    def __init__(self, status: int, code: str, message: str, details: Any) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.code = code


def _body(raw_data: Any) -> Any:
    """Return the parsed request body, refusing it as the local service does."""
    if not isinstance(raw_data, (str, bytes)):
        return raw_data
    text = raw_data.decode("utf-8", errors="replace") if isinstance(raw_data, bytes) else raw_data
    if not text.strip():
        raise _RequestError(400, "INVALID_JSON", "The request body is empty; send a JSON object.", {"field": "body"})
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _RequestError(400, "INVALID_JSON",
                            f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                            {"field": "body", "line": exc.lineno, "column": exc.colno}) from None
    if isinstance(body, dict) and "inputData" not in body:
        raise _RequestError(422, "MISSING_FEATURE", 'inputData is missing: send {"inputData": {...}}.',
                            [{"field": "inputData", "message": "inputData is required."}])
    return body


def _refusal(answer: dict[str, Any], status: int) -> Any:
    return answer if AMLResponse is None else AMLResponse(answer, status, json_str=True)


def run(raw_data: Any) -> Any:
    """Answer one request body (``{"inputData": {...}}`` or ``{"inputData": [...]}``) as the local service does.

    Returns the answer as a dict, or under Azure ML's inference server a refusal as an ``AMLResponse``
    with the local service's status.
    """
    started = time.perf_counter()
    try:
        if schema is None:
            raise RuntimeError("init() has not run")
        body = _body(raw_data)
        if not isinstance(body, dict):
            message = 'The body must be a JSON object with "inputData".'
            raise InputValidationError([FieldProblem("body", message, "wrong_type")])
        validated = validate_input(schema, body["inputData"], strict=True)
        frame = rows_to_frame(schema, validated.rows)
        wants = schema.problem_type == "classification" and pycaret_pipeline.has_probabilities(model)
        predictions, probabilities = pycaret_pipeline.predict(model, frame, probabilities=wants)
        labels = class_labels(schema.classes, model, probabilities.shape[1]) if probabilities is not None else []
        predictions = decide(schema.decision_threshold, predictions, probabilities, labels)
        result = make_result(str(bundle.get("datasetId")), str(bundle.get("modelName")), validated, predictions,
                             probabilities, labels, seconds=time.perf_counter() - started)
        return result.to_response()
    except PredictionError as exc:
        return _refusal(exc.to_response(), exc.status)
    except Exception:  # the caller gets one sentence; the endpoint's log has the traceback
        log.exception("prediction failed")
        failed = ModelFailedError("The prediction failed on this input.")
        return _refusal(failed.to_response(), failed.status)
