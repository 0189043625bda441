"""The one prediction path (DESIGN §7, issue 6 item 1) for the Predict view, batch files, the CLI and the service.

- `ModelRegistry` loads the model of each active local deployment once and keeps it. Before any
  unpickling it checks the deployment's signature (`core.deployment`), the model file's SHA-256
  (`core.artifacts.verify_model_file`) and the library versions recorded at training. It notices a
  changed ``deployments.json`` by its file identity, so new deployments are picked up without a
  restart; a request that already holds a model keeps using it while the next one gets the new one.
- `predict_rows` validates rows against the model's ``schema.json`` and answers in the seed's format
  plus per-row warnings (unseen category, value outside the training range). `predict_frame` and
  `write_predictions` do the same for batch files.
- This is the only module that unpickles anything (`_unpickle`): a pickle can run code, so only files
  this app wrote and whose hash still matches are loaded.
- Predictions call the fitted pipeline's own ``predict``/``predict_proba`` — never PyCaret's
  ``predict_model``, which was measured 7–10× slower. Better still, each loaded pipeline is compiled
  into numpy operations (`core.fast_pipeline`, 30-50× cheaper for one row) and the compiled form is
  used only once it gave the same answers as the pipeline on generated rows at load
  (`LoadedModel.fast_path` says which path a model uses, and why).

Input policy (the HTTP service is stricter, see ``server``):

- every feature must be present (all missing ones are named at once); extra keys are ignored and
  listed in ``ignoredColumns`` (MLflow's semantics: clients often send the whole original row);
- ``null`` is accepted only for a feature that had missing values in training (it is imputed);
- numbers must be finite; ``true``/``false`` is never a number; a whole-number feature refuses a
  fraction; with ``strict=False`` (the Python API, the CLI) numbers given as strings are converted;
- a categorical value not seen in training and a number outside the training range are passed to
  the model (PyCaret's encoders treat an unseen category as unknown) and reported as warnings;
- a text cell may hold at most 32,767 characters (Excel's limit); a batch at most 10,000 rows.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core import deployment as deployments
from predictml_desktop.core.artifacts import (
    ENVIRONMENT_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    ArtifactError,
    FeatureSpec,
    InputSchema,
    environment_differences,
    read_json,
    verify_model_file,
)
from predictml_desktop.core.audit import neutralise_cell
from predictml_desktop.core.fast_pipeline import (
    ColumnBatch,
    FastPathUnsupported,
    FastPipeline,
    compare_predictions,
    probe_rows,
    try_compile,
)
from predictml_desktop.core.paths import Paths, safe_name
from predictml_desktop.core.records import Deployment, TrainingJob
from predictml_desktop.core.store import Store, StoreError, atomic_write_bytes

log = logging.getLogger(__name__)

MAX_BATCH_ROWS = 10_000
"""Rows one `predict_rows` call (one HTTP request) may carry; batch files use `predict_frame`."""
MAX_CELL_CHARS = 32_767
CATEGORY_CODE_LIMIT = 1e18
"""Integer category codes beyond ±1e18 are refused (they must fit in int64; 1e18 is exact as a float)."""
NUMBER_LIMIT = 1e22
"""Numbers beyond ±1e22 are refused: no tabular feature is that large, and models overflow on them.
1e22 is the largest power of ten a float holds exactly, so "beyond" means the same for a JSON
integer, a float, and the ``maximum`` of the OpenAPI schema."""
FRAME_CHUNK_ROWS = 5_000
FAST_PATH_PROBE_ROWS = 200
"""Generated rows on which a compiled pipeline must match the real one before it is used (plus a few
rows alone); 0.2-0.6 s at load."""
FAST_PATH_PENDING = "being checked against the pipeline"

_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


# --------------------------------------------------------------------------- errors


@dataclass
class FieldProblem:
    """One invalid input value: where it is and what is wrong with it."""

    field: str
    """The feature name, or ``inputData[3].age`` style for a batch row."""
    message: str
    code: str = "invalid_value"

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form used in error details."""
        return {"field": self.field, "message": self.message, "code": self.code}


class PredictionError(Exception):
    """A prediction that cannot be made; ``status`` and ``code`` map it to an HTTP answer."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_response(self) -> dict[str, Any]:
        """Return the error body: the seed's ``success``/``error`` plus a code and details."""
        return {
            "success": False,
            "error": self.message,
            "error_code": self.code,
            "message": self.message,
            "details": self.details,
        }


class ModelNotDeployedError(PredictionError):
    """No active local deployment for the dataset (the seed's "Model not deployed")."""

    status = 404
    code = "MODEL_NOT_DEPLOYED"


class ModelIntegrityError(PredictionError):
    """The deployment record or the model file was altered after approval; nothing is unpickled."""

    status = 409
    code = "MODEL_INTEGRITY"


class VersionDriftError(PredictionError):
    """The model was trained with other library versions than the running ones."""

    status = 409
    code = "VERSION_DRIFT"


class InputValidationError(PredictionError):
    """Input that does not fit the model's schema; ``problems`` names every bad field."""

    status = 422
    code = "INVALID_INPUT"

    def __init__(self, problems: list[FieldProblem], *, code: str | None = None) -> None:
        self.problems = problems
        if code:
            self.code = code
        first = problems[0].message if problems else "The input is invalid."
        more = f" ({len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(first + more, details=[p.to_dict() for p in problems[:100]])

    @property
    def field(self) -> str | None:
        """The first offending field."""
        return self.problems[0].field if self.problems else None


class BatchTooLargeError(PredictionError):
    """More rows than one request may carry."""

    status = 413
    code = "TOO_MANY_ROWS"


class RecordsUnavailableError(PredictionError):
    """The deployment records cannot be read (a damaged data folder): not the caller's fault."""

    status = 503
    code = "RECORDS_UNAVAILABLE"


class ModelFailedError(PredictionError):
    """The model itself raised on validated input (reported without a traceback)."""

    status = 422
    code = "MODEL_FAILED"


# --------------------------------------------------------------------------- loading


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
            "classes": [_jsonable(c) for c in self.classes],
            "modelSha256": self.sha256,
            "versionDrift": self.version_drift,
            "fastPath": self.fast_path,
            "fastPathReason": self.fast_path_reason,
        }


def _unpickle(path: Path, *, drift_allowed: bool) -> Any:
    """Unpickle a verified model file. The one place in the package that calls ``joblib.load``."""
    import joblib

    with warnings.catch_warnings():
        if not drift_allowed:
            # scikit-learn warns (InconsistentVersionWarning) when a pickle comes from another version;
            # a model that silently changes behaviour must not be served.
            with contextlib.suppress(ImportError):
                from sklearn.exceptions import InconsistentVersionWarning

                warnings.simplefilter("error", InconsistentVersionWarning)
        return joblib.load(path)


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
    return InputSchema.from_dict(doc)


