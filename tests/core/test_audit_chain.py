"""The audit trail's hash chain and signed head: the tamper suite, crashes, old trails, concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from predictml_desktop.core import audit_chain
from predictml_desktop.core.audit import AuditEvent, AuditLog
from predictml_desktop.core.paths import Paths

CHILD = Path(__file__).with_name("store_child.py")
LEGACY = (b'{"at":"2024-01-02T03:04:05.000Z","actor":"ada","action":"approved","jobId":"training_1"}\n'
          b'{"at":"2024-01-03T03:04:05.000Z","actor":"ada","action":"rejected","jobId":"training_2",'
          b'"reason":"leaky"}\n')


@pytest.fixture
def paths(predictml_home: Path) -> Paths:
    return Paths.default().ensure()


@pytest.fixture
def log(paths: Paths) -> AuditLog:
    return AuditLog(paths)


def _fill(log: AuditLog, n: int = 6) -> list[bytes]:
    for i in range(n):
        log.append(AuditEvent(action="approved", actor=f"admin{i}", job_id=f"training_{i}", reason=f"reason {i}"))
    return log.path.read_bytes().split(b"\n")[:-1]


def _write(log: AuditLog, lines: list[bytes], *, end: bytes = b"\n") -> None:
    log.path.write_bytes(b"\n".join(lines) + end)


def test_a_fresh_trail_is_intact_and_counts_its_entries(log: AuditLog) -> None:
    assert log.verify().status == "empty"
    lines = _fill(log, 6)
    report = log.verify()
    # The chain's own start, then the six events.
    assert report.ok and report.status == "intact" and report.entries == 7
    assert report.message == "intact (7 entries)"
    first, second = (json.loads(x) for x in lines[:2])
    assert first["action"] == "chain_started" and first["seq"] == 1
    assert second["seq"] == 2 and second["prev"] == audit_chain.line_hash(lines[0])
    head = json.loads(audit_chain.head_path(log.paths).read_text())
    assert head["seq"] == 7 and head["hash"] == audit_chain.line_hash(lines[-1]) and head["pending"] is None
    # The head lives with the key, outside the data home.
    assert log.paths.home not in audit_chain.head_path(log.paths).parents


@pytest.mark.parametrize(("tamper", "where", "words"), [
    ("edit", 4, "line 3 was changed"),
    ("delete", 3, "entry 3 is missing"),
    ("swap", 3, "entry 4 follows entry 2"),
    ("truncate", 0, "truncated"),
    ("edit_last", 0, "last entry was changed"),
    ("cut_mid_line", 7, "incomplete"),
    ("garbage_line", 4, "not a complete entry"),
    ("insert_copy", 5, "reordered or repeated"),
])
def test_each_tampering_is_detected_with_where_it_breaks(log: AuditLog, tamper: str, where: int,
                                                         words: str) -> None:
    lines = _fill(log, 6)  # 7 lines: the chain's start + 6 events
    original = log.path.read_bytes()
    if tamper == "edit":
        lines[2] = lines[2].replace(b"reason 1", b"reason X")
        _write(log, lines)
    elif tamper == "delete":
        _write(log, lines[:2] + lines[3:])
    elif tamper == "swap":
        lines[2], lines[3] = lines[3], lines[2]
        _write(log, lines)
    elif tamper == "truncate":
        _write(log, lines[:-2])
    elif tamper == "edit_last":
        lines[-1] = lines[-1].replace(b"reason 5", b"reason Y")
        _write(log, lines)
    elif tamper == "cut_mid_line":
        log.path.write_bytes(original[:-25])
    elif tamper == "garbage_line":
        _write(log, [*lines[:3], b"{not json", *lines[3:]])
    elif tamper == "insert_copy":
        _write(log, [*lines[:4], lines[2], *lines[4:]])
    report = log.verify()
    assert not report.ok and report.status == "broken"
    first = report.open_breaks[0]
    assert first.line == where, report.message
    assert words in report.message, report.message
    assert report.message.startswith(f"broken at line {where}" if where else "broken:")


def test_a_rewrite_with_a_fresh_valid_looking_chain_is_detected(log: AuditLog, tmp_path: Path) -> None:
    _fill(log, 6)
    # A forger builds a perfectly linked chain elsewhere (same code, another key) and copies it over.
    forged_paths = Paths(tmp_path / "forger", tmp_path / "forger-config").ensure()
    forged = AuditLog(forged_paths)
    for _ in range(9):
        forged.append(AuditEvent(action="approved", actor="mallory"))
    log.path.write_bytes(forged.path.read_bytes())
    report = log.verify()
    assert not report.ok
    assert "signed head records 7" in report.message, report.message
    # The forged chain is internally consistent: only the signed head gives it away.
    assert all(b.line == 0 for b in report.breaks)


def test_a_forged_head_does_not_verify(log: AuditLog) -> None:
    lines = _fill(log, 3)
    _write(log, lines[:-1])
    head = json.loads(audit_chain.head_path(log.paths).read_text())
    head.update(seq=3, hash=audit_chain.line_hash(lines[-2]))  # matches the truncated file, unsigned
    audit_chain.head_path(log.paths).write_text(json.dumps(head))
    report = log.verify()
    assert not report.ok and "signature does not match" in report.message


def test_emptied_deleted_or_headless_trails_are_reported(log: AuditLog) -> None:
    _fill(log, 2)
    original = log.path.read_bytes()
    log.path.write_bytes(b"")
    assert "emptied, deleted or rewritten" in log.verify().message
    log.path.unlink()
    assert "emptied, deleted or rewritten" in log.verify().message
    log.path.write_bytes(original)
    assert log.verify().ok
    audit_chain.head_path(log.paths).unlink()
    assert "signed head of the trail is missing" in log.verify().message


def test_nothing_crashes_on_binary_content_and_no_data_is_lost_when_writing_after_a_break(log: AuditLog) -> None:
    lines = _fill(log, 4)
    tampered = b"\n".join([*lines[:2], b"\xff\xfe\x00binary", *lines[3:]]) + b"\n"
    log.path.write_bytes(tampered)
    assert not log.verify().ok
    assert len(log.events()) == 4  # the readable lines are still listed
    # A later entry is written after what is there: nothing before it is rewritten or dropped.
    log.append(AuditEvent(action="unlocked", actor="ada"))
    assert log.path.read_bytes().startswith(tampered)
    report = log.verify()
    assert not report.ok and report.open_breaks[0].line == 3


def test_a_truncation_found_by_a_writer_is_recorded_before_its_entry(log: AuditLog) -> None:
    lines = _fill(log, 5)
    _write(log, lines[:-2])
    log.append(AuditEvent(action="unlocked", actor="ada"))
    after = log.path.read_bytes().split(b"\n")[:-1]
    detected = json.loads(after[-2])
    assert detected["action"] == "audit_break_detected" and detected["details"]["problem"] == "truncated"
    assert detected["details"]["signedEntries"] == 6 and detected["details"]["foundEntries"] == 4
    report = log.verify()
    # The head now matches the end, yet the recorded break keeps the trail flagged.
    assert not report.ok and report.open_breaks[0].line == len(after) - 1
    assert "signed head records 6 entries" in report.message
    # An acknowledgement clears the flag; the break stays in the history, acknowledged.
    log.append(AuditEvent(action="audit_acknowledged", actor="ada", reason="restored from a backup"))
    report = log.verify()
    assert report.ok and report.breaks and all(b.acknowledged for b in report.breaks)
    assert report.message.endswith("1 earlier break acknowledged by an admin")


def test_an_old_unchained_trail_is_kept_and_sealed_as_history(log: AuditLog) -> None:
    log.path.write_bytes(LEGACY)
    report = log.verify()
    assert report.ok and report.status == "unchained" and report.earlier_lines == 2
    log.append(AuditEvent(action="unlocked", actor="ada"))
    data = log.path.read_bytes()
    assert data.startswith(LEGACY)  # kept byte for byte
    seal = json.loads(data.split(b"\n")[2])
    assert seal["action"] == "chain_started" and seal["details"]["earlierLines"] == 2
    assert seal["prev"] == audit_chain.hashlib.sha256(LEGACY).hexdigest()
    report = log.verify()
    assert report.ok and report.entries == 2 and report.earlier_lines == 2
    assert "2 earlier lines sealed as history before the chain" in report.message
    assert [e.action for e in log.events()] == ["approved", "rejected", "chain_started", "unlocked"]
    # The sealed history is covered too: editing it breaks the seal.
    log.path.write_bytes(data.replace(b"leaky", b"fine!"))
    assert "history before the chain was changed" in log.verify().message


def test_a_legacy_partial_last_line_is_kept_on_its_own_line(log: AuditLog) -> None:
    log.path.write_bytes(LEGACY + b'{"at":"2024-01-04","act')  # an old version's crash mid-line
    log.append(AuditEvent(action="unlocked", actor="ada"))
    assert log.path.read_bytes().startswith(LEGACY + b'{"at":"2024-01-04","act\n')
    assert log.verify().ok


def test_a_crash_mid_line_leaves_a_verifiable_trail_and_the_partial_line_is_kept(log: AuditLog,
                                                                                 paths: Paths) -> None:
    lines = _fill(log, 3)
    # What a writer killed mid-line leaves: the head marks the entry pending, half the line is written.
    entry = {"seq": 5, "prev": audit_chain.line_hash(lines[-1]), "at": "x", "actor": "ada", "action": "unlocked"}
    line = audit_chain._encode(entry)
    audit_chain._write_head(paths, audit_chain.Head(4, audit_chain.line_hash(lines[-1]),
                                                    {"seq": 5, "hash": audit_chain.line_hash(line)}))
    with open(log.path, "ab") as fh:
        fh.write(line[:20])
    report = log.verify()
    assert report.ok and report.entries == 4 and "interrupted write" in report.notes[0]
    log.append(AuditEvent(action="locked", actor="ada"))
    report = log.verify()
    assert report.ok and report.entries == 5
    [kept] = list(paths.home.glob("audit.jsonl.torn-*"))
    assert kept.read_bytes() == line[:20]
    assert log.events()[-1].details["tornLineKeptAs"] == kept.name


def test_a_crash_after_the_line_before_the_head_verifies(log: AuditLog, paths: Paths) -> None:
    lines = _fill(log, 2)
    entry = {"seq": 4, "prev": audit_chain.line_hash(lines[-1]), "at": "x", "actor": "ada", "action": "unlocked"}
    line = audit_chain._encode(entry)
    audit_chain._write_head(paths, audit_chain.Head(3, audit_chain.line_hash(lines[-1]),
                                                    {"seq": 4, "hash": audit_chain.line_hash(line)}))
    with open(log.path, "ab") as fh:
        fh.write(line + b"\n")
    assert log.verify().message == "intact (4 entries)"
    log.append(AuditEvent(action="locked", actor="ada"))
    assert log.verify().message == "intact (5 entries)"


def _children(home: Path, config: Path, n: int, flag: Path, procs: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, str(CHILD), "audit", str(home), str(config), str(n), str(flag),
                              f"writer{i}"]) for i in range(procs)]


@pytest.mark.slow
def test_concurrent_writers_in_separate_processes_keep_one_chain(log: AuditLog, paths: Paths,
                                                                 tmp_path: Path) -> None:
    flag = tmp_path / "go"
    procs = _children(paths.home, paths.config, 80, flag, 3)
    time.sleep(0.5)
    flag.touch()
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    report = log.verify()
    assert report.ok and report.entries == 1 + 240, report.message
    events = log.events()
    assert sorted(e.seq for e in events if e.seq) == list(range(1, 242))
    for i in range(3):
        mine = [int(e.details["n"]) for e in events if e.actor == f"writer{i}"]
        assert mine == list(range(80))  # each writer's entries in its own order, none lost


def test_an_edit_that_keeps_the_size_and_restores_the_modification_time_is_still_seen(log: AuditLog) -> None:
    lines = _fill(log, 3)
    assert log.verify().ok  # cached from here on, for this file as it is
    before = log.path.stat()
    lines[2] = lines[2].replace(b"reason 1", b"reason 9")  # same length
    _write(log, lines)
    import os

    os.utime(log.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert log.path.stat().st_size == before.st_size
    assert not log.verify().ok
