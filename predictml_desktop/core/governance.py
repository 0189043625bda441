"""Admin governance (DESIGN §6, issue 5): the admin account, lockout, sessions, decisions, policy gates, audit.

Everything is enforced here, in the core, not only in the UI: a decision without an active admin
session is refused, every status change goes through the transition table, and every decision and
password event is appended to ``audit.jsonl``. The UI and the command line call these methods
(from a worker thread in the UI: unlocking hashes for about 0.2 s on purpose).

Identity (NIST SP 800-63B-4, OWASP Password Storage):

- no default credentials: the first admin chooses a name and a password;
- the password has at least 15 characters (code points after NFKC normalisation), at most 1,024,
  no composition rules, is never truncated, and is refused if it is on the shipped list of 30,000
  common passwords (``resources/common-passwords.txt``), is the admin's name, or is one short
  sequence repeated;
- it is stored only as an argon2id hash (m=64 MiB, t=3, p=1: above OWASP's m=19 MiB, t=2 floor);
  a hash made with weaker parameters is re-hashed at the next successful unlock;
- five wrong passwords in a row lock unlocking for five minutes, each further failure doubles the
  wait (capped at one hour; never permanent); the count and the lock live in ``admin.json``, so a
  restart does not reset them; a success resets them;
- a session locks after 15 idle minutes and 12 hours after it was opened; approving needs the
  password to have been entered in the last 5 minutes (step-up, `confirm_password`).

Accepted risk: someone who can write the user's files can delete ``admin.json`` and create a new
admin. The deployment signatures (`core.deployment`) still stop hand-edited records from being
served; the Admin view warns that the audit trail records an earlier admin (`previous_admin`), and
the new admin's creation is recorded as replacing it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import shutil
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from predictml_desktop.core import deployment as deployments
from predictml_desktop.core.artifacts import ArtifactError, verify_model_file
from predictml_desktop.core.audit import AuditAction, AuditEvent, AuditLog
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, Deployment, TrainingJob, now_iso
from predictml_desktop.core.resources import resource_path
from predictml_desktop.core.settings import load_settings, save_settings
from predictml_desktop.core.status import DatasetStatus, DeploymentStatus, JobStatus
from predictml_desktop.core.store import Store, StoreWriteError, atomic_write_bytes, encode_document

log = logging.getLogger(__name__)

ADMIN_SCHEMA_VERSION = 1

MIN_PASSWORD_CHARS = 15
MAX_PASSWORD_CHARS = 1024
"""Far above NIST's "at least 64"; only bounds the work an absurd input can cause."""
MAX_NAME_CHARS = 200

FREE_FAILURES = 5
"""Wrong passwords in a row before unlocking is locked."""
LOCKOUT_S = 300.0
MAX_LOCKOUT_S = 3600.0
IDLE_TIMEOUT_S = 15 * 60.0
"""CIS 2.3.7.4 / NIST AAL3 inactivity: 900 s."""
ABSOLUTE_TIMEOUT_S = 12 * 3600.0
STEP_UP_S = 5 * 60.0
"""An approval needs the password to have been entered this recently."""

PRODUCTION_HASH_PARAMS: dict[str, int] = {"time_cost": 3, "memory_cost": 65536, "parallelism": 1}
"""argon2id parameters of new hashes: RFC 9106's low-memory profile with one lane (p=1)."""
OWASP_FLOOR: dict[str, int] = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}

BLOCKLIST_FILE = "common-passwords.txt"


# --------------------------------------------------------------------------- errors


class GovernanceError(Exception):
    """A refused admin action; the message is one sentence for the user (never contains a password)."""


class AdminExistsError(GovernanceError):
    """An admin account already exists."""


class NoAdminError(GovernanceError):
    """No admin account has been created yet."""


class PasswordPolicyError(GovernanceError):
    """A new password that the policy refuses; the message gives the reason."""


class AuthenticationError(GovernanceError):
    """A wrong password."""


