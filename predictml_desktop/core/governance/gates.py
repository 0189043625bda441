"""Policy gates (pass, warn or block, each with a sentence) and the champion/challenger summaries.

Pure functions of a job's record (its metrics, and the leakage check of its own target and features,
``TrainingJob.data_warnings``); `Governance.evaluate_gates` reads the policy from the settings, calls
`evaluate_policy`, and adds the two integrity checks (`integrity_gates`: the audit trail's chain and
the signed settings), which no policy turns off.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from predictml_desktop.core.records import Dataset, Deployment, TrainingJob

log = logging.getLogger(__name__)


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
TWO_PERSON_RULE = "twoPersonRule"
TWO_PERSON_MODES = ("off", "azure", "all")
"""``off``: one admin's approval deploys; ``azure``: an Azure export needs two admins' approvals; ``all``: every
deployment does."""

DEFAULT_POLICY: dict[str, dict[str, Any]] = {
    "minHoldoutScore": {"mode": "warn", "classification": 0.7, "regression": 0.3},
    "maxCvHoldoutGap": {"mode": "warn", "value": 0.1},
    "beatBaseline": {"mode": "block"},
    "suspectedLeakage": {"mode": "block"},
    "perfectScore": {"mode": "warn"},
    TWO_PERSON_RULE: {"mode": "off"},
    # Not a gate: how far new data may move from the training data before it is flagged (core.drift).
    "drift": {"mode": "warn", "watch": 0.1, "act": 0.25, "missingWatch": 0.05, "missingAct": 0.15},
}
"""The gates, the two-person rule and their defaults; ``Settings.policy`` overrides any part (see `policy`)."""

DRIFT_POLICY = "drift"
DRIFT_MODES = ("warn", "off")
"""``warn``: drift beyond "act" is flagged on the deployment and in ``/models``; ``off``: shown, never flagged."""

GATES = tuple(key for key in DEFAULT_POLICY if key not in (TWO_PERSON_RULE, DRIFT_POLICY))
"""The keys of the policy that are gates (evaluated on each job)."""


def modes_of(key: str) -> tuple[str, ...]:
    """Return the modes a policy entry may have."""
    if key == DRIFT_POLICY:
        return DRIFT_MODES
    return TWO_PERSON_MODES if key == TWO_PERSON_RULE else GATE_MODES


def needs_two_admins(gates: dict[str, dict[str, Any]], target: str) -> bool:
    """Return True if the policy's two-person rule applies to a deployment to ``target``."""
    mode = gates.get(TWO_PERSON_RULE, {}).get("mode", "off")
    return mode == "all" or (mode == "azure" and target == "azure")

_GATE_TITLES = {
    "auditTrail": "Audit trail intact",
    "signedSettings": "Signed settings",
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
        if gate.get("mode") not in modes_of(key):
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


def _is_leak(warning: Any) -> bool:
    return isinstance(warning, dict) and "leak" in str(warning.get("code", "")).casefold()


def job_leaks(job: TrainingJob, dataset: Dataset | None) -> list[str] | None:
    """Return the columns the job trains on that are suspected of leaking its target (None: not known).

    A job records its own check (``data_warnings``: its target, its features). A job from before that
    check falls back to its dataset's profile, minus the columns the job excluded, but only when the
    profile was made for the same target.
    """
    if job.data_warnings is not None:
        return [str(w.get("column")) for w in job.data_warnings if _is_leak(w) and w.get("column")]
    if dataset is None:
        return []
    if dataset.target_column and dataset.target_column != job.target_column:
        return None
    excluded = set(dataset.excluded_columns) | set(job.options.get("excludedColumns") or [])
    return [str(w.get("column")) for w in dataset.warnings
            if _is_leak(w) and w.get("column") and w.get("column") not in excluded]


def integrity_gates(audit_ok: bool, audit_message: str, settings_trusted: bool,
                    settings_message: str) -> list[GateResult]:
    """Return the two checks every review shows, whatever the policy: the audit trail's chain and the signed settings.

    A broken chain (until an admin acknowledges it) or a settings file changed outside PredictML
    (until an admin confirms or discards it) warns, so an approval needs a recorded override.
    """
    return [
        GateResult("auditTrail", "Audit trail intact", GateOutcome.PASS if audit_ok else GateOutcome.WARN,
                   f"The audit trail is {audit_message}." if audit_ok else
                   f"The audit trail is {audit_message}. An admin must acknowledge it (Admin → Audit trail)."),
        GateResult("signedSettings", "Signed settings", GateOutcome.PASS if settings_trusted else GateOutcome.WARN,
                   settings_message),
    ]


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

    # 4. Suspected leakage among the columns this job actually trained on, for its own target.
    leaks = job_leaks(job, dataset)
    if leaks is None:
        add("suspectedLeakage", None,
            f"Leakage was checked for another target than this job's ('{job.target_column}'); train again to "
            "check the columns against it.")
    elif leaks:
        add("suspectedLeakage", False,
            f"This job trains on {', '.join(repr(c) for c in leaks)}, suspected of leaking the target "
            f"'{job.target_column}'; exclude {'it' if len(leaks) == 1 else 'them'} and train again.")
    else:
        add("suspectedLeakage", True, "No column this job trains on is suspected of leaking the target.")

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
