"""Azure Machine Learning export (issue 6 item 4): a managed-online-endpoint bundle written to a folder.

The app is offline: it prepares the bundle and the admin uploads it with the Azure CLI. Nothing here
talks to Azure, and the deployment record says ``exported`` with the folder, never "deployed".

Bundle layout::

    model/model.pkl          the approved pipeline (its SHA-256 is checked by score.py before loading)
    model/schema.json        the input schema
    model/environment.json   library versions the model was trained with
    code/score.py            init() / run() answering in the seed's format
    environment/conda.yml    Python and libraries pinned to the training versions
    endpoint.yml             the managed online endpoint (key authentication)
    deployment.yml           the deployment (model, code, environment, instance type)
    sample-request.json      one request built from the schema's defaults
    README.md                the ``az ml`` commands, in order

``score.py`` builds the model's input frame with the same rules as `core.prediction` (feature
order, dtypes, numbers given as strings converted), so it answers exactly as the local service.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from predictml_desktop.core.artifacts import (
    ENVIRONMENT_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    ArtifactError,
    InputSchema,
    read_json,
    sha256_file,
    verify_model_file,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import TrainingJob

AZURE_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
"""Azure ML's curated inference base image; the conda file adds the model's libraries."""
DEFAULT_INSTANCE_TYPE = "Standard_DS3_v2"
"""The smallest SKU Azure recommends for general-purpose managed online endpoints."""

_PINNED = ("pycaret", "scikit-learn", "numpy", "pandas", "joblib", "lightgbm", "xgboost", "catboost")


class AzureExportError(Exception):
    """The bundle could not be written; the message says why."""


def endpoint_name(dataset_id: str, job_id: str) -> str:
    """Return a valid Azure endpoint name: 3-32 characters, a letter first, letters, digits and hyphens."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"predictml-{dataset_id}-{job_id}".casefold()).strip("-")
    base = re.sub(r"-{2,}", "-", base)
    if len(base) > 32:
        base = base[:32].rstrip("-")
    return base if len(base) >= 3 else "predictml-model"


def conda_environment(env: dict[str, Any]) -> str:
    """Return ``conda.yml`` pinning Python and the tracked libraries to the recorded versions."""
    python = str(env.get("python") or "3.11")
    lines = [
        "# Pinned to the versions the model was trained with (models/<jobId>/environment.json):",
        "# a pickled pipeline is only guaranteed to load and behave the same under them.",
        "name: predictml-model",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={python}",
        "  - pip",
        "  - pip:",
        "      - azureml-inference-server-http",
    ]
    for lib in _PINNED:
        version = env.get(lib)
        if version:
            lines.append(f"      - {lib}=={version}")
    return "\n".join(lines) + "\n"


def _endpoint_yaml(name: str) -> str:
    return (
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        f"name: {name}\n"
        "auth_mode: key\n"
    )


def _deployment_yaml(name: str, instance_type: str) -> str:
    return (
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: blue\n"
        f"endpoint_name: {name}\n"
        "model:\n"
        "  path: ./model\n"
        "code_configuration:\n"
        "  code: ./code\n"
        "  scoring_script: score.py\n"
        "environment:\n"
        "  conda_file: ./environment/conda.yml\n"
        f"  image: {AZURE_BASE_IMAGE}\n"
        f"instance_type: {instance_type}\n"
        "instance_count: 1\n"
        "request_settings:\n"
        "  request_timeout_ms: 5000\n"
        "  max_concurrent_requests_per_instance: 1\n"
    )


def _readme(name: str, job: TrainingJob, sha: str) -> str:
    return f"""# Azure ML bundle for {job.model_name or 'the model'} (dataset {job.dataset_id}, job {job.id})

Exported by PredictML Desktop. **Nothing has been sent to Azure**: this folder is ready to upload.

- Model SHA-256: `{sha}` (score.py refuses a model file with another hash)
- Endpoint name: `{name}` (edit `endpoint.yml` and `deployment.yml` to change it; it must be unique in the region)

## Deploy

```bash
az login
az account set --subscription <SUBSCRIPTION_ID>
az configure --defaults group=<RESOURCE_GROUP> workspace=<WORKSPACE_NAME>

az ml online-endpoint create --file endpoint.yml
az ml online-deployment create --file deployment.yml --all-traffic
```

## Try it

```bash
az ml online-endpoint invoke --name {name} --request-file sample-request.json
az ml online-endpoint get-credentials --name {name}     # the key for other clients
az ml online-endpoint show --name {name} --query scoring_uri
```

Clients send `{{"inputData": {{...}}}}` (one row) or `{{"inputData": [{{...}}, ...]}}` with the header
`Authorization: Bearer <key>`, and get the same answer as the local PredictML service:
`{{"success": true, "datasetId": ..., "modelName": ..., "prediction": [...], "probability": [...]}}`.

## Remove

```bash
az ml online-endpoint delete --name {name} --yes
```
"""