def load_verified(
    paths: Paths,
    job: TrainingJob,
    *,
    expected_sha256: str | None,
    dataset_id: str | None = None,
    deployment_id: str | None = None,
    allow_version_drift: bool = False,
    fast_path: bool = True,
) -> LoadedModel:
    """Verify and load the model of a job.

    The hash, the path (inside ``models/``, no symlink) and the library versions are checked first;
    only then is the file unpickled. With ``fast_path`` the pipeline is then compiled and checked
    (`attach_fast_path`).

    Raises
    ------
    ModelIntegrityError
        If the file is missing, outside the models folder, or its hash differs from ``expected_sha256``.
    VersionDriftError
        If library versions differ from training and ``allow_version_drift`` is False.
    """
    model_dir = paths.model_dir(job.id)
    path = model_dir / MODEL_FILE
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
        drift = ["the library versions used for training were not recorded"]
    if drift and env and not allow_version_drift:
        raise VersionDriftError(
            f"The model of {dataset_id or job.id} was trained with other library versions: {'; '.join(drift)}. "
            "Retrain it, or confirm that it may be used anyway.",
            details={"differences": drift},
        )
    started = time.perf_counter()
    try:
        pipeline = _unpickle(path, drift_allowed=allow_version_drift)
    except Exception as exc:  # an unreadable pickle is reported, never a traceback
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
        except Exception as exc:  # a check that cannot run proves nothing: keep the pipeline
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
    want_proba = _wants_proba(model)
    regression = model.problem_type != "classification"
    # The batch, and the first rows alone (typical, all missing, all unseen): a lone row gets other
    # column dtypes (a missing value makes its column float or object).
    batches = [accepted] + [accepted[i:i + 1] for i in range(min(4, len(accepted)))]
    for rows in batches:
        try:
            # Under the model's lock: the service checks while the pipeline already serves requests.
            with model.lock:
                expected = _predict_with(model.pipeline, rows_to_frame(schema, rows), want_proba)
        except Exception:  # the pipeline refuses these rows: the fast path must not answer them either
            expected = None
        try:
            got = fast.predict(rows_to_batch(schema, rows), want_proba)
        except FastPathUnsupported:
            continue  # such rows go to the pipeline at prediction time too
        except Exception as exc:
            if expected is None:
                continue
            return f"it failed on {len(rows)} row(s) the pipeline accepts ({type(exc).__name__}: {exc})", 0
        if expected is None:
            return f"it answered {len(rows)} row(s) the pipeline refuses", 0
        problem = compare_predictions(expected, got, regression=regression)
        if problem:
            return f"{problem} (in a batch of {len(rows)})", 0
    return None, len(accepted)


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class _Entry:
    deployment: Deployment | None
    problem: PredictionError | None


