"""The records kept in the data home (DESIGN §3): datasets, training jobs and deployments.

Records are dataclasses with snake_case attributes, stored as JSON objects with the seed's camelCase
keys. Keys this version does not know are kept in ``extra`` and written back unchanged, so a file
touched by a newer minor version loses nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from predictml_desktop.core.status import DatasetStatus, DeploymentStatus, JobStatus


def now_iso() -> str:
    """Return the current UTC time as an ISO 8601 string with a ``Z`` suffix, as the seed stores it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """Parse a timestamp written by `now_iso` (or any ISO 8601 string) into an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class Record:
    """Base of every stored record: camelCase (de)serialisation and the status kind."""

    KIND: ClassVar[str] = ""
    """``"dataset"``, ``"job"`` or ``"deployment"``: the row of the transition table."""
    ID_PREFIX: ClassVar[str] = ""

    id: str
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object stored for this record."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[_camel(f.name)] = getattr(self, f.name)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build a record from its stored JSON object; unknown keys go to ``extra``.

        Raises
        ------
        ValueError
            If a required key is missing.
        """
        known = {_camel(f.name): f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                kwargs[known[key]] = value
            else:
                extra[key] = value
        try:
            return cls(**kwargs, extra=extra)
        except TypeError as exc:
            raise ValueError(f"A {cls.KIND} record is incomplete: {exc}") from None

    @classmethod
    def field_names(cls) -> set[str]:
        """Return the snake_case attribute names that callers may update."""
        return {f.name for f in dataclasses.fields(cls)} - {"extra", "id"}


@dataclass
class Dataset(Record):
    """An uploaded table, its profile and its chosen target."""

    KIND: ClassVar[str] = "dataset"
    ID_PREFIX: ClassVar[str] = "report_"

    name: str = ""
    file_name: str = ""
    file_path: str = ""
    """Relative to the data home (``uploads/<id>.<ext>``)."""
    sha256: str = ""
    size_bytes: int = 0
    file_format: str = ""
    """``csv`` or ``excel``."""
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    rows: int = 0
    columns: list[dict[str, Any]] = field(default_factory=list)
    """Column profiles: name, kind, missingShare, unique, summary (see ``core.profile``)."""
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """Data warnings: code, message, column (optional)."""
    suggested_target: str | None = None
    target_candidates: list[dict[str, Any]] = field(default_factory=list)
    target_column: str | None = None
    problem_type: str | None = None
    """``classification`` or ``regression``."""
    problem_type_reason: str = ""
    excluded_columns: list[str] = field(default_factory=list)
    status: str = DatasetStatus.UPLOADED
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    notes: list[str] = field(default_factory=list)
    """Non-fatal findings of the import shown to the user (e.g. "read as Windows-1252")."""


@dataclass
class TrainingJob(Record):
    """One training run of a dataset, from start to review and deployment."""

    KIND: ClassVar[str] = "job"
    ID_PREFIX: ClassVar[str] = "training_"

    dataset_id: str = ""
    target_column: str = ""
    problem_type: str | None = None
    status: str = JobStatus.TRAINING
    progress: int = 0
    stage: str = ""
    logs: list[str] = field(default_factory=list)
    """The most recent log lines; the full log is ``logs/<id>.log``."""
    options: dict[str, Any] = field(default_factory=dict)
    """Preset, budget seconds, model families, excluded columns, ranking metric."""
    started_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    duration_s: float | None = None
    model_name: str | None = None
    model_path: str | None = None
    """Relative to the data home."""
    model_sha256: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    samples: int | None = None
    features: int | None = None
    error: str | None = None
    attempt: int = 1
    retry_of: str | None = None
    review: dict[str, Any] | None = None
    """Decision of the admin: by, at, decision, reason (and overridden gates)."""
    worker: dict[str, Any] | None = None
    """PID, process create time and last heartbeat of the worker while training."""
    heartbeat_at: str | None = None
    ranking_metric: str | None = None
    """The metric that ranked the candidates (``auc``, ``f1_macro``, ``r2``...), chosen or given."""
    ranking_metric_reason: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """Training warnings: code, message (e.g. ``no_better_than_baseline``, ``imbalance``)."""
    beats_baseline: bool | None = None
    """Whether the chosen model's holdout score beats the dummy baseline's."""
    environment: dict[str, Any] | None = None
    """Library versions the model was trained with (``core.artifacts.current_environment``)."""
    cancel_requested: bool = False
    """Set by ``predictml jobs cancel`` from another process; the supervising runner acts on it."""
    stopped_early: bool = False
    """The user stopped the training (or its budget ran out mid-search) and the best model finished
    by then was kept: a usable model, reviewed like any other."""
    decision_threshold: dict[str, Any] | None = None
    """Yes/no models: the threshold on the positive class's probability (``value``, ``objective``,
    ``score``, ``scoreAtHalf``), chosen on out-of-fold predictions; every prediction path applies it."""
    ensemble: list[dict[str, Any]] | None = None
    """The final model's members (``model``, ``name``, ``weight``); one member for a single model."""
    data_warnings: list[dict[str, Any]] | None = None
    """Leakage, identifier, constant and empty-column warnings for this job's target and the features it
    actually trains on (``code``, ``message``, ``column``), computed when the job is created; the approval
    gates read these. None on jobs created before they were computed (the gates fall back to the dataset's)."""
    approvals: list[dict[str, Any]] = field(default_factory=list)
    """First approvals waiting for a second admin under the two-person rule (``by``, ``at``, ``target``,
    ``reason``, ``modelSha256``); emptied when the model is deployed or the job is refused."""


@dataclass
class Deployment(Record):
    """A model put to use: served by the local service, or exported as an Azure ML bundle."""

    KIND: ClassVar[str] = "deployment"
    ID_PREFIX: ClassVar[str] = "deployment_"

    training_job_id: str = ""
    dataset_id: str = ""
    target: str = "local"
    """``local`` or ``azure``."""
    status: str = DeploymentStatus.ACTIVE
    endpoint: str | None = None
    deployed_at: str = field(default_factory=now_iso)
    approved_by: str | None = None
    bundle_path: str | None = None
    model_name: str | None = None
    model_path: str | None = None
    model_sha256: str | None = None
    """Copied from the job at deployment: the service refuses a model file that does not match it."""
    evidence: dict[str, str] | None = None
    """What the approval pinned: SHA-256 of each file of ``models/<jobId>/`` it relied on (model, schema,
    environment, the model card as approved); loading the model checks every one."""
    approvers: list[str] | None = None
    """The admins whose approvals made this deployment (two under the two-person rule)."""
    signature: str | None = None
    """HMAC over the deployment's identity, model hash, evidence and approvers, keyed outside the data home."""
    superseded_by: str | None = None
    undeployed_at: str | None = None
