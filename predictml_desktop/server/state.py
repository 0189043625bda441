"""What the service keeps while it runs: the model registry, limits, the worker threads, request models."""

from __future__ import annotations

import html
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from predictml_desktop.core.drift.prediction_log import PredictionLog
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.prediction import LoadedModel, ModelRegistry, PredictionError
from predictml_desktop.server.schemas import DatasetModels

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_BATCH_ROWS = 10_000
DEFAULT_PREDICT_TIMEOUT_S = 5.0
DEFAULT_MAX_IN_FLIGHT = 32
"""Requests predicting at once; more are answered 429 at once instead of queueing without bound."""
DEFAULT_THREADS = 8


@dataclass
class ServiceState:
    """Shared by every request of one service."""

    paths: Paths
    registry: ModelRegistry
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    predict_timeout_s: float = DEFAULT_PREDICT_TIMEOUT_S
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    threads: int = DEFAULT_THREADS
    api_key_required: bool = False
    pid: int = field(default_factory=os.getpid)
    prediction_log: PredictionLog | None = None
    """The opt-in log of answered requests (`core.drift.prediction_log`); it checks the setting itself."""
    executor: ThreadPoolExecutor = field(init=False)
    _in_flight: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _models: dict[tuple[str, str], DatasetModels] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="predict")

    # In-flight cap: acquire() is called on the event loop, release() from a done callback (also on
    # the loop), but a lock keeps it correct wherever they run.
    def acquire(self) -> bool:
        """Take a slot for one prediction; False when ``max_in_flight`` are already running."""
        with self._lock:
            if self._in_flight >= self.max_in_flight:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def model_count(self) -> int:
        """Return the number of datasets with a valid active deployment."""
        try:
            return sum(1 for m in self.registry.deployed() if m.get("status") != "refused")
        except PredictionError:
            return 0

    def request_models(self, model: LoadedModel) -> DatasetModels:
        """Return (and cache) the pydantic request models of a loaded model."""
        key = (model.dataset_id, model.sha256)
        found = self._models.get(key)
        if found is None:
            found = DatasetModels(model.dataset_id, model.schema, self.max_batch_rows)
            with self._lock:
                self._models = {k: v for k, v in self._models.items() if k[0] != model.dataset_id}
                self._models[key] = found
        return found

    def deployed_models(self) -> list[DatasetModels]:
        """Request models of every dataset whose model can be loaded now (for the OpenAPI document)."""
        out = []
        for entry in self.registry.deployed():
            if entry.get("status") == "refused":
                continue
            try:
                out.append(self.request_models(self.registry.get(entry["datasetId"])))
            except PredictionError:
                continue
        return out

    def docs_html(self) -> str:
        """Return the offline documentation page: endpoints, authentication, each dataset's features."""
        e = html.escape
        parts = [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>PredictML prediction service</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em}code,pre{background:#f4f4f4;padding:2px}"
            "td,th{border:1px solid #ccc;padding:3px 6px}table{border-collapse:collapse}</style></head><body>",
            "<h1>PredictML prediction service</h1>",
            "<p>Machine-readable description: <a href='/openapi.json'>/openapi.json</a>.</p>",
            "<h2>Endpoints</h2><ul>",
            "<li><code>GET /health</code> — liveness (no API key needed)</li>",
            "<li><code>GET /models</code> — the deployed models; with the prediction log on, an entry also has "
            "<code>drift</code> (<code>level</code>, <code>flagged</code>, <code>columns</code>) once drift of its "
            "logged requests against the training data is known</li>",
            "<li><code>GET /schema/{datasetId}</code> — the input schema of a model</li>",
            "<li><code>POST /predict/{datasetId}</code> — body <code>{\"inputData\": {...}}</code> or "
            "<code>{\"inputData\": [{...}, ...]}</code></li>",
            "<li><code>POST /api/predictml/predict</code> — body <code>{\"datasetId\": ..., \"inputData\": ...}</code>"
            "</li></ul>",
            f"<p>Send <code>Content-Type: application/json</code>. At most {self.max_batch_rows:,} rows and "
            f"{self.max_body_bytes:,} bytes per request.",
            " Numbers must be JSON numbers; extra keys are ignored and listed in <code>ignoredColumns</code>.</p>",
            "<p>Add <code>\"explain\": true</code> to the body to also get <code>explanations</code>: for each row, "
            "every input column's signed contribution to the answer (probability of the explained class, or the "
            "value), its base value and the method used.</p>",
        ]
        if self.api_key_required:
            parts.append("<p>An API key is required: header <code>X-API-Key: &lt;key&gt;</code>.</p>")
        for models in self.deployed_models():
            parts.append(f"<h2>Dataset {e(models.dataset_id)}</h2><table><tr><th>Feature</th><th>Kind</th>"
                         "<th>Details</th></tr>")
            for spec in models.schema.features:
                info = model_field_description(models, spec.name)
                parts.append(f"<tr><td><code>{e(spec.name)}</code></td><td>{e(spec.kind)}</td><td>{e(info)}</td></tr>")
            parts.append("</table>")
        parts.append("</body></html>")
        return "".join(parts)