class ModelRegistry:
    """The models of the active local deployments, each loaded once and kept.

    Safe to share between threads (the HTTP service's thread pool, a GUI worker thread).

    Parameters
    ----------
    paths
        The data home.
    allow_version_drift
        Load models trained with other library versions (after the user confirmed it).
    keep_serving_while_loading
        When a dataset's deployment changes to another valid one, keep answering with the model
        served so far while the new one loads in the background (the service sets this, so an
        approval never makes in-flight or waiting requests fail or time out). An undeployed or
        tampered deployment stops being served at once.
    fast_path
        Compile each loaded pipeline and use the compiled form where it proves equivalent
        (`attach_fast_path`); False always calls the pipeline (the benchmarks' baseline).
    fast_path_in_background
        Serve a loaded model with its pipeline at once and check the compiled form in a background
        thread, switching to it once it matched (the service sets this, so the check never delays
        a request; ``fastPathReason`` on ``/models`` says `FAST_PATH_PENDING` meanwhile).
    """

    def __init__(
        self,
        paths: Paths | None = None,
        *,
        allow_version_drift: bool = False,
        keep_serving_while_loading: bool = False,
        fast_path: bool = True,
        fast_path_in_background: bool = False,
    ) -> None:
        self.paths = paths or Paths.default()
        self.allow_version_drift = allow_version_drift
        self.keep_serving_while_loading = keep_serving_while_loading
        self.fast_path = fast_path
        self.fast_path_in_background = fast_path_in_background
        self._current: dict[str, LoadedModel] = {}
        self._failed: dict[tuple[str, str, str], PredictionError] = {}
        self._loading: set[tuple[str, str, str]] = set()
        self._store = Store(self.paths)
        self._lock = threading.RLock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._records_id: tuple[int, int, int] | bool | None = False
        self._entries: dict[str, _Entry] = {}
        self._models: dict[tuple[str, str, str], LoadedModel] = {}
        self._jobs: dict[str, TrainingJob] = {}

    # ------------------------------------------------------------- records

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the deployment records if ``deployments.json`` changed; return True if it did."""
        ident = _file_identity(self.paths.deployments_file)
        if not force and ident == self._records_id:
            return False
        with self._lock:
            ident = _file_identity(self.paths.deployments_file)
            if not force and ident == self._records_id:
                return False
            tx = self._store.read()  # each file is replaced atomically: a read needs no lock
            entries: dict[str, _Entry] = {}
            try:
                deps = tx.deployments.list()
                jobs = {j.id: j for j in tx.jobs.list()}
            except StoreError as exc:
                log.error("cannot read the deployment records: %s", exc)
                raise RecordsUnavailableError(str(exc)) from None
            key = deployments.signing_key(self.paths) if deps else b""
            by_dataset: dict[str, list[Deployment]] = {}
            for dep in deps:
                if dep.target == deployments.LOCAL and dep.status == "active":
                    by_dataset.setdefault(dep.dataset_id, []).append(dep)
            for dataset_id, found in by_dataset.items():
                if len(found) > 1:
                    entries[dataset_id] = _Entry(None, ModelIntegrityError(
                        f"Dataset {dataset_id} has {len(found)} active deployments; the records were changed "
                        "outside PredictML. Approve the model again."))
                    continue
                dep = found[0]
                if not deployments.signature_valid(self.paths, dep, key=key):
                    entries[dataset_id] = _Entry(None, ModelIntegrityError(
                        f"The deployment of {dataset_id} was changed outside PredictML (its signature does not "
                        "match), so its model is not served. Approve the model again."))
                    continue
                entries[dataset_id] = _Entry(dep, None)
            self._entries = entries
            self._jobs = jobs
            self._records_id = ident
            # Drop models no longer deployed (their memory is released once in-flight requests end).
            live = {(e.deployment.id, e.deployment.training_job_id, e.deployment.model_sha256 or "")
                    for e in entries.values() if e.deployment is not None}
            self._models = {k: v for k, v in self._models.items() if k in live}
            self._failed = {k: v for k, v in self._failed.items() if k in live}
            self._current = {ds: m for ds, m in self._current.items()
                             if ds in entries and entries[ds].deployment is not None}
            return True

    def deployed(self) -> list[dict[str, Any]]:
        """Return the active local deployments as ``/models`` lists them (loaded or not)."""
        self.refresh()
        out: list[dict[str, Any]] = []
        for dataset_id, entry in sorted(self._entries.items()):
            if entry.deployment is None:
                problem = entry.problem.message if entry.problem else ""
                out.append({"datasetId": dataset_id, "status": "refused", "error": problem})
                continue
            dep = entry.deployment
            loaded = self._models.get((dep.id, dep.training_job_id, dep.model_sha256 or ""))
            out.append({
                "datasetId": dataset_id,
                "deploymentId": dep.id,
                "trainingJobId": dep.training_job_id,
                "modelName": dep.model_name,
                "endpoint": f"/predict/{dataset_id}",
                "deployedAt": dep.deployed_at,
                "status": "loaded" if loaded else "ready",
                # Known once loaded: whether predictions use the compiled pipeline, and why (not).
                "fastPath": loaded.fast_path if loaded else None,
                "fastPathReason": loaded.fast_path_reason if loaded else None,
            })
        return out

    def deployment(self, dataset_id: str) -> Deployment:
        """Return the verified active deployment of a dataset.

        Raises
        ------
        ModelNotDeployedError
            If the dataset has none (or the id is not a valid id).
        ModelIntegrityError
            If its record was tampered with.
        """
        try:
            safe_name(dataset_id)
        except ValueError:
            raise ModelNotDeployedError("Model not deployed") from None
        self.refresh()
        entry = self._entries.get(dataset_id)
        if entry is None:
            raise ModelNotDeployedError("Model not deployed")
        if entry.problem is not None:
            raise entry.problem
        assert entry.deployment is not None
        return entry.deployment

    # ------------------------------------------------------------- models

    def get(self, dataset_id: str) -> LoadedModel:
        """Return the loaded model of the dataset's active local deployment.

        Raises
        ------
        ModelNotDeployedError
            No active local deployment ("Model not deployed").
        ModelIntegrityError
            The record or the model file was altered; nothing was unpickled.
        VersionDriftError
            Trained with other library versions (unless allowed).
        """
        dep = self.deployment(dataset_id)
        key = (dep.id, dep.training_job_id, dep.model_sha256 or "")
        model = self._models.get(key)
        if model is not None:
            return model
        failed = self._failed.get(key)
        if failed is not None:
            raise failed
        if self.keep_serving_while_loading:
            previous = self._current.get(dataset_id)
            if previous is not None:
                self._load_in_background(dataset_id, dep, key)
                return previous
        return self._load(dataset_id, dep, key)

    def _load(self, dataset_id: str, dep: Deployment, key: tuple[str, str, str]) -> LoadedModel:
        with self._lock:
            load_lock = self._load_locks.setdefault(dataset_id, threading.Lock())
        with load_lock:
            model = self._models.get(key)
            if model is not None:
                return model
            job = self._jobs.get(dep.training_job_id)
            if job is None:
                raise ModelIntegrityError(
                    f"The training job {dep.training_job_id} of the deployment of {dataset_id} no longer exists."
                )
            later = self.fast_path and self.fast_path_in_background
            model = load_verified(
                self.paths, job, expected_sha256=dep.model_sha256, dataset_id=dataset_id,
                deployment_id=dep.id, allow_version_drift=self.allow_version_drift,
                fast_path=self.fast_path and not later,
            )
            if later:
                model.fast_path_reason = FAST_PATH_PENDING
                threading.Thread(target=attach_fast_path, args=(model,), name=f"fast-path-{dataset_id}",
                                 daemon=True).start()
            with self._lock:
                self._models[key] = model
                self._current[dataset_id] = model
            log.info("loaded %s for %s in %.2f s", model.model_name, dataset_id, model.load_seconds)
            return model

    def _load_in_background(self, dataset_id: str, dep: Deployment, key: tuple[str, str, str]) -> None:
        with self._lock:
            if key in self._loading:
                return
            self._loading.add(key)

        def work() -> None:
            try:
                self._load(dataset_id, dep, key)
            except PredictionError as exc:
                with self._lock:
                    self._failed[key] = exc
                    self._current.pop(dataset_id, None)
            except Exception as exc:  # reported to the next request, never lost
                log.exception("loading the new model of %s failed", dataset_id)
                with self._lock:
                    self._failed[key] = ModelIntegrityError(f"The new model of {dataset_id} could not be loaded: {exc}")
                    self._current.pop(dataset_id, None)
            finally:
                with self._lock:
                    self._loading.discard(key)

        threading.Thread(target=work, name=f"load-{dataset_id}", daemon=True).start()

    def load_job(self, job_id: str) -> LoadedModel:
        """Load the model of any trained job (to try it before approval), checked against the job's hash.

        Raises
        ------
        ModelIntegrityError, VersionDriftError
            As for `get`.
        """
        job = self._store.read().jobs.get(job_id)
        return load_verified(self.paths, job, expected_sha256=job.model_sha256,
                             allow_version_drift=self.allow_version_drift, fast_path=self.fast_path)

    def preload(self) -> list[str]:
        """Load every deployed model now (the service does it in the background); return the problems."""
        problems = []
        self.refresh()
        for dataset_id in list(self._entries):
            try:
                self.get(dataset_id)
            except PredictionError as exc:
                problems.append(exc.message)
        return problems


# --------------------------------------------------------------------------- validation


_MIN_DATE = datetime(1678, 1, 1)
_MAX_DATE = datetime(2261, 12, 31)
"""pandas' nanosecond timestamps cover 1677-09-21 to 2262-04-11; a date outside cannot reach the model."""


def parse_date(text: str) -> datetime | None:
    """Return ``text`` as a naive UTC datetime, or None if it is not a date pandas could hold.

    ISO 8601 is parsed directly (fast); anything else goes through pandas' flexible parser, as the
    training's date conversion did. A time zone is converted to UTC and dropped, as in training.
    """
    value = text.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas warns when it falls back to dateutil
                stamp = pd.to_datetime(value, errors="raise", format="mixed")
        except (ValueError, TypeError, OverflowError):
            return None
        if pd.isna(stamp):
            return None
        parsed = stamp.to_pydatetime()
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if not _MIN_DATE <= parsed <= _MAX_DATE:
        return None
    return parsed


def _category_type(spec: FeatureSpec) -> str:
    cats = [c for c in (spec.categories or []) if c is not None]
    if not cats:
        return "int" if spec.dtype.startswith(("int", "uint")) else "str"
    if all(isinstance(c, bool) for c in cats):
        return "bool"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in cats):
        return "int"
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in cats):
        return "float"
    if all(isinstance(c, str) for c in cats):
        return "str"
    return "mixed"


def category_type(spec: FeatureSpec) -> str:
    """Return the JSON type of a categorical feature's values: ``str``, ``int``, ``float``, ``bool`` or ``mixed``."""
    return _category_type(spec)


