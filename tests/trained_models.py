"""Really trained models for the prediction, deployment and server tests.

A session-scoped template data home holds two trained jobs waiting for review: a classifier and a
regressor on a few hundred rows of the sample purchase table. Each test gets a copy of it in its own
``PREDICTION_HOME`` (`trained_home`), and `deployed_home` approves both for the local service with a
real admin session.

TEMPORARY: until the training engine (``core.training``) can train in process, the template is made
with PyCaret directly here, writing exactly the layout of ``core.artifacts`` (tests may import
PyCaret; product code outside ``core.training`` may not).
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.artifacts import (
    ENVIRONMENT_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    FeatureSpec,
    InputSchema,
    current_environment,
    write_json,
    write_model_bytes,
)
from predictml_desktop.core.governance import AdminSession, Governance, cheap_hasher_for_tests
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, TrainingJob
from predictml_desktop.core.sampledata import make_purchase_table
from predictml_desktop.core.status import DatasetStatus, JobStatus
from predictml_desktop.core.store import Store

ADMIN_PASSWORD = "correct horse battery staple 42"
TRAIN_ROWS = 400
EXCLUDED = ["customer_id", "signup_date", "country"]


def training_frame(target: str) -> pd.DataFrame:
    frame = make_purchase_table(TRAIN_ROWS, seed=7).drop(columns=EXCLUDED)
    if target == "income":
        frame = frame[frame["income"].notna()].reset_index(drop=True)
    return frame


def _feature_specs(frame: pd.DataFrame) -> list[FeatureSpec]:
    specs = []
    for name in frame.columns:
        col = frame[name]
        nullable = bool(col.isna().any())
        if pd.api.types.is_bool_dtype(col):
            specs.append(FeatureSpec(name=name, kind="boolean", dtype=str(col.dtype), nullable=nullable,
                                     categories=[True, False], default=bool(col.mode().iloc[0])))
        elif pd.api.types.is_numeric_dtype(col):
            present = col.dropna()
            integer = bool(np.all(np.mod(present, 1) == 0))
            specs.append(FeatureSpec(
                name=name, kind="numeric", dtype=str(col.dtype), integer=integer, nullable=nullable,
                minimum=float(present.min()), maximum=float(present.max()), median=float(present.median()),
                default=float(present.median()),
            ))
        else:
            counts = col.dropna().astype(str).value_counts()
            specs.append(FeatureSpec(name=name, kind="categorical", dtype=str(col.dtype), nullable=nullable,
                                     categories=list(counts.index), default=str(counts.index[0])))
    return specs


def _train(kind: str, frame: pd.DataFrame, target: str) -> tuple[bytes, str, dict[str, Any], list[Any]]:
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "classification":
            from pycaret.classification import ClassificationExperiment as Experiment
        else:
            from pycaret.regression import RegressionExperiment as Experiment  # type: ignore[assignment]
        exp = Experiment()
        exp.setup(frame, target=target, session_id=1, n_jobs=1, system_log=False, html=False, verbose=False,
                  fold=3)
        best = exp.compare_models(include=["lr", "dt"], verbose=False, fold=3)
        metrics = exp.pull().iloc[0].to_dict()
        pipeline = exp.finalize_model(best)
        name = type(pipeline.steps[-1][1]).__name__
    import io

    buf = io.BytesIO()
    joblib.dump(pipeline, buf)
    classes = sorted(frame[target].dropna().unique().tolist()) if kind == "classification" else []
    return buf.getvalue(), name, {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}, classes


@dataclass
class TrainedJob:
    kind: str
    dataset_id: str
    job_id: str
    target: str
    frame: pd.DataFrame


def _make_template(root: Path) -> dict[str, TrainedJob]:
    paths = Paths(root / "home", root / "config").ensure()
    store = Store(paths)
    out: dict[str, TrainedJob] = {}
    for kind, target in (("classification", "purchased"), ("regression", "income")):
        frame = training_frame(target)
        features = frame.drop(columns=[target])
        data, model_name, cv, classes = _train(kind, frame, target)
        with store.transaction() as tx:
            ds = tx.datasets.add(Dataset(id="", name=f"purchases ({target})", file_name="purchases.csv",
                                         rows=len(frame), target_column=target, problem_type=kind,
                                         excluded_columns=EXCLUDED))
            tx.datasets.update(ds.id, status=DatasetStatus.TRAINING)
            job_id = tx.jobs.new_id()
        model_dir = paths.model_dir(job_id)
        sha = write_model_bytes(model_dir, data)
        assert sha == hashlib.sha256(data).hexdigest()
        schema = InputSchema(target=target, problem_type=kind, features=_feature_specs(features), classes=classes,
                             ignored_columns=EXCLUDED)
        write_json(model_dir / SCHEMA_FILE, schema.to_dict())
        write_json(model_dir / ENVIRONMENT_FILE, current_environment())
        primary = "AUC" if kind == "classification" else "R2"
        metric_value = cv.get(primary, 0.0)
        metrics = {"holdout": {primary: metric_value, "rows": len(frame) // 4},
                   "cv": {primary: metric_value}, "baseline": {primary: 0.5 if kind == "classification" else 0.0}}
        with store.transaction() as tx:
            tx.jobs.add(TrainingJob(id=job_id, dataset_id=ds.id, target_column=target, problem_type=kind,
                                    model_name=model_name, model_path=paths.relative(model_dir / MODEL_FILE),
                                    model_sha256=sha, metrics=metrics, samples=len(frame),
                                    features=features.shape[1]))
            tx.jobs.update(job_id, status=JobStatus.PENDING_REVIEW)
            tx.datasets.update(ds.id, status=DatasetStatus.PENDING_REVIEW)
        out[kind] = TrainedJob(kind, ds.id, job_id, target, features)
    return out


@dataclass
class TrainedTemplate:
    root: Path
    jobs: dict[str, TrainedJob]


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> TrainedTemplate:
    root = tmp_path_factory.mktemp("trained")
    return TrainedTemplate(root, _make_template(root))


@dataclass
class TrainedHome:
    paths: Paths
    jobs: dict[str, TrainedJob]

    @property
    def clf(self) -> TrainedJob:
        return self.jobs["classification"]

    @property
    def reg(self) -> TrainedJob:
        return self.jobs["regression"]


@pytest.fixture
def trained_home(trained_template: TrainedTemplate, predictml_home: Path) -> TrainedHome:
    """A copy of the template in this test's data home (its own signing key, no admin yet)."""
    if predictml_home.exists():
        shutil.rmtree(predictml_home)
    shutil.copytree(trained_template.root / "home", predictml_home)
    paths = Paths.default().ensure()
    return TrainedHome(paths, trained_template.jobs)


