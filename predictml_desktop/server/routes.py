"""Endpoints of the prediction service (DESIGN §7).

``GET /health``, ``/version``, ``/models``, ``/schema/{datasetId}``; ``POST /predict/{datasetId}``
with ``{"inputData": {...}}`` or ``{"inputData": [{...}, ...]}``; the seed-compatible
``POST /api/predictml/predict`` with ``{"datasetId": ..., "inputData": ...}``.

Bad input never produces a 5xx or a stack trace: the request is parsed here (400 for invalid JSON,
415 for a body that is not ``application/json``), validated by the dataset's strict pydantic model
(422 naming every bad field, 413 for too many rows), and predicted by the core in a worker thread
with a time limit (504) and a cap on requests in flight (429).
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from predictml_desktop import __version__
from predictml_desktop.core.artifacts import current_environment
from predictml_desktop.core.prediction import (
    FieldProblem,
    InputValidationError,
    PredictionError,
    load_schema,
    predict_validated,
    validate_rows,
)
from predictml_desktop.core.prediction.explaining import explain_documents
from predictml_desktop.server.middleware import BodyTooLargeError
from predictml_desktop.server.state import ServiceState

log = logging.getLogger(__name__)
MODEL_LOAD_TIMEOUT_S = 60.0
"""A request waits this long for its model to load (the first one after a start or a new deployment)."""

router = APIRouter()

JSON_TYPES = ("application/json",)


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """Return an error answer in the service's one error format."""
    return JSONResponse(
        {"success": False, "error": message, "error_code": code, "message": message, "details": details},
        status_code=status, headers=headers,
    )


def prediction_error(exc: PredictionError) -> JSONResponse:
    """Map a core refusal to its HTTP answer."""
    return JSONResponse(exc.to_response(), status_code=exc.status)


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


@router.get("/health", tags=["service"], summary="Liveness and the number of deployed models")
def health(request: Request) -> dict[str, Any]:
    """Answer ``ok`` while the service runs (no API key needed)."""
    state = _state(request)
    return {"status": "ok", "version": __version__, "models": state.model_count(), "pid": state.pid}


@router.get("/version", tags=["service"], summary="Versions of the app, Python and the model libraries")
def version() -> dict[str, Any]:
    """Return the running versions (compare with a model's training environment)."""
    return {"app": __version__, "python": platform.python_version(), "libraries": current_environment()}


@router.get("/models", tags=["models"], summary="The active local deployments")
def models(request: Request) -> dict[str, Any]:
    """List every dataset with an active local deployment (and ones refused for tampering).

    With the prediction log on, an entry also carries ``drift`` (``level``, ``flagged``, ``columns``,
    ``rows``, ``windowDays``, ``computedAt``) once drift of its logged requests is known.
    """
    try:
        listed = _state(request).registry.deployed()
    except PredictionError as exc:
        return prediction_error(exc)  # type: ignore[return-value]
    from predictml_desktop.core.drift.prediction_log import models_drift_field

    for entry in listed:
        # Optional, added only once drift of the logged requests is known: the contract's fields stay as they are.
        drift = models_drift_field(_state(request).paths, entry["datasetId"])
        if drift is not None:
            entry["drift"] = drift
    return {"success": True, "models": listed}


@router.get(
    "/schema/{datasetId}", tags=["models"], summary="The input schema of a dataset's deployed model",
    responses={404: {"description": "Model not deployed"}, 409: {"description": "Altered deployment"}},
)
def schema(datasetId: str, request: Request) -> Any:
    """Return the features the model expects: name, kind, range, categories, default."""
    state = _state(request)
    try:
        dep = state.registry.deployment(datasetId)
        doc = load_schema(state.paths.model_dir(dep.training_job_id))
    except PredictionError as exc:
        return prediction_error(exc)
    except Exception as exc:  # noqa: BLE001 - a missing schema file is the model's problem, not the caller's
        log.warning("cannot read the schema of %s: %s", datasetId, exc)
        return error_response(409, "MODEL_INTEGRITY", f"The input schema of {datasetId} cannot be read.")
    body = doc.to_dict()
    body.pop("schemaVersion", None)
    return {"success": True, "datasetId": datasetId, "modelName": dep.model_name, **body}


