"""The Azure ML bundle under Azure's own software, offline (issue 17).

A bundle exported by `core.azure.export_bundle` from a really trained model is served by the Azure ML
inference HTTP server (``azureml-inference-server-http``, the server a managed online endpoint runs
``score.py`` in) on 127.0.0.1, and answers the same rows as the local service with the same
predictions, and the same bad input with the same refusals. Its endpoint, deployment and environment
YAML are read by the Azure ML SDK's own loaders, which validate them against Azure's schema.

Both packages live in ``.venv-azure`` (``make azure-test`` makes it and runs this module): they cannot
be installed beside the app's pins (packaging/azure-test/requirements.txt says why).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from predictml_desktop.core.azure import AZURE_BASE_IMAGE
from tests.server.conftest import Served
from tests.trained_models import TrainedJob, valid_rows

pytestmark = [pytest.mark.azure, pytest.mark.slow]

AZURE_VENV = os.environ.get("PREDICTML_AZURE_VENV")
if not AZURE_VENV:
    pytest.skip("needs the Azure test environment: run `make azure-test`", allow_module_level=True)
AZURE_PYTHON = Path(AZURE_VENV).resolve() / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")

# Azure's server binds 0.0.0.0 (its DEFAULT_HOST, a constant with no option); the test changes only
# that constant and then runs the server's own entry point, so nothing listens beyond loopback.
LAUNCH_ON_LOOPBACK = """
import sys
from azureml_inference_server_http import amlserver
amlserver.DEFAULT_HOST = "127.0.0.1"
sys.argv[0] = "azmlinfsrv"
amlserver.run()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module", params=["classification", "regression"])
def azure_served(request: pytest.FixtureRequest, served: Served,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TrainedJob, Path, str]]:
    """The job's exported bundle, served by Azure's inference server on 127.0.0.1; yields job, bundle, URL."""
    job = served.jobs[request.param]
    bundle = tmp_path_factory.mktemp("azure bundle") / f"{job.kind} bundle"
    served.governance.approve(served.session, job.job_id, "azure", out_dir=bundle, reason="cloud pilot")
    port = _free_port()
    log = bundle.parent / "server.log"
    # As on a managed online endpoint: the app root (on sys.path) is the folder holding score.py, which
    # is how score.py finds the scoring kit copied beside it; the model folder is AZUREML_MODEL_DIR.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "AML_"))}
    env["AML_APP_ROOT"] = str(bundle / "code")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(AZURE_PYTHON), "-c", LAUNCH_ON_LOOPBACK, "--entry_script", str(bundle / "code" / "score.py"),
             "--model_dir", str(bundle), "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=bundle / "code")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=url, timeout=5) as client:
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text("utf-8", "replace")[-4000:]
                    pytest.fail(f"the Azure inference server did not start:\n{tail}")
                try:
                    if client.get("/").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)  # no readiness signal but the socket itself
        yield job, bundle, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post(url: str, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=60) as client:
        if isinstance(body, (bytes, str)):
            return client.post(path, content=body, headers={"Content-Type": "application/json"}, **kwargs)
        return client.post(path, json=body, **kwargs)


def test_azure_server_answers_like_the_local_service(azure_served: tuple[TrainedJob, Path, str],
                                                     served: Served) -> None:
    job, bundle, url = azure_served
    rows = valid_rows(job, 200, seed=5)
    rows[0] = {**rows[0], "region": "Atlantis"}  # an unseen category goes through both the same way
    rows[1] = {**rows[1], "income": None}  # so does a missing value where training had some
    local = _post(served.url, f"/predict/{job.dataset_id}", {"inputData": rows})
    azure = _post(url, "/score", {"inputData": rows})
    assert local.status_code == 200, local.text[:2000]
    assert azure.status_code == 200, azure.text[:2000]
    lbody, abody = local.json(), azure.json()
    assert abody["success"] is True and abody["datasetId"] == job.dataset_id
    assert abody["modelName"] == lbody["modelName"]
    if job.kind == "classification":
        assert abody["prediction"] == lbody["prediction"]
        assert len(set(abody["prediction"])) == 2  # both classes occur: the comparison is not vacuous
        for a, b in zip(abody["probability"], lbody["probability"], strict=True):
            assert a == pytest.approx(b, abs=1e-9)
    else:
        assert abody["prediction"] == pytest.approx(lbody["prediction"], rel=1e-12)
        assert len(set(abody["prediction"])) > 100
    # One row as an object, and the bundle's own sample request.
    one = _post(url, "/score", {"inputData": rows[2]}).json()
    local_one = _post(served.url, f"/predict/{job.dataset_id}", {"inputData": rows[2]}).json()
    assert one["prediction"] == pytest.approx(local_one["prediction"], rel=1e-9)
    sample = (bundle / "sample-request.json").read_bytes()
    assert _post(url, "/score", sample).json()["success"] is True