class LockedOutError(AuthenticationError):
    """Unlocking is locked after too many wrong passwords."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"Too many wrong passwords: unlocking is locked for {self.retry_after_s} s."
        )


class SessionError(GovernanceError):
    """The admin session is locked, expired or missing."""


class StepUpRequiredError(SessionError):
    """The action needs the password again (`Governance.confirm_password`)."""


class DecisionError(GovernanceError):
    """A decision that cannot be made on this job or deployment."""


class GatesBlockedError(DecisionError):
    """A policy gate blocks the approval."""

    def __init__(self, gates: list[GateResult]) -> None:
        self.gates = gates
        super().__init__("Approval is blocked by policy: " + " ".join(g.message for g in gates))


class OverrideRequiredError(DecisionError):
    """Policy gates warn; the approval must be repeated with ``override=True`` to go ahead."""

    def __init__(self, gates: list[GateResult]) -> None:
        self.gates = gates
        super().__init__("Approval needs an override of these warnings: " + " ".join(g.message for g in gates))


# --------------------------------------------------------------------------- passwords


def production_hasher() -> PasswordHasher:
    """Return the argon2id hasher used for real accounts (see `PRODUCTION_HASH_PARAMS`)."""
    return PasswordHasher(
        time_cost=PRODUCTION_HASH_PARAMS["time_cost"],
        memory_cost=PRODUCTION_HASH_PARAMS["memory_cost"],
        parallelism=PRODUCTION_HASH_PARAMS["parallelism"],
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def cheap_hasher_for_tests() -> PasswordHasher:
    """Return a deliberately weak argon2id hasher. Only tests may pass it to `Governance`."""
    return PasswordHasher(type=Type.ID, time_cost=1, memory_cost=8, parallelism=1, salt_len=16, hash_len=16)


@functools.lru_cache(maxsize=1)
def load_blocklist() -> frozenset[str]:
    """Return the shipped common passwords, NFKC-normalised and case-folded.

    Raises
    ------
    GovernanceError
        If the list is missing from the installation (the policy cannot be checked then).
    """
    path = resource_path(BLOCKLIST_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GovernanceError(
            f"The list of common passwords ({path}) is missing from this installation; reinstall PredictML."
        ) from exc
    return frozenset(_fold(line) for line in text.splitlines() if line.strip())


def normalise_password(password: str) -> str:
    """Return the NFKC form of ``password``, which is what is hashed (so "ﬁ" and "fi" match)."""
    return unicodedata.normalize("NFKC", password)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _repeats_short_sequence(text: str) -> bool:
    # "aaaaaaaaaaaaaaa", "abcabcabcabcabc", "passwordpassword": a long password made of one short
    # piece adds no strength. Periods up to 8 characters are checked.
    for period in range(1, min(8, len(text) // 2) + 1):
        if len(text) % period == 0 and text == text[:period] * (len(text) // period):
            return True
    return False


def check_password_policy(password: str, *, name: str | None = None) -> str:
    """Return the normalised password if the policy accepts it.

    Parameters
    ----------
    password
        The candidate, as typed or pasted.
    name
        The admin's name; the password may not be the name.

    Raises
    ------
    PasswordPolicyError
        With the reason: too short, too long, common, the name, or a repeated sequence.
    """
    if not isinstance(password, str):
        raise PasswordPolicyError("The password must be text.")
    normal = normalise_password(password)
    length = len(normal)
    if length < MIN_PASSWORD_CHARS:
        raise PasswordPolicyError(
            f"The password has {length} characters; it needs at least {MIN_PASSWORD_CHARS}. "
            "A few unrelated words make a long password that is easy to remember."
        )
    if length > MAX_PASSWORD_CHARS:
        raise PasswordPolicyError(f"The password has {length} characters; at most {MAX_PASSWORD_CHARS} are accepted.")
    folded = _fold(normal)
    if folded in load_blocklist():
        raise PasswordPolicyError("This password is on the list of commonly used passwords; choose another one.")
    if name and folded == _fold(name):
        raise PasswordPolicyError("The password may not be the admin's name.")
    if _repeats_short_sequence(folded):
        raise PasswordPolicyError("The password repeats one short sequence; choose a less predictable one.")
    return normal


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise GovernanceError("The admin name must be text.")
    cleaned = unicodedata.normalize("NFKC", name).strip()
    if not cleaned:
        raise GovernanceError("The admin needs a name or an e-mail address.")
    if len(cleaned) > MAX_NAME_CHARS:
        raise GovernanceError(f"The admin name has {len(cleaned)} characters; at most {MAX_NAME_CHARS} are accepted.")
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise GovernanceError("The admin name may not contain control characters.")
    return cleaned


# --------------------------------------------------------------------------- admin.json


@dataclass
class AdminAccount:
    """The admin account and its lockout state, as stored in ``admin.json``."""

    name: str
    password_hash: str
    created_at: str = field(default_factory=now_iso)
    password_changed_at: str = field(default_factory=now_iso)
    failed_attempts: int = 0
    """Consecutive wrong passwords since the last success."""
    locked_until: float | None = None
    """Epoch seconds (governance clock) until which unlocking is refused."""
    last_failure_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the ``admin.json`` document."""
        return {
            "schemaVersion": ADMIN_SCHEMA_VERSION,
            "name": self.name,
            "passwordHash": self.password_hash,
            "createdAt": self.created_at,
            "passwordChangedAt": self.password_changed_at,
            "failedAttempts": self.failed_attempts,
            "lockedUntil": self.locked_until,
            "lastFailureAt": self.last_failure_at,
        }

    @classmethod
    def from_dict(cls, doc: Any, path: Path) -> AdminAccount:
        """Build the account from ``admin.json``.

        Raises
        ------
        GovernanceError
            If the file does not have the expected shape (it is never overwritten then).
        """
        def bad(detail: str) -> GovernanceError:
            return GovernanceError(
                f"The admin account file {path} is damaged ({detail}). It has not been changed; "
                "restore it from a backup, or remove it to create a new admin account."
            )

        if not isinstance(doc, dict):
            raise bad("not a JSON object")
        if not isinstance(doc.get("name"), str) or not isinstance(doc.get("passwordHash"), str):
            raise bad("no name or password hash")
        if not doc["passwordHash"].startswith("$argon2"):
            raise bad("the password hash is not an argon2 hash")
        failed = doc.get("failedAttempts", 0)
        locked = doc.get("lockedUntil")
        last = doc.get("lastFailureAt")
        if not isinstance(failed, int) or isinstance(failed, bool) or failed < 0:
            raise bad("failedAttempts is not a count")
        for value, label in ((locked, "lockedUntil"), (last, "lastFailureAt")):
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise bad(f"{label} is not a time")
        return cls(
            name=doc["name"],
            password_hash=doc["passwordHash"],
            created_at=str(doc.get("createdAt") or now_iso()),
            password_changed_at=str(doc.get("passwordChangedAt") or now_iso()),
            failed_attempts=failed,
            locked_until=float(locked) if locked is not None else None,
            last_failure_at=float(last) if last is not None else None,
        )


@dataclass
class LockoutState:
    """What the unlock screen shows: failures so far and how long unlocking stays locked."""

    failed_attempts: int
    retry_after_s: float
    """0 when unlocking is possible now."""

    @property
    def locked(self) -> bool:
        """True while unlocking is refused."""
        return self.retry_after_s > 0


def lockout_duration(failed_attempts: int) -> float:
    """Return the lock after ``failed_attempts`` consecutive failures: 0, then 5 min doubling to 1 h."""
    if failed_attempts < FREE_FAILURES:
        return 0.0
    return float(min(LOCKOUT_S * 2 ** (failed_attempts - FREE_FAILURES), MAX_LOCKOUT_S))


# --------------------------------------------------------------------------- sessions


