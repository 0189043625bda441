"""Loading a model: verified first (signature, hash, library versions), unpickled once, then its fast path checked.

Only files this app wrote and whose hash still matches are unpickled (a pickle can run code); the
unpickling itself is `core.modeling.pipeline.load_pipeline`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predictml_desktop.core import evidence as pinned
from predictml_desktop.core.artifacts import (
    ENVIRONMENT_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    ArtifactError,
    InputSchema,
    SchemaError,
    environment_differences,
    read_json,
    verify_model_file,
)
from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.modeling.fast_path import (
    FastPathUnsupported,
    FastPipeline,
    compare_predictions,
    probe_rows,
    try_compile,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.prediction.answers import jsonable
from predictml_desktop.core.prediction.batching import MicroBatcher
from predictml_desktop.core.prediction.errors import InputValidationError, ModelIntegrityError, VersionDriftError
from predictml_desktop.core.prediction.frames import rows_to_frame
from predictml_desktop.core.prediction.running import rows_to_batch, wants_probabilities
from predictml_desktop.core.prediction.validation import validate_rows
from predictml_desktop.core.records import TrainingJob

log = logging.getLogger(__name__)

FAST_PATH_PROBE_ROWS = 200
"""Generated rows on which a compiled pipeline must match the real one before it is used (plus a few
rows alone); 0.2-0.6 s at load."""
FAST_PATH_PENDING = "being checked against the pipeline"


@dataclass
class LoadedModel:
    """A verified, unpickled model and what is needed to validate input for it."""

    dataset_id: str
    job_id: str
    model_name: str
    schema: InputSchema
    pipeline: Any
    sha256: str
    path: Path
    deployment_id: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    version_drift: list[str] = field(default_factory=list)
    """Libraries whose version differs from training (empty when none, or drift was allowed)."""
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """Serialises calls into the pipeline: PyCaret's fitted transformers (category_encoders'
    one-hot encoder) are not thread-safe — concurrent predict calls on one pipeline were seen to
    fail with "cannot reindex on an axis with duplicate labels". The fast path's preprocessing
    runs outside it (fresh arrays, nothing shared); only its estimator call takes it."""
    fast: FastPipeline | None = field(default=None, repr=False, compare=False)
    """The compiled pipeline, set only once it matched the real one (see `attach_fast_path`)."""
    fast_path_reason: str = "not compiled"
    """Why the model uses the path it uses (shown on ``/models``)."""

    @property
    def fast_path(self) -> bool:
        """True if predictions use the compiled pipeline (`core.fast_pipeline`)."""
        return self.fast is not None

    @property
    def problem_type(self) -> str:
        """``classification`` or ``regression``."""
        return self.schema.problem_type

    @property
    def batcher(self) -> MicroBatcher:
        """The model's `MicroBatcher`, created on first use."""
        found = self.__dict__.get("_batcher")
        if found is None:
            with self.lock:
                found = self.__dict__.get("_batcher")
                if found is None:
                    found = MicroBatcher(self)
                    self.__dict__["_batcher"] = found
        return found

    @property
    def classes(self) -> list[Any]:
        """Class labels in the order of the probability columns (classification)."""
        return list(self.schema.classes)

    def info(self) -> dict[str, Any]:
        """Return what ``/models`` lists for this model."""
        return {
            "datasetId": self.dataset_id,
            "deploymentId": self.deployment_id,
            "trainingJobId": self.job_id,
            "modelName": self.model_name,
            "problemType": self.problem_type,
            "target": self.schema.target,
            "features": [f.name for f in self.schema.features],
            "classes": [jsonable(c) for c in self.classes],
            "modelSha256": self.sha256,
            "versionDrift": self.version_drift,
            "fastPath": self.fast_path,
            "fastPathReason": self.fast_path_reason,
        }


def load_schema(model_dir: Path) -> InputSchema:
    """Read a model's ``schema.json``.

    Raises
    ------
    ArtifactError
        If it is missing or malformed.
    """
    doc = read_json(model_dir / SCHEMA_FILE)
    if not isinstance(doc, dict):
        raise ArtifactError(f"The input schema in {model_dir} is not a JSON object.")
    try:
        return InputSchema.from_dict(doc)
    except SchemaError as exc:
        raise ArtifactError(str(exc)) from None


