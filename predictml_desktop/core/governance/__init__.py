"""Admin governance (DESIGN §6, issue 5): the admin account, lockout, sessions, decisions, policy gates, audit.

Everything is enforced here, in the core, not only in the UI: a decision without an active admin
session is refused, every status change goes through the transition table, and every decision and
password event is appended to ``audit.jsonl``. The UI and the command line call these methods
(from a worker thread in the UI: unlocking hashes for about 0.2 s on purpose).

The package, by seam:

- `errors`: the refusals (`GovernanceError` and its subclasses), one sentence each;
- `passwords`: the argon2id hashers, the password policy, the admin's name;
- `account`: ``admin.json`` (several `AdminAccount`s, its migration), the lockout rule, `AdminSession`;
- `gates`: the policy gates, the two-person rule, the integrity checks and the champion/challenger
  summaries (pure functions of the records);
- `identity`: `AdminIdentity` — creating the first account, adding and removing admins, unlocking,
  step-up, password changes;
- `oversight`: `Oversight` — the policy in force, signed settings (confirm or discard a hand edit),
  the audit trail's verification and acknowledgement;
- `decisions`: `Governance` — approve (pinning its evidence; two admins under the two-person rule),
  reject, archive, delete, undeploy, roll back, and `Governance.allowed_decisions` (the views'
  rules, from `core.status.JOB_DECISIONS`).

Callers import from the package (``from predictml_desktop.core.governance import Governance``).
"""

from __future__ import annotations

from predictml_desktop.core.governance.account import (
    ABSOLUTE_TIMEOUT_S,
    ADMIN_SCHEMA_VERSION,
    FREE_FAILURES,
    IDLE_TIMEOUT_S,
    LOCKOUT_S,
    MAX_LOCKOUT_S,
    STEP_UP_S,
    AdminAccount,
    AdminSession,
    LockoutState,
    admin_document,
    lockout_duration,
    migrate_admin_document,
    parse_admin_document,
)
from predictml_desktop.core.governance.decisions import Governance, verify_all_deployments
from predictml_desktop.core.governance.errors import (
    AdminExistsError,
    AdminNameRequiredError,
    AuthenticationError,
    AwaitingSecondApprovalError,
    DecisionError,
    GatesBlockedError,
    GovernanceError,
    LockedOutError,
    NoAdminError,
    OverrideRequiredError,
    PasswordPolicyError,
    SessionError,
    StepUpRequiredError,
)
from predictml_desktop.core.governance.gates import (
    DEFAULT_POLICY,
    GATE_MODES,
    GATES,
    TWO_PERSON_MODES,
    TWO_PERSON_RULE,
    GateOutcome,
    GateResult,
    ModelSummary,
    baseline_metrics,
    cv_metrics,
    evaluate_policy,
    find_metric,
    holdout_metrics,
    integrity_gates,
    job_leaks,
    metric_label,
    modes_of,
    needs_two_admins,
    policy,
    primary_metric,
    summarise,
)
from predictml_desktop.core.governance.identity import AdminIdentity, AdminInfo
from predictml_desktop.core.governance.oversight import Oversight
from predictml_desktop.core.governance.passwords import (
    BLOCKLIST_FILE,
    MAX_NAME_CHARS,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    OWASP_FLOOR,
    PRODUCTION_HASH_PARAMS,
    cheap_hasher_for_tests,
    check_admin_name,
    check_password_policy,
    load_blocklist,
    normalise_password,
    production_hasher,
)
from predictml_desktop.core.status import Decision

__all__ = [
    "ABSOLUTE_TIMEOUT_S",
    "ADMIN_SCHEMA_VERSION",
    "BLOCKLIST_FILE",
    "DEFAULT_POLICY",
    "FREE_FAILURES",
    "GATES",
    "GATE_MODES",
    "IDLE_TIMEOUT_S",
    "LOCKOUT_S",
    "MAX_LOCKOUT_S",
    "MAX_NAME_CHARS",
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "OWASP_FLOOR",
    "PRODUCTION_HASH_PARAMS",
    "STEP_UP_S",
    "TWO_PERSON_MODES",
    "TWO_PERSON_RULE",
    "AdminAccount",
    "AdminExistsError",
    "AdminIdentity",
    "AdminInfo",
    "AdminNameRequiredError",
    "AdminSession",
    "AuthenticationError",
    "AwaitingSecondApprovalError",
    "Decision",
    "DecisionError",
    "GateOutcome",
    "GateResult",
    "GatesBlockedError",
    "Governance",
    "GovernanceError",
    "LockedOutError",
    "LockoutState",
    "ModelSummary",
    "NoAdminError",
    "OverrideRequiredError",
    "Oversight",
    "PasswordPolicyError",
    "SessionError",
    "StepUpRequiredError",
    "admin_document",
    "baseline_metrics",
    "cheap_hasher_for_tests",
    "check_admin_name",
    "check_password_policy",
    "cv_metrics",
    "evaluate_policy",
    "find_metric",
    "holdout_metrics",
    "integrity_gates",
    "job_leaks",
    "load_blocklist",
    "lockout_duration",
    "metric_label",
    "migrate_admin_document",
    "modes_of",
    "needs_two_admins",
    "normalise_password",
    "parse_admin_document",
    "policy",
    "primary_metric",
    "production_hasher",
    "summarise",
    "verify_all_deployments",
]