def model_field_description(models: DatasetModels, name: str) -> str:
    """Return the description of a feature in a dataset's row model."""
    for f in models.row.model_fields.values():
        if f.alias == name:
            return str(f.description or "")
    return ""


def openapi_extension(models: list[DatasetModels], max_batch_rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (paths, component schemas) documenting the prediction endpoints of the deployed datasets."""
    from pydantic import TypeAdapter
    from pydantic.json_schema import models_json_schema

    from predictml_desktop.server.schemas import (
        ERROR_STATUSES,
        ErrorResponse,
        ExplainedPredictResponse,
        PredictResponse,
    )

    ref = "#/components/schemas/{model}"
    schemas: dict[str, Any] = {}
    items: list[tuple[Any, Any]] = [(PredictResponse, "serialization"), (ExplainedPredictResponse, "serialization"),
                                    (ErrorResponse, "serialization")]
    for m in models:
        items.append((m.request, "validation"))
        items.append((m.seed_request, "validation"))
    _, top = models_json_schema(items, ref_template=ref)
    schemas.update(top.get("$defs", {}))

    def responses() -> dict[str, Any]:
        out: dict[str, Any] = {"200": {
            "description": "Predictions in the seed's format (plus `explanations` when the request asked for them).",
            "content": {"application/json": {"schema": {"anyOf": [
                {"$ref": ref.format(model="PredictResponse")},
                {"$ref": ref.format(model="ExplainedPredictResponse")}]}}},
        }}
        for status, text in ERROR_STATUSES.items():
            out[str(status)] = {"description": text, "content": {
                "application/json": {"schema": {"$ref": ref.format(model="ErrorResponse")}}}}
        return out

    paths: dict[str, Any] = {}
    for m in models:
        paths[f"/predict/{m.dataset_id}"] = {"post": {
            "tags": ["predict"],
            "summary": f"Predict with the model of {m.dataset_id}",
            "operationId": f"predict_{m.dataset_id}",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": ref.format(model=m.request.__name__)}}}},
            "responses": responses(),
        }}
    if models:
        seed_schema: dict[str, Any] = {"oneOf": [{"$ref": ref.format(model=m.seed_request.__name__)} for m in models]}
    else:
        seed_schema = TypeAdapter(dict[str, Any]).json_schema()
    paths["/api/predictml/predict"] = {"post": {
        "tags": ["predict"],
        "summary": "Predict (seed-compatible: the dataset is named in the body)",
        "operationId": "predict_seed",
        "requestBody": {"required": True, "content": {"application/json": {"schema": seed_schema}}},
        "responses": responses(),
    }}
    return paths, schemas
