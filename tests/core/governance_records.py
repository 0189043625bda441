"""Records for governance and deployment tests: a dataset and jobs waiting for review, with model files.

Governance never unpickles a model (it checks the file's hash), so these model files are plain
bytes; the prediction and server tests use really trained models (tests/trained_models.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from predictml_desktop.core.artifacts import ENVIRONMENT_FILE, MODEL_FILE, SCHEMA_FILE, current_environment
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, TrainingJob
from predictml_desktop.core.status import DatasetStatus, JobStatus
from predictml_desktop.core.store import Store

GOOD_METRICS: dict[str, Any] = {
    "holdout": {"AUC": 0.91, "Accuracy": 0.86, "F1": 0.8, "rows": 120},
    "cv": {"AUC": 0.9, "Accuracy": 0.85},
    "baseline": {"AUC": 0.5, "Accuracy": 0.6},
}


def add_dataset(store: Store, *, warnings: list[dict[str, Any]] | None = None,
                status: str = DatasetStatus.PENDING_REVIEW) -> str:
    with store.transaction() as tx:
        ds = tx.datasets.add(Dataset(id="", name="purchases", file_name="purchases.csv", rows=400,
                                     target_column="bought", problem_type="classification",
                                     warnings=warnings or [], status=DatasetStatus.UPLOADED))
        if status != DatasetStatus.UPLOADED:
            tx.datasets.update(ds.id, status=DatasetStatus.TRAINING)
            tx.datasets.update(ds.id, status=status)
    return ds.id


def add_job(store: Store, dataset_id: str, *, metrics: dict[str, Any] | None = None,
            payload: bytes | None = None, status: str = JobStatus.PENDING_REVIEW) -> str:
    paths: Paths = store.paths
    with store.transaction() as tx:
        job_id = tx.jobs.new_id()
        data = payload if payload is not None else f"model bytes of {job_id}".encode()
        model_dir = paths.model_dir(job_id)
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / MODEL_FILE).write_bytes(data)
        (model_dir / SCHEMA_FILE).write_text(json.dumps({
            "schemaVersion": 1, "target": "bought", "problemType": "classification",
            "features": [{"name": "age", "kind": "numeric", "dtype": "int64", "integer": True, "minimum": 18,
                          "maximum": 79, "median": 45, "default": 45}],
            "classes": [0, 1],
        }))
        (model_dir / ENVIRONMENT_FILE).write_text(json.dumps(current_environment()))
        tx.jobs.add(TrainingJob(
            id=job_id, dataset_id=dataset_id, target_column="bought", problem_type="classification",
            model_name="Logistic Regression", model_path=paths.relative(model_dir / MODEL_FILE),
            model_sha256=hashlib.sha256(data).hexdigest(),
            metrics=GOOD_METRICS if metrics is None else metrics,
        ))
        if status != JobStatus.TRAINING:
            tx.jobs.update(job_id, status=status)
        ds = tx.datasets.get(dataset_id)
        if status == JobStatus.PENDING_REVIEW and ds.status in (DatasetStatus.ACTIVE, DatasetStatus.DEPLOYED,
                                                                  DatasetStatus.REJECTED):
            tx.datasets.update(dataset_id, status=DatasetStatus.TRAINING)
            tx.datasets.update(dataset_id, status=DatasetStatus.PENDING_REVIEW)
    return job_id
