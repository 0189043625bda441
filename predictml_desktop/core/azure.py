"""Azure Machine Learning export (issue 6 item 4): a managed-online-endpoint bundle written to a folder.

The app is offline: it prepares the bundle and the admin uploads it with the Azure CLI. Nothing here
talks to Azure, and the deployment record says ``exported`` with the folder, never "deployed".

Bundle layout::

    model/model.pkl          the approved pipeline (its SHA-256 is checked by score.py before loading)
    model/schema.json        the input schema
    model/environment.json   library versions the model was trained with
    code/score.py            init() / run() answering in the seed's format (core/modeling/azure_score.py)
    code/bundle.json         the approved model's SHA-256, dataset and name, read by score.py
    code/predictml_desktop/  the scoring kit: the app's own validation and answer modules (SCORING_KIT)
    environment/conda.yml    Python and libraries pinned to the training versions
    environment/environment.yml  the same environment as an Azure ML environment (az ml environment create)
    endpoint.yml             the managed online endpoint (key authentication)
    deployment.yml           the deployment (model, code, environment, instance type)
    sample-request.json      one request built from the schema's defaults
    README.md                the ``az ml`` commands, in order

``score.py`` validates requests and builds the model's input with the app's own modules (the same
verdict for the same value as the local service, which it answers exactly like).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from predictml_desktop.core.artifacts import (
    ENVIRONMENT_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    ArtifactError,
    InputSchema,
    SchemaError,
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


def _environment_yaml(name: str) -> str:
    return (
        "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
        f"name: {name}-env\n"
        f"image: {AZURE_BASE_IMAGE}\n"
        "conda_file: conda.yml\n"
        "description: The libraries the PredictML model was trained with (conda.yml), on Azure ML's base image.\n"
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

`deployment.yml` carries its environment inline; to register it for reuse instead:
`az ml environment create --file environment/environment.yml`.

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


SCORE_MODULE = "core/modeling/azure_score.py"
"""The scoring program, copied as ``code/score.py`` (a module of this package, linted and typed)."""
SCORING_KIT = (
    "core/input_schema.py",
    "core/prediction/errors.py",
    "core/prediction/validation.py",
    "core/prediction/frames.py",
    "core/prediction/answers.py",
    "core/modeling/pipeline.py",
)
"""The package's modules ``score.py`` imports, copied verbatim under ``code/predictml_desktop/`` (with
empty package ``__init__`` files): the bundle validates and answers with the app's own code. Each imports
only the standard library, numpy, pandas and the others (a test checks it). build.spec ships them as
source files in the packaged app."""
BUNDLE_FILE = "bundle.json"


def package_source(relative: str) -> Path:
    """Return the source file of one of this package's modules (``core/...py``), from source or a packaged build."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) / "predictml_desktop" if frozen_root else Path(__file__).resolve().parents[1]
    return root / relative


def _write_code(code: Path, job: TrainingJob) -> None:
    """Write ``code/``: score.py, its scoring kit and ``bundle.json`` (the approved model's identity)."""
    shutil.copyfile(package_source(SCORE_MODULE), code / "score.py")
    packages = {Path("predictml_desktop")}
    for relative in SCORING_KIT:
        target = code / "predictml_desktop" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package_source(relative), target)
        parent = Path("predictml_desktop", relative).parent
        while parent != Path("."):
            packages.add(parent)
            parent = parent.parent
    for package in packages:
        (code / package / "__init__.py").write_text(
            '"""Part of PredictML Desktop, copied for score.py (see its docstring)."""\n', encoding="utf-8")
    identity = {"modelSha256": str(job.model_sha256), "datasetId": job.dataset_id,
                "modelName": job.model_name or "model"}
    (code / BUNDLE_FILE).write_text(json.dumps(identity, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


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
    except (ArtifactError, SchemaError) as exc:
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
            _write_code(staging / "code", job)
            (staging / "environment" / "conda.yml").write_text(conda_environment(env), encoding="utf-8")
            (staging / "environment" / "environment.yml").write_text(_environment_yaml(name), encoding="utf-8")
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