class AdminSession:
    """An unlocked admin session. Ask `active` before showing admin controls; call `touch` on activity.

    Sessions live in memory only: a restart, `Governance.lock`, 15 idle minutes or 12 hours end them.
    """

    def __init__(self, name: str, clock: Callable[[], float]) -> None:
        self.name = name
        self._clock = clock
        now = clock()
        self.opened_at = now
        self.last_activity = now
        self.authenticated_at = now
        self._closed = False

    @property
    def active(self) -> bool:
        """True while the session is open, not idle for 15 minutes, and younger than 12 hours."""
        if self._closed:
            return False
        now = self._clock()
        return now - self.last_activity < IDLE_TIMEOUT_S and now - self.opened_at < ABSOLUTE_TIMEOUT_S

    @property
    def idle_remaining_s(self) -> float:
        """Seconds left before the idle lock (0 when no longer active)."""
        if not self.active:
            return 0.0
        return max(0.0, IDLE_TIMEOUT_S - (self._clock() - self.last_activity))

    def touch(self) -> bool:
        """Record activity (keeps the session open); return whether the session is still active."""
        if not self.active:
            return False
        self.last_activity = self._clock()
        return True

    def recently_authenticated(self, within_s: float = STEP_UP_S) -> bool:
        """Return True if the password was entered in the last ``within_s`` seconds."""
        return self.active and self._clock() - self.authenticated_at < within_s

    def close(self) -> None:
        """End the session."""
        self._closed = True

    def __repr__(self) -> str:
        return f"AdminSession(name={self.name!r}, active={self.active})"


# --------------------------------------------------------------------------- policy gates


class GateOutcome(StrEnum):
    """Result of one policy gate."""

    PASS = "pass"
    WARN = "warn"
    BLOCK = "block"


@dataclass
class GateResult:
    """One policy gate evaluated on one job."""

    gate: str
    """Key of the gate in the policy (``minHoldoutScore``...)."""
    title: str
    outcome: GateOutcome
    message: str
    """One sentence, shown in the review and recorded with an override."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (for the job's review and the model card)."""
        return {"gate": self.gate, "title": self.title, "outcome": str(self.outcome), "message": self.message}


GATE_MODES = ("block", "warn", "off")

DEFAULT_POLICY: dict[str, dict[str, Any]] = {
    "minHoldoutScore": {"mode": "warn", "classification": 0.7, "regression": 0.3},
    "maxCvHoldoutGap": {"mode": "warn", "value": 0.1},
    "beatBaseline": {"mode": "block"},
    "suspectedLeakage": {"mode": "block"},
    "perfectScore": {"mode": "warn"},
}
"""The gates and their defaults; ``Settings.policy`` overrides any part (see `policy`)."""

_GATE_TITLES = {
    "minHoldoutScore": "Minimum holdout score",
    "maxCvHoldoutGap": "Cross-validation vs holdout gap",
    "beatBaseline": "Better than the baseline",
    "suspectedLeakage": "No suspected leakage",
    "perfectScore": "No perfect score",
}

_PRIMARY_METRIC = {"classification": "AUC", "regression": "R2"}
_METRIC_ALIASES = {
    "auc": ("auc", "roc_auc", "rocauc"),
    "r2": ("r2", "r²", "r^2"),
    "accuracy": ("accuracy", "acc"),
}


