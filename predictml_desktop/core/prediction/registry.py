"""`ModelRegistry`: the models of the active local deployments, each loaded once and kept.

Before any unpickling it checks the deployment's signature (`core.deployment`), the model file's
SHA-256 and the library versions recorded at training (`core.prediction.loading`). It notices a
changed ``deployments.json`` by its file identity, so new deployments are picked up without a
restart; a request that already holds a model keeps using it while the next one gets the new one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predictml_desktop.core import deployment as deployments
from predictml_desktop.core.paths import Paths, safe_name
from predictml_desktop.core.prediction.errors import (
    ModelIntegrityError,
    ModelNotDeployedError,
    PredictionError,
    RecordsUnavailableError,
)
from predictml_desktop.core.prediction.loading import FAST_PATH_PENDING, LoadedModel, attach_fast_path, load_verified
from predictml_desktop.core.records import Deployment, TrainingJob
from predictml_desktop.core.store import Store, StoreError

log = logging.getLogger(__name__)


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
                fast_path=self.fast_path and not later, evidence=dep.evidence,
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