def load_verified(
    paths: Paths,
    job: TrainingJob,
    *,
    expected_sha256: str | None,
    dataset_id: str | None = None,
    deployment_id: str | None = None,
    allow_version_drift: bool = False,
    fast_path: bool = True,
    evidence: dict[str, str] | None = None,
) -> LoadedModel:
    """Verify and load the model of a job.

    The files the approval pinned (``evidence``: schema, environment, model card), the hash, the path
    (inside ``models/``, no symlink) and the library versions are checked first; only then is the
    file unpickled. A missing ``environment.json`` is drift (the versions cannot be compared), never
    a check skipped. With ``fast_path`` the pipeline is then compiled and checked (`attach_fast_path`).

    Raises
    ------
    ModelIntegrityError
        If the file is missing, outside the models folder, or its hash differs from ``expected_sha256``.
    VersionDriftError
        If library versions differ from training and ``allow_version_drift`` is False.
    """
    model_dir = paths.model_dir(job.id)
    path = model_dir / MODEL_FILE
    changed = pinned.problems(paths, job.id, evidence) if evidence else []
    if changed:
        raise ModelIntegrityError(f"The model of {dataset_id or job.id} cannot be used: {'; '.join(changed)}. "
                                  "Restore the file, or approve the model again.")
    try:
        verify_model_file(path, expected_sha256, paths.models)
        schema = load_schema(model_dir)
    except ArtifactError as exc:
        raise ModelIntegrityError(f"The model of {dataset_id or job.id} cannot be used: {exc}") from None
    env: dict[str, Any] = {}
    drift: list[str] = []
    try:
        recorded = read_json(model_dir / ENVIRONMENT_FILE)
        if isinstance(recorded, dict):
            env = recorded
            drift = environment_differences(recorded)
    except ArtifactError:
        drift = [f"the record of the library versions used for training ({ENVIRONMENT_FILE}) is missing or "
                 "unreadable"]
    if drift and not allow_version_drift:
        what = (f"was trained with other library versions: {'; '.join(drift)}" if env else
                f"cannot be checked against the libraries installed here: {drift[0]}")
        raise VersionDriftError(
            f"The model of {dataset_id or job.id} {what}. Retrain it, or confirm that it may be used anyway.",
            details={"differences": drift},
        )
    started = time.perf_counter()
    try:
        pipeline = pycaret_pipeline.load_pipeline(path, drift_allowed=allow_version_drift)
    except Exception as exc:  # noqa: BLE001 - an unreadable pickle is reported, never a traceback
        raise ModelIntegrityError(
            f"The model of {dataset_id or job.id} could not be loaded ({type(exc).__name__}: {exc})."
        ) from None
    model = LoadedModel(
        dataset_id=dataset_id or job.dataset_id,
        job_id=job.id,
        model_name=job.model_name or type(pipeline).__name__,
        schema=schema,
        pipeline=pipeline,
        sha256=str(expected_sha256),
        path=path,
        deployment_id=deployment_id,
        environment=env,
        version_drift=drift,
        fast_path_reason="disabled",
    )
    if fast_path:
        attach_fast_path(model)
    model.load_seconds = time.perf_counter() - started
    return model


def attach_fast_path(model: LoadedModel, *, probe_rows_count: int = FAST_PATH_PROBE_ROWS) -> bool:
    """Compile the model's pipeline and use the compiled form only if it gives the same answers.

    The check runs both on `probe_rows` (typical values, range ends and far beyond, missing values
    where allowed, unseen categories, dates from 1900 to 2100), validated as requests are, in one
    batch and a few rows alone: labels must be identical and probabilities (regression values)
    within 1e-9. Otherwise the reason is logged and the model keeps the normal pipeline.

    Returns
    -------
    bool
        Whether the model now uses the fast path (also `LoadedModel.fast_path`, with the reason in
        `LoadedModel.fast_path_reason`).
    """
    started = time.perf_counter()
    fast, reason = try_compile(model.pipeline, model.schema)
    if fast is not None:
        checked = 0
        try:
            mismatch, checked = _fast_path_mismatch(model, fast, probe_rows_count)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run proves nothing: keep the pipeline
            mismatch = f"the check could not run ({type(exc).__name__}: {exc})"
        if mismatch:
            fast, reason = None, f"differs from the pipeline: {mismatch}"
        else:
            reason = (f"matched the pipeline on {checked} generated rows "
                      f"({len(fast.kernels)} preprocessing steps compiled)")
    model.fast_path_reason = reason
    model.fast = fast  # last: a request reads it once, and uses the compiled form only once it is proven
    if fast is None:
        log.info("%s (%s) uses the full pipeline: %s", model.model_name, model.job_id, reason)
    else:
        log.info("%s (%s) uses the fast path, %s; checked in %.2f s", model.model_name, model.job_id, reason,
                 time.perf_counter() - started)
    return fast is not None


def _fast_path_mismatch(model: LoadedModel, fast: FastPipeline, n: int) -> tuple[str | None, int]:
    schema = model.schema
    accepted: list[dict[str, Any]] = []
    for row in probe_rows(schema, n):
        # Row by row: a generated value the validation refuses costs that row, not the check.
        with contextlib.suppress(InputValidationError):
            accepted += validate_rows(schema, [row], strict=False).rows
    if len(accepted) < n // 2:
        raise ValueError(f"only {len(accepted)} of {n} generated rows were valid input")
    want_proba = wants_probabilities(model)
    regression = model.problem_type != "classification"
    # The batch, and the first rows alone (typical, all missing, all unseen): a lone row gets other
    # column dtypes (a missing value makes its column float or object).
    batches = [accepted] + [accepted[i:i + 1] for i in range(min(4, len(accepted)))]
    for rows in batches:
        try:
            # Under the model's lock: the service checks while the pipeline already serves requests.
            with model.lock:
                expected = pycaret_pipeline.predict(model.pipeline, rows_to_frame(schema, rows),
                                                    probabilities=want_proba)
        except Exception:  # noqa: BLE001 - the pipeline refuses these rows: the fast path must not answer them either
            expected = None
        try:
            got = fast.predict(rows_to_batch(schema, rows), want_proba)
        except FastPathUnsupported:
            continue  # such rows go to the pipeline at prediction time too
        except Exception as exc:  # noqa: BLE001 - whatever the compiled form raises on rows the pipeline accepts disproves it
            if expected is None:
                continue
            return f"it failed on {len(rows)} row(s) the pipeline accepts ({type(exc).__name__}: {exc})", 0
        if expected is None:
            return f"it answered {len(rows)} row(s) the pipeline refuses", 0
        problem = compare_predictions(expected, got, regression=regression)
        if problem:
            return f"{problem} (in a batch of {len(rows)})", 0
    return None, len(accepted)

