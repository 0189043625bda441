"""Drift for a dataset id: its model's features, its cached reference, the policy's thresholds.

Used by the batch-file paths (Predict view, ``predictml predict``), ``predictml drift`` and the
Monitoring view. Only the model's ``schema.json`` is read (for its feature names and kinds); the
model itself is never unpickled here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from predictml_desktop.core.drift.reference import Reference, dataset_features, load_reference
from predictml_desktop.core.drift.report import DriftReport, compare
from predictml_desktop.core.drift.stats import Thresholds
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset
from predictml_desktop.core.settings import load_settings
from predictml_desktop.core.status import DeploymentStatus

log = logging.getLogger(__name__)


class DriftError(Exception):
    """Drift cannot be computed; the message says why (file, dataset) in one sentence."""


@dataclass
class DriftContext:
    """What drift of a dataset compares against."""

    dataset: Dataset
    reference: Reference
    thresholds: Thresholds
    job_id: str | None
    """The deployed model whose features are compared (None: the dataset's feature columns)."""


def thresholds_for(paths: Paths) -> Thresholds:
    """Return the drift thresholds of the approval policy in force."""
    from predictml_desktop.core.governance.gates import DRIFT_POLICY, policy

    return Thresholds.from_policy(policy(load_settings(paths).policy).get(DRIFT_POLICY))


def _active_job(paths: Paths, dataset_id: str) -> str | None:
    from predictml_desktop.core.store import Store

    for dep in Store(paths).deployments():
        if dep.dataset_id == dataset_id and dep.target == "local" and dep.status == DeploymentStatus.ACTIVE:
            return dep.training_job_id
    return None


def context_for(paths: Paths, dataset_id: str, *, job_id: str | None = None) -> DriftContext:
    """Return the reference and thresholds for a dataset (its active model's features when it has one).

    Raises
    ------
    DriftError
        If the dataset does not exist or its stored upload cannot be read.
    """
    from predictml_desktop.core.ingest import IngestError
    from predictml_desktop.core.store import NotFoundError, Store

    try:
        dataset = Store(paths).read().datasets.get(dataset_id)
    except NotFoundError:
        raise DriftError(f"There is no dataset {dataset_id!r}; see predictml datasets list.") from None
    job = job_id or _active_job(paths, dataset_id)
    model_features: list[tuple[str, str]] | None = None
    target, problem = dataset.target_column, dataset.problem_type
    if job is not None:
        from predictml_desktop.core.artifacts import ArtifactError
        from predictml_desktop.core.prediction.loading import load_schema

        try:
            schema = load_schema(paths.model_dir(job))
            model_features = [(f.name, f.kind) for f in schema.features]
            target, problem = schema.target, schema.problem_type
        except ArtifactError as exc:
            log.warning("drift: the schema of %s is unreadable (%s); comparing the dataset's columns", job, exc)
    features = dataset_features(dataset, model_features)
    try:
        reference = load_reference(paths, dataset, features, target=target, problem_type=problem)
    except IngestError as exc:
        raise DriftError(f"The training data of {dataset_id} cannot be read: {exc}") from None
    return DriftContext(dataset, reference, thresholds_for(paths), job)


def drift_of_frame(paths: Paths, dataset_id: str, frame: pd.DataFrame, *, source: str = "") -> DriftReport:
    """Compare ``frame`` with the training data of ``dataset_id`` (see `context_for` for the errors)."""
    ctx = context_for(paths, dataset_id)
    return compare(ctx.reference, frame, ctx.thresholds, source=source)


def drift_of_file(paths: Paths, dataset_id: str, file: Path, *, sheet: str | None = None) -> DriftReport:
    """Read a batch input file and compare it with the training data of ``dataset_id``.

    Raises
    ------
    DriftError
        If the dataset is unknown or the file cannot be read (the importer's sentence, naming file and line).
    """
    from predictml_desktop.core.prediction import InputValidationError, read_input_file

    ctx = context_for(paths, dataset_id)
    try:
        frame = read_input_file(Path(file), sheet=sheet)
    except InputValidationError as exc:
        raise DriftError(str(exc)) from None
    return compare(ctx.reference, frame, ctx.thresholds, source=Path(file).name)


def report_path(output: Path) -> Path:
    """Return where the HTML drift report of a predictions file goes: beside it, ``<name>.drift.html``."""
    return output.with_name(output.stem + ".drift.html")


def write_html_report(report: DriftReport, path: Path) -> Path:
    """Write ``report`` as HTML at ``path`` atomically and return the path."""
    from predictml_desktop.core.files import atomic_write_bytes

    atomic_write_bytes(path, report.to_html().encode("utf-8"), keep_backup=False)
    return path
