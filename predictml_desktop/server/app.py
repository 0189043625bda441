"""The prediction service's app factory: ``create_app(paths) -> FastAPI``, serving every active local deployment.

Nothing happens at import time; the lifespan creates the model registry and loads the deployed
models in a background thread, so ``/health`` answers at once. New deployments are noticed on the
next request (the registry watches ``deployments.json``), and a superseded model keeps answering
until its successor is loaded, so an approval never fails an in-flight request.

The OpenAPI document is rebuilt when the deployments change: each deployed dataset gets its own
``POST /predict/<datasetId>`` operation whose request schema lists that model's features.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from predictml_desktop import __version__
from predictml_desktop.core.drift.prediction_log import PredictionLog
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.prediction import ModelRegistry
from predictml_desktop.server.middleware import (
    ApiKey,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    HostCheckMiddleware,
    RequestLogMiddleware,
)
from predictml_desktop.server.routes import error_response, router
from predictml_desktop.server.state import (
    DEFAULT_MAX_BATCH_ROWS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_PREDICT_TIMEOUT_S,
    DEFAULT_THREADS,
    ServiceState,
    openapi_extension,
)

log = logging.getLogger(__name__)

_STATUS_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def create_app(
    paths: Paths | None = None,
    *,
    api_key: str | None = None,
    api_key_file: Path | None = None,
    allowed_hosts: list[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    predict_timeout_s: float = DEFAULT_PREDICT_TIMEOUT_S,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    threads: int = DEFAULT_THREADS,
    allow_version_drift: bool = False,
    preload: bool = True,
) -> FastAPI:
    """Build the prediction service.

    Parameters
    ----------
    paths
        The data home; `Paths.default()` if None.
    api_key
        Require this key (``X-API-Key`` or ``Authorization: Bearer``) on every path but ``/health``.
    api_key_file
        Require the key stored in this file, re-read when it changes (regenerated keys apply at once).
    allowed_hosts
        Host names accepted besides the loopback names (when serving on another interface).
    max_body_bytes
        Larger bodies get 413 before they are read.
    max_batch_rows
        More rows in one request get 413.
    predict_timeout_s
        A prediction that takes longer is answered 504 (it finishes in the background).
    max_in_flight
        Requests predicting at once; more get 429 at once.
    threads
        Worker threads running predictions.
    allow_version_drift
        Serve models trained with other library versions (after the user confirmed it).
    preload
        Load every deployed model in the background at start-up.
    """
    home = paths or Paths.default()
    key = ApiKey(api_key, api_key_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = ModelRegistry(home, allow_version_drift=allow_version_drift, keep_serving_while_loading=True,
                                 fast_path_in_background=True)
        state = ServiceState(home, registry, max_body_bytes=max_body_bytes, max_batch_rows=max_batch_rows,
                             predict_timeout_s=predict_timeout_s, max_in_flight=max_in_flight, threads=threads,
                             api_key_required=key.required, prediction_log=PredictionLog(home))
        app.state.service = state
        if preload:
            threading.Thread(target=_preload, args=(registry,), name="preload-models", daemon=True).start()
        try:
            yield
        finally:
            state.executor.shutdown(wait=False, cancel_futures=True)
            if state.prediction_log is not None:
                state.prediction_log.close()

    app = FastAPI(
        title="PredictML prediction service",
        version=__version__,
        description="Predictions from the models an admin approved in PredictML Desktop. "
        "Each deployed dataset has its own POST /predict/<datasetId> operation listing its features.",
        lifespan=lifespan,
        docs_url=None,  # the stock pages load their scripts from a CDN; /docs is served offline instead
        redoc_url=None,
    )
    app.include_router(router)

    _add_error_handlers(app)

    app.openapi = _openapi_builder(app, key, max_batch_rows)  # type: ignore[method-assign]

    # Outermost first: log everything, refuse foreign hosts, check the key, then limit the body.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, key=key)
    app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts or [])
    app.add_middleware(RequestLogMiddleware)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Answer every error in the service's JSON error format, never with a traceback."""
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        message = "There is no such endpoint." if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, code, message, None, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "INVALID_INPUT", "The request is invalid.",
                              [{"field": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg")}
                               for e in exc.errors()][:100])

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Logged with its traceback; the caller gets a sentence, never the trace.
        log.exception("unexpected error in the prediction service")
        return error_response(500, "INTERNAL", "The service failed unexpectedly; see its log.")


def _openapi_builder(app: FastAPI, key: ApiKey, max_batch_rows: int) -> Callable[[], dict[str, Any]]:
    """Return the ``/openapi.json`` document builder: one operation per deployed dataset, cached per deployment set."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        state: ServiceState | None = getattr(app.state, "service", None)
        if state is None:
            models = []
        else:
            models = state.deployed_models()
        stamp = tuple((m.dataset_id, m.schema.target, id(m)) for m in models)
        if cache.get("stamp") == stamp and "doc" in cache:
            return dict(cache["doc"])
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        paths_ext, schemas = openapi_extension(models, max_batch_rows)
        doc.setdefault("paths", {}).update(paths_ext)
        doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
        if not models:
            doc["paths"]["/api/predictml/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
                "type": "object", "required": ["datasetId", "inputData"],
                "properties": {"datasetId": {"type": "string"}, "inputData": {}},
            }
        if key.required:
            doc["components"]["securitySchemes"] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
            doc["security"] = [{"ApiKey": []}]
            doc["paths"]["/health"]["get"]["security"] = []
            unauthorized = {"description": "The API key is missing or wrong.", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
            for path, operations in doc["paths"].items():
                for operation in operations.values():
                    if path != "/health":
                        operation.setdefault("responses", {})["401"] = unauthorized
        cache["stamp"], cache["doc"] = stamp, doc
        return dict(doc)

    return openapi


def _preload(registry: ModelRegistry) -> None:
    try:
        problems = registry.preload()
    except Exception:  # a background convenience: requests will report the real problem
        log.exception("preloading the deployed models failed")
        return
    for problem in problems:
        log.warning("model not loaded: %s", problem)
