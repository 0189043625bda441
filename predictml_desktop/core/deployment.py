"""Deployments: the local activation of an approved model, supersede and rollback, undeploy, Azure export records.

Invariant kept by every function here: at most one ``active`` local deployment per dataset. The
functions work inside a `Store.transaction()` opened by the caller (`core.governance`, which checks
the admin session first); they change statuses only through the transition table.

Integrity (reliability P-7): any process running as the user can edit ``deployments.json``. Each
deployment record therefore carries an HMAC-SHA256 over its identity — id, dataset, training job,
model hash, target and status, and since approvals pin their evidence (issue 14) the hashes of the
model's schema, environment and model card and the approving admins — keyed by the installation's
secret in the configuration folder (`core.integrity`, outside the data home, mode 0600). The
prediction service serves a deployment only if its signature verifies, so a hand-made or
hand-edited record (another model id pasted in, an inactive one set active) serves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from predictml_desktop.core import evidence, integrity
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Deployment, TrainingJob, now_iso
from predictml_desktop.core.status import (
    DEPLOYMENT_UNDEPLOYABLE,
    DatasetStatus,
    DeploymentStatus,
    JobStatus,
    check_transition,
)
from predictml_desktop.core.store import Transaction

log = logging.getLogger(__name__)

SIGNING_KEY_FILE = integrity.SIGNING_KEY_FILE

LOCAL = "local"
AZURE = "azure"
TARGETS = (LOCAL, AZURE)


class DeploymentError(Exception):
    """A deployment change that cannot be made; the message says why and what to do."""


class TamperedDeploymentError(DeploymentError):
    """A deployment record whose signature does not verify: it was edited outside PredictML."""


# --------------------------------------------------------------------------- signing


def signing_key_path(paths: Paths) -> Path:
    """Return the file holding the installation's signing key (in the configuration folder)."""
    return integrity.key_path(paths)


def signing_key(paths: Paths) -> bytes:
    """Return the installation's signing key (`core.integrity.installation_key`), creating it on first use.

    Raises
    ------
    DeploymentError
        If the key file exists but cannot be read or has the wrong size.
    """
    try:
        return integrity.installation_key(paths)
    except integrity.SigningKeyError as exc:
        raise DeploymentError(str(exc)) from None


def _payload(dep: Deployment) -> bytes:
    fields: list[object] = [dep.id, dep.dataset_id, dep.training_job_id, dep.model_sha256 or "", dep.target,
                            str(dep.status)]
    if dep.evidence or dep.approvers:
        # Records made since approvals pin their evidence also sign it (and who approved): removing
        # or changing either breaks the signature. Older records keep the six fields they were signed with.
        fields += [dep.evidence or {}, list(dep.approvers or [])]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True, sort_keys=True).encode("ascii")


def compute_signature(key: bytes, dep: Deployment) -> str:
    """Return the hex HMAC-SHA256 of a deployment's identity under ``key``."""
    return hmac.new(key, _payload(dep), hashlib.sha256).hexdigest()


def sign(paths: Paths, dep: Deployment) -> str:
    """Return the signature ``dep`` must carry in its current state."""
    return compute_signature(signing_key(paths), dep)


def signature_valid(paths: Paths, dep: Deployment, *, key: bytes | None = None) -> bool:
    """Return True if ``dep.signature`` matches its identity (constant-time comparison)."""
    if not dep.signature:
        return False
    expected = compute_signature(key if key is not None else signing_key(paths), dep)
    return hmac.compare_digest(expected, dep.signature)


def verify_deployment(paths: Paths, dep: Deployment, *, key: bytes | None = None) -> None:
    """Raise `TamperedDeploymentError` unless ``dep`` is signed by this installation."""
    if not signature_valid(paths, dep, key=key):
        raise TamperedDeploymentError(
            f"The deployment {dep.id} of dataset {dep.dataset_id} was changed outside PredictML "
            "(its signature does not match), so its model is not served. Approve the model again."
        )


def _set(tx: Transaction, paths: Paths, dep_id: str, **changes: object) -> Deployment:
    """Update a deployment and re-sign it in its new state, as one change of the record."""
    dep = tx.deployments.get(dep_id)
    if "status" in changes:
        check_transition("deployment", dep_id, str(dep.status), str(changes["status"]))
    for name, value in changes.items():
        setattr(dep, name, value)
    return tx.deployments.update(dep_id, **changes, signature=sign(paths, dep))


# --------------------------------------------------------------------------- queries


def endpoint_url(dataset_id: str, port: int, host: str = "127.0.0.1") -> str:
    """Return the local prediction URL of a dataset."""
    return f"http://{host}:{port}/predict/{dataset_id}"


