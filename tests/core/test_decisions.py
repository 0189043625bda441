"""Which decision a job allows: one table in core.status, the same answer from the core and for the views.

`Governance.allowed_decisions` is what the review view enables its buttons from; these tests make
every decision on a job in every status and check the core accepts exactly what it says it allows.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import pytest

from predictml_desktop.core.governance import (
    DecisionError,
    GateOutcome,
    GateResult,
    Governance,
    cheap_hasher_for_tests,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.status import JOB_DECISIONS, JOB_TRANSITIONS, Decision, JobStatus, decisions_for
from predictml_desktop.core.store import Store
from tests.core.governance_records import add_dataset, add_job

PASSWORD = "correct horse battery staple 42"


def _path_to(status: JobStatus) -> list[JobStatus]:
    """The shortest legal walk from training to ``status`` in the transition table."""
    queue: deque[list[JobStatus]] = deque([[JobStatus.TRAINING]])
    while queue:
        walk = queue.popleft()
        if walk[-1] == status:
            return walk[1:]
        queue.extend([*walk, nxt] for nxt in sorted(JOB_TRANSITIONS[walk[-1]]) if nxt not in walk)
    raise AssertionError(f"{status} cannot be reached")


def _job_in(store: Store, status: JobStatus) -> str:
    dataset_id = add_dataset(store)
    job_id = add_job(store, dataset_id, status=JobStatus.TRAINING)
    with store.transaction() as tx:
        for step in _path_to(status):
            tx.jobs.update(job_id, status=step)
    return job_id


def _decide(gov: Governance, decision: Decision, job_id: str, tmp: Path) -> Any:
    session = gov.create_admin("ada", PASSWORD) if not gov.has_admin() else gov.unlock(PASSWORD)
    if decision == Decision.APPROVE_LOCAL:
        return gov.approve(session, job_id, "local", override=True)
    if decision == Decision.APPROVE_AZURE:
        return gov.approve(session, job_id, "azure", out_dir=tmp / "bundle", override=True)
    if decision == Decision.REJECT:
        return gov.reject(session, job_id, "not good enough")
    if decision == Decision.ARCHIVE:
        return gov.archive(session, job_id)
    return gov.delete(session, job_id)


def test_the_decision_table_agrees_with_the_transition_table() -> None:
    # Each decision that changes a job's status takes a legal transition from every status it allows.
    for status in JOB_DECISIONS[Decision.REJECT]:
        assert JobStatus.REJECTED in JOB_TRANSITIONS[status]
    for status in JOB_DECISIONS[Decision.ARCHIVE]:
        assert JobStatus.ARCHIVED in JOB_TRANSITIONS[status]
    for status in JOB_DECISIONS[Decision.APPROVE_LOCAL]:
        assert status == JobStatus.APPROVED_FOR_INFERENCE or JobStatus.APPROVED_FOR_INFERENCE in JOB_TRANSITIONS[status]
    assert JobStatus.DEPLOYED in JOB_TRANSITIONS[JobStatus.APPROVED_FOR_INFERENCE]
    # What the views used to restate by hand.
    assert decisions_for("pending_review") == set(Decision) - {Decision.ARCHIVE}
    assert decisions_for("deployed") == {Decision.APPROVE_AZURE}
    assert decisions_for("training") == set()
    assert decisions_for("archived") == {Decision.DELETE}
    assert decisions_for("no such status") == set()


@pytest.mark.parametrize("status", list(JobStatus))
@pytest.mark.parametrize("decision", list(Decision))
def test_the_core_accepts_exactly_the_decisions_it_allows(status: JobStatus, decision: Decision,
                                                          predictml_home: Path, tmp_path: Path) -> None:
    paths = Paths.default().ensure()
    gov = Governance(paths, hasher=cheap_hasher_for_tests())
    job_id = _job_in(gov.store, status)
    job = gov.store.read().jobs.get(job_id)
    allowed = decision in gov.allowed_decisions(job)
    assert allowed == (status in JOB_DECISIONS[decision])
    if allowed:
        _decide(gov, decision, job_id, tmp_path)
    else:
        with pytest.raises(DecisionError):
            _decide(gov, decision, job_id, tmp_path)


def test_a_blocking_gate_removes_the_approvals(predictml_home: Path) -> None:
    paths = Paths.default().ensure()
    gov = Governance(paths, hasher=cheap_hasher_for_tests())
    job_id = _job_in(gov.store, JobStatus.PENDING_REVIEW)
    job = gov.store.read().jobs.get(job_id)
    warn = GateResult("perfectScore", "No perfect score", GateOutcome.WARN, "warns")
    block = GateResult("beatBaseline", "Better than the baseline", GateOutcome.BLOCK, "blocks")
    assert gov.allowed_decisions(job, [warn]) == gov.allowed_decisions(job)
    assert gov.allowed_decisions(job, [warn, block]) == {Decision.REJECT, Decision.DELETE}
    # The gates the core evaluates itself agree: this job's own gates do not block.
    assert Decision.APPROVE_LOCAL in gov.allowed_decisions(job, gov.evaluate_gates(job))


def test_rollback_and_undeploy_offer_what_the_core_does(predictml_home: Path) -> None:
    from predictml_desktop.core.deployment import active_local, rollback_target
    from predictml_desktop.core.status import DEPLOYMENT_UNDEPLOYABLE, JOB_RETRYABLE

    paths = Paths.default().ensure()
    gov = Governance(paths, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada", PASSWORD)
    dataset_id = add_dataset(gov.store)
    first = add_job(gov.store, dataset_id)
    gov.approve(session, first, "local", override=True)
    second = add_job(gov.store, dataset_id)
    gov.approve(session, second, "local", override=True)
    deps = gov.store.read().deployments.list()
    current = active_local(deps, dataset_id)
    assert current is not None and current.training_job_id == second
    offered = rollback_target(deps, current)
    assert offered is not None and offered.training_job_id == first
    assert all(rollback_target(deps, d) is None for d in deps if d.id != current.id)  # only the active one
    assert gov.rollback(session, dataset_id).id == offered.id  # the core restores what the view offers
    assert DEPLOYMENT_UNDEPLOYABLE == {"active", "exported"} and JOB_RETRYABLE == {"failed", "cancelled"}
