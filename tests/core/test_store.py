from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from predictml_desktop.core import audit_chain
from predictml_desktop.core import store as store_mod
from predictml_desktop.core.audit import AuditLog
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, Deployment, TrainingJob
from predictml_desktop.core.status import IllegalTransitionError
from predictml_desktop.core.store import (
    NotFoundError,
    Store,
    StoreCorruptError,
    StoreNewerVersionError,
    StoreWriteError,
    append_line,
)

CHILD = Path(__file__).with_name("store_child.py")


@pytest.fixture
def store(predictml_home: Path) -> Store:
    s = Store(Paths(predictml_home))
    s.startup()
    return s


def _seed(store: Store, n_datasets: int = 1, padding: int = 0) -> None:
    with store.transaction() as tx:
        for i in range(n_datasets):
            tx.datasets.add(Dataset(id="", name=f"ds{i}", columns=[{"name": "x" * padding}]))
        tx.jobs.add(TrainingJob(id="", dataset_id="report_1", target_column="y"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_records_round_trip_with_camel_case_keys_and_schema_version(store: Store) -> None:
    _seed(store)
    doc = json.loads(store.paths.datasets_file.read_text("utf-8"))
    assert doc["schemaVersion"] == 1
    assert doc["datasets"][0]["id"] == "report_1"
    assert "createdAt" in doc["datasets"][0] and "created_at" not in doc["datasets"][0]
    jobs = json.loads(store.paths.jobs_file.read_text("utf-8"))
    assert jobs["trainingJobs"][0]["datasetId"] == "report_1"
    assert store.read().jobs.get("training_1").target_column == "y"


def test_ids_are_never_reused_after_delete(store: Store) -> None:
    _seed(store, n_datasets=2)
    with store.transaction() as tx:
        tx.datasets.delete("report_2")
        new = tx.datasets.add(Dataset(id="", name="again"))
    assert new.id == "report_3"


def test_unknown_keys_survive_a_rewrite(store: Store) -> None:
    _seed(store)
    doc = json.loads(store.paths.datasets_file.read_text("utf-8"))
    doc["datasets"][0]["futureField"] = {"kept": True}
    store.paths.datasets_file.write_text(json.dumps(doc), "utf-8")
    with store.transaction() as tx:
        tx.datasets.update("report_1", name="renamed")
    after = json.loads(store.paths.datasets_file.read_text("utf-8"))["datasets"][0]
    assert after["futureField"] == {"kept": True} and after["name"] == "renamed"


def test_illegal_transition_is_refused_and_nothing_changes(store: Store) -> None:
    _seed(store)
    before = store.paths.jobs_file.read_bytes()
    with pytest.raises(IllegalTransitionError, match="cannot change from 'training' to 'deployed'"):
        with store.transaction() as tx:
            tx.jobs.update("training_1", status="deployed")
    assert store.paths.jobs_file.read_bytes() == before
    with pytest.raises(IllegalTransitionError):
        with store.transaction() as tx:
            tx.jobs.update("training_1", status="no-such-status")


def test_legal_transitions_walk_the_seed_lifecycle(store: Store) -> None:
    _seed(store)
    for status in ("pending_review", "approved_for_inference", "deployed", "superseded", "deployed"):
        with store.transaction() as tx:
            tx.jobs.update("training_1", status=status)
    assert store.read().jobs.get("training_1").status == "deployed"


def test_a_failing_block_writes_nothing(store: Store) -> None:
    _seed(store)
    before = _snapshot(store.paths.home)
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.datasets.update("report_1", name="changed")
            raise RuntimeError("boom")
    assert _snapshot(store.paths.home) == before


def test_values_that_json_cannot_hold_are_refused_at_the_change(store: Store) -> None:
    _seed(store)
    with pytest.raises(TypeError, match="cannot be stored"):
        with store.transaction() as tx:
            tx.jobs.update("training_1", metrics={"auc": float("nan")})


def test_not_found_names_the_id(store: Store) -> None:
    with pytest.raises(NotFoundError, match="training_99"):
        store.read().jobs.get("training_99")


@pytest.mark.parametrize(
    "content, detail",
    [
        (b'{"schemaVersion": 1, "datasets": [', "invalid JSON"),
        (b"", "invalid JSON"),
        (b"null", "JSON NoneType"),
        (b'"text"', "JSON str"),
        (b'{"schemaVersion": 1, "datasets": {}}', "not a list"),
        (b'{"schemaVersion": 1, "datasets": [{"name": "x"}]}', "has no id"),
        (b'{"schemaVersion": 1, "datasets": [{"id": "a"}, {"id": "a"}]}', "appears twice"),
        (b'{"schemaVersion": "one", "datasets": []}', "not a version"),
        (b"\x80\x81garbage", "not UTF-8"),
    ],
)
def test_damaged_file_is_reported_kept_and_never_overwritten(store: Store, content: bytes, detail: str) -> None:
    _seed(store)
    with store.transaction() as tx:  # a second good write, so a .bak exists
        tx.datasets.update("report_1", name="good")
    store.paths.datasets_file.write_bytes(content)
    with pytest.raises(StoreCorruptError, match=detail) as info:
        store.read().datasets.list()
    assert info.value.has_backup
    assert "has not been changed" in str(info.value)
    with pytest.raises(StoreCorruptError):
        with store.transaction() as tx:
            tx.datasets.add(Dataset(id="", name="new"))
    assert store.paths.datasets_file.read_bytes() == content
    # The other files stay usable.
    assert store.read().jobs.get("training_1")
    problems = store.check()
    assert len(problems) == 1 and isinstance(problems[0], StoreCorruptError)

    message = store.recover("datasets")
    assert "Restored" in message
    kept = list(store.paths.home.glob("datasets-metadata.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content
    assert store.read().datasets.get("report_1").name in {"ds0", "good"}
    assert store.check() == []


def test_recover_without_backup_starts_empty(store: Store) -> None:
    store.paths.deployments_file.write_bytes(b"{broken")
    assert "Started an empty" in store.recover("deployments")
    assert store.deployments() == []


def test_file_from_a_newer_version_is_read_but_never_rewritten(store: Store) -> None:
    doc = {"schemaVersion": 99, "nextId": 2, "deployments": [{"id": "deployment_1", "datasetId": "r"}]}
    raw = json.dumps(doc).encode()
    store.paths.deployments_file.write_bytes(raw)
    assert store.deployments()[0].dataset_id == "r"
    with pytest.raises(StoreNewerVersionError, match="newer version"):
        with store.transaction() as tx:
            tx.deployments.add(Deployment(id="", dataset_id="x"))
    assert store.paths.deployments_file.read_bytes() == raw


def test_seed_bare_array_is_migrated_and_the_original_kept(store: Store) -> None:
    seed = [{"id": "training_123", "datasetId": "report_123", "status": "pending_review",
             "modelName": "RandomForestClassifier", "metrics": {"accuracy": 0.92}}]
    store.paths.jobs_file.write_text(json.dumps(seed), "utf-8")
    job = store.read().jobs.get("training_123")
    assert job.model_name == "RandomForestClassifier" and job.metrics == {"accuracy": 0.92}
    with store.transaction() as tx:
        new = tx.jobs.add(TrainingJob(id="", dataset_id="report_123"))
    assert new.id == "training_124"
    assert json.loads(store.paths.jobs_file.read_text("utf-8"))["schemaVersion"] == 1
    assert json.loads(store.paths.home.joinpath("training-jobs.json.v0.bak").read_text("utf-8")) == seed


def test_startup_sweeps_only_stray_temp_files(store: Store) -> None:
    stray = store.paths.home / ".training-jobs.json.0123456789ab.tmp"
    stray.write_text("partial")
    keep = store.paths.home / "notes.tmp"
    keep.write_text("user file")
    assert store.startup() == [stray]
    assert not stray.exists() and keep.exists()


@pytest.mark.parametrize("target", ["open", "fsync", "replace"])
def test_every_failing_step_of_a_save_leaves_the_old_file_intact(
    store: Store, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """SQLite-style fault injection: fail the Nth call of each I/O step of one save, for every N."""
    _seed(store)
    with store.transaction() as tx:
        tx.datasets.update("report_1", name="v2")  # makes a .bak too
    before = store.paths.datasets_file.read_bytes()
    real = {"open": open, "fsync": os.fsync, "link": os.link, "replace": os.replace}[target]
    n = 1
    while True:
        calls = 0

        def failing(*args, _n=n, **kwargs):
            nonlocal calls
            calls += 1
            if calls == _n:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args, **kwargs)

        if target == "open":
            monkeypatch.setattr("builtins.open", failing)
        else:
            monkeypatch.setattr(store_mod.os, target, failing)
        try:
            with store.transaction() as tx:
                tx.datasets.update("report_1", name="v3")
        except StoreWriteError as exc:
            assert "disk is full" in str(exc) and "intact" in str(exc)
            monkeypatch.undo()
            assert store.paths.datasets_file.read_bytes() == before
            assert not list(store.paths.home.glob(".*.tmp"))
            n += 1
            continue
        monkeypatch.undo()
        break
    assert n > 1, f"the {target} fault was never hit"
    assert store.read().datasets.get("report_1").name == "v3"


def test_a_file_system_without_hard_links_still_keeps_a_backup(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(store)

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(store_mod.os, "link", no_links)
    before = store.paths.datasets_file.read_bytes()
    with store.transaction() as tx:
        tx.datasets.update("report_1", name="v2")
    assert store_mod.backup_path(store.paths.datasets_file).read_bytes() == before
    assert store.read().datasets.get("report_1").name == "v2"


def test_windows_style_replace_permission_errors_are_retried(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(store)
    real = os.replace
    failures = {"left": 3}

    def flaky(src, dst):
        if str(dst).endswith("datasets-metadata.json") and failures["left"]:
            failures["left"] -= 1
            raise PermissionError(13, "The process cannot access the file")
        return real(src, dst)

    monkeypatch.setattr(store_mod.os, "replace", flaky)
    monkeypatch.setattr(store_mod.time, "sleep", lambda s: None)
    with store.transaction() as tx:
        tx.datasets.update("report_1", name="after retries")
    assert store.read().datasets.get("report_1").name == "after retries"


def test_audit_lines_survive_a_torn_last_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append_line(log, {"n": 1})
    with open(log, "ab") as fh:
        fh.write(b'{"n": 2, "trunc')  # a crash mid-append
    append_line(log, {"n": 3})
    lines = log.read_bytes().splitlines()
    assert json.loads(lines[0]) == {"n": 1} and json.loads(lines[-1]) == {"n": 3}


def _child(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), *args], **kwargs)


@pytest.mark.slow
def test_three_processes_make_1500_locked_updates_without_losing_one(store: Store, tmp_path: Path) -> None:
    _seed(store)
    flag = tmp_path / "go"
    procs = [_child("increment", str(store.paths.home), "500", str(flag), "locked") for _ in range(3)]
    time.sleep(0.5)
    flag.touch()
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert store.read().datasets.get("report_1").rows == 1500


@pytest.mark.slow
def test_without_the_lock_updates_are_lost(store: Store, tmp_path: Path) -> None:
    """Negative control: proves the test above can fail."""
    _seed(store)
    flag = tmp_path / "go"
    procs = [_child("increment", str(store.paths.home), "300", str(flag), "unlocked") for _ in range(3)]
    time.sleep(0.5)
    flag.touch()
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert store.read().datasets.get("report_1").rows < 900


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_an_acknowledged_write(store: Store) -> None:
    _seed(store, n_datasets=60, padding=400)  # a file of some size, so kills land mid-write
    rng = random.Random(1234)
    kills = 500
    audit = AuditLog(store.paths)
    total_audited = interrupted = 0
    for _ in range(kills):
        proc = _child("churn", str(store.paths.home), stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        acked = [int(line) for line in out.split("\n") if line.isdigit()]
        audited = [int(line.split()[1]) for line in out.split("\n") if line.startswith("audit ")]
        tx = store.read()  # parses every file, or raises
        rows = tx.datasets.get("report_1").rows
        if acked:
            assert rows >= acked[-1]
        assert len(tx.datasets.list()) == 60
        assert tx.jobs.get("training_1")
        # The audit trail killed mid-append still verifies, and keeps every acknowledged entry.
        report = audit.verify()
        assert report.ok, report.message
        total_audited += len(audited)
        assert report.entries >= (1 + total_audited if total_audited else 0)  # the chain's start + each one
        head = audit_chain.read_head(store.paths).head
        interrupted += bool(head is not None and head.pending)
    # Kills must also have landed inside audit appends (the head left pending), for the chain part to mean
    # anything; most do here, since an append waits for three fsyncs.
    assert interrupted, "no kill interrupted an audit append"
    leftovers = list(store.paths.home.glob(".*.tmp"))
    # Kills must have landed inside saves for this test to mean anything; each such kill leaves a
    # temp file (about one kill in five does here).
    assert leftovers, "no kill interrupted a save"
    store.startup()
    assert not list(store.paths.home.glob(".*.tmp")), f"{len(leftovers)} temp files were not swept"