def active_local(deployments: list[Deployment], dataset_id: str) -> Deployment | None:
    """Return the active local deployment of a dataset, or None.

    Raises
    ------
    DeploymentError
        If the records hold more than one (only a hand edit can do that).
    """
    found = [
        d for d in deployments
        if d.dataset_id == dataset_id and d.target == LOCAL and d.status == DeploymentStatus.ACTIVE
    ]
    if len(found) > 1:
        raise DeploymentError(
            f"Dataset {dataset_id} has {len(found)} active local deployments ({', '.join(d.id for d in found)}); "
            "undeploy all but one."
        )
    return found[0] if found else None


def invariant_violations(deployments: list[Deployment]) -> list[str]:
    """Return one sentence per dataset that has more than one active local deployment."""
    counts: dict[str, list[str]] = {}
    for d in deployments:
        if d.target == LOCAL and d.status == DeploymentStatus.ACTIVE:
            counts.setdefault(d.dataset_id, []).append(d.id)
    return [f"dataset {ds} has {len(ids)} active local deployments: {', '.join(ids)}"
            for ds, ids in sorted(counts.items()) if len(ids) > 1]


# --------------------------------------------------------------------------- status helpers


def advance_dataset(tx: Transaction, dataset_id: str, *steps: DatasetStatus) -> None:
    """Move a dataset through ``steps`` in order, skipping a step the table does not allow now.

    A dataset's status follows its most recent job. When an older job is approved while a newer
    one trains, the dataset stays ``training``: skipping (never forcing) keeps every change legal.
    """
    ds = tx.datasets.find(dataset_id)
    if ds is None:
        return
    current = str(ds.status)
    for step in steps:
        if step == current:
            continue
        try:
            check_transition("dataset", dataset_id, current, step)
        except ValueError:
            log.info("dataset %s stays %s (no transition to %s)", dataset_id, current, step)
            continue
        tx.datasets.update(dataset_id, status=step)
        current = step


# --------------------------------------------------------------------------- changes


@dataclass
class LocalActivation:
    """What `activate_local` did."""

    deployment: Deployment
    superseded: Deployment | None


def activate_local(
    tx: Transaction, paths: Paths, job: TrainingJob, *, approved_by: str, port: int,
    evidence: dict[str, str] | None = None, approvers: list[str] | None = None,
) -> LocalActivation:
    """Deploy an approved job to the local service, superseding the dataset's active deployment.

    The job must be ``approved_for_inference``. Afterwards the job is ``deployed``, a new signed
    ``active`` deployment exists, the previous active one (if any) is ``inactive`` with
    ``supersededBy`` and its job ``superseded``, and the dataset is ``active``.

    Raises
    ------
    DeploymentError
        If the job is not approved or has no model hash.
    """
    if job.status != JobStatus.APPROVED_FOR_INFERENCE:
        raise DeploymentError(f"Job {job.id} is {job.status}; only an approved job can be deployed.")
    if not job.model_sha256:
        raise DeploymentError(f"Job {job.id} has no model checksum; it cannot be deployed.")
    previous = active_local(tx.deployments.list(), job.dataset_id)
    dep = Deployment(
        id=tx.deployments.new_id(),
        training_job_id=job.id,
        dataset_id=job.dataset_id,
        target=LOCAL,
        status=DeploymentStatus.ACTIVE,
        endpoint=endpoint_url(job.dataset_id, port),
        deployed_at=now_iso(),
        approved_by=approved_by,
        model_name=job.model_name,
        model_path=job.model_path,
        model_sha256=job.model_sha256,
        evidence=evidence,
        approvers=approvers,
    )
    dep.signature = sign(paths, dep)
    superseded = None
    if previous is not None:
        superseded = _set(tx, paths, previous.id, status=DeploymentStatus.INACTIVE, superseded_by=dep.id,
                          undeployed_at=now_iso())
        old_job = tx.jobs.find(previous.training_job_id)
        if old_job is not None and old_job.status == JobStatus.DEPLOYED:
            tx.jobs.update(old_job.id, status=JobStatus.SUPERSEDED)
    tx.deployments.add(dep)
    tx.jobs.update(job.id, status=JobStatus.DEPLOYED)
    advance_dataset(tx, job.dataset_id, DatasetStatus.DEPLOYED, DatasetStatus.ACTIVE)
    return LocalActivation(dep, superseded)


def undeploy(tx: Transaction, paths: Paths, deployment_id: str) -> Deployment:
    """Stop a deployment: an active local one stops being served, an export is marked inactive.

    The job of an undeployed local deployment returns to ``approved_for_inference``; a dataset left
    without an active local deployment returns to ``pending_review``.

    Raises
    ------
    DeploymentError
        If the deployment is already inactive.
    """
    dep = tx.deployments.get(deployment_id)
    if dep.status not in DEPLOYMENT_UNDEPLOYABLE:
        raise DeploymentError(f"Deployment {deployment_id} is already inactive.")
    was_active_local = dep.target == LOCAL and dep.status == DeploymentStatus.ACTIVE
    dep = _set(tx, paths, deployment_id, status=DeploymentStatus.INACTIVE, undeployed_at=now_iso())
    if was_active_local:
        job = tx.jobs.find(dep.training_job_id)
        if job is not None and job.status == JobStatus.DEPLOYED:
            tx.jobs.update(job.id, status=JobStatus.APPROVED_FOR_INFERENCE)
        if active_local(tx.deployments.list(), dep.dataset_id) is None:
            ds = tx.datasets.find(dep.dataset_id)
            if ds is not None and ds.status in (DatasetStatus.ACTIVE, DatasetStatus.DEPLOYED):
                advance_dataset(tx, dep.dataset_id, DatasetStatus.PENDING_REVIEW)
    return dep


