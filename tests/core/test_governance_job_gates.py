"""Gates on what was really trained: each job's leakage check is for its own target and the columns it trains on.

Real files, the real profile and `create_job`; only the training result is written by hand (the
gates read the job record, and governance never unpickles the model).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.artifacts import ENVIRONMENT_FILE, MODEL_FILE, SCHEMA_FILE, current_environment
from predictml_desktop.core.governance import (
    AdminSession,
    GatesBlockedError,
    Governance,
    cheap_hasher_for_tests,
)
from predictml_desktop.core.ingest import import_dataset, read_table, store_dataset
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.profile import feature_warnings, profile_frame
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import TrainingOptions, create_job, retry_job
from predictml_desktop.core.training.jobs import finish_job
from tests.core.governance_records import GOOD_METRICS

PASSWORD = "correct horse battery staple 42"


def _purchases(path: Path, n: int = 400) -> Path:
    """``bought`` depends weakly on age and income; ``refund_issued`` is recorded after the outcome (a leak of
    ``bought``); ``plan_cost`` is a leak of ``spend`` (the other possible target)."""
    rng = np.random.default_rng(3)
    age = rng.integers(18, 80, n)
    income = rng.normal(50_000, 12_000, n).round(0)
    bought = (rng.random(n) < 0.25 + 0.4 * (age > 45)).astype(int)
    spend = (income / 100 + rng.normal(0, 60, n)).round(2)
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)], "age": age, "income": income,
        "refund_issued": np.where(bought == 1, "yes", "no"), "plan_cost": (spend * 2 + 5).round(2),
        "spend": spend, "bought": bought,
    })
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def store(predictml_home: Path) -> Store:
    return Store(Paths.default())


@pytest.fixture
def gov(store: Store) -> Governance:
    return Governance(store.paths, hasher=cheap_hasher_for_tests())


@pytest.fixture
def session(gov: Governance) -> AdminSession:
    return gov.create_admin("ada", PASSWORD)


def _trained(store: Store, job_id: str) -> str:
    """Write what the engine leaves and move the job to review (as a finished training does)."""
    folder = store.paths.model_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    data = f"model of {job_id}".encode()
    (folder / MODEL_FILE).write_bytes(data)
    (folder / SCHEMA_FILE).write_text(json.dumps({"features": []}))
    (folder / ENVIRONMENT_FILE).write_text(json.dumps(current_environment()))
    finish_job(store, job_id, JobStatus.PENDING_REVIEW, model_name="Logistic Regression",
               model_path=store.paths.relative(folder / MODEL_FILE),
               model_sha256=hashlib.sha256(data).hexdigest(), metrics=GOOD_METRICS)
    return job_id


def _wizard_dataset(store: Store, csv: Path, target: str, *, include: tuple[str, ...] = ()) -> str:
    """Store a dataset as the wizard does: the profile's exclusions, minus the columns the user ticked off."""
    table = read_table(csv)
    profile = profile_frame(table.frame, target=target)
    excluded = [c for c in profile.excluded_columns if c not in include]
    return store_dataset(store, csv, table, profile, target=target, excluded_columns=excluded).id


def test_the_profile_pre_excludes_a_suspected_leak_and_says_why(tmp_path: Path) -> None:
    frame = read_table(_purchases(tmp_path / "p.csv")).frame
    profile = profile_frame(frame, target="bought")
    assert set(profile.excluded_columns) == {"customer_id", "refund_issued"}
    [leak] = [w for w in profile.warnings if w["code"] == "leakage"]
    assert leak["column"] == "refund_issued" and "left out of the features" in leak["message"]
    # Another target, other suspects: the warnings are recomputed for it.
    other = profile_frame(frame, target="spend")
    assert "plan_cost" in other.excluded_columns and "refund_issued" not in other.excluded_columns


def test_exclude_then_approve_passes(store: Store, gov: Governance, session: AdminSession, tmp_path: Path) -> None:
    ds = _wizard_dataset(store, _purchases(tmp_path / "p.csv"), "bought")
    job = create_job(store, ds, "bought", TrainingOptions(preset="fast"))
    record = store.read().jobs.get(job.id)
    assert record.data_warnings is not None
    assert not [w for w in record.data_warnings if w["code"] == "leakage"]
    _trained(store, job.id)
    gates = {g.gate: g for g in gov.evaluate_gates(job.id)}
    assert gates["suspectedLeakage"].outcome == "pass"
    assert gov.approve(session, job.id, "local", override=True).status == "active"


def test_include_then_approve_is_blocked(store: Store, gov: Governance, session: AdminSession,
                                         tmp_path: Path) -> None:
    ds = _wizard_dataset(store, _purchases(tmp_path / "p.csv"), "bought", include=("refund_issued",))
    job = create_job(store, ds, "bought", TrainingOptions(preset="fast"))
    [leak] = [w for w in store.read().jobs.get(job.id).data_warnings or [] if w["code"] == "leakage"]
    assert leak["column"] == "refund_issued" and "this job trains on it" in leak["message"]
    _trained(store, job.id)
    with pytest.raises(GatesBlockedError, match="trains on 'refund_issued'"):
        gov.approve(session, job.id, "local", override=True)


def test_a_column_excluded_by_the_user_in_the_options_counts_too(store: Store, gov: Governance,
                                                                 session: AdminSession, tmp_path: Path) -> None:
    ds = _wizard_dataset(store, _purchases(tmp_path / "p.csv"), "bought", include=("refund_issued",))
    job = create_job(store, ds, "bought", TrainingOptions(preset="fast", excluded_columns=["refund_issued"]))
    _trained(store, job.id)
    assert {g.gate: g.outcome for g in gov.evaluate_gates(job.id)}["suspectedLeakage"] == "pass"


def test_another_target_chosen_later_gets_its_own_warnings(store: Store, gov: Governance, session: AdminSession,
                                                           tmp_path: Path) -> None:
    # Imported for "bought" (the profile's exclusions are for it), then trained for "spend" from the
    # command line: plan_cost leaks spend and is not excluded, refund_issued is excluded but harmless.
    csv = _purchases(tmp_path / "p.csv")
    ds = import_dataset(store, csv, target="bought").id
    job = create_job(store, ds, "spend", TrainingOptions(preset="fast"), problem_type="regression")
    warnings = store.read().jobs.get(job.id).data_warnings or []
    assert [w["column"] for w in warnings if w["code"] == "leakage"] == ["plan_cost"]
    _trained(store, job.id)
    with pytest.raises(GatesBlockedError, match="plan_cost"):
        gov.approve(session, job.id, "local", override=True)


def test_a_retry_keeps_its_jobs_warnings(store: Store, tmp_path: Path) -> None:
    ds = _wizard_dataset(store, _purchases(tmp_path / "p.csv"), "bought", include=("refund_issued",))
    job = create_job(store, ds, "bought", TrainingOptions(preset="fast"))
    finish_job(store, job.id, JobStatus.FAILED, error="boom")
    again = retry_job(store, job.id)
    assert again.data_warnings == store.read().jobs.get(job.id).data_warnings
    assert [w["column"] for w in again.data_warnings or [] if w["code"] == "leakage"] == ["refund_issued"]


def test_identifier_and_constant_columns_the_job_keeps_are_named(tmp_path: Path) -> None:
    frame = read_table(_purchases(tmp_path / "p.csv")).frame.assign(region="north")
    found = {w["code"]: w["column"] for w in feature_warnings(frame, "bought", ["customer_id", "age", "region"])}
    assert found == {"id_like": "customer_id", "constant": "region"}
    assert feature_warnings(frame, "bought", ["age", "income"]) == []
