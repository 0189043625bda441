"""The admin's oversight of the rules themselves: the policy, the signed settings, and the audit trail's chain.

`Oversight` sits between the identity (`AdminIdentity`) and the decisions (`Governance`): it reads
the policy in force (the safe defaults when ``settings.json`` was changed outside PredictML),
changes it (an admin, signed, audited), lets an admin confirm or discard a settings file changed
outside PredictML, verifies the audit trail, and lets an admin acknowledge a break in it. Every
review shows the state of both (`integrity_gates`) until an admin has dealt with it.
"""

from __future__ import annotations

import logging
from typing import Any

from predictml_desktop.core import integrity
from predictml_desktop.core import settings as settings_file
from predictml_desktop.core.audit import AuditAction
from predictml_desktop.core.audit_chain import ChainReport
from predictml_desktop.core.governance.account import AdminSession
from predictml_desktop.core.governance.errors import DecisionError, GovernanceError
from predictml_desktop.core.governance.gates import (
    DEFAULT_POLICY,
    GateResult,
    evaluate_policy,
    integrity_gates,
    modes_of,
    policy,
)
from predictml_desktop.core.governance.identity import AdminIdentity
from predictml_desktop.core.records import TrainingJob
from predictml_desktop.core.settings import SettingsError, SettingsStatus

log = logging.getLogger(__name__)


class Oversight(AdminIdentity):
    """The policy, the signed settings and the audit trail's integrity, for admins (see the module)."""

    # ----------------------------------------------------------------- policy

    def policy(self) -> dict[str, dict[str, Any]]:
        """Return the policy in force: the gates and the two-person rule (defaults plus the signed settings)."""
        return policy(settings_file.load_settings(self.paths).policy)

    def set_policy(self, session: AdminSession, gates: dict[str, dict[str, Any]]) -> None:
        """Save an admin's gate settings and two-person rule in the signed settings, with an audit line.

        Raises
        ------
        SessionError
            Without an active session.
        GovernanceError
            For an unknown gate or mode, or while ``settings.json`` waits for an admin's decision
            (`confirm_settings`) after a change outside PredictML.
        """
        actor = self._require(session, step_up=False)
        for key, gate in gates.items():
            if key not in DEFAULT_POLICY:
                raise GovernanceError(f"There is no policy gate named {key!r}.")
            if "mode" in gate and gate["mode"] not in modes_of(key):
                raise GovernanceError(f"{key} cannot be {gate['mode']!r}; use {', '.join(modes_of(key))}.")
        settings = settings_file.load_settings(self.paths)
        before = dict(settings.policy)
        merged = {k: dict(v) for k, v in before.items() if isinstance(v, dict)}
        for key, gate in gates.items():
            merged.setdefault(key, {}).update(gate)
        settings.policy = merged
        try:
            changed = settings_file.save_settings(self.paths, settings, actor=actor, policy_change=True, audit=False)
        except SettingsError as exc:
            raise GovernanceError(str(exc)) from None
        if changed:
            self._log(AuditAction.POLICY_CHANGED, actor, details={"before": before, "after": merged})

    def settings_status(self) -> SettingsStatus:
        """Return whether ``settings.json`` is signed by this installation (and what applies if not)."""
        return settings_file.settings_status(self.paths)

    def confirm_settings(self, session: AdminSession, *, accept: bool, reason: str | None = None) -> SettingsStatus:
        """Decide on a ``settings.json`` changed outside PredictML: keep its values (signed) or discard them.

        Either way the file as found is kept as ``settings.json.unverified-<time>`` and the decision is
        audited with the file's SHA-256. Discarding restores the last version PredictML signed (or the
        defaults when there is none).

        Raises
        ------
        SessionError, StepUpRequiredError
            Without an active, recently authenticated session.
        DecisionError
            If the file is signed (nothing to decide), or ``accept`` for a file that is not readable JSON.
        """
        actor = self._require(session, step_up=True)
        reason = (reason or "").strip() or None
        with self.store.locked():
            read = settings_file.read_settings(self.paths)
            if read.status.state not in ("unverified", "unreadable"):
                raise DecisionError("settings.json is signed by PredictML; there is no change to confirm or discard.")
            if accept and read.raw is None:
                raise DecisionError("settings.json is not readable JSON, so it cannot be kept; discard it instead.")
            kept = settings_file.keep_aside(self.paths, "unverified")
            details: dict[str, Any] = {"unverifiedSha256": read.status.file_sha256,
                                       "keptAs": kept.name if kept else None}
            if accept:
                assert read.raw is not None
                adopted = settings_file.settings_from_document(read.raw)
                settings_file.write_signed(self.paths, adopted, signed_by=actor)
                details["policy"] = adopted.policy
                action = AuditAction.SETTINGS_CONFIRMED
            else:
                restored, source = settings_file.last_signed(self.paths)
                settings_file.write_signed(self.paths, restored, signed_by=actor)
                details.update(restored=source, policy=restored.policy)
                action = AuditAction.SETTINGS_DISCARDED
        self._log(action, actor, reason=reason, details=details)
        return settings_file.settings_status(self.paths)

    # ----------------------------------------------------------------- audit trail

    def verify_audit(self) -> ChainReport:
        """Verify the audit trail's chain against its signed head ("intact (N entries)" or where it breaks)."""
        return self.audit.verify()

    def acknowledge_audit(self, session: AdminSession, reason: str) -> ChainReport:
        """Acknowledge the breaks the audit trail reports now (audited with them); later reviews stop flagging them.

        Nothing is rewritten: the entry records which breaks were seen and why they are accepted,
        and the signed head then covers it, so the acknowledged breaks stay visible as history.

        Raises
        ------
        SessionError, StepUpRequiredError
            Without an active, recently authenticated session.
        DecisionError
            Without a reason, or when the trail is intact.
        """
        actor = self._require(session, step_up=True)
        reason = (reason or "").strip() if isinstance(reason, str) else ""
        if not reason:
            raise DecisionError("Acknowledging a break in the audit trail needs a reason.")
        report = self.audit.verify()
        if report.ok:
            raise DecisionError(f"The audit trail is {report.message}; there is nothing to acknowledge.")
        self._log(AuditAction.AUDIT_ACKNOWLEDGED, actor, reason=reason,
                  details={"reported": report.message, "breaks": [b.to_dict() for b in report.open_breaks]})
        return self.audit.verify()

    # ----------------------------------------------------------------- gates

    def integrity(self) -> list[GateResult]:
        """Return the audit-trail and signed-settings checks every review shows (see `integrity_gates`)."""
        try:
            report = self.audit.verify()
            audit_ok, audit_message = report.ok, report.message
        except (OSError, integrity.SigningKeyError, settings_file.StoreError) as exc:
            audit_ok, audit_message = False, f"not verifiable ({exc})"
        status = settings_file.settings_status(self.paths)
        return integrity_gates(audit_ok, audit_message, status.trusted, status.message)

    def evaluate_gates(self, job: TrainingJob | str) -> list[GateResult]:
        """Evaluate the policy gates on a job, then the integrity checks (pass, warn or block, each with a sentence)."""
        snapshot = self.store.read()
        if isinstance(job, str):
            job = snapshot.jobs.get(job)
        dataset = snapshot.datasets.find(job.dataset_id)
        return evaluate_policy(job, dataset, self.policy()) + self.integrity()