@dataclass
class Rollback:
    """What `rollback` did: the restored deployment and the one it replaced."""

    restored: Deployment
    retired: Deployment


def rollback_target(deployments: list[Deployment], current: Deployment) -> Deployment | None:
    """Return the deployment a rollback of ``current`` restores (the one it superseded), or None.

    None when ``current`` is not an active local deployment or replaced none (the Deployments view
    offers Roll back exactly when this is not None).
    """
    if current.status != DeploymentStatus.ACTIVE or current.target != LOCAL:
        return None
    previous = [d for d in deployments
                if d.dataset_id == current.dataset_id and d.target == LOCAL and d.superseded_by == current.id
                and d.status == DeploymentStatus.INACTIVE]
    return previous[-1] if previous else None


def rollback(tx: Transaction, paths: Paths, dataset_id: str) -> Rollback:
    """Restore the deployment that the dataset's active one superseded.

    Raises
    ------
    DeploymentError
        If the dataset has no active local deployment, nothing to roll back to, or the previous
        deployment's model is gone.
    TamperedDeploymentError
        If the previous deployment's record was edited outside PredictML.
    """
    deployments = tx.deployments.list()
    current = active_local(deployments, dataset_id)
    if current is None:
        raise DeploymentError(f"Dataset {dataset_id} has no active local deployment to roll back.")
    target = rollback_target(deployments, current)
    if target is None:
        raise DeploymentError(f"The active deployment {current.id} of dataset {dataset_id} did not replace "
                              "another one; there is nothing to roll back to.")
    # Re-signing a record launders it, so it must be genuine before it is re-activated, and so must
    # what its approval relied on.
    verify_deployment(paths, target)
    if target.evidence:
        changed = evidence.problems(paths, target.training_job_id, target.evidence)
        if changed:
            raise DeploymentError(f"The previous model (job {target.training_job_id}) cannot be restored: "
                                  f"{'; '.join(changed)}.")
    old_job = tx.jobs.find(target.training_job_id)
    if old_job is None or old_job.status not in (JobStatus.SUPERSEDED, JobStatus.APPROVED_FOR_INFERENCE):
        state = "deleted" if old_job is None else str(old_job.status)
        raise DeploymentError(f"The previous model (job {target.training_job_id}) is {state}; it cannot be restored.")
    model = paths.model_dir(old_job.id) / "model.pkl"
    if not model.is_file():
        raise DeploymentError(f"The previous model's file {model} is missing; it cannot be restored.")
    retired = _set(tx, paths, current.id, status=DeploymentStatus.INACTIVE, undeployed_at=now_iso())
    cur_job = tx.jobs.find(current.training_job_id)
    if cur_job is not None and cur_job.status == JobStatus.DEPLOYED:
        tx.jobs.update(cur_job.id, status=JobStatus.APPROVED_FOR_INFERENCE)
    restored = _set(tx, paths, target.id, status=DeploymentStatus.ACTIVE, superseded_by=None,
                    undeployed_at=None, deployed_at=now_iso())
    tx.jobs.update(old_job.id, status=JobStatus.DEPLOYED)
    advance_dataset(tx, dataset_id, DatasetStatus.DEPLOYED, DatasetStatus.ACTIVE)
    return Rollback(restored, retired)


def record_export(
    tx: Transaction, paths: Paths, job: TrainingJob, bundle_dir: Path, *, approved_by: str,
    evidence: dict[str, str] | None = None, approvers: list[str] | None = None,
) -> Deployment:
    """Record an exported Azure ML bundle as a deployment with status ``exported``.

    Nothing reaches Azure: the record says where the bundle is; the admin uploads it.
    """
    try:
        bundle = paths.relative(bundle_dir)
    except ValueError:
        bundle = str(bundle_dir.resolve())  # exported outside the data home (--out DIR)
    dep = Deployment(
        id=tx.deployments.new_id(),
        training_job_id=job.id,
        dataset_id=job.dataset_id,
        target=AZURE,
        status=DeploymentStatus.EXPORTED,
        endpoint=None,
        deployed_at=now_iso(),
        approved_by=approved_by,
        bundle_path=bundle,
        model_name=job.model_name,
        model_path=job.model_path,
        model_sha256=job.model_sha256,
        evidence=evidence,
        approvers=approvers,
    )
    dep.signature = sign(paths, dep)
    tx.deployments.add(dep)
    advance_dataset(tx, job.dataset_id, DatasetStatus.DEPLOYED)
    return dep