def _fmt_num(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.6g}"


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """Validates values of one feature; collects problems and warnings."""

    def __init__(self, spec: FeatureSpec, strict: bool) -> None:
        self.spec = spec
        self.strict = strict
        self.kind = spec.kind
        self.cat_type = _category_type(spec) if spec.kind == "categorical" else ""
        cats = spec.categories or []
        self.known = {(type(c) is str, c) for c in cats if c is not None} if cats else set()
        self.has_categories = bool(cats)

    def check(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        """Return (converted value, warning or None, problem or None)."""
        spec = self.spec
        if value is None or (isinstance(value, float) and math.isnan(value) and not self.strict):
            if spec.nullable:
                if self.kind == "datetime":
                    return self._default_date(where, " is missing")
                return None, None, None
            return None, None, FieldProblem(
                where, f"{where} is required: it had no missing values in training.", "missing_value")
        kind = self.kind
        if kind == "numeric":
            return self._numeric(value, where)
        if kind == "categorical":
            return self._categorical(value, where)
        if kind == "boolean":
            return self._boolean(value, where)
        if kind == "datetime":
            return self._datetime(value, where)
        return self._text(value, where)

    def _numeric(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        spec = self.spec
        if isinstance(value, bool):
            return None, None, FieldProblem(where, f"{where} must be a number, not {str(value).lower()}.", "wrong_type")
        if isinstance(value, str):
            if self.strict:
                return None, None, FieldProblem(where, f"{where} must be a number, not the string {_describe(value)}.",
                                                "wrong_type")
            text = value.strip()
            if not text:
                if spec.nullable:
                    return None, None, None
                return None, None, FieldProblem(where, f"{where} is required: it had no missing values in training.",
                                                "missing_value")
            try:
                value = float(text.replace(",", "")) if text.count(",") and "." in text else float(text)
            except ValueError:
                return None, None, FieldProblem(where, f"{where} must be a number, not {_describe(value)}.",
                                                "wrong_type")
        if isinstance(value, (np.integer, np.floating)):
            value = value.item()
        if not isinstance(value, (int, float)):
            return None, None, FieldProblem(where, f"{where} must be a number, not {type(value).__name__}.",
                                            "wrong_type")
        if isinstance(value, float) and not math.isfinite(value):
            return None, None, FieldProblem(where, f"{where} must be a finite number, not {value}.", "not_finite")
        # Compared before the conversion: Python compares a big int and a float exactly.
        if abs(value) > NUMBER_LIMIT:
            return None, None, FieldProblem(where, f"{where} is too large a number (beyond ±1e22).", "out_of_bounds")
        number = float(value)
        if spec.integer and not number.is_integer():
            return None, None, FieldProblem(where, f"{where} must be a whole number, not {_fmt_num(number)}.",
                                            "not_integer")
        warning = None
        if spec.minimum is not None and number < spec.minimum:
            warning = (f"{where}={_fmt_num(number)} is below the training range "
                       f"({_fmt_num(spec.minimum)} to {_fmt_num(spec.maximum or spec.minimum)}).")
        elif spec.maximum is not None and number > spec.maximum:
            warning = (f"{where}={_fmt_num(number)} is above the training range "
                       f"({_fmt_num(spec.minimum if spec.minimum is not None else spec.maximum)} to "
                       f"{_fmt_num(spec.maximum)}).")
        return number, warning, None

    def _unseen(self, value: Any, where: str) -> str | None:
        if not self.has_categories:
            return None
        if (type(value) is str, value) in self.known:
            return None
        if not isinstance(value, str) and (False, value) in self.known:
            return None
        return f"{where}={_describe(value)} was not seen in training; the model treats it as an unknown category."

    def _categorical(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        ct = self.cat_type
        if isinstance(value, (np.generic,)):
            value = value.item()
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            return None, None, FieldProblem(where, f"{where} has {len(value)} characters; at most "
                                            f"{MAX_CELL_CHARS} are accepted.", "too_long")
        if ct == "str":
            if isinstance(value, str):
                return value, self._unseen(value, where), None
            if self.strict or isinstance(value, bool) or not isinstance(value, (int, float)):
                return None, None, FieldProblem(where, f"{where} must be a string, not {_describe(value)}.",
                                                "wrong_type")
            if isinstance(value, float) and not math.isfinite(value):
                return None, None, FieldProblem(where, f"{where} must be a string, not {value}.", "wrong_type")
            text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            return text, self._unseen(text, where), None
        if ct in ("int", "float"):
            if isinstance(value, str) and not self.strict:
                try:
                    num = float(value.strip())
                except ValueError:
                    return None, None, FieldProblem(where, f"{where} must be a number, not {_describe(value)}.",
                                                    "wrong_type")
                value = int(num) if num.is_integer() and ct == "int" else num
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None, None, FieldProblem(where, f"{where} must be a number, not {_describe(value)}.",
                                                "wrong_type")
            if isinstance(value, float):
                if not math.isfinite(value):
                    return None, None, FieldProblem(where, f"{where} must be a finite number, not {value}.",
                                                    "not_finite")
                if ct == "int":
                    if not value.is_integer():
                        return None, None, FieldProblem(where, f"{where} must be a whole number, not "
                                                        f"{_fmt_num(value)}.", "not_integer")
                    value = int(value)
            if abs(value) > CATEGORY_CODE_LIMIT:
                return None, None, FieldProblem(where, f"{where} is too large a number (beyond ±1e18).",
                                                "out_of_bounds")
            return value, self._unseen(value, where), None
        if ct == "bool":
            return self._boolean(value, where)
        # mixed: strings and numbers both accepted as they are
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None, None, FieldProblem(where, f"{where} must be a string or a number, not {_describe(value)}.",
                                            "wrong_type")
        if isinstance(value, float) and not math.isfinite(value):
            return None, None, FieldProblem(where, f"{where} must be a finite number, not {value}.", "not_finite")
        return value, self._unseen(value, where), None

    def _boolean(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        if isinstance(value, (bool, np.bool_)):
            return bool(value), None, None
        if not self.strict:
            if isinstance(value, str) and value.strip().casefold() in _TRUE | _FALSE:
                return value.strip().casefold() in _TRUE, None, None
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value), None, None
        return None, None, FieldProblem(where, f"{where} must be true or false, not {_describe(value)}.",
                                        "wrong_type")

    def _datetime(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        if isinstance(value, str):
            if len(value) > MAX_CELL_CHARS:
                return None, None, FieldProblem(where, f"{where} is too long to be a date.", "too_long")
            parsed = parse_date(value)
            if parsed is None:
                if self.strict:
                    # The HTTP schema says "string"; a string that is not a date is replaced (with a
                    # warning) rather than refused.
                    return self._default_date(where, f"={_describe(value)} is not a date")
                return None, None, FieldProblem(where, f"{where} must be a date such as 2024-01-31, not "
                                                f"{_describe(value)}.", "wrong_type")
            return parsed, None, None
        if not self.strict and isinstance(value, (datetime, date)):
            parsed = parse_date(value.isoformat())
            if parsed is not None:
                return parsed, None, None
        return None, None, FieldProblem(where, f"{where} must be a date string, not {_describe(value)}.",
                                        "wrong_type")

    def _default_date(self, where: str, why: str) -> tuple[Any, str | None, FieldProblem | None]:
        # PyCaret's date-feature step drops the year/month/day columns of a batch whose dates are
        # all missing, and the model then fails on the missing columns: a missing date is replaced
        # by the training's median date instead, with a warning.
        default = parse_date(str(self.spec.default)) if self.spec.default is not None else None
        if default is None:
            default = datetime(2000, 1, 1)
        return default, f"{where}{why}; the training's median date {default.date().isoformat()} is used.", None

    def _text(self, value: Any, where: str) -> tuple[Any, str | None, FieldProblem | None]:
        if isinstance(value, str):
            if len(value) > MAX_CELL_CHARS:
                return None, None, FieldProblem(where, f"{where} has {len(value)} characters; at most "
                                                f"{MAX_CELL_CHARS} are accepted.", "too_long")
            return value, None, None
        if not self.strict and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value), None, None
        return None, None, FieldProblem(where, f"{where} must be a string, not {_describe(value)}.", "wrong_type")


@dataclass
class ValidatedRows:
    """Rows converted to the model's feature types, with warnings per row."""

    rows: list[dict[str, Any]]
    warnings: list[list[str]]
    ignored_columns: list[str]


def validate_rows(
    schema: InputSchema,
    rows: Sequence[Mapping[str, Any]],
    *,
    strict: bool = False,
    max_rows: int = MAX_BATCH_ROWS,
    single: bool = False,
) -> ValidatedRows:
    """Check rows against the schema and convert their values (see the module's input policy).

    Parameters
    ----------
    schema
        The model's input schema.
    rows
        One mapping per row.
    strict
        Refuse numbers given as strings and similar conversions (the HTTP API).
    max_rows
        More rows raise `BatchTooLargeError`.
    single
        Name fields ``age`` rather than ``inputData[0].age`` in messages (one-row requests).

    Raises
    ------
    InputValidationError
        Naming every missing feature of the first incomplete row, or the bad values (up to 100).
    BatchTooLargeError
        Over ``max_rows``.
    """
    if len(rows) == 0:
        raise InputValidationError([FieldProblem("inputData", "inputData holds no rows; send at least one.",
                                                 "empty_batch")])
    if len(rows) > max_rows:
        raise BatchTooLargeError(
            f"inputData has {len(rows)} rows; at most {max_rows} are accepted per request.",
            details={"rows": len(rows), "limit": max_rows},
        )
    checkers = [(f.name, _Checker(f, strict)) for f in schema.features]
    names = {f.name for f in schema.features}
    problems: list[FieldProblem] = []
    out_rows: list[dict[str, Any]] = []
    out_warnings: list[list[str]] = []
    ignored: dict[str, None] = {}
    for i, row in enumerate(rows):
        prefix = "" if single else f"inputData[{i}]."
        if not isinstance(row, Mapping):
            problems.append(FieldProblem(prefix.rstrip(".") or "inputData",
                                         f"{prefix.rstrip('.') or 'inputData'} must be an object of feature values.",
                                         "wrong_type"))
            continue
        missing = [n for n, _ in checkers if n not in row]
        if missing:
            problems.append(FieldProblem(
                prefix + missing[0],
                f"{'Row ' + str(i) + ' is' if not single else 'The input is'} missing "
                f"{len(missing)} feature(s): {', '.join(missing)}.", "missing_feature"))
            if len(problems) >= 100:
                break
            continue
        for key in row:
            if key not in names:
                ignored.setdefault(str(key), None)
        converted: dict[str, Any] = {}
        row_warnings: list[str] = []
        for name, checker in checkers:
            value, warning, problem = checker.check(row[name], prefix + name)
            if problem is not None:
                problems.append(problem)
            else:
                converted[name] = value
                if warning:
                    row_warnings.append(warning)
        out_rows.append(converted)
        out_warnings.append(row_warnings)
        if len(problems) >= 100:
            break
    if problems:
        code = "MISSING_FEATURE" if problems[0].code == "missing_feature" else None
        raise InputValidationError(problems, code=code)
    return ValidatedRows(out_rows, out_warnings, list(ignored))


def frame_dtypes(schema: InputSchema) -> dict[str, str]:
    """Return the pandas dtype each feature column gets before it reaches the pipeline."""
    out = {}
    for f in schema.features:
        if f.kind == "numeric":
            out[f.name] = "float64"
        elif f.kind == "boolean":
            # As in training (core.training.dataprep): the pipeline's imputer refuses a bool column.
            out[f.name] = "object"
        elif f.kind == "datetime":
            out[f.name] = "datetime64[ns]"
        elif f.kind == "categorical" and _category_type(f) in ("int", "float"):
            out[f.name] = "float64" if _category_type(f) == "float" else "int64"
        else:
            out[f.name] = "object"
    return out


def rows_to_frame(schema: InputSchema, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build the DataFrame the pipeline receives: feature columns in training order, training-like dtypes.

    A column that holds a missing value falls back to a dtype that can hold it (float64 or object).
    """
    return rows_to_batch(schema, rows).to_frame()


def rows_to_batch(schema: InputSchema, rows: list[dict[str, Any]]) -> ColumnBatch:
    """Return `rows_to_frame`'s columns as numpy arrays, without building the DataFrame.

    The fast path reads these directly; building the DataFrame costs more than the whole compiled
    prediction of one row.
    """
    dtypes = frame_dtypes(schema)
    data: dict[str, np.ndarray] = {}
    for f in schema.features:
        values = [r.get(f.name) for r in rows]
        want = dtypes[f.name]
        has_none = any(v is None for v in values)
        if want == "float64":
            data[f.name] = np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
        elif want == "int64":
            data[f.name] = (np.array([np.nan if v is None else float(v) for v in values], dtype="float64")
                            if has_none else np.array(values, dtype="int64"))
        elif want == "datetime64[ns]":
            # Values are naive datetimes already (see parse_date): numpy converts them exactly, and
            # faster than pandas; anything else keeps pandas' conversion (and its errors).
            if all(v is None or (type(v) is datetime and v.tzinfo is None) for v in values):
                data[f.name] = np.array([np.datetime64("NaT") if v is None else v for v in values],
                                        dtype="datetime64[ns]")
            else:
                data[f.name] = pd.Series([pd.NaT if v is None else v for v in values],
                                         dtype="datetime64[ns]").to_numpy()
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = [np.nan if v is None else v for v in values]
            data[f.name] = arr
    return ColumnBatch(data, [f.name for f in schema.features])


# --------------------------------------------------------------------------- predicting


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def class_key(label: Any) -> str:
    """Return the probability key of a class label, as the seed names it: ``class_<label>``."""
    label = _jsonable(label)
    if isinstance(label, bool):
        return f"class_{label}"
    if isinstance(label, float) and label.is_integer():
        return f"class_{int(label)}"
    return f"class_{label}"


def _shares_transform(pipeline: Any) -> bool:
    return (type(pipeline).__module__ == "pycaret.internal.pipeline"
            and callable(getattr(pipeline, "_memory_full_transform", None))
            and callable(getattr(pipeline, "inverse_transform", None))
            and bool(getattr(pipeline, "steps", None)))


def _predict_with(pipeline: Any, frame: pd.DataFrame, want_proba: bool) -> tuple[np.ndarray, Any]:
    """Return the pipeline's predictions (and class probabilities when asked)."""
    if want_proba and _shares_transform(pipeline):
        # PyCaret's Pipeline.predict and Pipeline.predict_proba each run the whole preprocessing
        # (about 25 ms a row here). These lines are exactly their bodies (pycaret 3.3.2,
        # internal/pipeline.py) sharing one transform, which halves a classifier's latency; the
        # tests check the result equals the two calls.
        transformed, _ = pipeline._memory_full_transform(pipeline, frame, None, with_final=False)
        final = pipeline.steps[-1][-1]
        predictions = np.asarray(pipeline.inverse_transform(final.predict(transformed)))
        return predictions, final.predict_proba(transformed)
    predictions = np.asarray(pipeline.predict(frame))
    return predictions, (pipeline.predict_proba(frame) if want_proba else None)


def _wants_proba(model: LoadedModel) -> bool:
    return model.problem_type == "classification" and hasattr(model.pipeline, "predict_proba")


def _run_fast(model: LoadedModel, fast: FastPipeline, features: pd.DataFrame | ColumnBatch,
              want_proba: bool) -> tuple[np.ndarray, Any] | None:
    """Predict with the compiled pipeline; None when these rows need the full pipeline."""
    try:
        X = fast.transform(features)  # no lock: numpy on arrays of this call only
        with model.lock:  # the estimator's own thread-safety is not promised by every library
            return fast.predict_transformed(X, want_proba)
    except FastPathUnsupported as exc:
        log.debug("rows for %s take the full pipeline: %s", model.dataset_id, exc)
    except Exception as exc:  # the full pipeline gives the answer, or the error, it always gave
        log.debug("the fast path failed for %s (%s: %s); using the full pipeline", model.dataset_id,
                  type(exc).__name__, exc)
    return None


def _run_pipeline(model: LoadedModel, features: pd.DataFrame | ColumnBatch) -> tuple[np.ndarray, np.ndarray | None]:
    pipeline = model.pipeline
    try:
        # No warnings.catch_warnings() here: it swaps process-wide state and is not thread-safe.
        want_proba = _wants_proba(model)
        fast = model.fast
        answer = _run_fast(model, fast, features, want_proba) if fast is not None else None
        if answer is None:
            frame = features.to_frame() if isinstance(features, ColumnBatch) else features
            with model.lock:
                answer = _predict_with(pipeline, frame, want_proba)
        predictions, proba = answer
        probabilities = None if proba is None else np.asarray(proba, dtype="float64")
    except Exception as exc:  # the model refusing validated input is reported, never a traceback
        log.warning("the model of %s failed on %d row(s): %s", model.dataset_id, len(features), exc, exc_info=True)
        raise ModelFailedError(
            f"The model could not make a prediction for this input ({type(exc).__name__}: {str(exc)[:200]})."
        ) from None
    return predictions, probabilities


def _class_labels(model: LoadedModel, n_columns: int) -> list[Any]:
    labels = model.classes
    if len(labels) == n_columns:
        return labels
    fitted = getattr(model.pipeline, "classes_", None)
    if fitted is not None and len(fitted) == n_columns:
        # PyCaret encodes labels; the pipeline's inverse transform gives the original ones.
        with contextlib.suppress(Exception):
            return list(model.pipeline.inverse_transform(np.asarray(fitted)))
        return list(fitted)
    return list(range(n_columns))


@dataclass
class PredictionResult:
    """Predictions for a list of rows, ready for the seed's response format."""

    dataset_id: str
    model_name: str
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    warnings: list[list[str]]
    ignored_columns: list[str] = field(default_factory=list)
    deployment_id: str | None = None
    seconds: float = 0.0

    def to_response(self) -> dict[str, Any]:
        """Return the seed's response: ``success``, ``datasetId``, ``modelName``, ``prediction``, ``probability``.

        Plus ``warnings`` (one list per row) and ``ignoredColumns``. ``probability`` is present only
        for classifiers.
        """
        out: dict[str, Any] = {
            "success": True,
            "datasetId": self.dataset_id,
            "modelName": self.model_name,
            "prediction": self.predictions,
        }
        if self.probabilities is not None:
            out["probability"] = self.probabilities
        out["warnings"] = self.warnings
        out["ignoredColumns"] = self.ignored_columns
        return out


def _result(model: LoadedModel, validated: ValidatedRows, predictions: np.ndarray,
            probabilities: np.ndarray | None, started: float) -> PredictionResult:
    preds = [_jsonable(p) for p in predictions.tolist()]
    probs = None
    if probabilities is not None:
        keys = [class_key(c) for c in _class_labels(model, probabilities.shape[1])]
        probs = [dict(zip(keys, (float(p) for p in row), strict=True)) for row in probabilities.tolist()]
    return PredictionResult(
        dataset_id=model.dataset_id,
        model_name=model.model_name,
        predictions=preds,
        probabilities=probs,
        warnings=validated.warnings,
        ignored_columns=validated.ignored_columns,
        deployment_id=model.deployment_id,
        seconds=time.perf_counter() - started,
    )


def predict_validated(model: LoadedModel, validated: ValidatedRows, *, batched: bool = False) -> PredictionResult:
    """Predict rows that `validate_rows` accepted.

    Parameters
    ----------
    model
        The loaded model.
    validated
        From `validate_rows`.
    batched
        Let the model's `MicroBatcher` merge these rows with other threads' concurrent requests
        into one pipeline call (the HTTP service sets this; see `MicroBatcher`).
    """
    started = time.perf_counter()
    if batched and len(validated.rows) < MicroBatcher.MAX_ROWS:
        predictions, probabilities = model.batcher.predict(validated.rows)
    else:
        predictions, probabilities = _run_pipeline(model, rows_to_batch(model.schema, validated.rows))
    return _result(model, validated, predictions, probabilities, started)


class MicroBatcher:
    """Merges concurrent small prediction requests for one model into one pipeline call.

    Calls into one model are serialised (see `LoadedModel.lock`), and one call for many rows costs
    little more than for one (the estimator's per-call overhead dominates; for the full pipeline,
    tens of milliseconds of pandas work per step). So the requests that arrive while a call runs
    queue up, and the next call takes all of them at once (adaptive batching, as in BentoML or
    Triton). The calling threads take turns as the leader (no dedicated thread): a request that
    finds no call running makes the call itself, so a lone request is predicted in its own thread
    without a hand-off; one that finds a call running waits, and when the call ends one of the
    waiting requests leads the next call with everything queued by then. If a merged call fails,
    each request is retried alone, so one request's bad input never fails another's. Vectorised
    arithmetic may differ in the last bit between a row predicted alone and in a batch
    (probabilities agree within 1e-12).
    """

    MAX_ROWS = 256
    """Requests this large or larger are not merged."""
    GATHER_S = 0.004
    """The longest a call waits for more requests when the previous one merged several."""

    def __init__(self, model: LoadedModel) -> None:
        from collections import deque

        self._model = model
        self._cond = threading.Condition()
        self._queue: deque[tuple[list[dict[str, Any]], Any]] = deque()
        self._running = False
        self._gather_s = 0.0

    def predict(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (predictions, probabilities) for ``rows``, computed in a shared pipeline call.

        Raises
        ------
        ModelFailedError
            If the model fails on these rows.
        """
        from concurrent.futures import Future

        future: Future[tuple[np.ndarray, np.ndarray | None]] = Future()
        with self._cond:
            self._queue.append((rows, future))
        while not future.done():
            with self._cond:
                while self._running and not future.done():
                    self._cond.wait()
                if future.done():
                    break
                self._running = True
            try:
                self._lead()
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()
        return future.result()

    def _lead(self) -> None:
        if self._gather_s:
            # Under concurrency (the last call merged requests), wait a moment for the requests being
            # validated right now: otherwise calls alternate between one row and the rest. About as
            # long as a call takes (the fast path's calls are short), never more than GATHER_S.
            time.sleep(self._gather_s)
        with self._cond:
            items: list[tuple[list[dict[str, Any]], Any]] = []
            total = 0
            while self._queue and (not items or total < self.MAX_ROWS):
                item = self._queue.popleft()
                items.append(item)
                total += len(item[0])
        started = time.perf_counter()
        try:
            self._run(items)
        except BaseException:  # interrupted: no request may be left waiting for an answer
            for _, future in items:
                if not future.done():
                    future.set_exception(ModelFailedError("The prediction was interrupted."))
            raise
        self._gather_s = min(self.GATHER_S, time.perf_counter() - started) if len(items) > 1 else 0.0

    def _run(self, items: list[tuple[list[dict[str, Any]], Any]]) -> None:
        model = self._model
        if len(items) > 1:
            try:
                merged = [row for rows, _ in items for row in rows]
                predictions, probabilities = _run_pipeline(model, rows_to_batch(model.schema, merged))
            except Exception:
                pass  # isolate the request the model cannot handle: each one alone below
            else:
                start = 0
                for rows, future in items:
                    end = start + len(rows)
                    future.set_result((predictions[start:end],
                                       None if probabilities is None else probabilities[start:end]))
                    start = end
                return
        for rows, future in items:
            try:
                future.set_result(_run_pipeline(model, rows_to_batch(model.schema, rows)))
            except ModelFailedError as exc:
                future.set_exception(exc)
            except Exception as exc:  # never leave a waiting request hanging, never a traceback
                future.set_exception(ModelFailedError(
                    f"The model could not make a prediction for this input ({type(exc).__name__})."))


def predict_rows(
    model: LoadedModel,
    rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    strict: bool = False,
    max_rows: int = MAX_BATCH_ROWS,
) -> PredictionResult:
    """Validate one row (a mapping) or a batch (a list of mappings) and predict it.

    Parameters
    ----------
    model
        From `ModelRegistry.get`.
    rows
        ``{"age": 41, ...}`` or ``[{...}, {...}]``.
    strict
        Refuse numbers given as strings (the HTTP API is strict; the Python API and CLI are not).
    max_rows
        The batch limit (`BatchTooLargeError` above it).

    Raises
    ------
    InputValidationError
        A missing feature, wrong type, non-finite number, empty batch... naming the field.
    BatchTooLargeError
        Too many rows.
    ModelFailedError
        The model raised on the validated input.
    """
    single = isinstance(rows, Mapping)
    batch: Sequence[Mapping[str, Any]] = [rows] if isinstance(rows, Mapping) else rows
    if isinstance(rows, (str, bytes)) or not isinstance(batch, Sequence):
        raise InputValidationError([FieldProblem("inputData", "inputData must be an object or a list of objects.",
                                                 "wrong_type")])
    validated = validate_rows(model.schema, batch, strict=strict, max_rows=max_rows, single=single)
    return predict_validated(model, validated)


# --------------------------------------------------------------------------- batch files


def _convert_column(spec: FeatureSpec, raw: pd.Series) -> tuple[pd.Series, list[list[str]]]:
    """Vectorised conversion of one input column of a batch file; returns values and per-row warnings."""
    n = len(raw)
    blank = raw.isna() | raw.astype(str).str.strip().eq("")
    warnings_per_row: list[list[str]] = [[] for _ in range(n)]

    def note(mask: np.ndarray, make: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            warnings_per_row[i].append(make(int(i)))

    if spec.kind == "numeric" or (spec.kind == "categorical" and _category_type(spec) in ("int", "float")):
        if raw.dtype == bool:
            values = pd.Series(np.full(n, np.nan), index=raw.index)
            bad = np.ones(n, dtype=bool)
        else:
            values = pd.to_numeric(raw.where(~blank), errors="coerce").astype("float64")
            bad = (values.isna() & ~blank).to_numpy()
            inf = ~np.isfinite(values.fillna(0).to_numpy())
            values = values.where(~inf)
            bad = bad | inf
        note(bad, lambda i: f"{spec.name}={_describe(raw.iat[i])} is not a number; it is treated as missing.")
        if spec.kind == "numeric":
            arr = values.to_numpy()
            if spec.minimum is not None:
                note(arr < spec.minimum, lambda i: f"{spec.name}={_fmt_num(arr[i])} is below the training range.")
            if spec.maximum is not None:
                note(arr > spec.maximum, lambda i: f"{spec.name}={_fmt_num(arr[i])} is above the training range.")
        else:
            known = {float(c) for c in spec.categories or [] if isinstance(c, (int, float))}
            arr = values.to_numpy()
            if known:
                note(~np.isnan(arr) & ~np.isin(arr, list(known)),
                     lambda i: f"{spec.name}={_fmt_num(arr[i])} was not seen in training.")
            if _category_type(spec) == "int" and not values.isna().any():
                return values.astype("int64"), warnings_per_row
    elif spec.kind == "boolean":
        text = raw.astype(str).str.strip().str.casefold()
        truth = text.isin(_TRUE) | raw.isin([True])
        falsity = text.isin(_FALSE) | raw.isin([False])
        bad = (~truth & ~falsity & ~blank).to_numpy()
        note(bad, lambda i: f"{spec.name}={_describe(raw.iat[i])} is not true or false; it is treated as missing.")
        missing = blank.to_numpy() | bad
        values = pd.Series(np.where(truth, True, False), index=raw.index, dtype=object)
        if missing.any():
            values = values.where(~missing, None)
    elif spec.kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            values = raw if getattr(raw.dt, "tz", None) is None else raw.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            # ISO 8601 in one vectorised pass; the rest one by one with the same rules as a single row.
            values = pd.to_datetime(raw.where(~blank), errors="coerce", format="ISO8601", utc=True)
            values = values.dt.tz_localize(None).astype("datetime64[ns]")
            retry = (values.isna() & ~blank).to_numpy()
            if retry.any():
                values = values.copy()
                for i in np.flatnonzero(retry):
                    parsed = parse_date(str(raw.iat[i]))
                    if parsed is not None:
                        values.iat[i] = parsed
        bad = (values.isna() & ~blank).to_numpy()
        default = parse_date(str(spec.default)) if spec.default is not None else None
        shown = (default or datetime(2000, 1, 1)).date().isoformat()
        note(bad, lambda i: f"{spec.name}={_describe(raw.iat[i])} is not a date; the training's median date "
             f"{shown} is used.")
        note(blank.to_numpy(), lambda i: f"{spec.name} is empty; the training's median date "
             f"{shown} is used.")
        # See _Checker._default_date: a chunk whose dates are all missing would make the model fail.
        values = values.fillna(pd.Timestamp(default or datetime(2000, 1, 1)))
    else:
        def as_text(v: Any) -> Any:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return np.nan
            if isinstance(v, float) and v.is_integer():
                return str(int(v))
            return v if isinstance(v, str) else str(v)

        values = raw.map(as_text).astype(object)
        values = values.where(~blank, np.nan)
        if spec.kind == "categorical" and spec.categories:
            known_s = {str(c) for c in spec.categories}
            unseen = (~blank & ~values.isin(known_s)).to_numpy()
            note(unseen, lambda i: f"{spec.name}={_describe(values.iat[i])} was not seen in training.")
    missing_not_allowed = blank.to_numpy() & (not spec.nullable) & (spec.kind != "datetime")
    note(missing_not_allowed, lambda i: f"{spec.name} is empty; the model imputes it.")
    return values.reset_index(drop=True), warnings_per_row


def predict_frame(
    model: LoadedModel,
    frame: pd.DataFrame,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    chunk_rows: int = FRAME_CHUNK_ROWS,
) -> pd.DataFrame:
    """Predict every row of a table (a batch file) and return it with the results appended.

    The result holds the input columns, ``prediction``, one ``probability_<class>`` column per class
    (classifiers) and ``warnings``. Values that cannot be read (a word in a number column) are
    treated as missing and reported in ``warnings`` rather than failing the whole file.

    Parameters
    ----------
    model
        From `ModelRegistry.get`.
    frame
        The input table; extra columns are kept in the output and ignored by the model.
    progress
        Called with (fraction done, message) between chunks.
    should_stop
        Checked between chunks; True stops with `InterruptedError`.
    chunk_rows
        Rows per pipeline call.

    Raises
    ------
    InputValidationError
        If feature columns are missing (all are named).
    ModelFailedError
        If the model raises.
    InterruptedError
        If ``should_stop`` returned True.
    """
    missing = [f.name for f in model.schema.features if f.name not in frame.columns]
    if missing:
        raise InputValidationError([FieldProblem(missing[0], f"The file is missing {len(missing)} column(s) the "
                                                 f"model needs: {', '.join(missing)}.", "missing_feature")],
                                   code="MISSING_FEATURE")
    n = len(frame)
    if n == 0:
        raise InputValidationError([FieldProblem("rows", "The file has no rows to predict.", "empty_batch")])
    columns: dict[str, pd.Series] = {}
    row_warnings: list[list[str]] = [[] for _ in range(n)]
    for spec in model.schema.features:
        values, col_warnings = _convert_column(spec, frame[spec.name].reset_index(drop=True))
        columns[spec.name] = values
        for i, ws in enumerate(col_warnings):
            if ws:
                row_warnings[i].extend(ws)
    features = pd.DataFrame(columns, columns=[f.name for f in model.schema.features])
    predictions: list[np.ndarray] = []
    probabilities: list[np.ndarray] = []
    for start in range(0, n, chunk_rows):
        if should_stop is not None and should_stop():
            raise InterruptedError("Prediction stopped.")
        chunk = features.iloc[start:start + chunk_rows]
        preds, probs = _run_pipeline(model, chunk)
        predictions.append(preds)
        if probs is not None:
            probabilities.append(probs)
        if progress is not None:
            done = min(n, start + chunk_rows)
            progress(done / n, f"Predicted {done:,} of {n:,} rows")
    out = frame.reset_index(drop=True).copy()
    out["prediction"] = np.concatenate(predictions)
    if probabilities:
        probs_all = np.vstack(probabilities)
        for j, label in enumerate(_class_labels(model, probs_all.shape[1])):
            out["probability_" + class_key(label)[len("class_"):]] = probs_all[:, j]
    out["warnings"] = ["; ".join(ws) for ws in row_warnings]
    return out


def read_input_file(
    path: Path,
    *,
    sheet: str | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> pd.DataFrame:
    """Read a batch input file (CSV/TSV/TXT or Excel) with the importer's encoding detection and limits.

    Raises
    ------
    InputValidationError
        If the file cannot be read; the message is the importer's sentence naming file, line and value.
    """
    from predictml_desktop.core.ingest import IngestError, read_table

    try:
        table = read_table(path, sheet=sheet, progress=progress, should_stop=should_stop)
    except IngestError as exc:
        raise InputValidationError([FieldProblem("file", str(exc), exc.code)]) from None
    frame = table.frame
    frame.columns = [str(c) for c in frame.columns]
    return frame


_ILLEGAL_XLSX = {chr(c) for c in range(32)} - {"\t", "\n", "\r"}


def _xlsx_safe(value: Any) -> Any:
    value = neutralise_cell(value)
    if isinstance(value, str) and any(ch in _ILLEGAL_XLSX for ch in value):
        # XLSX cannot store these control characters at all; U+FFFD marks where one was.
        value = "".join("\ufffd" if ch in _ILLEGAL_XLSX else ch for ch in value)
    return value


def write_predictions(frame: pd.DataFrame, path: Path) -> Path:
    """Write a `predict_frame` result to ``path`` (.csv, .tsv, .txt or .xlsx), atomically.

    String cells that start like a formula (``= + - @``, tab, carriage return, NUL) get a leading
    ``'`` so a spreadsheet shows them as text; numbers are written as numbers, untouched.

    Raises
    ------
    InputValidationError
        For an unsupported file type.
    """
    suffix = path.suffix.lower()
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(_xlsx_safe if suffix == ".xlsx" else neutralise_cell)
    safe.columns = [neutralise_cell(str(c)) for c in safe.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".csv", ".txt", ".tsv"):
        data = safe.to_csv(index=False, sep="\t" if suffix == ".tsv" else ",", lineterminator="\r\n")
        atomic_write_bytes(path, data.encode("utf-8-sig"), keep_backup=False)
    elif suffix == ".xlsx":
        import io

        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as writer:
            safe.to_excel(writer, index=False, sheet_name="Predictions")
        atomic_write_bytes(path, buf.getvalue(), keep_backup=False)
    else:
        raise InputValidationError([FieldProblem("output", f"{path.name}: predictions can be written as .csv, "
                                                 ".tsv, .txt or .xlsx.", "file_type")])
    return path


def predict_file(
    registry: ModelRegistry,
    dataset_id: str,
    input_path: Path,
    output_path: Path,
    *,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Read a file, predict every row with the dataset's deployed model, and write the results.

    Raises
    ------
    PredictionError
        Any refusal (not deployed, integrity, unreadable file, missing columns...).
    """
    model = registry.get(dataset_id)
    frame = read_input_file(input_path)
    result = predict_frame(model, frame, progress=progress, should_stop=should_stop)
    return write_predictions(result, output_path)
