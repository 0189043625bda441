"""The prediction service over real HTTP (uvicorn on 127.0.0.1) with really trained models."""

from __future__ import annotations

import concurrent.futures
import json
import math
import shutil
import socket
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictml_desktop.core import prediction
from predictml_desktop.core.artifacts import FeatureSpec, InputSchema
from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.prediction import ModelRegistry, load_schema, rows_to_frame
from predictml_desktop.core.records import TrainingJob
from predictml_desktop.core.status import JobStatus
from tests.server.conftest import Served, deploy_copy, live_server
from tests.trained_models import TrainedJob, TrainedTemplate, valid_rows

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- generated rows


def _feature_strategy(spec: FeatureSpec) -> st.SearchStrategy[Any]:
    if spec.kind == "numeric":
        lo = spec.minimum if spec.minimum is not None else -1e6
        hi = spec.maximum if spec.maximum is not None else 1e6
        # A little outside the training range too: those rows carry warnings but must still match.
        span = (hi - lo) or 1.0
        lo, hi = lo - 0.1 * span, hi + 0.1 * span
        base: st.SearchStrategy[Any] = (st.integers(math.ceil(lo), math.floor(hi)) if spec.integer
                                        else st.floats(lo, hi, allow_nan=False, allow_infinity=False))
    elif spec.kind == "boolean":
        base = st.booleans()
    elif spec.kind == "datetime":
        base = st.dates(date(2015, 1, 1), date(2030, 12, 31)).map(date.isoformat)
    elif spec.kind == "categorical" and spec.integer:
        base = st.one_of(st.sampled_from(list(spec.categories or [0])), st.integers(-5, 50))
    else:
        base = st.one_of(st.sampled_from(list(spec.categories or ["x"])), st.text(max_size=12))
    return st.one_of(st.none(), base) if spec.nullable else base


