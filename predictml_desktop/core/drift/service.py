"""Drift for a dataset id: its model's features, its cached reference, the policy's thresholds.

Used by the batch-file paths (Predict view, ``predictml predict``), ``predictml drift`` and the
Monitoring view. Only the model's ``schema.json`` is read (for its feature names and kinds); the
model itself is never unpickled here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from predictml_desktop.core.drift.reference import Reference, dataset_features, load_reference
from predictml_desktop.core.drift.report import DriftReport, compare, compare_chunks
from predictml_desktop.core.drift.stats import Thresholds
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset
from predictml_desktop.core.settings import load_settings
from predictml_desktop.core.status import DeploymentStatus

log = logging.getLogger(__name__)


DRIFT_CHUNK_ROWS = 50_000
"""Rows read at a time when a file's drift is computed (the batch prediction's chunk size)."""


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


def drift_of_file(paths: Paths, dataset_id: str, file: Path, *, sheet: str | None = None,
                  should_stop: Callable[[], bool] | None = None) -> DriftReport:
    """Compare a batch input file with the training data of ``dataset_id``, reading it a chunk at a time.

    Only counts are kept between chunks, so a file of any length is compared in bounded memory, as
    it is predicted (`core.prediction.predict_file`).

    Raises
    ------
    DriftError
        If the dataset is unknown or the file cannot be read (the importer's sentence, naming file and line).
    InterruptedError
        If ``should_stop`` returned True.
    """
    from predictml_desktop.core.ingest import IngestCancelled, IngestError, iter_table_chunks

    ctx = context_for(paths, dataset_id)
    path = Path(file)

    def chunks() -> Iterator[pd.DataFrame]:
        reader = iter_table_chunks(path, sheet=sheet, chunk_rows=DRIFT_CHUNK_ROWS, should_stop=should_stop)
        try:
            yield from reader
        finally:
            reader.close()

    try:
        return compare_chunks(ctx.reference, chunks(), ctx.thresholds, source=path.name)
    except IngestCancelled:
        raise InterruptedError("Drift stopped.") from None
    except IngestError as exc:
        raise DriftError(str(exc)) from None


def report_path(output: Path) -> Path:
    """Return where the HTML drift report of a predictions file goes: beside it, ``<name>.drift.html``."""
    return output.with_name(output.stem + ".drift.html")


def write_html_report(report: DriftReport, path: Path) -> Path:
    """Write ``report`` as HTML at ``path`` atomically and return the path."""
    from predictml_desktop.core.files import atomic_write_bytes

    atomic_write_bytes(path, report.to_html().encode("utf-8"), keep_backup=False)
    return path
