"""Really trained models for the prediction, deployment and server tests.

A session-scoped template data home holds two jobs trained by the real engine (``TrainingRunner``,
a worker process running the staged PyCaret search) and waiting for review: a classifier
(``purchased``) and a regressor (``income``) on 400 rows of the sample purchase table, each with
the ``lr`` and ``dt`` families. Each test gets a copy of it in its own ``PREDICTML_HOME``
(`trained_home`), and `deployed_home` approves both for the local service with a real admin session.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.governance import AdminSession, Governance, cheap_hasher_for_tests
from predictml_desktop.core.ingest import import_dataset, load_dataset_frame
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.prediction import load_schema
from predictml_desktop.core.sampledata import make_purchase_table
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import TrainingOptions, TrainingRunner, create_job

ADMIN_PASSWORD = "correct horse battery staple 42"
TRAIN_ROWS = 400
TARGETS = {"classification": "purchased", "regression": "basket_value"}


def purchase_table() -> pd.DataFrame:
    """The sample purchase table plus ``basket_value``, a quantity with real signal for the regressor."""
    frame = make_purchase_table(TRAIN_ROWS, seed=7)
    rng = np.random.default_rng(11)
    income = frame["income"].fillna(frame["income"].median())
    frame["basket_value"] = np.round(
        15 + 4 * frame["visits"] + 0.0004 * income + 6 * (frame["email_opt_in"] == "yes")
        + rng.normal(0, 3, len(frame)), 2)
    return frame


@dataclass
class TrainedJob:
    kind: str
    dataset_id: str
    job_id: str
    target: str
    frame: pd.DataFrame
    """The model's feature columns, as the training read them (for generating valid rows)."""


def _make_template(root: Path) -> dict[str, TrainedJob]:
    paths = Paths(root / "home", root / "config").ensure()
    store = Store(paths)
    csv = root / "customer_purchases.csv"
    purchase_table().to_csv(csv, index=False)
    out: dict[str, TrainedJob] = {}
    for kind, target in TARGETS.items():
        dataset = import_dataset(store, csv, target=target, name=f"purchases ({target})", problem_type=kind)
        job = create_job(store, dataset.id, target, TrainingOptions(preset="fast", models=["lr", "dt"]),
                         problem_type=kind)
        job = TrainingRunner(store, job.id).run()
        assert job.status == JobStatus.PENDING_REVIEW, job.error
        schema = load_schema(paths.model_dir(job.id))
        frame = load_dataset_frame(paths, store.read().datasets.get(dataset.id))
        frame = frame[frame[target].notna()][[f.name for f in schema.features]].reset_index(drop=True)
        out[kind] = TrainedJob(kind, dataset.id, job.id, target, frame)
    return out


@dataclass
class TrainedTemplate:
    root: Path
    jobs: dict[str, TrainedJob]


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> TrainedTemplate:
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as env:
        # Session scope runs before the per-test isolation: keep the worker out of the real home too.
        for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MPLCONFIGDIR"):
            env.setenv(name, str(root / "userhome" / name.lower()))
        env.setenv("PREDICTML_HOME", str(root / "home"))
        env.setenv("PREDICTML_CONFIG_HOME", str(root / "config"))
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
            if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                row[key] = None
            elif isinstance(value, pd.Timestamp):
                row[key] = value.isoformat()
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
