"""Admin decisions: approve (local or Azure), reject, archive, delete, undeploy, roll back.

Everything is enforced here, in the core, not only in the UI: a decision without an active admin
session is refused, every status change goes through the transition table, which decision a job's
status allows comes from `core.status.JOB_DECISIONS` (the views ask `Governance.allowed_decisions`),
and every decision is appended to the audit trail under the deciding admin's name.

An approval pins its evidence (`core.evidence`): the hashes of the model, its schema, its
environment and the model card written for the approval go into the review, the audit line and the
signed deployment record, and loading the deployed model checks them all. Under the policy's
two-person rule (`twoPersonRule`: ``azure`` or ``all``), the first admin's approval is only recorded
(`AwaitingSecondApprovalError` says so) and a second, different admin's approval makes the deployment.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from predictml_desktop.core import deployment as deployments
from predictml_desktop.core import evidence
from predictml_desktop.core.artifacts import ArtifactError, verify_model_file
from predictml_desktop.core.audit import AuditAction
from predictml_desktop.core.governance.account import AdminSession
from predictml_desktop.core.governance.errors import (
    AwaitingSecondApprovalError,
    DecisionError,
    GatesBlockedError,
    GovernanceError,
    OverrideRequiredError,
)
from predictml_desktop.core.governance.gates import (
    GateOutcome,
    GateResult,
    ModelSummary,
    needs_two_admins,
    summarise,
)
from predictml_desktop.core.governance.oversight import Oversight
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Deployment, TrainingJob, now_iso
from predictml_desktop.core.settings import load_settings
from predictml_desktop.core.status import (
    JOB_DECISIONS,
    DatasetStatus,
    Decision,
    DeploymentStatus,
    JobStatus,
    decisions_for,
)
from predictml_desktop.core.store import Store

log = logging.getLogger(__name__)


class Governance(Oversight):
    """The admin accounts (`AdminIdentity`), the policy and integrity checks (`Oversight`), and every admin decision.

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

    def allowed_decisions(self, job: TrainingJob, gates: list[GateResult] | None = None) -> frozenset[Decision]:
        """Return the decisions the job's status allows (`core.status.JOB_DECISIONS`).

        Parameters
        ----------
        job
            The job under review.
        gates
            Its evaluated policy gates (`evaluate_gates`), if known: a blocking gate removes both
            approvals, as `approve` would refuse them.

        Notes
        -----
        The views enable their buttons from this; the decisions themselves check it again (with the
        session and the step-up), so a stale view can never do what the core refuses.
        """
        allowed = decisions_for(str(job.status))
        if gates and any(g.outcome == GateOutcome.BLOCK for g in gates):
            allowed -= {Decision.APPROVE_LOCAL, Decision.APPROVE_AZURE}
        return allowed

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
        AwaitingSecondApprovalError
            Under the two-person rule, after recording this admin's approval when no other admin's is
            recorded yet (nothing is deployed then).
        """
        actor = self._require(session, step_up=True)
        if target not in deployments.TARGETS:
            raise DecisionError(f"Approve for 'local' or 'azure', not {target!r}.")
        reason = (reason or "").strip() or None
        approvable = JOB_DECISIONS[Decision.APPROVE_AZURE if target == deployments.AZURE else Decision.APPROVE_LOCAL]
        job = self.store.read().jobs.get(job_id)
        if job.status not in approvable:
            raise DecisionError(f"Job {job_id} is {job.status}; only a job waiting for review can be approved.")
        self._verify_model(job)
        gates, overridden = self._passed_gates(job, override)
        approvers = self._approvers(actor, job, target, reason, overridden)
        card = evidence.card_name(target)
        review = self._review(actor, f"approved_{target}", reason, target=target,
                              gates=[g.to_dict() for g in gates], overriddenGates=overridden, approvers=approvers)
        pinned = self._pin_evidence(job, review, gates, card)
        review["evidence"] = pinned
        port = load_settings(self.paths).server_port
        job, dep, superseded = self._record_approval(job_id, target, approvable, review, actor, port, pinned,
                                                     approvers)
        details: dict[str, Any] = {"target": target, "overriddenGates": overridden,
                                   "modelSha256": job.model_sha256, "evidence": pinned, "approvers": approvers}
        try:
            if target == deployments.AZURE:
                dep, bundle = self._export_azure(actor, job, out_dir, pinned, approvers)
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

    def _passed_gates(self, job: TrainingJob, override: bool) -> tuple[list[Any], list[dict[str, Any]]]:
        """Return the gates and the warnings overridden; raise if a gate blocks or a warning is not overridden."""
        gates = self.evaluate_gates(job)
        blocked = [g for g in gates if g.outcome == GateOutcome.BLOCK]
        warned = [g for g in gates if g.outcome == GateOutcome.WARN]
        if blocked:
            raise GatesBlockedError(blocked)
        if warned and not override:
            raise OverrideRequiredError(warned)
        return gates, [g.to_dict() for g in warned]

    def _record_approval(
        self, job_id: str, target: str, approvable: Any, review: dict[str, Any], actor: str, port: int,
        pinned: Any, approvers: list[str],
    ) -> tuple[TrainingJob, Deployment | None, Deployment | None]:
        """Record the review, in one transaction with the local deployment (or the dataset's new status).

        Returns the updated job, the new local deployment and the one it superseded.
        """
        superseded: Deployment | None = None
        dep: Deployment | None = None
        with self.store.transaction() as tx:
            job = tx.jobs.get(job_id)
            if job.status not in approvable:  # changed since the snapshot
                raise DecisionError(f"Job {job_id} is now {job.status}; it cannot be approved.")
            waiting = [a for a in job.approvals if a.get("target") != target]
            if job.status == JobStatus.PENDING_REVIEW:
                job = tx.jobs.update(job_id, status=JobStatus.APPROVED_FOR_INFERENCE, review=review, approvals=waiting)
            else:
                job = tx.jobs.update(job_id, review=review, approvals=waiting)
            if target == deployments.LOCAL:
                if job.status != JobStatus.APPROVED_FOR_INFERENCE:
                    raise DecisionError(f"Job {job_id} is {job.status}; it cannot be deployed again.")
                activation = deployments.activate_local(tx, self.paths, job, approved_by=actor, port=port,
                                                        evidence=pinned, approvers=approvers)
                dep, superseded = activation.deployment, activation.superseded
            else:
                deployments.advance_dataset(tx, job.dataset_id, DatasetStatus.DEPLOYED)
        return job, dep, superseded

    def _approvers(self, actor: str, job: TrainingJob, target: str, reason: str | None,
                   overridden: list[dict[str, Any]]) -> list[str]:
        """Return who approves this deployment; under the two-person rule, record a first approval and stop."""
        if not needs_two_admins(self.policy(), target):
            return [actor]
        earlier = [a for a in job.approvals
                   if a.get("target") == target and a.get("modelSha256") == job.model_sha256]
        others = [a for a in earlier if a.get("by") != actor]
        if others:
            return [str(others[-1]["by"]), actor]
        if earlier:
            raise DecisionError(f"You already approved {job.id} for {target}; the policy needs a second admin's "
                                "approval, not a second one of yours.")
        first = {"by": actor, "at": now_iso(), "target": target, "reason": reason,
                 "modelSha256": job.model_sha256, "overriddenGates": overridden}
        with self.store.transaction() as tx:
            current = tx.jobs.get(job.id)
            if current.status != job.status:
                raise DecisionError(f"Job {job.id} is now {current.status}; it cannot be approved.")
            tx.jobs.update(job.id, approvals=[*current.approvals, first])
        self._log(AuditAction.APPROVAL_RECORDED, actor, job_id=job.id, dataset_id=job.dataset_id, reason=reason,
                  details={"target": target, "modelSha256": job.model_sha256, "overriddenGates": overridden,
                           "awaiting": "a second admin's approval (two-person rule)"})
        raise AwaitingSecondApprovalError(job.id, target, actor)

    def _pin_evidence(self, job: TrainingJob, review: dict[str, Any], gates: list[GateResult],
                      card: str) -> dict[str, str]:
        """Write the model card this approval shows and return the hashes of everything it relies on."""
        from predictml_desktop.core.model_card import write_pinned_card

        approved = TrainingJob.from_dict({**job.to_dict(), "review": review})
        if approved.status == JobStatus.PENDING_REVIEW:
            approved.status = JobStatus.APPROVED_FOR_INFERENCE
        try:
            write_pinned_card(self.paths, approved, card, gates=gates)
            return evidence.collect(self.paths, job.id, card)
        except ArtifactError as exc:
            raise DecisionError(f"Job {job.id} cannot be approved: {exc}") from None

    def _export_azure(self, actor: str, job: TrainingJob, out_dir: Path | None, pinned: dict[str, str],
                      approvers: list[str]) -> tuple[Deployment, Path]:
        from predictml_desktop.core.azure import AzureExportError, export_bundle

        try:
            bundle = export_bundle(self.paths, job, out_dir=out_dir)
        except AzureExportError as exc:
            raise DecisionError(f"{exc} The job stays approved; export it again once fixed.") from None
        with self.store.transaction() as tx:
            dep = deployments.record_export(tx, self.paths, tx.jobs.get(job.id), bundle, approved_by=actor,
                                            evidence=pinned, approvers=approvers)
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
            if job.status not in JOB_DECISIONS[Decision.REJECT]:
                raise DecisionError(f"Job {job_id} is {job.status}; only a job waiting for review can be rejected.")
            job = tx.jobs.update(job_id, status=JobStatus.REJECTED, review=self._review(actor, "rejected", reason),
                                 approvals=[])
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
            if job.status not in JOB_DECISIONS[Decision.ARCHIVE]:
                raise DecisionError(f"Job {job_id} is {job.status}; it cannot be archived.")
            job = tx.jobs.update(job_id, status=JobStatus.ARCHIVED)
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
            if job.status not in JOB_DECISIONS[Decision.DELETE]:
                raise DecisionError(f"Job {job_id} is {job.status}; it cannot be deleted.")
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
    """Return one sentence per deployment record that was tampered with, or whose pinned evidence changed."""
    key = deployments.signing_key(paths)
    records = Store(paths).deployments()
    problems: list[str] = []
    for dep in records:
        if not deployments.signature_valid(paths, dep, key=key):
            problems.append(f"Deployment {dep.id} (dataset {dep.dataset_id}) was changed outside PredictML; "
                            "it is not served.")
        elif dep.evidence and dep.status != DeploymentStatus.INACTIVE:
            changed = evidence.problems(paths, dep.training_job_id, dep.evidence)
            if changed:
                problems.append(f"Deployment {dep.id} (dataset {dep.dataset_id}): {'; '.join(changed)}; it is not "
                                "served.")
    return problems + deployments.invariant_violations(records)