SCORE_PY = r'''"""Azure ML scoring script generated by PredictML Desktop: init() loads the model, run() predicts.

Answers in the PredictML seed format. Builds the model's input exactly as the local PredictML
service does (feature order and dtypes from schema.json; numbers given as strings are converted).
"""

import glob
import hashlib
import json
import logging
import math
import os
from datetime import datetime, timezone

import joblib
import numpy as np
import pandas as pd

EXPECTED_SHA256 = "__SHA256__"
DATASET_ID = "__DATASET_ID__"
MODEL_NAME = "__MODEL_NAME__"
MAX_ROWS = 10000

model = None
schema = None


def _find(name):
    base = os.environ.get("AZUREML_MODEL_DIR", os.path.join(os.path.dirname(__file__), "..", "model"))
    for candidate in (os.path.join(base, "model", name), os.path.join(base, name)):
        if os.path.isfile(candidate):
            return candidate
    found = glob.glob(os.path.join(base, "**", name), recursive=True)
    if not found:
        raise FileNotFoundError(name + " not found under " + base)
    return found[0]


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def init():
    global model, schema
    path = _find("model.pkl")
    # A pickle can run code: load only the file that was approved.
    if _sha256(path) != EXPECTED_SHA256:
        raise RuntimeError("model.pkl does not match the approved model (SHA-256 differs); refusing to load it")
    with open(_find("schema.json"), encoding="utf-8") as fh:
        schema = json.load(fh)
    model = joblib.load(path)
    logging.info("PredictML model %s for %s loaded", MODEL_NAME, DATASET_ID)


def _category_type(feature):
    cats = [c for c in (feature.get("categories") or []) if c is not None]
    if not cats:
        return "int" if str(feature.get("dtype", "")).startswith(("int", "uint")) else "str"
    if all(isinstance(c, bool) for c in cats):
        return "bool"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in cats):
        return "int"
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cats):
        return "float"
    if all(isinstance(c, str) for c in cats):
        return "str"
    return "mixed"


class InputError(ValueError):
    pass


def _date(value, name):
    # Same rules as PredictML's prediction path: ISO 8601 directly, anything else through pandas,
    # time zones converted to UTC and dropped, as in training.
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            stamp = pd.to_datetime(text, errors="raise", format="mixed")
        except (ValueError, TypeError, OverflowError):
            raise InputError(name + " must be a date such as 2024-01-31") from None
        if pd.isna(stamp):
            raise InputError(name + " must be a date such as 2024-01-31")
        parsed = stamp.to_pydatetime()
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    if not datetime(1678, 1, 1) <= parsed <= datetime(2261, 12, 31):
        raise InputError(name + " is outside the dates a model can use")
    return parsed


def _number(value, name, integer=False):
    if isinstance(value, bool):
        raise InputError(name + " must be a number, not " + str(value).lower())
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(name + " must be a number, not " + repr(value)) from None
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise InputError(name + " must be a finite number")
    if integer and not float(value).is_integer():
        raise InputError(name + " must be a whole number")
    return float(value)


def _convert(feature, value, name):
    kind = feature["kind"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if feature.get("nullable"):
            if kind == "datetime":
                # As PredictML does: a batch whose dates are all missing makes the model fail, so a
                # missing date becomes the training's median date.
                return _date(feature.get("default") or "2000-01-01", name)
            return None
        raise InputError(name + " is required: it had no missing values in training")
    if kind == "numeric":
        return _number(value, name, bool(feature.get("integer")))
    if kind == "datetime":
        return _date(value, name)
    if kind == "boolean" or (kind == "categorical" and _category_type(feature) == "bool"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "y", "1", "t"):
            return True
        if text in ("false", "no", "n", "0", "f"):
            return False
        raise InputError(name + " must be true or false")
    if kind == "categorical":
        ct = _category_type(feature)
        if ct == "str":
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return value if isinstance(value, str) else str(value)
        if ct in ("int", "float"):
            number = _number(value, name, ct == "int")
            return int(number) if ct == "int" else number
        return value
    return value if isinstance(value, str) else str(value)


def _frame(rows):
    features = schema["features"]
    data = {}
    for f in features:
        name = f["name"]
        values = [r.get(name) for r in rows]
        has_none = any(v is None for v in values)
        kind = f["kind"]
        ct = _category_type(f) if kind == "categorical" else ""
        if kind == "numeric" or ct == "float":
            data[name] = np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
        elif ct == "int":
            data[name] = (np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
                          if has_none else np.array(values, dtype="int64"))
        elif kind == "datetime":
            data[name] = pd.Series([pd.NaT if v is None else v for v in values], dtype="datetime64[ns]")
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = [np.nan if v is None else v for v in values]
            data[name] = arr
    return pd.DataFrame(data, columns=[f["name"] for f in features])


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _class_key(label):
    label = _plain(label)
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return "class_" + str(label)


def run(raw_data):
    try:
        body = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
        if not isinstance(body, dict) or "inputData" not in body:
            raise InputError('the request must be a JSON object with "inputData"')
        data = body["inputData"]
        rows = [data] if isinstance(data, dict) else data
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise InputError("inputData must be an object or a non-empty list of objects")
        if len(rows) > MAX_ROWS:
            raise InputError("inputData has %d rows; at most %d are accepted" % (len(rows), MAX_ROWS))
        converted = []
        for i, row in enumerate(rows):
            missing = [f["name"] for f in schema["features"] if f["name"] not in row]
            if missing:
                raise InputError("row %d is missing %s" % (i, ", ".join(missing)))
            converted.append({f["name"]: _convert(f, row[f["name"]], f["name"]) for f in schema["features"]})
        frame = _frame(converted)
        out = {"success": True, "datasetId": DATASET_ID, "modelName": MODEL_NAME,
               "prediction": [_plain(p) for p in np.asarray(model.predict(frame)).tolist()]}
        if schema.get("problemType") == "classification" and hasattr(model, "predict_proba"):
            probs = np.asarray(model.predict_proba(frame), dtype="float64")
            labels = schema.get("classes") or list(range(probs.shape[1]))
            keys = [_class_key(c) for c in labels]
            out["probability"] = [dict(zip(keys, (float(p) for p in row))) for row in probs.tolist()]
        return out
    except InputError as exc:
        return {"success": False, "error": str(exc)}
    except Exception as exc:
        logging.exception("prediction failed")
        return {"success": False, "error": "prediction failed: " + type(exc).__name__}
'''


