"""Governance you can prove: signed settings, acknowledged audit breaks, decisions pinning their evidence.

The tamper suite's governance half: a hand-edited ``settings.json``, a deleted ``environment.json``,
a changed schema or model card, a broken audit chain — each detected, reported on the review, nothing
crashing, nothing lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from predictml_desktop.core import deployment as deployments
from predictml_desktop.core import evidence
from predictml_desktop.core.artifacts import ENVIRONMENT_FILE, SCHEMA_FILE
from predictml_desktop.core.audit import AuditLog
from predictml_desktop.core.governance import (
    AdminSession,
    DecisionError,
    GatesBlockedError,
    Governance,
    GovernanceError,
    OverrideRequiredError,
    cheap_hasher_for_tests,
    verify_all_deployments,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.prediction import ModelIntegrityError, VersionDriftError
from predictml_desktop.core.prediction.loading import load_verified
from predictml_desktop.core.settings import (
    Settings,
    SettingsError,
    SettingsUnverifiedError,
    load_settings,
    read_settings,
    save_settings,
)
from tests.core.governance_records import add_dataset, add_job

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def paths(predictml_home: Path) -> Paths:
    return Paths.default().ensure()


@pytest.fixture
def gov(paths: Paths) -> Governance:
    return Governance(paths, hasher=cheap_hasher_for_tests())


@pytest.fixture
def session(gov: Governance) -> AdminSession:
    return gov.create_admin("ada", PASSWORD)


def _gates(gov: Governance, job: str) -> dict[str, str]:
    return {g.gate: str(g.outcome) for g in gov.evaluate_gates(job)}


# --------------------------------------------------------------------------- signed settings


def test_settings_written_by_the_app_are_signed_and_audited(gov: Governance, session: AdminSession,
                                                            paths: Paths) -> None:
    settings = load_settings(paths)
    settings.limits.max_rows = 5_000
    assert save_settings(paths, settings)  # without an admin session: the OS user is recorded
    read = read_settings(paths)
    assert read.status.state == "signed" and read.settings.limits.max_rows == 5_000
    doc = json.loads(paths.settings_file.read_text())
    assert doc["schemaVersion"] == 2 and len(doc["signature"]) == 64 and "(no admin session)" in doc["signedBy"]
    [line] = [e for e in gov.audit.events() if e.action == "settings_changed"]
    assert line.details["changes"]["limits"]["after"]["max_rows"] == 5_000
    assert not save_settings(paths, read_settings(paths).settings)  # nothing changed: nothing written
    # The policy changes only through an admin.
    settings = load_settings(paths)
    settings.policy = {"beatBaseline": {"mode": "off"}}
    with pytest.raises(SettingsError, match="Only an admin"):
        save_settings(paths, settings)
    gov.set_policy(session, {"beatBaseline": {"mode": "off"}})
    assert read_settings(paths).status.signed_by == "ada"
    assert gov.policy()["beatBaseline"]["mode"] == "off"


def test_a_hand_edited_settings_file_is_detected_and_the_safe_defaults_apply(gov: Governance,
                                                                             session: AdminSession,
                                                                             paths: Paths) -> None:
    gov.set_policy(session, {"suspectedLeakage": {"mode": "warn"}, "minHoldoutScore": {"classification": 0.5}})
    doc = json.loads(paths.settings_file.read_text())
    doc["policy"]["beatBaseline"] = {"mode": "off"}  # turn a gate off by hand
    edited = json.dumps(doc)
    paths.settings_file.write_text(edited)
    read = read_settings(paths)
    assert read.status.state == "unverified" and not read.status.trusted
    assert "changed outside PredictML" in read.status.message
    assert gov.policy()["beatBaseline"]["mode"] == "block"  # the safe default, not the edit
    assert gov.policy()["suspectedLeakage"]["mode"] == "block"
    # Every review says so, and an approval needs a recorded override meanwhile.
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    gates = {g.gate: g for g in gov.evaluate_gates(job)}
    assert gates["signedSettings"].outcome == "warn" and "changed outside" in gates["signedSettings"].message
    with pytest.raises(OverrideRequiredError):
        gov.approve(session, job, "local")
    # Nothing overwrites the edited file without an admin's decision.
    settings = load_settings(paths)
    with pytest.raises(SettingsUnverifiedError):
        save_settings(paths, settings)
    with pytest.raises(GovernanceError, match="changed outside"):
        gov.set_policy(session, {"perfectScore": {"mode": "off"}})
    assert paths.settings_file.read_text() == edited


def test_an_admin_confirms_a_hand_edit_and_it_is_audited(gov: Governance, session: AdminSession,
                                                         paths: Paths) -> None:
    gov.set_policy(session, {"beatBaseline": {"mode": "warn"}})
    doc = json.loads(paths.settings_file.read_text())
    doc["limits"]["max_rows"] = 1234
    paths.settings_file.write_text(json.dumps(doc))
    status = gov.confirm_settings(session, accept=True, reason="I raised the row limit by hand")
    assert status.state == "signed" and status.signed_by == "ada"
    assert load_settings(paths).limits.max_rows == 1234 and gov.policy()["beatBaseline"]["mode"] == "warn"
    [line] = [e for e in gov.audit.events() if e.action == "settings_confirmed"]
    assert line.actor == "ada" and line.reason == "I raised the row limit by hand"
    kept = paths.home / line.details["keptAs"]
    assert json.loads(kept.read_text())["limits"]["max_rows"] == 1234  # the file as found is kept
    with pytest.raises(DecisionError, match="no change to confirm"):
        gov.confirm_settings(session, accept=True)


def test_an_admin_discards_a_hand_edit_and_the_last_signed_version_returns(gov: Governance,
                                                                           session: AdminSession,
                                                                           paths: Paths) -> None:
    gov.set_policy(session, {"beatBaseline": {"mode": "warn"}})
    paths.settings_file.write_text("{ not json at all")
    assert read_settings(paths).status.state == "unreadable"
    with pytest.raises(DecisionError, match="not readable JSON"):
        gov.confirm_settings(session, accept=True)
    gov.confirm_settings(session, accept=False, reason="not ours")
    assert read_settings(paths).status.state == "signed"
    assert gov.policy()["beatBaseline"]["mode"] == "warn"  # the last signed policy, not the defaults
    [line] = [e for e in gov.audit.events() if e.action == "settings_discarded"]
    assert line.details["restored"] == "last signed version"
    assert (paths.home / line.details["keptAs"]).read_text() == "{ not json at all"


def test_an_old_unsigned_settings_file_is_adopted_on_the_first_admin_action(gov: Governance,
                                                                            paths: Paths) -> None:
    gov.create_admin("ada", PASSWORD)
    old = {"schemaVersion": 1, "default_preset": "fast", "policy": {"perfectScore": {"mode": "off"}}}
    paths.settings_file.write_text(json.dumps(old))
    read = read_settings(paths)
    assert read.status.state == "unsigned" and read.status.trusted  # used as before, until adopted
    assert gov.policy()["perfectScore"]["mode"] == "off"
    session = gov.unlock(PASSWORD)
    read = read_settings(paths)
    assert read.status.state == "signed" and read.status.signed_by == "ada"
    assert read.settings.default_preset == "fast" and gov.policy()["perfectScore"]["mode"] == "off"
    [line] = [e for e in gov.audit.events() if e.action == "settings_adopted"]
    assert line.actor == "ada" and line.details["policy"] == {"perfectScore": {"mode": "off"}}
    assert json.loads((paths.home / "settings.json.v1.bak").read_text()) == old
    assert session.active
    # Once settings were signed here, an unsigned file is a stripped signature, not an old file.
    paths.settings_file.write_text(json.dumps(old))
    assert read_settings(paths).status.state == "unverified"
    assert gov.policy()["perfectScore"]["mode"] == "warn"


def test_settings_file_versions_migrate_step_by_step() -> None:
    from predictml_desktop.core.settings import migrate, settings_from_document

    assert migrate({"default_preset": "fast"})["schemaVersion"] == 2
    assert migrate(migrate({"schemaVersion": 1})) == {"schemaVersion": 2}  # idempotent
    assert settings_from_document({"schemaVersion": 1, "server_port": 9000}).server_port == 9000
    assert settings_from_document({"server_port": "9000"}).server_port == Settings().server_port


# --------------------------------------------------------------------------- the audit chain on reviews


def test_a_broken_chain_is_flagged_on_every_review_until_an_admin_acknowledges_it(gov: Governance,
                                                                                   session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    gov.lock(session)
    session = gov.unlock(PASSWORD)
    assert _gates(gov, job)["auditTrail"] == "pass"
    lines = gov.paths.audit_file.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"actor":"ada"', b'"actor":"eve"')
    gov.paths.audit_file.write_bytes(b"\n".join(lines))
    gates = {g.gate: g for g in gov.evaluate_gates(job)}
    assert gates["auditTrail"].outcome == "warn" and "broken at line 3" in gates["auditTrail"].message
    with pytest.raises(OverrideRequiredError):
        gov.approve(session, job, "local")
    # Later entries do not hide it; a second job's review flags it too.
    gov.reject(session, job, "weak")
    other = add_job(gov.store, ds)
    assert _gates(gov, other)["auditTrail"] == "warn"
    with pytest.raises(DecisionError, match="needs a reason"):
        gov.acknowledge_audit(session, "  ")
    report = gov.acknowledge_audit(session, "restored admin.json from a backup; line 2 was mine")
    assert report.ok and report.breaks[0].acknowledged
    assert _gates(gov, other)["auditTrail"] == "pass"
    [ack] = [e for e in gov.audit.events() if e.action == "audit_acknowledged"]
    assert ack.actor == "ada" and ack.details["breaks"][0]["line"] == 3
    with pytest.raises(DecisionError, match="nothing to acknowledge"):
        gov.acknowledge_audit(session, "again")


def test_a_truncated_trail_is_flagged_after_later_entries(gov: Governance, session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    gov.reject(session, job, "weak")
    data = gov.paths.audit_file.read_bytes().split(b"\n")
    gov.paths.audit_file.write_bytes(b"\n".join(data[:-3]) + b"\n")  # drop the last two entries
    gov.lock(session)
    session = gov.unlock(PASSWORD)  # later entries are written after a recorded break
    report = gov.verify_audit()
    assert not report.ok and "truncated" in report.message
    assert "truncated" in AuditLog(gov.paths).events()[-3].details["problem"]


# --------------------------------------------------------------------------- evidence


def _approve(gov: Governance, session: AdminSession) -> tuple[str, deployments.Deployment]:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    return job, gov.approve(session, job, "local", reason="good", override=True)


def test_the_approval_pins_the_model_schema_environment_and_model_card(gov: Governance,
                                                                       session: AdminSession) -> None:
    job, dep = _approve(gov, session)
    pinned = dep.evidence or {}
    card = next(k for k in pinned if k.startswith("cards/"))
    assert set(pinned) == {"model.pkl", SCHEMA_FILE, ENVIRONMENT_FILE, card}
    assert evidence.problems(gov.paths, job, pinned) == []
    record = gov.store.read().jobs.get(job)
    assert record.review["evidence"] == pinned
    [line] = [e for e in gov.audit.events() if e.action == "approved"]
    assert line.details["evidence"] == pinned
    html = (gov.paths.model_dir(job) / card).read_text()
    assert "approved_local" in html and "good" in html
    # The signature covers the evidence: a hash replaced in the record is refused.
    assert deployments.signature_valid(gov.paths, dep)
    dep.evidence = {**pinned, SCHEMA_FILE: "0" * 64}
    assert not deployments.signature_valid(gov.paths, dep)
    # A later card (a rejection of another job, an export) never rewrites the pinned one.
    before = (gov.paths.model_dir(job) / card).read_bytes()
    gov.approve(session, job, "azure", override=True, out_dir=gov.paths.home / "bundle")
    assert (gov.paths.model_dir(job) / card).read_bytes() == before
    assert verify_all_deployments(gov.paths) == []


@pytest.mark.parametrize(("change", "words"), [
    ("delete_environment", "environment record (environment.json) was deleted after the approval"),
    ("edit_schema", "input schema (schema.json) changed after the approval"),
    ("edit_card", "model card as approved"),
])
def test_loading_a_deployed_model_checks_all_it_pinned(gov: Governance, session: AdminSession, change: str,
                                                       words: str) -> None:
    job, dep = _approve(gov, session)
    folder = gov.paths.model_dir(job)
    if change == "delete_environment":
        (folder / ENVIRONMENT_FILE).unlink()
    elif change == "edit_schema":
        schema = json.loads((folder / SCHEMA_FILE).read_text())
        schema["features"][0]["maximum"] = 500
        (folder / SCHEMA_FILE).write_text(json.dumps(schema))
    else:
        card = next(k for k in dep.evidence or {} if k.startswith("cards/"))
        (folder / card).write_text("<html>all gates passed</html>")
    record = gov.store.read().jobs.get(job)
    with pytest.raises(ModelIntegrityError, match="cannot be used") as info:
        load_verified(gov.paths, record, expected_sha256=dep.model_sha256, evidence=dep.evidence)
    assert words in str(info.value)
    [problem] = verify_all_deployments(gov.paths)
    assert words in problem and "not served" in problem


def test_a_deleted_environment_never_skips_the_environment_check(gov: Governance, session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    job = add_job(gov.store, ds)
    record = gov.store.read().jobs.get(job)
    (gov.paths.model_dir(job) / ENVIRONMENT_FILE).unlink()
    # Without pinned evidence (a model tried before approval, or deployed before this version).
    with pytest.raises(VersionDriftError, match=r"environment\.json"):
        load_verified(gov.paths, record, expected_sha256=record.model_sha256)
    # And an approval refuses to pin an absent file.
    with pytest.raises(DecisionError, match=r"environment\.json"):
        gov.approve(session, job, "local", override=True)


def test_a_previous_deployment_whose_evidence_changed_is_not_rolled_back(gov: Governance,
                                                                         session: AdminSession) -> None:
    ds = add_dataset(gov.store)
    first = add_job(gov.store, ds)
    gov.approve(session, first, "local", override=True)
    second = add_job(gov.store, ds)
    gov.approve(session, second, "local", override=True)
    (gov.paths.model_dir(first) / SCHEMA_FILE).write_text("{}")
    with pytest.raises(DecisionError, match="input schema"):
        gov.rollback(session, ds)


def test_gates_block_what_was_really_trained(gov: Governance, session: AdminSession) -> None:
    """The leakage gate reads the job's own check, not the dataset's profile."""
    leak = {"code": "leakage", "column": "refund", "message": "Column 'refund' predicts the target."}
    ds = add_dataset(gov.store, warnings=[leak])
    excluded = add_job(gov.store, ds)
    included = add_job(gov.store, ds)
    with gov.store.transaction() as tx:
        tx.jobs.update(excluded, data_warnings=[])
        tx.jobs.update(included, data_warnings=[leak])
    assert _gates(gov, excluded)["suspectedLeakage"] == "pass"
    with pytest.raises(GatesBlockedError, match="trains on 'refund'"):
        gov.approve(session, included, "local", override=True)
    assert gov.approve(session, excluded, "local", override=True).status == "active"