def _content_type_problem(request: Request) -> JSONResponse | None:
    raw = request.headers.get("content-type")
    if raw is None:
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                              "Send the body as JSON with the header Content-Type: application/json.",
                              {"field": "Content-Type"})
    media, *params = [p.strip() for p in raw.split(";")]
    if media.lower() not in JSON_TYPES:
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                              f"The body must be application/json, not {media[:60]!r}.", {"field": "Content-Type"})
    for param in params:
        if not param:
            continue
        key, _, value = param.partition("=")
        if key.strip().lower() != "charset" or value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                                  f"The content type parameter {param[:60]!r} is not supported; JSON must be UTF-8.",
                                  {"field": "Content-Type"})
    return None


async def _read_json(request: Request) -> Any:
    """Return the parsed body, or a JSONResponse error (415 / 400)."""
    problem = _content_type_problem(request)
    if problem is not None:
        return problem
    try:
        raw = await request.body()
    except BodyTooLargeError:
        raise
    if not raw.strip():
        return error_response(400, "INVALID_JSON", "The request body is empty; send a JSON object.",
                              {"field": "body"})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return error_response(400, "INVALID_JSON", f"The body is not valid UTF-8 (byte {exc.start}).",
                              {"field": "body"})
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return error_response(400, "INVALID_JSON",
                              f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                              {"field": "body", "line": exc.lineno, "column": exc.colno})
    except (ValueError, RecursionError) as exc:
        return error_response(400, "INVALID_JSON", f"The body is not usable JSON ({type(exc).__name__}).",
                              {"field": "body"})


_MESSAGES = {
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "multiple_of": "must be a whole number",
    "finite_number": "must be a finite number (not NaN or Infinity)",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "string_too_long": "is longer than 32767 characters",
    "less_than_equal": "is too large",
    "greater_than_equal": "is too small",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "literal_error": "is not a deployed dataset",
    "value_error": "is too large a number",
}


def _field_name(loc: tuple[Any, ...], single: bool) -> str:
    parts: list[str] = []
    for item in loc:
        if item in ("row", "rows") or (isinstance(item, str) and item.startswith(("float", "str", "int", "bool"))):
            continue  # discriminator tags and union branches are not fields
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    name = "".join(parts)
    if single and name.startswith("inputData."):
        name = name[len("inputData."):]
    return name or "body"


def _problems(exc: ValidationError) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    missing: dict[str, list[str]] = {}
    seen: set[str] = set()
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err.get("loc", ()))
        single = "rows" not in loc
        typ = str(err.get("type"))
        if typ == "missing":
            row = _field_name(loc[:-1], single)
            missing.setdefault(row, []).append(str(loc[-1]))
            continue
        field = _field_name(loc, single)
        if field in seen:
            continue  # one message per field (a nullable union reports each branch)
        seen.add(field)
        if typ == "too_short":
            problems.append(FieldProblem(field, f"{field} holds no rows; send at least one.", "empty_batch"))
        elif typ == "too_long":
            problems.append(FieldProblem(field, f"{field} has too many rows.", "too_many_rows"))
        else:
            what = _MESSAGES.get(typ, str(err.get("msg", "is invalid")).lower())
            problems.append(FieldProblem(field, f"{field} {what}.", typ))
    for row, names in reversed(missing.items()):
        top = row in ("body", "inputData")
        problems.insert(0, FieldProblem(
            names[0] if top else f"{row}.{names[0]}",
            f"{'The input' if top else row} is missing {len(names)} field(s): {', '.join(names)}.",
            "missing_feature"))
    return problems or [FieldProblem("body", "The request is invalid.", "invalid")]


def _rows_of(body: dict[str, Any]) -> tuple[list[Any] | None, bool]:
    data = body.get("inputData")
    if isinstance(data, list):
        return data, False
    if isinstance(data, dict):
        return [data], True
    return None, True


