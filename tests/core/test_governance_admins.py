"""Several named admins: adding and removing them, their own passwords, lockouts and sessions, the two-person rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from predictml_desktop.core.governance import (
    FREE_FAILURES,
    AdminNameRequiredError,
    AdminSession,
    AuthenticationError,
    AwaitingSecondApprovalError,
    DecisionError,
    Governance,
    GovernanceError,
    LockedOutError,
    SessionError,
    StepUpRequiredError,
    cheap_hasher_for_tests,
)
from predictml_desktop.core.governance.account import AdminAccount, admin_document
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.status import DeploymentStatus, JobStatus
from tests.core.governance_records import add_dataset, add_job

ADA, BOB, CARA = "ada@example.org", "Bob Builder", "cara"
ADA_PW = "correct horse battery staple 42"
BOB_PW = "violet tractor under seventeen moons"
CARA_PW = "a third passphrase, long enough"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def paths(predictml_home: Path) -> Paths:
    return Paths.default().ensure()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gov(paths: Paths, clock: FakeClock) -> Governance:
    return Governance(paths, clock=clock, hasher=cheap_hasher_for_tests())


@pytest.fixture
def ada(gov: Governance) -> AdminSession:
    return gov.create_admin(ADA, ADA_PW)


@pytest.fixture
def bob(gov: Governance, ada: AdminSession) -> AdminSession:
    gov.add_admin(ada, BOB, BOB_PW)
    return gov.unlock(BOB_PW, BOB)


def _actions(gov: Governance) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in gov.audit.events()]


def test_an_admin_adds_another_who_has_their_own_password_and_session(gov: Governance, ada: AdminSession) -> None:
    info = gov.add_admin(ada, BOB, BOB_PW)
    assert info.name == BOB and info.created_by == ADA
    assert gov.admin_names() == [ADA, BOB]
    assert [a.created_by for a in gov.admins()] == [None, ADA]
    # Each password opens its own admin's session only.
    with pytest.raises(AuthenticationError, match="Wrong password"):
        gov.unlock(ADA_PW, BOB)
    session = gov.unlock(BOB_PW, "bob builder")  # names are matched without case
    assert session.name == BOB
    with pytest.raises(AdminNameRequiredError):
        gov.unlock(BOB_PW)
    with pytest.raises(AuthenticationError, match="no admin named"):
        gov.unlock(BOB_PW, "nobody")
    assert ("admin_added", ADA) in _actions(gov)
    [added] = [e for e in gov.audit.events() if e.action == "admin_added"]
    assert added.details == {"admin": BOB}
    stored = json.loads(gov.paths.admin_file.read_text())
    assert [a["name"] for a in stored["admins"]] == [ADA, BOB]
    assert BOB_PW not in gov.paths.admin_file.read_text() and BOB_PW not in gov.paths.audit_file.read_text()


def test_adding_an_admin_needs_a_recent_password_and_a_good_new_one(gov: Governance, ada: AdminSession,
                                                                     clock: FakeClock) -> None:
    with pytest.raises(GovernanceError, match="at least 15"):
        gov.add_admin(ada, BOB, "short")
    with pytest.raises(GovernanceError, match="already exists"):
        gov.add_admin(ada, ADA.upper(), BOB_PW)
    clock.now += 6 * 60
    with pytest.raises(StepUpRequiredError):
        gov.add_admin(ada, BOB, BOB_PW)
    gov.confirm_password(ada, ADA_PW)
    gov.add_admin(ada, BOB, BOB_PW)
    assert gov.admin_names() == [ADA, BOB]


def test_each_admin_has_their_own_persisted_lockout(gov: Governance, paths: Paths, clock: FakeClock,
                                                    bob: AdminSession) -> None:
    for _ in range(FREE_FAILURES - 1):
        with pytest.raises(AuthenticationError):
            gov.unlock("not bob's password at all", BOB)
    with pytest.raises(LockedOutError):
        gov.unlock("not bob's password at all", BOB)
    # Bob is locked out, Ada is not; a restart (a new Governance) keeps both.
    again = Governance(paths, clock=clock, hasher=cheap_hasher_for_tests())
    assert again.lockout_state(BOB).locked and not again.lockout_state(ADA).locked
    assert again.lockout_state().locked  # the list shows the one locked longest
    with pytest.raises(LockedOutError):
        again.unlock(BOB_PW, BOB)
    assert again.unlock(ADA_PW, ADA).active
    locked_out = [e for e in gov.audit.events() if e.action == "locked_out"]
    assert [e.actor for e in locked_out] == [BOB]


def test_removing_admins_never_the_last_and_a_removed_admins_session_ends(gov: Governance, ada: AdminSession,
                                                                           bob: AdminSession) -> None:
    gov.remove_admin(ada, BOB, reason="left the team")
    assert gov.admin_names() == [ADA]
    [removed] = [e for e in gov.audit.events() if e.action == "admin_removed"]
    assert removed.actor == ADA and removed.details == {"admin": BOB} and removed.reason == "left the team"
    # Bob's open session is refused at its next action, by the core.
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    with pytest.raises(SessionError, match="no longer exists"):
        gov.reject(bob, job, "too weak")
    assert not bob.active
    with pytest.raises(GovernanceError, match="last admin"):
        gov.remove_admin(ada, ADA)
    with pytest.raises(AuthenticationError):
        gov.unlock(BOB_PW, BOB)


def test_an_admin_may_remove_themselves_when_another_remains(gov: Governance, ada: AdminSession,
                                                             bob: AdminSession) -> None:
    gov.remove_admin(bob, BOB)
    assert not bob.active and gov.admin_names() == [ADA]
    assert gov.unlock(ADA_PW).active  # one admin again: no name needed


def test_every_decision_is_audited_under_the_deciding_admins_name(gov: Governance, ada: AdminSession,
                                                                   bob: AdminSession) -> None:
    ds = add_dataset(gov.store)
    first, second = add_job(gov.store, ds), add_job(gov.store, ds)
    gov.reject(bob, first, "leaky")
    gov.approve(ada, second, "local", override=True)
    decided = {(e.action, e.job_id): e.actor for e in gov.audit.events() if e.job_id}
    assert decided == {("rejected", first): BOB, ("approved", second): ADA}
    assert gov.store.read().jobs.get(first).review["by"] == BOB


def test_password_change_is_per_admin(gov: Governance, ada: AdminSession, bob: AdminSession) -> None:
    gov.change_password(bob, BOB_PW, CARA_PW)
    assert gov.unlock(CARA_PW, BOB).active
    assert gov.unlock(ADA_PW, ADA).active
    with pytest.raises(AuthenticationError):
        gov.unlock(BOB_PW, BOB)


def test_a_single_admin_file_from_before_migrates(gov: Governance, paths: Paths, clock: FakeClock) -> None:
    account = AdminAccount(name=ADA, password_hash=cheap_hasher_for_tests().hash(ADA_PW), failed_attempts=2)
    old = {"schemaVersion": 1, **{k: v for k, v in account.to_dict().items() if k != "createdBy"}}
    paths.admin_file.write_text(json.dumps(old))
    assert gov.admin_names() == [ADA] and gov.lockout_state().failed_attempts == 2
    session = gov.unlock(ADA_PW)
    assert session.name == ADA
    # Written as version 2 at the first change (the failure count reset), the hash unchanged.
    doc = json.loads(paths.admin_file.read_text())
    assert doc["schemaVersion"] == 2 and doc["admins"][0]["passwordHash"] == account.password_hash
    gov.add_admin(session, BOB, BOB_PW)
    assert [a["name"] for a in json.loads(paths.admin_file.read_text())["admins"]] == [ADA, BOB]
    assert admin_document([account])["schemaVersion"] == 2


def test_a_newer_or_duplicated_admin_file_is_refused_and_left_alone(gov: Governance, paths: Paths) -> None:
    paths.admin_file.write_text(json.dumps({"schemaVersion": 9, "admins": []}))
    with pytest.raises(GovernanceError, match="newer PredictML"):
        gov.has_admin()
    entry = AdminAccount(name=ADA, password_hash=cheap_hasher_for_tests().hash(ADA_PW)).to_dict()
    text = json.dumps({"schemaVersion": 2, "admins": [entry, {**entry, "name": ADA.upper()}]})
    paths.admin_file.write_text(text)
    with pytest.raises(GovernanceError, match="appears twice"):
        gov.unlock(ADA_PW, ADA)
    assert paths.admin_file.read_text() == text


# --------------------------------------------------------------------------- the two-person rule


def test_two_person_rule_for_azure_needs_two_different_admins(gov: Governance, ada: AdminSession,
                                                              bob: AdminSession, tmp_path: Path) -> None:
    gov.set_policy(ada, {"twoPersonRule": {"mode": "azure"}})
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    with pytest.raises(AwaitingSecondApprovalError, match="second admin") as info:
        gov.approve(ada, job, "azure", override=True, reason="first look", out_dir=tmp_path / "bundle")
    assert info.value.approver == ADA
    record = gov.store.read().jobs.get(job)
    assert record.status == JobStatus.PENDING_REVIEW and [a["by"] for a in record.approvals] == [ADA]
    assert gov.store.deployments() == [] and not (tmp_path / "bundle").exists()
    # The same admin twice is not two people.
    with pytest.raises(DecisionError, match="second admin"):
        gov.approve(ada, job, "azure", override=True)
    # Local deployments are not under the "azure" rule.
    assert gov.policy()["twoPersonRule"]["mode"] == "azure"
    dep = gov.approve(bob, job, "azure", override=True, reason="second look", out_dir=tmp_path / "bundle")
    assert dep.status == DeploymentStatus.EXPORTED and dep.approvers == [ADA, BOB]
    assert (tmp_path / "bundle").is_dir()
    record = gov.store.read().jobs.get(job)
    assert record.approvals == [] and record.review["approvers"] == [ADA, BOB]
    lines = [e for e in gov.audit.events() if e.job_id == job]
    assert [(e.action, e.actor) for e in lines] == [("approval_recorded", ADA), ("approved", BOB)]
    assert lines[-1].details["approvers"] == [ADA, BOB]


def test_two_person_rule_for_all_deployments(gov: Governance, ada: AdminSession, bob: AdminSession) -> None:
    gov.set_policy(ada, {"twoPersonRule": {"mode": "all"}})
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    with pytest.raises(AwaitingSecondApprovalError):
        gov.approve(bob, job, "local", override=True)
    assert gov.store.read().jobs.get(job).status == JobStatus.PENDING_REVIEW
    dep = gov.approve(ada, job, "local", override=True)
    assert dep.status == DeploymentStatus.ACTIVE and dep.approvers == [BOB, ADA]
    # The signature covers the approvers: another name pasted in is refused.
    from predictml_desktop.core import deployment as deployments

    assert deployments.signature_valid(gov.paths, dep)
    dep.approvers = [ADA, "mallory"]
    assert not deployments.signature_valid(gov.paths, dep)


def test_a_rejection_clears_a_waiting_first_approval(gov: Governance, ada: AdminSession, bob: AdminSession) -> None:
    gov.set_policy(ada, {"twoPersonRule": {"mode": "all"}})
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    with pytest.raises(AwaitingSecondApprovalError):
        gov.approve(ada, job, "local", override=True)
    gov.reject(bob, job, "I disagree")
    record = gov.store.read().jobs.get(job)
    assert record.status == JobStatus.REJECTED and record.approvals == []


def test_two_person_rule_modes_are_checked(gov: Governance, ada: AdminSession) -> None:
    with pytest.raises(GovernanceError, match="off, azure, all"):
        gov.set_policy(ada, {"twoPersonRule": {"mode": "block"}})
    assert gov.policy()["twoPersonRule"] == {"mode": "off"}