BAD_ROWS: dict[str, tuple[str, Any]] = {
    "a missing column": ("age", lambda row: {k: v for k, v in row.items() if k != "age"}),
    "text in a number column": ("age", lambda row: {**row, "age": "forty"}),
    "a number sent as text": ("age", lambda row: {**row, "age": "41"}),
    "true in a number column": ("age", lambda row: {**row, "age": True}),
    "a fraction in a whole-number column": ("visits", lambda row: {**row, "visits": 2.5}),
    "no value where training had none": ("visits", lambda row: {**row, "visits": None}),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_gets_the_same_refusal(azure_served: tuple[TrainedJob, Path, str], served: Served,
                                         case: str) -> None:
    job, _bundle, url = azure_served
    good = valid_rows(job, 3, seed=9)
    column, spoil = BAD_ROWS[case]
    bad = [good[0], spoil(good[1]), good[2]]
    local = _post(served.url, f"/predict/{job.dataset_id}", {"inputData": bad})
    azure = _post(url, "/score", {"inputData": bad})
    assert local.status_code == 422 and column in local.json()["error"], local.text
    # The same refusal: status, error code, and the same fields named in the details. The sentences may
    # be worded differently: the HTTP service words type errors from its request schema ("must be a
    # number."), score.py from the app's validation ("must be a number, not the string 'forty'.").
    assert azure.status_code == local.status_code
    assert _refusal(azure.json()) == _refusal(local.json())


def _refusal(body: dict[str, Any]) -> dict[str, Any]:
    return {"success": body["success"], "error_code": body["error_code"],
            "fields": [d["field"] for d in body["details"]]}


@pytest.mark.parametrize(("body", "status", "same_words"), [
    ({"rows": []}, 422, True),
    ({"inputData": []}, 422, True),
    ({"inputData": [1, 2]}, 422, False),
    (b"{not json", 400, True),
    (b"   ", 400, True),
])
def test_a_bad_request_gets_the_same_refusal(azure_served: tuple[TrainedJob, Path, str], served: Served,
                                             body: Any, status: int, same_words: bool) -> None:
    job, _bundle, url = azure_served
    local = _post(served.url, f"/predict/{job.dataset_id}", body)
    azure = _post(url, "/score", body)
    assert local.status_code == azure.status_code == status, (local.text, azure.text)
    if same_words:
        assert azure.json() == local.json()
    else:  # rows that are not objects: the request schema and the validation word it differently
        assert _refusal(azure.json()) == _refusal(local.json())


def test_the_sdk_loads_the_bundles_yaml(azure_served: tuple[TrainedJob, Path, str]) -> None:
    _job, bundle, _url = azure_served
    loaded = _sdk_load(bundle)
    endpoint = yaml.safe_load((bundle / "endpoint.yml").read_text("utf-8"))
    conda = yaml.safe_load((bundle / "environment" / "conda.yml").read_text("utf-8"))
    assert loaded["endpoint"] == {"name": endpoint["name"], "auth_mode": "key"}
    deployment = loaded["deployment"]
    assert deployment["endpoint_name"] == endpoint["name"] and deployment["name"] == "blue"
    assert deployment["model_path"] == str((bundle / "model").resolve())
    assert deployment["code"] == str((bundle / "code").resolve())
    assert deployment["scoring_script"] == "score.py"
    assert deployment["image"] == AZURE_BASE_IMAGE
    assert deployment["instance_type"] == "Standard_DS3_v2" and deployment["instance_count"] == 1
    assert deployment["request_timeout_ms"] == 5000
    # The SDK read the conda file itself: the same pins the model was trained with.
    assert deployment["conda_file"] == conda
    assert loaded["environment"] == {"name": f"{endpoint['name']}-env", "image": AZURE_BASE_IMAGE,
                                     "conda_file": conda}


def test_the_sdk_refuses_an_invalid_endpoint(azure_served: tuple[TrainedJob, Path, str], tmp_path: Path) -> None:
    # The loaders really validate: a wrong value in a copy of the endpoint is refused with its name.
    _job, bundle, _url = azure_served
    wrong = tmp_path / "endpoint.yml"
    wrong.write_text((bundle / "endpoint.yml").read_text("utf-8").replace("auth_mode: key", "auth_mode: password"),
                     "utf-8")
    proc = subprocess.run([str(AZURE_PYTHON), str(SDK_LOAD), str(bundle), "--endpoint", str(wrong)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "auth_mode" in proc.stderr, proc.stderr[-2000:]


SDK_LOAD = Path(__file__).with_name("azure_sdk_load.py")


def _sdk_load(bundle: Path) -> dict[str, Any]:
    proc = subprocess.run([str(AZURE_PYTHON), str(SDK_LOAD), str(bundle)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_azure_environment_is_the_bundles(azure_served: tuple[TrainedJob, Path, str]) -> None:
    # The server above ran in the environment conda.yml describes: Python and every pinned library at
    # the bundle's versions (xgboost as xgboost-cpu, the same package without CUDA).
    _job, bundle, _url = azure_served
    conda = yaml.safe_load((bundle / "environment" / "conda.yml").read_text("utf-8"))
    pins = dict(line.split("==") for line in next(d for d in conda["dependencies"] if isinstance(d, dict))["pip"]
                if "==" in line)
    assert {"pycaret", "scikit-learn", "numpy", "pandas", "joblib"} <= set(pins)
    names = {name: "xgboost-cpu" if name == "xgboost" else name for name in pins}
    probe = ("import importlib.metadata as m, json, platform, sys; "
             "print(json.dumps({'python': platform.python_version(), "
             "**{k: m.version(v) for k, v in json.loads(sys.argv[1]).items()}}))")
    done = subprocess.run([str(AZURE_PYTHON), "-c", probe, json.dumps(names)], capture_output=True, text=True,
                          timeout=120, check=True)
    versions = json.loads(done.stdout)
    python = next(d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert versions.pop("python") == python.removeprefix("python=")
    assert versions == pins
