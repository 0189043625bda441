"""The statuses of jobs, datasets and deployments, and the one table of legal transitions (DESIGN §4).

Every status change in the store goes through `check_transition`; nothing writes a status directly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class JobStatus(StrEnum):
    """Lifecycle of a training job."""

    TRAINING = "training"
    PENDING_REVIEW = "pending_review"
    APPROVED_FOR_INFERENCE = "approved_for_inference"
    DEPLOYED = "deployed"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class DatasetStatus(StrEnum):
    """Lifecycle of a dataset, following its most recent training job (the seed's flow)."""

    UPLOADED = "uploaded"
    TRAINING = "training"
    PENDING_REVIEW = "pending_review"
    DEPLOYED = "deployed"
    ACTIVE = "active"
    FAILED = "failed"
    REJECTED = "rejected"


class DeploymentStatus(StrEnum):
    """State of a deployment record."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    EXPORTED = "exported"


J = JobStatus
D = DatasetStatus
P = DeploymentStatus

JOB_TRANSITIONS: Final[dict[JobStatus, frozenset[JobStatus]]] = {
    J.TRAINING: frozenset({J.PENDING_REVIEW, J.FAILED, J.CANCELLED}),
    J.PENDING_REVIEW: frozenset({J.APPROVED_FOR_INFERENCE, J.REJECTED}),
    # Approval and deployment are two steps: the approval is recorded first, then the deployment
    # (local service or Azure bundle) is made; if making it fails, the job stays approved.
    J.APPROVED_FOR_INFERENCE: frozenset({J.DEPLOYED, J.ARCHIVED}),
    # Undeploy returns the model to "approved"; a newer deployment of its dataset supersedes it.
    J.DEPLOYED: frozenset({J.SUPERSEDED, J.APPROVED_FOR_INFERENCE}),
    # Rollback restores a superseded model.
    J.SUPERSEDED: frozenset({J.DEPLOYED, J.ARCHIVED}),
    # Failed and cancelled jobs are never resumed: a retry is a new job with ``retryOf``.
    J.FAILED: frozenset({J.ARCHIVED}),
    J.CANCELLED: frozenset({J.ARCHIVED}),
    J.REJECTED: frozenset({J.ARCHIVED}),
    J.ARCHIVED: frozenset(),
}


class Decision(StrEnum):
    """An admin decision on one training job (`core.governance.Governance`)."""

    APPROVE_LOCAL = "approve_local"
    APPROVE_AZURE = "approve_azure"
    REJECT = "reject"
    ARCHIVE = "archive"
    DELETE = "delete"


JOB_DECISIONS: Final[dict[Decision, frozenset[JobStatus]]] = {
    # Approving records the approval (pending_review -> approved_for_inference), then makes the local
    # deployment (-> deployed); an approved job whose deployment failed may be approved again.
    Decision.APPROVE_LOCAL: frozenset({J.PENDING_REVIEW, J.APPROVED_FOR_INFERENCE}),
    # An Azure bundle changes no job status, so a deployed or superseded model may be exported too.
    Decision.APPROVE_AZURE: frozenset({J.PENDING_REVIEW, J.APPROVED_FOR_INFERENCE, J.DEPLOYED, J.SUPERSEDED}),
    Decision.REJECT: frozenset(s for s, nxt in JOB_TRANSITIONS.items() if J.REJECTED in nxt),
    Decision.ARCHIVE: frozenset(s for s, nxt in JOB_TRANSITIONS.items() if J.ARCHIVED in nxt),
    # Deleting removes the record: never one that serves predictions or is still being written.
    Decision.DELETE: frozenset(JobStatus) - {J.DEPLOYED, J.TRAINING},
}
"""The job statuses from which each decision may be made: the core refuses the others, the views
disable their buttons (`decisions_for`)."""


def decisions_for(status: str) -> frozenset[Decision]:
    """Return the decisions a job in ``status`` allows (an unknown status allows none)."""
    return frozenset(d for d, statuses in JOB_DECISIONS.items() if status in statuses)


JOB_RETRYABLE: Final = frozenset({J.FAILED, J.CANCELLED})
"""Job statuses a retry starts from (a retry is a new job with ``retryOf``; the old one keeps its status)."""

DATASET_TRAINABLE: Final = frozenset({D.UPLOADED, D.FAILED, D.REJECTED, D.PENDING_REVIEW, D.DEPLOYED, D.ACTIVE})
"""Statuses from which a new training of the dataset may start."""

DATASET_TRANSITIONS: Final[dict[DatasetStatus, frozenset[DatasetStatus]]] = {
    D.UPLOADED: frozenset({D.TRAINING}),
    # A cancelled training returns the dataset to where a new one can start.
    D.TRAINING: frozenset({D.PENDING_REVIEW, D.FAILED, D.UPLOADED}),
    D.PENDING_REVIEW: frozenset({D.DEPLOYED, D.REJECTED, D.TRAINING}),
    # deployed = approved and its deployment made; active = answering predictions (the local
    # service) — the seed's last two steps. Undeploying the last deployment returns it to review.
    D.DEPLOYED: frozenset({D.ACTIVE, D.TRAINING, D.PENDING_REVIEW}),
    D.ACTIVE: frozenset({D.DEPLOYED, D.TRAINING, D.PENDING_REVIEW}),
    D.FAILED: frozenset({D.TRAINING}),
    D.REJECTED: frozenset({D.TRAINING}),
}

DEPLOYMENT_TRANSITIONS: Final[dict[DeploymentStatus, frozenset[DeploymentStatus]]] = {
    P.ACTIVE: frozenset({P.INACTIVE}),
    # Rollback re-activates a superseded deployment.
    P.INACTIVE: frozenset({P.ACTIVE}),
    P.EXPORTED: frozenset({P.INACTIVE}),
}

DEPLOYMENT_UNDEPLOYABLE: Final = frozenset(s for s, nxt in DEPLOYMENT_TRANSITIONS.items() if P.INACTIVE in nxt)
"""Deployment statuses Undeploy applies to (an active local one stops being served, an export is retired)."""

_TABLES: Final[dict[str, dict[str, frozenset[str]]]] = {
    "job": {k.value: frozenset(v.value for v in vs) for k, vs in JOB_TRANSITIONS.items()},
    "dataset": {k.value: frozenset(v.value for v in vs) for k, vs in DATASET_TRANSITIONS.items()},
    "deployment": {k.value: frozenset(v.value for v in vs) for k, vs in DEPLOYMENT_TRANSITIONS.items()},
}


class IllegalTransitionError(ValueError):
    """A status change that the transition table does not allow."""

    def __init__(self, kind: str, record_id: str, old: str, new: str) -> None:
        allowed = sorted(_TABLES[kind].get(old, frozenset()))
        hint = f"from {old!r} it can become {', '.join(map(repr, allowed))}" if allowed else (
            f"{old!r} is final"
        )
        super().__init__(f"The {kind} {record_id} cannot change from {old!r} to {new!r}: {hint}.")
        self.kind, self.record_id, self.old, self.new = kind, record_id, old, new


def check_transition(kind: str, record_id: str, old: str, new: str) -> None:
    """Raise `IllegalTransitionError` unless ``old -> new`` is legal for ``kind``.

    Parameters
    ----------
    kind
        ``"job"``, ``"dataset"`` or ``"deployment"``.
    record_id
        Named in the error message.
    old, new
        The current and the requested status. ``old == new`` is always allowed (idempotent writes).

    Raises
    ------
    IllegalTransitionError
        If the table has no such transition, or ``old`` or ``new`` is not a status of ``kind``.
    """
    table = _TABLES[kind]
    if new not in table:
        raise IllegalTransitionError(kind, record_id, old, new)
    if old == new:
        return
    if new not in table.get(old, frozenset()):
        raise IllegalTransitionError(kind, record_id, old, new)