def policy(settings_policy: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Return the effective policy: `DEFAULT_POLICY` with the user's settings laid over it."""
    merged = {k: dict(v) for k, v in DEFAULT_POLICY.items()}
    for key, value in (settings_policy or {}).items():
        if key in merged and isinstance(value, dict):
            merged[key].update(value)
    for key, gate in merged.items():
        if gate.get("mode") not in GATE_MODES:
            log.warning("policy gate %s has mode %r; using %r", key, gate.get("mode"), DEFAULT_POLICY[key]["mode"])
            gate["mode"] = DEFAULT_POLICY[key]["mode"]
    return merged


def _metric_key(name: str) -> str:
    folded = name.casefold().replace(" ", "").replace("-", "").replace("_", "")
    for canonical, aliases in _METRIC_ALIASES.items():
        if folded in {a.replace("_", "") for a in aliases}:
            return canonical
    return folded


def find_metric(metrics: Any, name: str) -> float | None:
    """Return the value of metric ``name`` in a flat metrics mapping (case and alias insensitive)."""
    if not isinstance(metrics, dict):
        return None
    wanted = _metric_key(name)
    for key, value in metrics.items():
        if isinstance(key, str) and _metric_key(key) == wanted and isinstance(value, (int, float)) \
                and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


_LOWER_IS_BETTER = frozenset({"logloss", "rmse", "mae", "mape", "mse", "rmsle"})


_LABELS = {"auc": "AUC", "r2": "R²", "accuracy": "accuracy", "f1": "F1", "f1macro": "macro F1", "mcc": "MCC",
           "kappa": "Cohen's kappa", "balancedaccuracy": "balanced accuracy", "recall": "recall",
           "precision": "precision"}


def metric_label(metric: str) -> str:
    """Return how a metric key is shown to people (``f1_macro`` → ``macro F1``)."""
    return _LABELS.get(_metric_key(metric), metric)


def primary_metric(job: TrainingJob) -> str:
    """Return the metric the gates judge a job by: its ranking metric, or AUC / R² when that one is an error.

    The gates compare "at least" thresholds, which only make sense for a higher-is-better score.
    """
    ranking = getattr(job, "ranking_metric", None) or job.options.get("rankingMetric") \
        or job.options.get("ranking_metric")
    if isinstance(ranking, str) and ranking and _metric_key(ranking) not in _LOWER_IS_BETTER:
        return ranking
    return _PRIMARY_METRIC.get(job.problem_type or "", "AUC")


def holdout_metrics(job: TrainingJob) -> dict[str, Any]:
    """Return the holdout metrics of a job (``metrics.holdout`` or the flat ``metrics``)."""
    holdout = job.metrics.get("holdout") if isinstance(job.metrics, dict) else None
    return holdout if isinstance(holdout, dict) else job.metrics


def cv_metrics(job: TrainingJob) -> dict[str, Any] | None:
    """Return the cross-validation scores of the chosen model, if the engine recorded them."""
    cv = job.metrics.get("cv") if isinstance(job.metrics, dict) else None
    if isinstance(cv, dict):
        return cv
    for row in job.leaderboard:
        if isinstance(row, dict) and (row.get("chosen") or row.get("selected")):
            scores = row.get("scores") or row.get("cv") or row
            return scores if isinstance(scores, dict) else None
    return None


def baseline_metrics(job: TrainingJob) -> dict[str, Any] | None:
    """Return the dummy baseline's scores, if the engine recorded them."""
    base = job.metrics.get("baseline") if isinstance(job.metrics, dict) else None
    if isinstance(base, dict):
        return base
    for row in job.leaderboard:
        if isinstance(row, dict) and "dummy" in str(row.get("model") or row.get("Model") or "").casefold():
            scores = row.get("scores") or row
            return scores if isinstance(scores, dict) else None
    return None


def evaluate_policy(job: TrainingJob, dataset: Dataset | None, gates: dict[str, dict[str, Any]]) -> list[GateResult]:
    """Evaluate every gate of ``gates`` on ``job`` (pure function; see `Governance.evaluate_gates`)."""
    results: list[GateResult] = []
    key = primary_metric(job)
    holdout = find_metric(holdout_metrics(job), key)
    metric = metric_label(key)
    fail_outcome: Callable[[str], GateOutcome] = lambda key: GateOutcome(gates[key]["mode"])  # noqa: E731

    def add(key: str, ok: bool | None, message: str) -> None:
        mode = gates[key]["mode"]
        if mode == "off":
            return
        if ok is None:
            # Not measurable: say so, and warn rather than silently pass.
            outcome = GateOutcome.WARN
        else:
            outcome = GateOutcome.PASS if ok else fail_outcome(key)
        results.append(GateResult(key, _GATE_TITLES[key], outcome, message))

    # 1. Minimum holdout score.
    g = gates["minHoldoutScore"]
    threshold = g.get(job.problem_type or "", g.get("value"))
    if not isinstance(threshold, (int, float)):
        add("minHoldoutScore", None, "No minimum score is set for this kind of problem.")
    elif holdout is None:
        add("minHoldoutScore", None, f"The holdout {metric} was not recorded, so the minimum score cannot be checked.")
    else:
        ok = holdout >= threshold
        add("minHoldoutScore", ok,
            f"Holdout {metric} is {holdout:.3f}, {'at or above' if ok else 'below'} the minimum {threshold:.3f}.")

    # 2. Gap between cross-validation and holdout (overfitting or an unlucky split).
    max_gap = gates["maxCvHoldoutGap"].get("value")
    cv = find_metric(cv_metrics(job), key)
    if not isinstance(max_gap, (int, float)):
        add("maxCvHoldoutGap", None, "No maximum gap is set.")
    elif cv is None or holdout is None:
        add("maxCvHoldoutGap", None, f"Cross-validation and holdout {metric} were not both recorded.")
    else:
        gap = abs(cv - holdout)
        ok = gap <= max_gap
        add("maxCvHoldoutGap", ok,
            f"Cross-validation {metric} {cv:.3f} and holdout {holdout:.3f} differ by {gap:.3f} "
            f"({'within' if ok else 'more than'} the allowed {max_gap:.3f}).")

    # 3. Better than the dummy baseline (the engine's own verdict, on its ranking metric, when it gave one).
    base = find_metric(baseline_metrics(job), key)
    verdict = getattr(job, "beats_baseline", None)
    if isinstance(verdict, bool):
        detail = f" ({metric} {holdout:.3f} against {base:.3f})" if holdout is not None and base is not None else ""
        add("beatBaseline", verdict,
            f"The model is {'better than' if verdict else 'no better than'} the baseline that always predicts "
            f"the most common answer{detail}.")
    elif base is None or holdout is None:
        add("beatBaseline", None, f"No baseline {metric} was recorded, so the comparison cannot be made.")
    else:
        ok = holdout > base
        add("beatBaseline", ok,
            f"The model's {metric} {holdout:.3f} is {'better than' if ok else 'no better than'} "
            f"the baseline's {base:.3f}.")

    # 4. Suspected leakage flagged by the profile.
    leaks = [w for w in (dataset.warnings if dataset else [])
             if isinstance(w, dict) and "leak" in str(w.get("code", "")).casefold()]
    if leaks:
        cols = ", ".join(str(w.get("column")) for w in leaks if w.get("column")) or "some columns"
        add("suspectedLeakage", False, f"The data profile suspects target leakage in {cols}.")
    else:
        add("suspectedLeakage", True, "The data profile flagged no suspected leakage.")

    # 5. A perfect score is more often a leak than a triumph.
    perfect = holdout is not None and holdout >= 0.9999
    if holdout is None:
        add("perfectScore", None, f"The holdout {metric} was not recorded.")
    else:
        add("perfectScore", not perfect,
            f"The holdout {metric} is {'perfect' if perfect else f'{holdout:.3f}, not perfect'}"
            + ("; check for a column that gives the answer away." if perfect else "."))
    return results


# --------------------------------------------------------------------------- champion vs challenger


@dataclass
class ModelSummary:
    """What the champion/challenger comparison shows of one model."""

    job_id: str
    dataset_id: str
    model_name: str | None
    status: str
    metrics: dict[str, Any]
    primary_metric: str
    primary_score: float | None
    holdout_rows: int | None
    trained_at: str | None
    deployment_id: str | None = None
    deployed_at: str | None = None


def summarise(job: TrainingJob, dep: Deployment | None = None) -> ModelSummary:
    """Return the comparison summary of a job (and its deployment)."""
    metric = primary_metric(job)
    holdout = holdout_metrics(job)
    rows = (holdout.get("rows") or holdout.get("holdoutRows")) if isinstance(holdout, dict) else None
    if rows is None and isinstance(job.metrics, dict):
        rows = job.metrics.get("holdoutRows")
    return ModelSummary(
        job_id=job.id,
        dataset_id=job.dataset_id,
        model_name=job.model_name,
        status=str(job.status),
        metrics=holdout if isinstance(holdout, dict) else {},
        primary_metric=metric,
        primary_score=find_metric(holdout, metric),
        holdout_rows=rows if isinstance(rows, int) else None,
        trained_at=job.finished_at or job.started_at,
        deployment_id=dep.id if dep else None,
        deployed_at=dep.deployed_at if dep else None,
    )


# --------------------------------------------------------------------------- governance


class Governance:
    """The admin account and every admin decision.

    Parameters
    ----------
    paths
        The data home.
    clock
        Returns epoch seconds; tests inject a fake one to step through lockouts and idle locks.
    hasher
        The argon2 hasher for new hashes; `production_hasher()` if None. Tests may pass
        `cheap_hasher_for_tests()` explicitly.
    """

    def __init__(
        self,
        paths: Paths | None = None,
        *,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = Store(paths)
        self.paths = self.store.paths
        self.clock = clock
        self.hasher = hasher or production_hasher()
        self.audit = AuditLog(self.paths)

    # ----------------------------------------------------------------- account file

    def _read_account(self) -> AdminAccount | None:
        path = self.paths.admin_file
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise GovernanceError(f"The admin account file {path} cannot be read: {exc.strerror or exc}.") from exc
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None  # from_dict reports the file as damaged
        return AdminAccount.from_dict(doc, path)

    def _write_account(self, account: AdminAccount) -> None:
        # No .bak: a backup would keep an old password's hash alive after a change.
        atomic_write_bytes(self.paths.admin_file, encode_document(account.to_dict()), keep_backup=False)

    def _account(self) -> AdminAccount:
        account = self._read_account()
        if account is None:
            raise NoAdminError("No admin account exists yet; create one first (predictml admin set-password).")
        return account

    def _log(self, action: AuditAction, actor: str, **kwargs: Any) -> None:
        try:
            self.audit.append(AuditEvent(action=str(action), actor=actor, **kwargs), at=self.clock())
        except StoreWriteError:
            log.exception("could not append %s to the audit trail", action)
            raise

    # ----------------------------------------------------------------- identity

    def has_admin(self) -> bool:
        """Return True once an admin account exists.

        Raises
        ------
        GovernanceError
            If ``admin.json`` exists but is damaged (it is never treated as "no admin").
        """
        return self._read_account() is not None

    def admin_name(self) -> str | None:
        """Return the admin's name, or None before the account exists."""
        account = self._read_account()
        return account.name if account else None

    def previous_admin(self) -> str | None:
        """Return the last admin the audit trail records while no account exists (``admin.json`` gone), or None."""
        return None if self._read_account() is not None else self._last_recorded_admin()

    def _last_recorded_admin(self) -> str | None:
        created = [e for e in self.audit.events() if e.action == AuditAction.ADMIN_CREATED]
        return created[-1].actor if created else None

    def create_admin(self, name: str, password: str) -> AdminSession:
        """Create the one admin account and return an unlocked session.

        Raises
        ------
        AdminExistsError
            If an admin already exists.
        PasswordPolicyError
            If the password is refused (the reason is in the message).
        """
        clean_name = _check_name(name)
        normal = check_password_policy(password, name=clean_name)
        with self.store.locked():
            if self._read_account() is not None:
                raise AdminExistsError("An admin account already exists; change its password from the Admin view.")
            previous = self._last_recorded_admin()  # no account exists here (checked just above)
            account = AdminAccount(name=clean_name, password_hash=self.hasher.hash(normal))
            self._write_account(account)
        if previous is None:
            self._log(AuditAction.ADMIN_CREATED, clean_name)
        else:
            self._log(AuditAction.ADMIN_CREATED, clean_name, details={"replaces": previous},
                      reason=f"admin.json was missing; the audit trail recorded the admin {previous!r}")
        return AdminSession(clean_name, self.clock)

    def lockout_state(self) -> LockoutState:
        """Return the current failure count and how long unlocking stays locked."""
        account = self._read_account()
        if account is None:
            return LockoutState(0, 0.0)
        return LockoutState(account.failed_attempts, self._retry_after(account))

    def _retry_after(self, account: AdminAccount) -> float:
        if account.locked_until is None:
            return 0.0
        # A clock set back must not stretch a lock beyond its longest possible length.
        return max(0.0, min(account.locked_until - self.clock(), MAX_LOCKOUT_S))

    def _verify(self, account: AdminAccount, password: str) -> bool:
        try:
            return bool(self.hasher.verify(account.password_hash, normalise_password(password)))
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError) as exc:
            raise GovernanceError(
                f"The stored password hash in {self.paths.admin_file} cannot be checked ({type(exc).__name__}); "
                "restore the file from a backup, or remove it to create a new admin account."
            ) from None

    def _check_password(self, password: str, *, action: AuditAction) -> AdminAccount:
        """Verify ``password`` under the lockout rules; record failures; return the account."""
        if not isinstance(password, str):
            raise AuthenticationError("Wrong password.")
        with self.store.locked():
            account = self._account()
            wait = self._retry_after(account)
            if wait > 0:
                raise LockedOutError(wait)
            ok = self._verify(account, password)
            now = self.clock()
            if ok:
                changed = account.failed_attempts != 0 or account.locked_until is not None
                account.failed_attempts, account.locked_until, account.last_failure_at = 0, None, None
                rehashed = self.hasher.check_needs_rehash(account.password_hash)
                if rehashed:
                    account.password_hash = self.hasher.hash(normalise_password(password))
                if changed or rehashed:
                    self._write_account(account)
            else:
                account.failed_attempts += 1
                account.last_failure_at = now
                lock = lockout_duration(account.failed_attempts)
                account.locked_until = now + lock if lock else None
                self._write_account(account)
        if not ok:
            self._log(action, account.name, details={"failedAttempts": account.failed_attempts})
            if account.locked_until is not None:
                self._log(AuditAction.LOCKED_OUT, account.name,
                          details={"failedAttempts": account.failed_attempts,
                                   "lockSeconds": lockout_duration(account.failed_attempts)})
                raise LockedOutError(account.locked_until - now)
            raise AuthenticationError("Wrong password.")
        if rehashed:
            self._log(AuditAction.PASSWORD_REHASHED, account.name)
        return account

    def unlock(self, password: str) -> AdminSession:
        """Open an admin session with the password.

        Raises
        ------
        NoAdminError
            If no admin account exists.
        LockedOutError
            While unlocking is locked ("locked for N s"), or when this failure starts a lock.
        AuthenticationError
            For a wrong password ("Wrong password.").
        """
        account = self._check_password(password, action=AuditAction.UNLOCK_FAILED)
        self._log(AuditAction.UNLOCKED, account.name)
        return AdminSession(account.name, self.clock)

    def lock(self, session: AdminSession) -> None:
        """End a session (the Lock button, or closing the Admin view)."""
        was_active = session.active
        session.close()
        if was_active:
            self._log(AuditAction.LOCKED, session.name)

    def confirm_password(self, session: AdminSession, password: str) -> None:
        """Re-enter the password in an open session (step-up before approving).

        Raises
        ------
        SessionError
            If the session is no longer active.
        AuthenticationError, LockedOutError
            As for `unlock`; failures count towards the lockout.
        """
        self._require(session, step_up=False)
        self._check_password(password, action=AuditAction.UNLOCK_FAILED)
        session.authenticated_at = self.clock()
        session.touch()
        self._log(AuditAction.PASSWORD_CONFIRMED, session.name)

    def change_password(self, session: AdminSession, old: str, new: str) -> None:
        """Change the admin password; the old one is required.

        Raises
        ------
        SessionError
            Without an active session.
        AuthenticationError, LockedOutError
            If ``old`` is wrong (counts towards the lockout).
        PasswordPolicyError
            If ``new`` is refused, or equals the old one.
        """
        self._require(session, step_up=False)
        account = self._account()
        normal = check_password_policy(new, name=account.name)
        self._check_password(old, action=AuditAction.PASSWORD_CHANGE_FAILED)
        if normalise_password(old) == normal:
            raise PasswordPolicyError("The new password is the same as the old one.")
        with self.store.locked():
            account = self._account()
            account.password_hash = self.hasher.hash(normal)
            account.password_changed_at = now_iso()
            self._write_account(account)
        session.authenticated_at = self.clock()
        session.touch()
        self._log(AuditAction.PASSWORD_CHANGED, session.name)

    # ----------------------------------------------------------------- session checks

    def _require(self, session: AdminSession | None, *, step_up: bool) -> str:
        if not isinstance(session, AdminSession) or not session.active:
            raise SessionError("The admin view is locked; unlock it with the admin password first.")
        if step_up and not session.recently_authenticated():
            raise StepUpRequiredError("Enter the admin password again to confirm this approval.")
        session.touch()
        return session.name

    # ----------------------------------------------------------------- policy

    def policy(self) -> dict[str, dict[str, Any]]:
        """Return the effective policy gates (defaults plus ``Settings.policy``)."""
        return policy(load_settings(self.paths).policy)

    def set_policy(self, session: AdminSession, gates: dict[str, dict[str, Any]]) -> None:
        """Save the admin's gate settings in ``Settings.policy``.

        Raises
        ------
        SessionError
            Without an active session.
        GovernanceError
            For an unknown gate or mode.
        """
        actor = self._require(session, step_up=False)
        for key, gate in gates.items():
            if key not in DEFAULT_POLICY:
                raise GovernanceError(f"There is no policy gate named {key!r}.")
            if "mode" in gate and gate["mode"] not in GATE_MODES:
                raise GovernanceError(f"The gate {key} cannot be {gate['mode']!r}; use block, warn or off.")
        settings = load_settings(self.paths)
        before = dict(settings.policy)
        merged = {k: dict(v) for k, v in before.items() if isinstance(v, dict)}
        for key, gate in gates.items():
            merged.setdefault(key, {}).update(gate)
        settings.policy = merged
        save_settings(self.paths, settings)
        self._log(AuditAction.POLICY_CHANGED, actor, details={"before": before, "after": merged})

    def evaluate_gates(self, job: TrainingJob | str) -> list[GateResult]:
        """Evaluate the policy gates on a job (pass, warn or block, each with a sentence)."""
        snapshot = self.store.read()
        if isinstance(job, str):
            job = snapshot.jobs.get(job)
        dataset = snapshot.datasets.find(job.dataset_id)
        return evaluate_policy(job, dataset, self.policy())

    # ----------------------------------------------------------------- champion vs challenger

    def champion(self, dataset_id: str) -> ModelSummary | None:
        """Return the model the dataset's active local deployment serves, or None."""
        snapshot = self.store.read()
        dep = deployments.active_local(snapshot.deployments.list(), dataset_id)
        if dep is None:
            return None
        job = snapshot.jobs.find(dep.training_job_id)
        if job is None:
            return None
        return summarise(job, dep)

    def challenger(self, job_id: str) -> ModelSummary:
        """Return the summary of a job under review (the other side of `champion`)."""
        return summarise(self.store.read().jobs.get(job_id))

    # ----------------------------------------------------------------- decisions

    def _review(self, actor: str, decision: str, reason: str | None, **extra: Any) -> dict[str, Any]:
        return {"by": actor, "at": now_iso(), "decision": decision, "reason": reason, **extra}

    def approve(
        self,
        session: AdminSession,
        job_id: str,
        target: str,
        *,
        reason: str | None = None,
        out_dir: Path | None = None,
        override: bool = False,
    ) -> Deployment:
        """Approve a job for the local service or for Azure ML and make its deployment.

        Local: the job becomes ``deployed`` with a signed active deployment; the dataset's previous
        active deployment (if any) is superseded. Azure: a managed-online-endpoint bundle is
        exported (to ``out_dir`` or ``exports/<jobId>/azure``) and recorded as ``exported``.

        Parameters
        ----------
        session
            An active session whose password was entered in the last 5 minutes.
        job_id
            A job ``pending_review`` (or already approved, to deploy or export it again).
        target
            ``"local"`` or ``"azure"``.
        reason
            Why; recorded in the review and the audit trail.
        out_dir
            Azure only: where to write the bundle.
        override
            Approve although gates warn (recorded as overridden). Blocking gates cannot be overridden.

        Raises
        ------
        SessionError, StepUpRequiredError
            Without an active, recently authenticated session.
        DecisionError
            If the job cannot be approved (status, missing or altered model file).
        GatesBlockedError, OverrideRequiredError
            If policy gates block, or warn without ``override``.
        """
        actor = self._require(session, step_up=True)
        if target not in deployments.TARGETS:
            raise DecisionError(f"Approve for 'local' or 'azure', not {target!r}.")
        reason = (reason or "").strip() or None
        approvable = {JobStatus.PENDING_REVIEW, JobStatus.APPROVED_FOR_INFERENCE}
        if target == deployments.AZURE:
            approvable |= {JobStatus.DEPLOYED, JobStatus.SUPERSEDED}
        job = self.store.read().jobs.get(job_id)
        if job.status not in approvable:
            raise DecisionError(f"Job {job_id} is {job.status}; only a job waiting for review can be approved.")
        self._verify_model(job)
        gates = self.evaluate_gates(job)
        blocked = [g for g in gates if g.outcome == GateOutcome.BLOCK]
        warned = [g for g in gates if g.outcome == GateOutcome.WARN]
        if blocked:
            raise GatesBlockedError(blocked)
        if warned and not override:
            raise OverrideRequiredError(warned)
        overridden = [g.to_dict() for g in warned]
        review = self._review(actor, f"approved_{target}", reason, target=target,
                              gates=[g.to_dict() for g in gates], overriddenGates=overridden)
        port = load_settings(self.paths).server_port
        superseded: Deployment | None = None
        dep: Deployment | None = None
        with self.store.transaction() as tx:
            job = tx.jobs.get(job_id)
            if job.status not in approvable:  # changed since the snapshot
                raise DecisionError(f"Job {job_id} is now {job.status}; it cannot be approved.")
            if job.status == JobStatus.PENDING_REVIEW:
                job = tx.jobs.update(job_id, status=JobStatus.APPROVED_FOR_INFERENCE, review=review)
            else:
                job = tx.jobs.update(job_id, review=review)
            if target == deployments.LOCAL:
                if job.status != JobStatus.APPROVED_FOR_INFERENCE:
                    raise DecisionError(f"Job {job_id} is {job.status}; it cannot be deployed again.")
                activation = deployments.activate_local(tx, self.paths, job, approved_by=actor, port=port)
                dep, superseded = activation.deployment, activation.superseded
            else:
                deployments.advance_dataset(tx, job.dataset_id, DatasetStatus.DEPLOYED)
        details: dict[str, Any] = {"target": target, "overriddenGates": overridden,
                                   "modelSha256": job.model_sha256}
        try:
            if target == deployments.AZURE:
                dep, bundle = self._export_azure(actor, job, out_dir)
                details["bundlePath"] = str(bundle)
            else:
                assert dep is not None
                details["endpoint"] = dep.endpoint
                if superseded is not None:
                    details["supersededDeployment"] = superseded.id
                    details["supersededJob"] = superseded.training_job_id
        except GovernanceError as exc:
            details["error"] = str(exc)
            raise
        finally:
            # One line per decision, written once the outcome is known (an export can fail after the
            # approval itself was recorded; the line says so).
            self._log(AuditAction.APPROVED, actor, job_id=job_id, dataset_id=job.dataset_id, reason=reason,
                      deployment_id=dep.id if dep is not None else None, details=details)
        self._write_card(job_id)
        return dep

    def _export_azure(self, actor: str, job: TrainingJob, out_dir: Path | None) -> tuple[Deployment, Path]:
        from predictml_desktop.core.azure import AzureExportError, export_bundle

        try:
            bundle = export_bundle(self.paths, job, out_dir=out_dir)
        except AzureExportError as exc:
            raise DecisionError(f"{exc} The job stays approved; export it again once fixed.") from None
        with self.store.transaction() as tx:
            dep = deployments.record_export(tx, self.paths, tx.jobs.get(job.id), bundle, approved_by=actor)
        return dep, bundle

    def _verify_model(self, job: TrainingJob) -> None:
        path = self.paths.resolve(job.model_path) if job.model_path else self.paths.model_dir(job.id) / "model.pkl"
        try:
            verify_model_file(path, job.model_sha256, self.paths.models)
        except (ArtifactError, ValueError) as exc:
            raise DecisionError(f"Job {job.id} cannot be approved: {exc}") from None

    def _write_card(self, job_id: str) -> None:
        # The model card documents the decision; failing to write it must not undo the decision.
        try:
            from predictml_desktop.core.model_card import write_model_card

            write_model_card(self.paths, job_id, gates=self.evaluate_gates(job_id))
        except Exception:  # logged; the card can be regenerated from the review
            log.exception("could not write the model card of %s", job_id)

    def _settle_dataset_after_refusal(self, tx: Any, dataset_id: str) -> None:
        # A dataset whose newest job is refused still serves its active deployment, if any.
        if deployments.active_local(tx.deployments.list(), dataset_id) is not None:
            deployments.advance_dataset(tx, dataset_id, DatasetStatus.DEPLOYED, DatasetStatus.ACTIVE)
        else:
            deployments.advance_dataset(tx, dataset_id, DatasetStatus.REJECTED)

    def reject(self, session: AdminSession, job_id: str, reason: str) -> TrainingJob:
        """Reject a job waiting for review; a reason is required.

        Raises
        ------
        SessionError
            Without an active session.
        DecisionError
            Without a reason, or if the job is not waiting for review.
        """
        actor = self._require(session, step_up=False)
        reason = (reason or "").strip() if isinstance(reason, str) else ""
        if not reason:
            raise DecisionError("A rejection needs a reason.")
        with self.store.transaction() as tx:
            job = tx.jobs.get(job_id)
            if job.status != JobStatus.PENDING_REVIEW:
                raise DecisionError(f"Job {job_id} is {job.status}; only a job waiting for review can be rejected.")
            job = tx.jobs.update(job_id, status=JobStatus.REJECTED, review=self._review(actor, "rejected", reason))
            ds = tx.datasets.find(job.dataset_id)
            if ds is not None and ds.status == DatasetStatus.PENDING_REVIEW:
                self._settle_dataset_after_refusal(tx, job.dataset_id)
        self._log(AuditAction.REJECTED, actor, job_id=job_id, dataset_id=job.dataset_id, reason=reason)
        self._write_card(job_id)
        return job

    def archive(self, session: AdminSession, job_id: str, reason: str | None = None) -> TrainingJob:
        """Archive a job that is not deployed (rejected, failed, cancelled, superseded or approved).

        Raises
        ------
        SessionError
            Without an active session.
        DecisionError
            If the job is deployed (undeploy it first) or cannot be archived from its status.
        """
        actor = self._require(session, step_up=False)
        with self.store.transaction() as tx:
            job = tx.jobs.get(job_id)
            if job.status == JobStatus.DEPLOYED:
                raise DecisionError(f"Job {job_id} is deployed; undeploy it before archiving.")
            if job.status == JobStatus.PENDING_REVIEW:
                raise DecisionError(f"Job {job_id} is waiting for review; approve or reject it first.")
            if job.status == JobStatus.TRAINING:
                raise DecisionError(f"Job {job_id} is still training; cancel it first.")
            if job.status == JobStatus.ARCHIVED:
                raise DecisionError(f"Job {job_id} is already archived.")
            try:
                job = tx.jobs.update(job_id, status=JobStatus.ARCHIVED)
            except ValueError as exc:
                raise DecisionError(str(exc)) from None
        self._log(AuditAction.ARCHIVED, actor, job_id=job_id, dataset_id=job.dataset_id, reason=reason)
        return job

    def delete(self, session: AdminSession, job_id: str, reason: str | None = None) -> TrainingJob:
        """Delete a job and its model files (``models/<jobId>/`` and its default Azure export).

        The job record is removed; its exported Azure records become inactive; the audit trail
        keeps the history.

        Raises
        ------
        SessionError
            Without an active session.
        DecisionError
            If the job is deployed or still training.
        """
        actor = self._require(session, step_up=False)
        with self.store.transaction() as tx:
            job = tx.jobs.get(job_id)
            if job.status == JobStatus.DEPLOYED:
                raise DecisionError(f"Job {job_id} is deployed; undeploy it before deleting it.")
            if job.status == JobStatus.TRAINING:
                raise DecisionError(f"Job {job_id} is still training; cancel it before deleting it.")
            for dep in tx.deployments.list():
                if dep.training_job_id == job_id and dep.status == DeploymentStatus.EXPORTED:
                    deployments.undeploy(tx, self.paths, dep.id)
            tx.jobs.delete(job_id)
            if job.status == JobStatus.PENDING_REVIEW:
                ds = tx.datasets.find(job.dataset_id)
                if ds is not None and ds.status == DatasetStatus.PENDING_REVIEW:
                    self._settle_dataset_after_refusal(tx, job.dataset_id)
        removed = []
        for folder in (self.paths.model_dir(job_id), self.paths.exports / job_id):
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(self.paths.relative(folder))
        self._log(AuditAction.DELETED, actor, job_id=job_id, dataset_id=job.dataset_id, reason=reason,
                  details={"removed": removed, "status": str(job.status)})
        return job

    def undeploy(self, session: AdminSession, deployment_id: str, reason: str | None = None) -> Deployment:
        """Stop serving (or mark inactive an export of) a deployment.

        Raises
        ------
        SessionError
            Without an active session.
        DecisionError
            If the deployment is already inactive.
        """
        actor = self._require(session, step_up=False)
        try:
            with self.store.transaction() as tx:
                dep = deployments.undeploy(tx, self.paths, deployment_id)
        except deployments.DeploymentError as exc:
            raise DecisionError(str(exc)) from None
        self._log(AuditAction.UNDEPLOYED, actor, job_id=dep.training_job_id, dataset_id=dep.dataset_id,
                  deployment_id=dep.id, reason=reason)
        return dep

    def rollback(self, session: AdminSession, dataset_id: str, reason: str | None = None) -> Deployment:
        """Restore the deployment that the dataset's active one superseded; return it.

        Raises
        ------
        SessionError, StepUpRequiredError
            Without an active, recently authenticated session (a rollback deploys a model).
        DecisionError
            If there is nothing to roll back to, or the previous record was tampered with.
        """
        actor = self._require(session, step_up=True)
        try:
            with self.store.transaction() as tx:
                result = deployments.rollback(tx, self.paths, dataset_id)
        except deployments.DeploymentError as exc:
            raise DecisionError(str(exc)) from None
        self._log(AuditAction.ROLLED_BACK, actor, job_id=result.restored.training_job_id, dataset_id=dataset_id,
                  deployment_id=result.restored.id, reason=reason,
                  details={"retiredDeployment": result.retired.id, "retiredJob": result.retired.training_job_id})
        return result.restored


def verify_all_deployments(paths: Paths) -> list[str]:
    """Return one sentence per deployment record that was tampered with (for the UI's warning)."""
    key = deployments.signing_key(paths)
    records = Store(paths).deployments()
    problems = [
        f"Deployment {dep.id} (dataset {dep.dataset_id}) was changed outside PredictML; it is not served."
        for dep in records
        if not deployments.signature_valid(paths, dep, key=key)
    ]
    return problems + deployments.invariant_violations(records)
