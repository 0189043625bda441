from __future__ import annotations

import json
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type

from predictml_desktop.core import deployment as deployments
from predictml_desktop.core.audit import AuditLog
from predictml_desktop.core.governance import (
    ABSOLUTE_TIMEOUT_S,
    FREE_FAILURES,
    IDLE_TIMEOUT_S,
    LOCKOUT_S,
    MAX_LOCKOUT_S,
    OWASP_FLOOR,
    PRODUCTION_HASH_PARAMS,
    STEP_UP_S,
    AdminExistsError,
    AdminSession,
    AuthenticationError,
    DecisionError,
    GatesBlockedError,
    Governance,
    GovernanceError,
    LockedOutError,
    NoAdminError,
    OverrideRequiredError,
    PasswordPolicyError,
    SessionError,
    StepUpRequiredError,
    cheap_hasher_for_tests,
    check_password_policy,
    load_blocklist,
    production_hasher,
    verify_all_deployments,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.status import DatasetStatus, DeploymentStatus, JobStatus
from predictml_desktop.core.store import Store
from tests.core.governance_records import add_dataset, add_job

PASSWORD = "correct horse battery staple 42"
OTHER_PASSWORD = "violet tractor under seventeen moons"


def _stored_hash(paths: Paths, index: int = 0) -> str:
    return str(json.loads(paths.admin_file.read_text("utf-8"))["admins"][index]["passwordHash"])


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def paths(predictml_home: Path) -> Paths:
    return Paths.default().ensure()


@pytest.fixture
def gov(paths: Paths, clock: FakeClock) -> Governance:
    return Governance(paths, clock=clock, hasher=cheap_hasher_for_tests())


@pytest.fixture
def session(gov: Governance) -> AdminSession:
    return gov.create_admin("ada@example.org", PASSWORD)


def _audit(gov: Governance) -> list[dict[str, Any]]:
    return [e.to_dict() for e in gov.audit.events()]


# --------------------------------------------------------------------------- identity and passwords


def test_no_default_credentials(gov: Governance) -> None:
    assert not gov.has_admin()
    with pytest.raises(NoAdminError):
        gov.unlock("")
    with pytest.raises(NoAdminError):
        gov.unlock(PASSWORD)


def test_stored_hash_is_argon2id_and_never_the_password(gov: Governance, session: AdminSession) -> None:
    raw = gov.paths.admin_file.read_text("utf-8")
    file = json.loads(raw)
    assert file["schemaVersion"] == 2
    [doc] = file["admins"]
    assert doc["name"] == "ada@example.org"
    assert re.match(r"^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$", doc["passwordHash"])
    assert PASSWORD not in raw
    # A fresh random salt per hash: the same password twice gives two different hashes.
    other = Governance(gov.paths, hasher=cheap_hasher_for_tests()).hasher.hash(PASSWORD)
    assert other != doc["passwordHash"]
    assert session.active and session.name == "ada@example.org"
    with pytest.raises(AdminExistsError):
        gov.create_admin("mallory", OTHER_PASSWORD)


def test_production_profile_is_above_the_owasp_floor_and_not_the_test_profile(paths: Paths) -> None:
    prod = production_hasher()
    assert prod.type is Type.ID
    assert prod.memory_cost >= OWASP_FLOOR["memory_cost"] and prod.time_cost >= OWASP_FLOOR["time_cost"]
    assert prod.parallelism == 1 and prod.salt_len >= 16
    cheap = cheap_hasher_for_tests()
    assert (cheap.memory_cost, cheap.time_cost) != (prod.memory_cost, prod.time_cost)
    # Without an explicit hasher, Governance uses the production profile, end to end.
    gov = Governance(paths)
    gov.create_admin("ada", PASSWORD)
    stored = _stored_hash(paths)
    m, t, p = map(int, re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", stored).groups())  # type: ignore[union-attr]
    assert (m, t, p) == (PRODUCTION_HASH_PARAMS["memory_cost"], PRODUCTION_HASH_PARAMS["time_cost"], 1)
    assert m >= 19456 and t >= 2
    assert gov.unlock(PASSWORD).active


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a" * 14, "at least 15"),
        ("short one", "at least 15"),
        ("1234567890qwerty", "commonly used"),
        ("PasswordStandard", "commonly used"),  # case-insensitive match of "passwordstandard"
        ("ada@example.org!!", None),
        ("abcabcabcabcabcabc", "repeats"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_password_policy_reasons(password: str, reason: str | None) -> None:
    if reason is None:
        assert check_password_policy(password, name="ada@example.org") == password
        return
    with pytest.raises(PasswordPolicyError, match=reason) as info:
        check_password_policy(password)
    assert password not in str(info.value)


def test_password_policy_length_rules_and_no_truncation(gov: Governance) -> None:
    assert check_password_policy("a1b2c3d4e5f6g7h")  # 15: accepted, no composition rules
    assert check_password_policy("only lower case letters here")
    assert len(load_blocklist()) >= 1000
    with pytest.raises(PasswordPolicyError):
        check_password_policy("ada@example.org", name="ADA@example.org")
    long = "".join(chr(ord("a") + (i * 7) % 26) for i in range(256))
    gov.create_admin("ada", long)
    assert gov.unlock(long).active
    changed = long[:199] + ("b" if long[199] != "b" else "c") + long[200:]
    with pytest.raises(AuthenticationError):
        gov.unlock(changed)


def test_nfkc_normalisation_makes_ligature_and_letters_equal(gov: Governance) -> None:
    gov.create_admin("ada", "the ﬁrst ﬂoor is quiet")
    assert gov.unlock("the first floor is quiet").active


def test_password_is_not_in_the_name_error_or_audit(gov: Governance) -> None:
    with pytest.raises(PasswordPolicyError) as info:
        gov.create_admin("ada", "qwertyuiop12345")
    assert "qwertyuiop12345" not in str(info.value)
    with pytest.raises(GovernanceError):
        gov.create_admin("   ", PASSWORD)


def test_rehash_on_login_when_parameters_are_weaker(paths: Paths, clock: FakeClock) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    Governance(paths, clock=clock, hasher=weak).create_admin("ada", PASSWORD)
    assert "m=8,t=1" in _stored_hash(paths)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1, type=Type.ID)
    gov = Governance(paths, clock=clock, hasher=stronger)
    assert gov.unlock(PASSWORD).active
    assert "m=16,t=2" in _stored_hash(paths)
    assert gov.unlock(PASSWORD).active
    assert [e.action for e in gov.audit.events()].count("password_rehashed") == 1


# --------------------------------------------------------------------------- lockout


def test_five_failures_lock_for_five_minutes_then_unlock_works(gov: Governance, session: AdminSession,
                                                               clock: FakeClock) -> None:
    for _ in range(FREE_FAILURES - 1):
        with pytest.raises(AuthenticationError, match=r"^Wrong password\.$"):
            gov.unlock("not the password at all")
    with pytest.raises(LockedOutError, match="locked for 300 s"):
        gov.unlock("not the password at all")
    # While locked, even the right password is refused without being checked.
    clock.advance(LOCKOUT_S - 1)
    with pytest.raises(LockedOutError, match="locked for 1 s"):
        gov.unlock(PASSWORD)
    assert gov.lockout_state().locked
    clock.advance(1)
    assert not gov.lockout_state().locked
    assert gov.unlock(PASSWORD).active
    assert gov.lockout_state().failed_attempts == 0


def test_each_further_failure_doubles_the_lock_up_to_an_hour(gov: Governance, session: AdminSession,
                                                             clock: FakeClock) -> None:
    waits = []
    for _ in range(FREE_FAILURES - 1):
        with pytest.raises(AuthenticationError):
            gov.unlock("wrong wrong wrong wrong")
    for _ in range(6):
        with pytest.raises(LockedOutError) as info:
            gov.unlock("wrong wrong wrong wrong")
        waits.append(info.value.retry_after_s)
        clock.advance(info.value.retry_after_s)
    assert waits == [300, 600, 1200, 2400, 3600, 3600]
    assert max(waits) <= MAX_LOCKOUT_S


def test_lockout_survives_a_restart(paths: Paths, clock: FakeClock) -> None:
    gov = Governance(paths, clock=clock, hasher=cheap_hasher_for_tests())
    gov.create_admin("ada", PASSWORD)
    for _ in range(FREE_FAILURES - 1):
        with pytest.raises(AuthenticationError):
            gov.unlock("wrong wrong wrong wrong")
    with pytest.raises(LockedOutError):
        gov.unlock("wrong wrong wrong wrong")
    clock.advance(60)
    restarted = Governance(paths, clock=clock, hasher=cheap_hasher_for_tests())
    with pytest.raises(LockedOutError, match="locked for 240 s"):
        restarted.unlock(PASSWORD)
    assert restarted.lockout_state().failed_attempts == FREE_FAILURES


def test_at_most_100_failures_are_evaluated_per_hour(gov: Governance, session: AdminSession,
                                                     clock: FakeClock) -> None:
    start = clock.now
    evaluated: list[float] = []
    for _ in range(200):  # 200 scripted attempts, one every 30 s
        before = gov.lockout_state().failed_attempts
        with pytest.raises(AuthenticationError):
            gov.unlock("wrong wrong wrong wrong")
        if gov.lockout_state().failed_attempts > before:
            evaluated.append(clock.now)
        clock.advance(30)
    for t in evaluated:
        assert sum(1 for u in evaluated if t <= u < t + 3600) <= 100
    # 5 free failures, then one per lock of 5, 10, 20, 40 minutes: 9 checked in 100 minutes.
    assert [int(t - start) for t in evaluated] == [0, 30, 60, 90, 120, 420, 1020, 2220, 4620]
    # The lock is temporary, never permanent.
    clock.advance(MAX_LOCKOUT_S)
    assert gov.unlock(PASSWORD).active


# --------------------------------------------------------------------------- sessions


def test_idle_lock_at_fifteen_minutes(gov: Governance, session: AdminSession, clock: FakeClock) -> None:
    clock.advance(IDLE_TIMEOUT_S - 1)  # 14:59
    assert session.active
    assert session.touch()
    clock.advance(IDLE_TIMEOUT_S - 1)
    assert session.active
    clock.advance(2)  # 15:01 since the last activity
    assert not session.active
    assert not session.touch()
    with pytest.raises(SessionError):
        gov.reject(session, "training_1", "too late")


def test_absolute_lock_after_twelve_hours(gov: Governance, session: AdminSession, clock: FakeClock) -> None:
    for _ in range(int(ABSOLUTE_TIMEOUT_S // 600) - 1):
        clock.advance(600)
        assert session.touch()
    clock.advance(600)
    assert not session.active


def test_lock_ends_the_session(gov: Governance, session: AdminSession) -> None:
    gov.lock(session)
    assert not session.active
    assert _audit(gov)[-1]["action"] == "locked"


def test_every_decision_is_refused_without_an_active_session(gov: Governance, session: AdminSession,
                                                             clock: FakeClock) -> None:
    store = gov.store
    ds = add_dataset(store)
    job = add_job(store, ds)
    before_records = {p.name: p.read_bytes() for p in gov.paths.home.glob("*.json")}
    audit_before = len(_audit(gov))
    idle = gov.unlock(PASSWORD)
    clock.advance(IDLE_TIMEOUT_S + 1)
    locked = gov.unlock(PASSWORD)
    gov.lock(locked)
    audit_before = len(_audit(gov))
    for bad in (None, idle, locked, "ada@example.org"):
        for action in (
            lambda s: gov.approve(s, job, "local"),
            lambda s: gov.approve(s, job, "azure"),
            lambda s: gov.reject(s, job, "no"),
            lambda s: gov.archive(s, job),
            lambda s: gov.delete(s, job),
            lambda s: gov.undeploy(s, "deployment_1"),
            lambda s: gov.rollback(s, ds),
            lambda s: gov.set_policy(s, {"perfectScore": {"mode": "off"}}),
            lambda s: gov.change_password(s, PASSWORD, OTHER_PASSWORD),
            lambda s: gov.confirm_password(s, PASSWORD),
        ):
            with pytest.raises(SessionError):
                action(bad)
    assert len(_audit(gov)) == audit_before
    after_records = {p.name: p.read_bytes() for p in gov.paths.home.glob("*.json") if p.name != "admin.json"}
    assert after_records == {k: v for k, v in before_records.items() if k != "admin.json"}
    assert store.read().jobs.get(job).status == JobStatus.PENDING_REVIEW


def test_approval_needs_a_recent_password(gov: Governance, session: AdminSession, clock: FakeClock) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    clock.advance(STEP_UP_S + 1)
    session.touch()
    with pytest.raises(StepUpRequiredError):
        gov.approve(session, job, "local")
    with pytest.raises(AuthenticationError):
        gov.confirm_password(session, OTHER_PASSWORD)
    gov.confirm_password(session, PASSWORD)
    dep = gov.approve(session, job, "local")
    assert dep.status == DeploymentStatus.ACTIVE


def test_change_password_needs_the_old_one(gov: Governance, session: AdminSession) -> None:
    with pytest.raises(AuthenticationError):
        gov.change_password(session, OTHER_PASSWORD, "a brand new long passphrase")
    with pytest.raises(PasswordPolicyError):
        gov.change_password(session, PASSWORD, "too short")
    with pytest.raises(PasswordPolicyError, match="same"):
        gov.change_password(session, PASSWORD, PASSWORD)
    gov.change_password(session, PASSWORD, OTHER_PASSWORD)
    with pytest.raises(AuthenticationError):
        gov.unlock(PASSWORD)
    assert gov.unlock(OTHER_PASSWORD).active
    actions = [e["action"] for e in _audit(gov)]
    assert actions.count("password_changed") == 1
    assert actions.count("password_change_failed") == 1


def test_damaged_admin_file_is_never_taken_for_no_admin(gov: Governance, session: AdminSession) -> None:
    gov.paths.admin_file.write_text("{not json", "utf-8")
    with pytest.raises(GovernanceError, match="damaged"):
        gov.has_admin()
    with pytest.raises(GovernanceError, match="damaged"):
        gov.create_admin("mallory", OTHER_PASSWORD)
    assert gov.paths.admin_file.read_text("utf-8") == "{not json"


def test_a_deleted_admin_file_is_named_and_its_replacement_audited(gov: Governance, session: AdminSession) -> None:
    assert gov.previous_admin() is None  # the account exists
    gov.paths.admin_file.unlink()
    assert gov.previous_admin() == "ada@example.org"
    gov.create_admin("mallory", OTHER_PASSWORD)
    created = [e for e in _audit(gov) if e["action"] == "admin_created"]
    assert [e["actor"] for e in created] == ["ada@example.org", "mallory"]
    assert created[1]["details"] == {"replaces": "ada@example.org"}
    assert "admin.json was missing" in created[1]["reason"]
    assert gov.previous_admin() is None


# --------------------------------------------------------------------------- decisions


def test_approve_local_deploys_and_writes_one_audit_line(gov: Governance, session: AdminSession) -> None:
    store = gov.store
    ds = add_dataset(store)
    job = add_job(store, ds)
    n = len(_audit(gov))
    dep = gov.approve(session, job, "local", reason="good enough")
    snapshot = store.read()
    assert snapshot.jobs.get(job).status == JobStatus.DEPLOYED
    assert snapshot.datasets.get(ds).status == DatasetStatus.ACTIVE
    assert dep.endpoint == f"http://127.0.0.1:8000/predict/{ds}"
    assert dep.approved_by == "ada@example.org" and dep.status == DeploymentStatus.ACTIVE
    assert deployments.signature_valid(gov.paths, snapshot.deployments.get(dep.id))
    review = snapshot.jobs.get(job).review
    assert review is not None and review["decision"] == "approved_local" and review["reason"] == "good enough"
    lines = _audit(gov)[n:]
    assert len(lines) == 1
    line = lines[0]
    assert (line["action"], line["actor"], line["jobId"], line["datasetId"], line["reason"]) == (
        "approved", "ada@example.org", job, ds, "good enough")
    assert line["deploymentId"] == dep.id and line["at"].endswith("Z")
    assert (gov.paths.model_dir(job) / "report.html").is_file()


def test_reject_needs_a_reason_and_one_audit_line(gov: Governance, session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    with pytest.raises(DecisionError, match="reason"):
        gov.reject(session, job, "  ")
    n = len(_audit(gov))
    gov.reject(session, job, "leaks the target")
    snapshot = gov.store.read()
    assert snapshot.jobs.get(job).status == JobStatus.REJECTED
    assert snapshot.datasets.get(ds).status == DatasetStatus.REJECTED
    assert [e["action"] for e in _audit(gov)[n:]] == ["rejected"]
    # Illegal transitions are refused, never forced.
    with pytest.raises(DecisionError):
        gov.approve(session, job, "local")
    with pytest.raises(DecisionError):
        gov.reject(session, job, "again")
    gov.archive(session, job)
    assert gov.store.read().jobs.get(job).status == JobStatus.ARCHIVED
    with pytest.raises(DecisionError):
        gov.archive(session, job)


def test_supersede_and_rollback_keep_exactly_one_active_deployment(gov: Governance, session: AdminSession) -> None:
    store = gov.store
    ds = add_dataset(store)
    job1 = add_job(store, ds)
    dep1 = gov.approve(session, job1, "local")

    def active() -> list[str]:
        return [d.id for d in store.deployments() if d.dataset_id == ds and d.status == DeploymentStatus.ACTIVE]

    assert active() == [dep1.id]
    job2 = add_job(store, ds)
    assert gov.champion(ds).job_id == job1  # type: ignore[union-attr]
    assert gov.challenger(job2).job_id == job2
    n = len(_audit(gov))
    dep2 = gov.approve(session, job2, "local")
    assert active() == [dep2.id]
    snap = store.read()
    assert snap.jobs.get(job1).status == JobStatus.SUPERSEDED
    assert snap.deployments.get(dep1.id).superseded_by == dep2.id
    assert [e["action"] for e in _audit(gov)[n:]] == ["approved"]
    assert _audit(gov)[-1]["details"]["supersededDeployment"] == dep1.id

    restored = gov.rollback(session, ds, reason="new one misbehaves")
    assert restored.id == dep1.id
    assert active() == [dep1.id]
    snap = store.read()
    assert snap.jobs.get(job1).status == JobStatus.DEPLOYED
    assert snap.jobs.get(job2).status == JobStatus.APPROVED_FOR_INFERENCE
    assert _audit(gov)[-1]["action"] == "rolled_back"
    assert verify_all_deployments(gov.paths) == []
    with pytest.raises(DecisionError, match="nothing to roll back"):
        gov.rollback(session, ds)

    gov.undeploy(session, dep1.id)
    assert active() == []
    assert store.read().datasets.get(ds).status == DatasetStatus.PENDING_REVIEW
    assert deployments.invariant_violations(store.deployments()) == []


def test_rollback_refuses_a_tampered_previous_deployment(gov: Governance, session: AdminSession) -> None:
    store = gov.store
    ds = add_dataset(store)
    job1 = add_job(store, ds)
    dep1 = gov.approve(session, job1, "local")
    gov.approve(session, add_job(store, ds), "local")
    doc = json.loads(gov.paths.deployments_file.read_text("utf-8"))
    for d in doc["deployments"]:
        if d["id"] == dep1.id:
            d["modelSha256"] = "0" * 64
    gov.paths.deployments_file.write_text(json.dumps(doc), "utf-8")
    with pytest.raises(DecisionError, match="changed outside PredictML"):
        gov.rollback(session, ds)
    assert any("changed outside" in p for p in verify_all_deployments(gov.paths))


def test_policy_gates_block_warn_and_record_overrides(gov: Governance, session: AdminSession) -> None:
    store = gov.store
    ds = add_dataset(store)
    weak = add_job(store, ds, metrics={"holdout": {"AUC": 0.5}, "cv": {"AUC": 0.52}, "baseline": {"AUC": 0.5}})
    gates = {g.gate: g for g in gov.evaluate_gates(weak)}
    assert gates["beatBaseline"].outcome == "block"
    assert gates["minHoldoutScore"].outcome == "warn"
    with pytest.raises(GatesBlockedError, match="no better than the baseline"):
        gov.approve(session, weak, "local", override=True)

    gov.reject(session, weak, "weak")
    meh = add_job(store, ds, metrics={"holdout": {"AUC": 0.65}, "cv": {"AUC": 0.9}, "baseline": {"AUC": 0.5}})
    with pytest.raises(OverrideRequiredError) as info:
        gov.approve(session, meh, "local")
    assert {g.gate for g in info.value.gates} == {"minHoldoutScore", "maxCvHoldoutGap"}
    gov.approve(session, meh, "local", override=True, reason="pilot only")
    review = store.read().jobs.get(meh).review
    assert review is not None
    assert {g["gate"] for g in review["overriddenGates"]} == {"minHoldoutScore", "maxCvHoldoutGap"}
    assert {g["gate"] for g in _audit(gov)[-1]["details"]["overriddenGates"]} == {"minHoldoutScore", "maxCvHoldoutGap"}

    gov.set_policy(session, {"minHoldoutScore": {"mode": "block", "classification": 0.99}})
    assert gov.policy()["minHoldoutScore"]["mode"] == "block"
    assert _audit(gov)[-1]["action"] == "policy_changed"
    with pytest.raises(GovernanceError):
        gov.set_policy(session, {"minHoldoutScore": {"mode": "sometimes"}})


def test_leakage_and_perfect_score_gates(gov: Governance, session: AdminSession) -> None:
    store = gov.store
    ds = add_dataset(store, warnings=[{"code": "suspected_leakage", "column": "refund_id", "message": "..."}])
    perfect = add_job(store, ds, metrics={"holdout": {"AUC": 1.0}, "cv": {"AUC": 1.0}, "baseline": {"AUC": 0.5}})
    gates = {g.gate: g for g in gov.evaluate_gates(perfect)}
    assert gates["suspectedLeakage"].outcome == "block" and "refund_id" in gates["suspectedLeakage"].message
    assert gates["perfectScore"].outcome == "warn"


def test_approve_refuses_an_altered_model_file(gov: Governance, session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    (gov.paths.model_dir(job) / "model.pkl").write_bytes(b"something else")
    with pytest.raises(DecisionError, match="Integrity check failed"):
        gov.approve(session, job, "local")
    assert gov.store.read().jobs.get(job).status == JobStatus.PENDING_REVIEW


def test_approve_for_azure_exports_a_bundle_and_records_it(gov: Governance, session: AdminSession,
                                                          tmp_path: Path) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    out = tmp_path / "bundle"
    dep = gov.approve(session, job, "azure", out_dir=out)
    assert dep.status == DeploymentStatus.EXPORTED and dep.target == "azure" and dep.endpoint is None
    assert Path(dep.bundle_path or "") == out.resolve()
    for name in ("model/model.pkl", "code/score.py", "environment/conda.yml", "endpoint.yml", "deployment.yml",
                 "README.md", "sample-request.json"):
        assert (out / name).is_file(), name
    assert "az ml online-endpoint create" in (out / "README.md").read_text("utf-8")
    snap = gov.store.read()
    assert snap.jobs.get(job).status == JobStatus.APPROVED_FOR_INFERENCE  # nothing is served
    assert snap.datasets.get(ds).status == DatasetStatus.DEPLOYED
    assert deployments.active_local(snap.deployments.list(), ds) is None
    assert [e["action"] for e in _audit(gov)][-1] == "approved"
    assert _audit(gov)[-1]["details"]["bundlePath"] == str(out.resolve())


def test_delete_removes_model_files_and_is_refused_while_deployed(gov: Governance, session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    dep = gov.approve(session, job, "local")
    with pytest.raises(DecisionError, match="undeploy"):
        gov.delete(session, job)
    gov.undeploy(session, dep.id)
    gov.delete(session, job, reason="obsolete")
    assert not gov.paths.model_dir(job).exists()
    assert gov.store.read().jobs.find(job) is None
    assert _audit(gov)[-1]["action"] == "deleted"


def test_signing_key_is_private_and_outside_the_data_home(gov: Governance, session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    gov.approve(session, add_job(gov.store, ds), "local")
    key = deployments.signing_key_path(gov.paths)
    assert key.is_file() and gov.paths.home not in key.parents
    if sys.platform != "win32":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_audit_filter_and_export_neutralise_formulas(gov: Governance, session: AdminSession, tmp_path: Path) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    gov.reject(session, job, "=HYPERLINK(\"http://x\")")
    events = gov.audit.events()
    rejected = AuditLog.filter(events, actions=["rejected"], job_id=job)
    assert len(rejected) == 1
    assert AuditLog.filter(events, text="hyperlink")[0].job_id == job
    out = AuditLog.export(rejected, tmp_path / "audit.csv")
    text = out.read_text("utf-8-sig")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    jsonl = AuditLog.export(events, tmp_path / "audit.jsonl")
    assert len(jsonl.read_text("utf-8").splitlines()) == len(events)
    # A torn last line (crash mid-append) is skipped, not fatal.
    with open(gov.paths.audit_file, "ab") as fh:
        fh.write(b'{"action": "appro')
    result = gov.audit.read()
    assert result.skipped_lines == 1 and len(result.events) == len(events)


def test_password_never_reaches_the_data_home(paths: Paths, clock: FakeClock, tmp_path: Path) -> None:
    gov = Governance(paths, clock=clock, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada", PASSWORD)
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    with pytest.raises(AuthenticationError):
        gov.unlock(PASSWORD + "x")
    session = gov.unlock(PASSWORD)
    gov.approve(session, job, "local", reason="ok")
    gov.approve(session, job, "azure")
    gov.change_password(session, PASSWORD, OTHER_PASSWORD)
    gov.lock(session)
    Store(paths).startup()
    roots = [paths.home, paths.config]
    hits = []
    for root in roots:
        for f in root.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                for secret in (PASSWORD, OTHER_PASSWORD, PASSWORD + "x"):
                    for enc in ("utf-8", "utf-16-le"):
                        if secret.encode(enc) in data:
                            hits.append((str(f), secret))
    assert hits == []


def test_gates_use_the_engine_ranking_metric_and_baseline_verdict(gov: Governance, session: AdminSession) -> None:
    store = gov.store
    ds = add_dataset(store)
    job = add_job(store, ds, metrics={"auc": 0.8, "log_loss": 0.4, "cv": {"auc": 0.78, "log_loss": 0.42},
                                      "baseline": {"auc": 0.5, "log_loss": 0.69}, "holdoutRows": 80})
    with store.transaction() as tx:
        tx.jobs.update(job, ranking_metric="log_loss", beats_baseline=False)
    gates = {g.gate: g for g in gov.evaluate_gates(job)}
    # An error metric cannot be held to "at least": the gates fall back to AUC.
    assert "AUC is 0.800" in gates["minHoldoutScore"].message and gates["minHoldoutScore"].outcome == "pass"
    assert gates["beatBaseline"].outcome == "block" and "no better than the baseline" in gates["beatBaseline"].message
    assert gov.challenger(job).holdout_rows == 80


def test_gates_on_a_job_from_the_real_engine(trained_home: Any) -> None:
    gov = Governance(trained_home.paths, hasher=cheap_hasher_for_tests())
    for job in trained_home.jobs.values():
        gates = {g.gate: g for g in gov.evaluate_gates(job.job_id)}
        assert set(gates) == {"minHoldoutScore", "maxCvHoldoutGap", "beatBaseline", "suspectedLeakage",
                              "perfectScore", "auditTrail", "signedSettings"}
        assert gates["suspectedLeakage"].outcome == "pass", gates["suspectedLeakage"].message
        assert gates["beatBaseline"].outcome == "pass", gates["beatBaseline"].message
        assert all(g.message.endswith(".") for g in gates.values())


def test_model_card_escapes_user_text(gov: Governance, session: AdminSession) -> None:
    warning = {"code": "leak", "column": "<b>x</b>", "message": "<script>alert(1)</script>"}
    ds = add_dataset(gov.store, warnings=[warning])
    job = add_job(gov.store, ds)
    gov.reject(session, job, "<script>alert('reason')</script>")
    html = (gov.paths.model_dir(job) / "report.html").read_text("utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;reason&#x27;)" in html
    for section in ("Data", "Chosen model", "Holdout metrics", "Leaderboard", "Plots", "Policy gates", "Decision"):
        assert f"<h2>{section}</h2>" in html
