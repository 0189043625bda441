"""The refusals of admin governance: each is one sentence for the user, never a password."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from predictml_desktop.core.governance.gates import GateResult

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


class AdminNameRequiredError(AuthenticationError):
    """Several admins exist: unlocking needs the admin's name."""


class SessionError(GovernanceError):
    """The admin session is locked, expired or missing."""


class StepUpRequiredError(SessionError):
    """The action needs the password again (`Governance.confirm_password`)."""


class DecisionError(GovernanceError):
    """A decision that cannot be made on this job or deployment."""


class AwaitingSecondApprovalError(DecisionError):
    """The approval was recorded, but the two-person rule needs a second admin's before anything is deployed.

    Raised (rather than returned) so that a caller expecting a deployment can never mistake a
    recorded first approval for one; the message says what was recorded and what is still needed.
    """

    def __init__(self, job_id: str, target: str, approver: str) -> None:
        self.job_id, self.target, self.approver = job_id, target, approver
        where = "Azure ML" if target == "azure" else "the local service"
        super().__init__(
            f"{approver}'s approval of {job_id} for {where} is recorded; the policy needs a second admin to approve "
            "it too before it is deployed."
        )


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