def generated_rows(schema: InputSchema, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    strategy = st.fixed_dictionaries({f.name: _feature_strategy(f) for f in schema.features})

    @settings(max_examples=n, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(row: dict[str, Any]) -> None:
        if len(rows) < n:
            rows.append(row)

    collect()
    return rows


def _schema(served: Served, job: TrainedJob) -> InputSchema:
    return load_schema(served.paths.model_dir(job.job_id))


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_http_predictions_equal_in_process_for_1000_generated_rows(served: Served, kind: str) -> None:
    job = served.jobs[kind]
    schema = _schema(served, job)
    rows = generated_rows(schema, 1000)
    assert len(rows) == 1000
    model = ModelRegistry(served.paths).get(job.dataset_id)
    # In process, with the same 100-row chunks as the HTTP requests: the same computation.
    expected: list[Any] = []
    expected_proba: list[Any] = []
    for start in range(0, 1000, 100):
        expected += _pipeline_answers(model, rows_to_frame(schema, rows[start:start + 100]))
        if kind == "classification":
            expected_proba += model.pipeline.predict_proba(rows_to_frame(schema, rows[start:start + 100])).tolist()
    got: list[Any] = []
    got_proba: list[dict[str, float]] = []
    with served.client() as client:
        for start in range(0, 1000, 100):
            r = client.post(f"/predict/{job.dataset_id}", json={"inputData": rows[start:start + 100]})
            assert r.status_code == 200, r.text
            body = r.json()
            got += body["prediction"]
            got_proba += body.get("probability") or []
        if kind == "classification":
            assert got == expected
            for mine, theirs in zip(got_proba, expected_proba, strict=True):
                assert [mine["class_0"], mine["class_1"]] == pytest.approx(list(theirs), abs=1e-9)
        else:
            assert got == pytest.approx(expected, rel=1e-9)
        # Row by row over HTTP equals the pipeline on that one row (a sample of 100 rows) ...
        for i in range(0, 1000, 10):
            r = client.post(f"/predict/{job.dataset_id}", json={"inputData": rows[i]})
            assert r.status_code == 200
            alone = _pipeline_answers(model, rows_to_frame(schema, [rows[i]]))
            assert r.json()["prediction"] == pytest.approx(alone, rel=1e-9)
            # ... and the batch's answer for that row: labels exactly, probabilities within 1e-9.
            if kind == "classification":
                assert r.json()["prediction"] == [got[i]]
                assert r.json()["probability"][0]["class_1"] == pytest.approx(got_proba[i]["class_1"], abs=1e-9)
            # Not for the regressor: the engine's linear regression has coefficients near 1e14 on
            # collinear one-hot columns, so the summation order of a 1-row and a 100-row product
            # moves its answer by up to 0.2 % (reported; a property of that model, not of serving).


def _pipeline_answers(model: Any, frame: pd.DataFrame) -> list[Any]:
    """The pipeline's own answers, at the model's decision threshold when it has one (as the service answers)."""
    from predictml_desktop.core.prediction.answers import decide

    predictions = model.pipeline.predict(frame)
    if model.schema.decision_threshold is None:
        return list(predictions.tolist())
    proba = model.pipeline.predict_proba(frame)
    return list(decide(model.schema.decision_threshold, predictions, proba, model.schema.classes).tolist())


def test_seed_endpoint_answers_in_the_seed_format(served: Served) -> None:
    row = valid_rows(served.clf, 1)[0]
    with served.client() as client:
        seed = client.post("/api/predictml/predict", json={"datasetId": served.clf.dataset_id, "inputData": row})
        direct = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": row})
    assert seed.status_code == 200
    body = seed.json()
    assert body == direct.json()
    assert set(body) >= {"success", "datasetId", "modelName", "prediction", "probability"}
    assert body["success"] is True and body["prediction"] in ([0], [1])
    assert set(body["probability"][0]) == {"class_0", "class_1"}


# --------------------------------------------------------------------------- S-1: the error contract


def _raw(client: httpx.Client, path: str, body: bytes | str, content_type: str | None = "application/json",
         method: str = "POST") -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    return client.request(method, path, content=body, headers=headers)


def test_malformed_requests_get_exact_4xx_naming_the_field(served: Served) -> None:
    clf = served.clf.dataset_id
    reg = served.reg.dataset_id
    path = f"/predict/{clf}"
    row = valid_rows(served.clf, 1)[0]
    no_age_region = {k: v for k, v in row.items() if k not in ("age", "region")}

    def body(data: Any) -> str:
        return json.dumps({"inputData": data}, allow_nan=True)

    cases: list[tuple[str, str, bytes | str, str | None, int, str, str | None]] = [
        # name, path, body, content type, status, error code, field named
        ("invalid JSON", path, '{"inputData": {', "application/json", 400, "INVALID_JSON", "body"),
        ("top level is an array", path, "[1, 2]", "application/json", 400, "NOT_AN_OBJECT", "body"),
        ("top level is a string", path, '"x"', "application/json", 400, "NOT_AN_OBJECT", "body"),
        ("text/plain JSON", path, body(row), "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        ("form encoded", path, "a=1", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE",
         "Content-Type"),
        ("no content type", path, body(row), None, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        ("latin-1 charset", path, body(row), "application/json; charset=latin-1", 415, "UNSUPPORTED_MEDIA_TYPE",
         "Content-Type"),
        ("unknown dataset", "/predict/report_404", body(row), "application/json", 404, "MODEL_NOT_DEPLOYED", None),
        ("missing columns", path, body(no_age_region), "application/json", 422, "MISSING_FEATURE", "age"),
        ("string for a number", path, body({**row, "age": "3.5"}), "application/json", 422, "INVALID_INPUT", "age"),
        ("bool for a number", path, body({**row, "visits": True}), "application/json", 422, "INVALID_INPUT",
         "visits"),
        ("NaN literal", path, body({**row, "time_on_site_min": float("nan")}), "application/json", 422,
         "INVALID_INPUT", "time_on_site_min"),
        ("Infinity literal", path, body({**row, "pages_per_visit": float("inf")}), "application/json", 422,
         "INVALID_INPUT", "pages_per_visit"),
        ("-Infinity literal", path, body({**row, "pages_per_visit": float("-inf")}), "application/json", 422,
         "INVALID_INPUT", "pages_per_visit"),
        ("null where training had none", path, body({**row, "age": None}), "application/json", 422,
         "INVALID_INPUT", "age"),
        ("fraction in a whole-number column", path, body({**row, "visits": 2.5}), "application/json", 422,
         "INVALID_INPUT", "visits"),
        ("empty batch", path, body([]), "application/json", 422, "INVALID_INPUT", "inputData"),
        ("batch over the row limit", path, body([row] * 10_001), "application/json", 413, "TOO_MANY_ROWS", None),
        ("string over 32767 characters", path, body({**row, "region": "x" * 32_768}), "application/json", 422,
         "INVALID_INPUT", "region"),
        ("inputData missing", path, json.dumps({"rows": [row]}), "application/json", 422, "MISSING_FEATURE",
         "inputData"),
        ("inputData not an object", path, body("hello"), "application/json", 422, "INVALID_INPUT", "inputData"),
        ("row in a batch not an object", path, body([row, 3]), "application/json", 422, "INVALID_INPUT",
         "inputData[1]"),
        ("empty body", path, b"", "application/json", 400, "INVALID_JSON", "body"),
        ("invalid UTF-8", path, b'{"inputData": "\xff"}', "application/json", 400, "INVALID_JSON", "body"),
        ("seed endpoint, unknown dataset", "/api/predictml/predict",
         json.dumps({"datasetId": "nope", "inputData": row}), "application/json", 404, "MODEL_NOT_DEPLOYED", None),
        ("seed endpoint, no datasetId", "/api/predictml/predict", json.dumps({"inputData": row}),
         "application/json", 422, "INVALID_INPUT", "datasetId"),
        ("path traversal id", "/predict/..%2F..%2Fetc", body(row), "application/json", 404, None, None),
        ("regression row with a string", f"/predict/{reg}",
         body({**valid_rows(served.reg, 1)[0], "visits": "many"}), "application/json", 422, "INVALID_INPUT",
         "visits"),
    ]
    assert len(cases) >= 16
    with served.client() as client:
        for name, url, payload, ctype, status, code, field in cases:
            r = _raw(client, url, payload, ctype)
            assert r.status_code == status, (name, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith("application/json"), name
            doc = r.json()
            assert doc["success"] is False and doc["error"] and doc["message"], name
            assert "Traceback" not in r.text and 'File "' not in r.text, name
            if code:
                assert doc["error_code"] == code, (name, doc)
            if field:
                named = json.dumps(doc["details"]) + doc["error"]
                assert field in named, (name, doc)
        assert client.post(path, json={"inputData": no_age_region}).json()["error"].count("region") == 1
        missing = client.post(path, json={"inputData": no_age_region}).json()
        assert "missing 2 field(s): age, region" in missing["error"]
        # Not a predict method at all.
        r = client.get(path)
        assert r.status_code == 405 and r.json()["error_code"] == "METHOD_NOT_ALLOWED"


def test_accepted_edge_cases(served: Served) -> None:
    clf = served.clf.dataset_id
    row = valid_rows(served.clf, 1)[0]
    with served.client() as client:
        extra = client.post(f"/predict/{clf}", json={"inputData": {**row, "customer_id": "C1", "purchased": 1}})
        assert extra.status_code == 200
        assert extra.json()["ignoredColumns"] == ["customer_id", "purchased"]
        nullable = client.post(f"/predict/{clf}", json={"inputData": {**row, "income": None}})
        assert nullable.status_code == 200
        unseen = client.post(f"/predict/{clf}", json={"inputData": {**row, "region": "Atlantis"}})
        assert unseen.status_code == 200
        assert "was not seen in training" in unseen.json()["warnings"][0][0]
        whole = client.post(f"/predict/{clf}", json={"inputData": {**row, "visits": 3.0}})
        assert whole.status_code == 200
        charset = client.post(f"/predict/{clf}", content=json.dumps({"inputData": row}),
                              headers={"content-type": "application/json; charset=UTF-8"})
        assert charset.status_code == 200


def test_ten_thousand_row_batch_over_http(served: Served) -> None:
    rows = valid_rows(served.reg, 500, seed=5) * 20
    with served.client() as client:
        r = client.post(f"/predict/{served.reg.dataset_id}", json={"inputData": rows})
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert len(body["prediction"]) == 10_000 and len(body["warnings"]) == 10_000
    assert body["prediction"][:500] == body["prediction"][500:1000]


def test_no_cors_header_for_foreign_origins(served: Served) -> None:
    with served.client() as client:
        r = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": valid_rows(served.clf, 1)[0]},
                        headers={"Origin": "http://evil.example"})
        pre = client.options(f"/predict/{served.clf.dataset_id}", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in pre.headers


def test_host_header_must_be_loopback(served: Served) -> None:
    port = served.url.rsplit(":", 1)[1]
    with served.client() as client:
        for host in ("evil.example", f"evil.example:{port}", "192.168.1.10", "127.0.0.1.evil.example"):
            r = client.get("/models", headers={"Host": host})
            assert r.status_code == 400, host
            assert r.json()["error_code"] == "HOST_NOT_ALLOWED"
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
            assert client.get("/models", headers={"Host": host}).status_code == 200, host


def test_listens_only_on_loopback(served: Served) -> None:
    import psutil

    port = int(served.url.rsplit(":", 1)[1])
    listeners = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
                 and c.laddr and c.laddr.port == port]
    assert listeners and all(c.laddr.ip in ("127.0.0.1", "::1") for c in listeners)


def test_docs_schema_models_version(served: Served) -> None:
    with served.client() as client:
        doc = client.get("/openapi.json").json()
        row_schema = doc["components"]["schemas"][f"{served.clf.dataset_id.title().replace('_', '')}Row"]
        assert set(row_schema["required"]) == {f.name for f in _schema(served, served.clf).features}
        assert row_schema["properties"]["visits"]["multipleOf"] == 1
        assert f"/predict/{served.clf.dataset_id}" in doc["paths"]
        html = client.get("/docs")
        assert html.status_code == 200 and "time_on_site_min" in html.text and "cdn" not in html.text.lower()
        schema = client.get(f"/schema/{served.clf.dataset_id}").json()
        assert schema["target"] == "purchased" and schema["classes"] == [0, 1]
        assert client.get("/schema/report_404").status_code == 404
        version = client.get("/version").json()
        assert version["libraries"]["scikit-learn"]
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["models"] == 2


# --------------------------------------------------------------------------- limits


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_oversized_body_is_refused_from_its_content_length(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(
            f"POST /predict/{served.clf.dataset_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n".encode() + b'{"inputData": ['
        )
        # The server answers without waiting for the 200 MB it was promised.
        head = _read_response(sock)
        elapsed = time.perf_counter() - started
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert elapsed < 5  # answered long before the 5 s socket timeout; bench/ measures the real figure


def test_chunked_body_is_counted_while_streaming(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    chunk = b" " * (1024 * 1024)
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /predict/{served.clf.dataset_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            for _ in range(200):  # up to 200 MB, never needed
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                sock.settimeout(0.01)
                try:
                    peek = sock.recv(16, socket.MSG_PEEK)
                    if peek:
                        break
                except (TimeoutError, BlockingIOError):
                    pass
                finally:
                    sock.settimeout(10)
        except (BrokenPipeError, ConnectionResetError):
            pass
        head = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert sent <= 20 * 1024 * 1024  # refused soon after the 10 MB limit, not at the end of 200 MB


# --------------------------------------------------------------------------- API key, tampering, hot swap


def test_api_key_is_required_and_compared(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key-for-tests", "utf-8")
    clf = trained_template.jobs["classification"]
    row = valid_rows(clf, 1)[0]
    with live_server(paths, api_key_file=key_file) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").status_code == 200  # the supervisor's probe needs no key
        r = client.post(f"/predict/{clf.dataset_id}", json={"inputData": row})
        assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHORIZED"
        assert "www-authenticate" in r.headers
        assert client.get("/openapi.json").status_code == 401
        accepted = 0
        for i in range(1000):
            wrong = f"s3cret-key-for-tests{i}" if i % 2 else f"guess-{i}"
            accepted += client.get("/models", headers={"X-API-Key": wrong}).status_code != 401
        assert accepted == 0
        ok = client.post(f"/predict/{clf.dataset_id}", json={"inputData": row},
                         headers={"X-API-Key": "s3cret-key-for-tests"})
        assert ok.status_code == 200
        bearer = client.get("/models", headers={"Authorization": "Bearer s3cret-key-for-tests"})
        assert bearer.status_code == 200
        # A regenerated key applies at once; the old one stops working.
        key_file.write_text("a-brand-new-key-value", "utf-8")
        assert client.get("/models", headers={"X-API-Key": "s3cret-key-for-tests"}).status_code == 401
        assert client.get("/models", headers={"X-API-Key": "a-brand-new-key-value"}).status_code == 200
        doc = client.get("/openapi.json", headers={"X-API-Key": "a-brand-new-key-value"}).json()
        assert doc["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"


def test_tampered_model_gets_409_without_unpickling(trained_template: TrainedTemplate, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    clf = trained_template.jobs["classification"]
    model = paths.model_dir(clf.job_id) / "model.pkl"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    calls: list[Path] = []
    real = pycaret_pipeline.load_pipeline
    monkeypatch.setattr(pycaret_pipeline, "load_pipeline", lambda p, **kw: calls.append(p) or real(p, **kw))
    with live_server(paths) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post(f"/predict/{clf.dataset_id}", json={"inputData": valid_rows(clf, 1)[0]})
        assert r.status_code == 409, r.text
        # The approval pinned the model's hash (core.evidence): refused before the record's own check.
        error = r.json()["error"]
        assert "the model file (model.pkl) changed after the approval" in error and "approve the model again" in error
        reg = trained_template.jobs["regression"]
        assert client.post(f"/predict/{reg.dataset_id}", json={"inputData": valid_rows(reg, 1)[0]}).status_code == 200
    assert all(p.parent.name != clf.job_id for p in calls)


def test_new_deployment_is_served_without_restart(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests
    from predictml_desktop.core.paths import Paths

    home = tmp_path / "home"
    shutil.copytree(trained_template.root / "home", home)
    paths = Paths(home, tmp_path / "config").ensure()
    clf = trained_template.jobs["classification"]
    row = valid_rows(clf, 1)[0]
    with live_server(paths) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post(f"/predict/{clf.dataset_id}", json={"inputData": row})
        assert r.status_code == 404 and r.json() == {**r.json(), "success": False, "error": "Model not deployed"}
        gov = Governance(paths, hasher=cheap_hasher_for_tests())
        session = gov.create_admin("ada", "correct horse battery staple 42")
        dep = gov.approve(session, clf.job_id, "local", override=True)
        assert client.post(f"/predict/{clf.dataset_id}", json={"inputData": row}).status_code == 200
        assert f"/predict/{clf.dataset_id}" in client.get("/openapi.json").json()["paths"]
        gov.undeploy(session, dep.id)
        assert client.post(f"/predict/{clf.dataset_id}", json={"inputData": row}).status_code == 404


def _second_job(paths: Any, source: TrainedJob) -> str:
    """A second real model of the same dataset (a copy of the trained one under a new job)."""
    from predictml_desktop.core.store import Store

    store = Store(paths)
    with store.transaction() as tx:
        old = tx.jobs.get(source.job_id)
        job_id = tx.jobs.new_id()
        shutil.copytree(paths.model_dir(source.job_id), paths.model_dir(job_id))
        tx.jobs.add(TrainingJob(id=job_id, dataset_id=old.dataset_id, target_column=old.target_column,
                                problem_type=old.problem_type, model_name=old.model_name,
                                model_path=f"models/{job_id}/model.pkl", model_sha256=old.model_sha256,
                                metrics=old.metrics))
        tx.jobs.update(job_id, status=JobStatus.PENDING_REVIEW)
    return job_id


def test_model_swapped_under_in_flight_requests_without_failures(trained_template: TrainedTemplate,
                                                                 tmp_path: Path) -> None:
    paths, gov, session = deploy_copy(trained_template, tmp_path)
    clf = trained_template.jobs["classification"]
    new_job = _second_job(paths, clf)
    rows = valid_rows(clf, 20)
    statuses: list[int] = []
    errors: list[str] = []
    done = threading.Event()
    with live_server(paths, preload=True) as url:

        def client_loop(seed: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                i = 0
                while not done.is_set():
                    try:
                        r = client.post(f"/predict/{clf.dataset_id}", json={"inputData": rows[(i + seed) % 20]})
                        statuses.append(r.status_code)
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc))
                    i += 1

        def wait_for(count: int) -> None:
            deadline = time.monotonic() + 180
            while len(statuses) < count and time.monotonic() < deadline:
                time.sleep(0.01)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client_loop, s) for s in range(4)]
            try:
                wait_for(100)
                dep = gov.approve(session, new_job, "local", override=True)
                at_approval = len(statuses)
                with httpx.Client(base_url=url, timeout=30) as client:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        listed = {m["datasetId"]: m for m in client.get("/models").json()["models"]}
                        mine = listed[clf.dataset_id]
                        if mine["deploymentId"] == dep.id and mine["status"] == "loaded":
                            break
                        time.sleep(0.05)
                wait_for(len(statuses) + 100)
            finally:
                done.set()
                for f in futures:
                    f.result()
        assert mine["deploymentId"] == dep.id and mine["status"] == "loaded"
    assert errors == []
    assert at_approval >= 100 and len(statuses) >= at_approval + 100
    assert set(statuses) == {200}


def test_burst_gets_only_200_or_429(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    clf = trained_template.jobs["classification"]
    rows = valid_rows(clf, 50)
    # A generous time limit: this test is about refusing at once, not about a loaded CI box's speed.
    with live_server(paths, preload=True, max_in_flight=4, threads=2, predict_timeout_s=120) as url:
        start = threading.Barrier(64)

        def one(i: int) -> int:
            with httpx.Client(base_url=url, timeout=30) as client:
                start.wait(timeout=60)  # all 64 at once
                return client.post(f"/predict/{clf.dataset_id}", json={"inputData": rows}).status_code

        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            codes = list(pool.map(one, range(64)))
    assert set(codes) <= {200, 429} and 200 in codes, codes
    assert 429 in codes, codes  # 64 at once over a cap of 4: some are refused at once instead of queueing


def test_slow_prediction_times_out_with_an_error_body(trained_template: TrainedTemplate, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    clf = trained_template.jobs["classification"]
    real = prediction.predict_validated

    def slow(model: Any, validated: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)
        return real(model, validated, **kwargs)

    monkeypatch.setattr("predictml_desktop.server.routes.predict_validated", slow)
    with live_server(paths, predict_timeout_s=0.2) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.post(f"/predict/{clf.dataset_id}", json={"inputData": valid_rows(clf, 1)[0]})  # loads the model
        r = client.post(f"/predict/{clf.dataset_id}", json={"inputData": valid_rows(clf, 1)[0]})
    assert r.status_code == 504 and r.json()["error_code"] == "TIMEOUT"


def test_numbers_are_finite_in_every_answer(served: Served) -> None:
    rows = valid_rows(served.reg, 50, seed=9)
    with served.client() as client:
        body = client.post(f"/predict/{served.reg.dataset_id}", json={"inputData": rows}).json()
    assert all(isinstance(p, float) and np.isfinite(p) for p in body["prediction"])