def sample_request(schema: InputSchema) -> dict[str, Any]:
    """Return a one-row request built from the schema's default values."""
    row: dict[str, Any] = {}
    for f in schema.features:
        value = f.default
        if value is None:
            if f.kind == "numeric":
                value = f.median if f.median is not None else 0
            elif f.categories:
                value = f.categories[0]
            elif f.kind == "boolean":
                value = False
            else:
                value = ""
        if f.kind == "numeric" and f.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        row[f.name] = value
    return {"inputData": row}


def export_bundle(paths: Paths, job: TrainingJob, *, out_dir: Path | None = None,
                  instance_type: str = DEFAULT_INSTANCE_TYPE) -> Path:
    """Write the Azure ML bundle of an approved job and return its folder.

    The bundle is assembled in a temporary folder beside the target and moved into place at the
    end, so a failure never leaves half a bundle. An existing bundle at the target is replaced.

    Parameters
    ----------
    paths
        The data home.
    job
        The approved job.
    out_dir
        The bundle folder; ``exports/<jobId>/azure`` if None.
    instance_type
        The Azure VM size written to ``deployment.yml``.

    Raises
    ------
    AzureExportError
        If the model's files are missing or altered, or the folder cannot be written.
    """
    model_dir = paths.model_dir(job.id)
    model_path = model_dir / MODEL_FILE
    try:
        verify_model_file(model_path, job.model_sha256, paths.models)
        schema_doc = read_json(model_dir / SCHEMA_FILE)
        schema = InputSchema.from_dict(schema_doc)
    except ArtifactError as exc:
        raise AzureExportError(f"The Azure bundle of {job.id} cannot be made: {exc}") from None
    try:
        env = read_json(model_dir / ENVIRONMENT_FILE)
    except ArtifactError:
        env = {}
    target = (out_dir or paths.azure_export_dir(job.id)).expanduser().resolve()
    name = endpoint_name(job.dataset_id, job.id)
    sha = str(job.model_sha256)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".azure-", dir=target.parent))
        try:
            (staging / "model").mkdir()
            (staging / "code").mkdir()
            (staging / "environment").mkdir()
            shutil.copyfile(model_path, staging / "model" / MODEL_FILE)
            if sha256_file(staging / "model" / MODEL_FILE) != sha:
                raise AzureExportError(f"The model file of {job.id} changed while it was being copied; try again.")
            shutil.copyfile(model_dir / SCHEMA_FILE, staging / "model" / SCHEMA_FILE)
            (staging / "model" / ENVIRONMENT_FILE).write_text(json.dumps(env, indent=2) + "\n", encoding="utf-8")
            score = (SCORE_PY.replace("__SHA256__", sha)
                     .replace("__DATASET_ID__", json.dumps(job.dataset_id)[1:-1])
                     .replace("__MODEL_NAME__", json.dumps(job.model_name or "model")[1:-1]))
            (staging / "code" / "score.py").write_text(score, encoding="utf-8")
            (staging / "environment" / "conda.yml").write_text(conda_environment(env), encoding="utf-8")
            (staging / "endpoint.yml").write_text(_endpoint_yaml(name), encoding="utf-8")
            (staging / "deployment.yml").write_text(_deployment_yaml(name, instance_type), encoding="utf-8")
            (staging / "sample-request.json").write_text(
                json.dumps(sample_request(schema), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            (staging / "README.md").write_text(_readme(name, job, sha), encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except OSError as exc:
        raise AzureExportError(f"The Azure bundle could not be written to {target}: {exc.strerror or exc}.") from exc
    return target