@dataclass
class DeployedHome(TrainedHome):
    governance: Governance
    session: AdminSession


@pytest.fixture
def deployed_home(trained_home: TrainedHome) -> DeployedHome:
    """Both trained jobs approved for the local service by a real admin session."""
    gov = Governance(trained_home.paths, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada@example.org", ADMIN_PASSWORD)
    for job in trained_home.jobs.values():
        gov.approve(session, job.job_id, "local", override=True, reason="test deployment")
    return DeployedHome(trained_home.paths, trained_home.jobs, gov, session)


def valid_rows(job: TrainedJob, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Rows drawn from the training features with values perturbed inside plausible ranges."""
    rng = np.random.default_rng(seed)
    frame = job.frame.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)
    rows = []
    for record in frame.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for key, value in record.items():
            if isinstance(value, float) and np.isnan(value):
                row[key] = None
            elif isinstance(value, (np.integer,)):
                row[key] = int(value)
            elif isinstance(value, (np.floating, float)):
                # Perturb fractional values a little (whole ones may be integer features).
                row[key] = float(value) if float(value).is_integer() else round(
                    float(value) * float(rng.uniform(0.9, 1.1)), 3)
            elif isinstance(value, (np.bool_, bool)):
                row[key] = bool(value)
            else:
                row[key] = value
        rows.append(row)
    return rows