async def _predict(request: Request, dataset_id: str | None) -> Response:
    state = _state(request)
    body = await _read_json(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return error_response(400, "NOT_AN_OBJECT",
                              f"The body must be a JSON object with \"inputData\", not a JSON {type(body).__name__}.",
                              {"field": "body"})
    seed = dataset_id is None
    if seed:
        dataset_id = body.get("datasetId")
        if not isinstance(dataset_id, str):
            return error_response(422, "INVALID_INPUT", "datasetId is missing or not a string.",
                                  [{"field": "datasetId", "message": "datasetId must be a string."}])
    assert dataset_id is not None
    if "inputData" not in body:
        return error_response(422, "MISSING_FEATURE", "inputData is missing: send {\"inputData\": {...}}.",
                              [{"field": "inputData", "message": "inputData is required."}])
    rows, _single = _rows_of(body)
    if rows is not None and len(rows) > state.max_batch_rows:
        return error_response(413, "TOO_MANY_ROWS",
                              f"inputData has {len(rows)} rows; at most {state.max_batch_rows} are accepted per "
                              "request.", {"rows": len(rows), "limit": state.max_batch_rows})
    if not state.acquire():
        return error_response(429, "BUSY", "The service is busy; retry in a moment.", None,
                              headers={"Retry-After": "1"})
    loop = asyncio.get_running_loop()
    # Loading a model (once; seconds for a large ensemble on a busy machine) is not the prediction:
    # it has a time limit of its own, and a caller that arrives meanwhile is asked to retry.
    loading = loop.run_in_executor(state.executor, _load_sync, state, dataset_id)
    try:
        refused = await asyncio.wait_for(asyncio.shield(loading), timeout=MODEL_LOAD_TIMEOUT_S)
    except TimeoutError:
        loading.add_done_callback(lambda _f: state.release())
        return error_response(503, "LOADING", "The model is still loading; retry in a moment.", None,
                              headers={"Retry-After": "2"})
    if refused is not None:
        state.release()
        return JSONResponse(refused[1], status_code=refused[0])
    future = loop.run_in_executor(state.executor, _predict_sync, state, dataset_id, body, seed)
    future.add_done_callback(lambda _f: state.release())
    try:
        status, payload = await asyncio.wait_for(asyncio.shield(future), timeout=state.predict_timeout_s)
    except TimeoutError:
        return error_response(504, "TIMEOUT", f"The prediction took longer than {state.predict_timeout_s:g} s.")
    return JSONResponse(payload, status_code=status)


def _load_sync(state: ServiceState, dataset_id: str) -> tuple[int, Any] | None:
    """Load (or find loaded) the dataset's model; its refusal as (status, body), or None. Runs in a worker thread."""
    try:
        state.registry.get(dataset_id)
    except PredictionError as exc:
        return exc.status, exc.to_response()
    return None


def _predict_sync(state: ServiceState, dataset_id: str, body: dict[str, Any], seed: bool) -> tuple[int, Any]:
    """Everything that may block: model lookup (and load), validation, prediction. Runs in a worker thread."""
    started = time.perf_counter()
    try:
        model = state.registry.get(dataset_id)
        models = state.request_models(model)
        adapter = models.seed_adapter if seed else models.request_adapter
        try:
            adapter.validate_python(body)
        except ValidationError as exc:
            problems = _problems(exc)
            code = "MISSING_FEATURE" if problems[0].code == "missing_feature" else None
            raise InputValidationError(problems, code=code) from None
        rows, single = _rows_of(body)
        assert rows is not None
        validated = validate_rows(model.schema, rows, strict=True, max_rows=state.max_batch_rows, single=single)
        result = predict_validated(model, validated, batched=True)
    except PredictionError as exc:
        return exc.status, exc.to_response()
    except Exception:  # never a traceback for the caller; the log has it
        log.exception("prediction for %s failed", dataset_id)
        return 422, {"success": False, "error": "The prediction failed on this input.", "error_code": "MODEL_FAILED",
                     "message": "The prediction failed on this input.", "details": None}
    payload = result.to_response()
    if body.get("explain") is True:  # absent or false: the seed's answer, byte for byte
        try:
            payload["explanations"] = explain_documents(model, validated.rows)
        except PredictionError as exc:
            return exc.status, exc.to_response()
    if state.prediction_log is not None:
        state.prediction_log.record(dataset_id=dataset_id, deployment_id=model.deployment_id, job_id=model.job_id,
                                    model_name=model.model_name, rows=rows, predictions=result.predictions,
                                    latency_ms=(time.perf_counter() - started) * 1000)
    log.debug("predicted %d row(s) for %s in %.1f ms", len(result.predictions), dataset_id,
              (time.perf_counter() - started) * 1000)
    return 200, payload


@router.post("/predict/{datasetId}", include_in_schema=False)
async def predict(datasetId: str, request: Request) -> Response:
    """Predict one row or a batch with the dataset's deployed model."""
    return await _predict(request, datasetId)


@router.post("/api/predictml/predict", include_in_schema=False)
async def predict_seed(request: Request) -> Response:
    """Predict through the seed's endpoint, which names the dataset in the body."""
    return await _predict(request, None)


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """Return a self-contained page describing the endpoints and each dataset's features (works offline)."""
    return HTMLResponse(_state(request).docs_html())
