"""The Azure ML bundle: its score.py, imported here, answers exactly as the local service does."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from predictml_desktop.core import azure
from predictml_desktop.core.artifacts import read_json
from predictml_desktop.core.status import DeploymentStatus
from tests.server.conftest import Served
from tests.trained_models import valid_rows

pytestmark = pytest.mark.slow


def _import_score(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(bundle))
    spec = importlib.util.spec_from_file_location(f"score_{bundle.name}", bundle / "code" / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ALONE = """
import json, sys
# Only the bundle's copy of the package may answer (not the editable install of this checkout).
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path.insert(0, ".")
import score
score.init()
answers = [score.run(json.dumps(request)) for request in json.load(sys.stdin)]
modules = {name: module.__file__ for name, module in sys.modules.items()
           if name.startswith("predictml_desktop") and getattr(module, "__file__", None)}
print(json.dumps({"answers": answers, "modules": modules}))
"""


def _run_alone(bundle: Path, requests: list[dict[str, Any]]) -> dict[str, Any]:
    env = {**os.environ, "AZUREML_MODEL_DIR": str(bundle)}
    done = subprocess.run([sys.executable, "-c", _ALONE], input=json.dumps(requests), capture_output=True,
                          text=True, cwd=bundle / "code", env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_scoring_kit_imports_nothing_but_itself_numpy_and_pandas() -> None:
    # The bundle's Python has the model's libraries, not this app's: every module copied into it may
    # import only the standard library, numpy, pandas, the model's libraries lazily, and each other.
    root = Path(azure.__file__).resolve().parents[1]
    kit = {"predictml_desktop." + rel[: -len(".py")].replace("/", ".") for rel in azure.SCORING_KIT}
    # azureml_inference_server_http: the server the bundle runs in (conda.yml installs it), imported
    # by score.py only to answer refusals with an HTTP status.
    allowed = {"numpy", "pandas", "joblib", "sklearn", "pycaret", "azureml_inference_server_http"}
    for rel in (azure.SCORE_MODULE, *azure.SCORING_KIT):
        tree = ast.parse((root / rel).read_text("utf-8"))
        guarded = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                ok = (top in sys.stdlib_module_names or top in allowed or name in kit
                      or name == "__future__" or (name == "predictml_desktop.core.modeling" and
                                                  isinstance(node, ast.ImportFrom)))
                assert ok, f"{rel} imports {name}"


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_score_py_answers_like_the_local_service(served: Served, kind: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    job = served.jobs[kind]
    bundle = tmp_path / "bundle"
    dep = served.governance.approve(served.session, job.job_id, "azure", out_dir=bundle, reason="cloud pilot")
    assert dep.status == DeploymentStatus.EXPORTED and Path(dep.bundle_path or "") == bundle.resolve()
    # The bundle is complete and pinned to the training environment.
    env = read_json(served.paths.model_dir(job.job_id) / "environment.json")
    conda = yaml.safe_load((bundle / "environment" / "conda.yml").read_text("utf-8"))
    pins = next(d for d in conda["dependencies"] if isinstance(d, dict))["pip"]
    assert f"scikit-learn=={env['scikit-learn']}" in pins and f"pycaret=={env['pycaret']}" in pins
    assert f"python={env['python']}" in conda["dependencies"]
    deployment = yaml.safe_load((bundle / "deployment.yml").read_text("utf-8"))
    endpoint = yaml.safe_load((bundle / "endpoint.yml").read_text("utf-8"))
    assert deployment["endpoint_name"] == endpoint["name"] and endpoint["auth_mode"] == "key"
    assert 3 <= len(endpoint["name"]) <= 32
    assert deployment["code_configuration"] == {"code": "./code", "scoring_script": "score.py"}
    readme = (bundle / "README.md").read_text("utf-8")
    assert "az ml online-endpoint create --file endpoint.yml" in readme
    assert "az ml online-deployment create --file deployment.yml --all-traffic" in readme

    score = _import_score(bundle, monkeypatch)
    score.init()
    rows = valid_rows(job, 300, seed=21)
    rows[0] = {**rows[0], "region": "Atlantis"}  # an unseen category goes through both the same way
    with httpx.Client(base_url=served.url, timeout=30) as client:
        local = client.post(f"/predict/{job.dataset_id}", json={"inputData": rows}).json()
        sample = json.loads((bundle / "sample-request.json").read_text("utf-8"))
        assert client.post(f"/predict/{job.dataset_id}", json=sample).status_code == 200
    azure = score.run(json.dumps({"inputData": rows}))
    assert azure["success"] is True and azure["datasetId"] == job.dataset_id
    assert azure["modelName"] == local["modelName"]
    if kind == "classification":
        assert azure["prediction"] == local["prediction"]
        for a, b in zip(azure["probability"], local["probability"], strict=True):
            assert a == pytest.approx(b, abs=1e-9)
    else:
        assert azure["prediction"] == pytest.approx(local["prediction"], rel=1e-12)
    one = score.run(json.dumps({"datasetId": job.dataset_id, "inputData": rows[1]}))
    with httpx.Client(base_url=served.url, timeout=30) as client:
        local_one = client.post(f"/predict/{job.dataset_id}", json={"inputData": rows[1]}).json()
    assert one["prediction"] == pytest.approx(local_one["prediction"], rel=1e-9)
    bad = score.run(json.dumps({"inputData": {"age": 3}}))
    assert bad["success"] is False and "missing" in bad["error"] and bad["error_code"] == "MISSING_FEATURE"
    sys.modules.pop(f"score_{bundle.name}", None)
    # The bundle stands alone: run in a fresh interpreter that cannot see this package, it loads
    # every module from the bundle and answers the same.
    alone = _run_alone(bundle, [{"inputData": rows[:20]}, {"inputData": {**rows[2], "age": "41"}}])
    assert alone["modules"] and all(Path(f).is_relative_to(bundle / "code") for f in alone["modules"].values())
    assert alone["answers"][0]["prediction"] == azure["prediction"][:20]
    assert alone["answers"][1]["success"] is False and alone["answers"][1]["details"][0]["field"] == "age"


def test_score_py_refuses_an_altered_model(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "bundle"
    served.governance.approve(served.session, served.reg.job_id, "azure", out_dir=bundle)
    model = bundle / "model" / "model.pkl"
    model.write_bytes(model.read_bytes() + b"\0")
    score = _import_score(bundle, monkeypatch)
    with pytest.raises(RuntimeError, match="SHA-256 differs"):
        score.init()
    assert score.model is None
