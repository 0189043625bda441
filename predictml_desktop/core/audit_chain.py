"""The audit trail's hash chain and its signed head: appending under a lock, and verifying where it breaks.

Each line of ``audit.jsonl`` written by this version carries ``seq`` (its entry number) and ``prev``
(the SHA-256 of the line before it, as bytes), so a line's hash covers everything before it, like
git's commits or a certificate-transparency log. The first chained line, ``chain_started``, seals
whatever the file held before the chain (an old-style trail is kept, not flagged) by the SHA-256 of
all those bytes. The newest entry's number and hash — the *head* — are signed with the
installation's key (`core.integrity`) and kept in the configuration folder, outside the data home.
So an edited line breaks the next line's link; a removed, inserted or reordered line breaks the
links or the numbering; a truncation or a rewrite of the whole file (even with a fresh, valid-looking
chain) no longer ends where the signed head says.

Crash safety: an entry is written as head-with-*pending* (the entry about to be written, signed),
then the line (one fsynced ``write``), then the head. A crash at any point leaves a trail that
verifies: before the line, the pending entry simply never happened; after it, the line matches the
pending entry; mid-line, the partial line is explained by the pending entry and is set aside (kept
in ``audit.jsonl.torn-*``) by the next writer.

Writers in every process (the app, the command line, the service) take ``.audit.lock`` (a
cross-process file lock) and a per-process thread lock, so the chain stays one line of entries.

A break that was found is never repaired by rewriting history. A writer that finds the file not
ending where the signed head says first appends an ``audit_break_detected`` entry describing it,
then its own entry; the break stays reported until an admin appends ``audit_acknowledged``. Breaks
before the last acknowledgement are reported as acknowledged (the signed head freezes them).

One module, past the usual ~600 lines: the writer and the verifier share the line format, the head
and the lock, and splitting them would put the chain's rules in two places that must change together.

Accepted risk: someone who deletes both the trail's chain and the signed head (in the configuration
folder) leaves a file that looks like a trail from before the chain; its seal then records it as
history, and the deleted head cannot be told from a first start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from predictml_desktop.core import integrity
from predictml_desktop.core.files import StoreError, StoreWriteError, atomic_write_bytes
from predictml_desktop.core.paths import Paths

log = logging.getLogger(__name__)

HEAD_FILE = "audit-head.json"
HEAD_PURPOSE = "audit-head"
HEAD_SCHEMA_VERSION = 1
LOCK_FILE = ".audit.lock"
LOCK_TIMEOUT_S = 10.0

CHAIN_STARTED = "chain_started"
BREAK_DETECTED = "audit_break_detected"
ACKNOWLEDGED = "audit_acknowledged"

_TAIL_BYTES = 1 << 20
_HEAD_TEMP_RE = re.compile(r"^\." + re.escape(HEAD_FILE) + r"\.[0-9a-f]{12}\.tmp$")
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


class AuditLockTimeoutError(StoreError):
    """Another process held the audit trail's lock for too long."""


def line_hash(line: bytes) -> str:
    """Return the hex SHA-256 of one line as written (without its newline)."""
    return hashlib.sha256(line).hexdigest()


def head_path(paths: Paths) -> Path:
    """Return the signed head's file (in the configuration folder, beside the key)."""
    return paths.config / HEAD_FILE


# --------------------------------------------------------------------------- the signed head


@dataclass
class Head:
    """The newest entry's number and hash, and the entry being written (if any), as signed."""

    seq: int
    hash: str
    pending: dict[str, Any] | None = None
    """``{"seq", "hash"}`` of the entry a writer is appending; None between appends."""

    def payload(self) -> dict[str, Any]:
        """Return what the signature covers."""
        return {"seq": self.seq, "hash": self.hash, "pending": self.pending}

    def matches(self, seq: int, digest: str) -> bool:
        """Return True if the entry ``seq`` with hash ``digest`` is the head, or the pending entry."""
        if seq == self.seq and digest == self.hash:
            return True
        pend = self.pending or {}
        return pend.get("seq") == seq and pend.get("hash") == digest


@dataclass
class HeadRead:
    """What the head file held: the head if its signature verified, and what went wrong otherwise."""

    head: Head | None
    exists: bool
    problem: str | None = None


def read_head(paths: Paths) -> HeadRead:
    """Read and check the signed head (never raises for a damaged file: `HeadRead.problem` says why)."""
    path = head_path(paths)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return HeadRead(None, False)
    except OSError as exc:
        return HeadRead(None, True, f"the signed head {path} cannot be read ({exc.strerror or exc})")
    try:
        doc = json.loads(raw)
        head = Head(int(doc["seq"]), str(doc["hash"]), doc.get("pending"))
        if head.pending is not None and not isinstance(head.pending, dict):
            raise ValueError("pending is not an object")
    except (ValueError, TypeError, KeyError):
        return HeadRead(None, True, f"the signed head {path} is damaged")
    try:
        valid = integrity.signature_matches(paths, HEAD_PURPOSE, head.payload(), doc.get("signature"))
    except integrity.SigningKeyError as exc:
        return HeadRead(None, True, str(exc))
    if not valid:
        return HeadRead(None, True, "the signed head of the trail was changed outside PredictML (its signature "
                                    "does not match)")
    return HeadRead(head, True)


def _write_head(paths: Paths, head: Head) -> None:
    doc = {"schemaVersion": HEAD_SCHEMA_VERSION, **head.payload(),
           "signature": integrity.sign(paths, HEAD_PURPOSE, head.payload())}
    path = head_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(doc, sort_keys=True) + "\n").encode("ascii"), keep_backup=False)


# --------------------------------------------------------------------------- locking


@contextlib.contextmanager
def locked(paths: Paths, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the audit trail's lock: a per-process thread lock, then the cross-process file lock."""
    key = str(paths.home)
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(key, threading.Lock())
    if not thread_lock.acquire(timeout=timeout):
        raise AuditLockTimeoutError(f"The audit trail in {paths.home} stayed busy for more than {timeout:g} s.")
    try:
        paths.home.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(paths.home / LOCK_FILE), timeout=timeout)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise AuditLockTimeoutError(
                f"Another PredictML process has held the audit trail in {paths.home} busy for more than "
                f"{timeout:g} s; try again."
            ) from None
        try:
            yield
        finally:
            lock.release()
    finally:
        thread_lock.release()


# --------------------------------------------------------------------------- appending


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _chained(obj: dict[str, Any] | None) -> bool:
    return obj is not None and isinstance(obj.get("seq"), int) and not isinstance(obj.get("seq"), bool) \
        and isinstance(obj.get("prev"), str)


@dataclass
class _Tail:
    size: int
    complete_end: int
    """Offset just past the last newline (where a torn tail starts)."""
    last_line: bytes | None
    torn: bytes


def _read_tail(path: Path) -> _Tail:
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - _TAIL_BYTES)
            while True:
                fh.seek(start)
                chunk = fh.read(size - start)
                cut = chunk.rfind(b"\n")
                before = chunk.rfind(b"\n", 0, cut) if cut >= 0 else -1
                if start == 0 or before >= 0:
                    break
                start = max(0, start - _TAIL_BYTES)  # a very long last line: read further back
    except FileNotFoundError:
        return _Tail(0, 0, None, b"")
    if cut < 0:
        return _Tail(size, start, None, chunk)
    torn = chunk[cut + 1:]
    last = chunk[before + 1:cut]
    return _Tail(size, start + cut + 1, last, torn)


def _last_chained_seq(path: Path) -> tuple[int, bool]:
    """Return the highest entry number in the file and whether any chained line exists (a full read)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0, False
    best, found = 0, False
    for line in data.split(b"\n"):
        obj = _parse(line) if b'"seq"' in line else None
        if _chained(obj):
            assert obj is not None
            found = True
            best = max(best, int(obj["seq"]))
    return best, found


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _append_raw(path: Path, data: bytes) -> None:
    try:
        with open(path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StoreWriteError(f"Could not append to {path.name}: {exc.strerror or exc}.") from exc


def crash_explains_torn(head: Head | None, last: dict[str, Any] | None, last_line: bytes | None) -> bool:
    """Return True if a partial last line is an entry whose writer died (the head says it was pending).

    The head was moved to *pending* before the line was written, so the entry before the partial line
    (``last``, the last chained entry, None if there is none) is exactly the signed head.
    """
    if head is None or head.pending is None:
        return False
    if last is None or last_line is None:
        return head.seq == 0
    return int(last["seq"]) == head.seq and line_hash(last_line) == head.hash


def _sweep_head_temps(paths: Paths) -> None:
    # Under the audit lock every head writer is alive, so a head temp file seen now is a dead one's.
    folder = paths.config
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if _HEAD_TEMP_RE.match(entry.name):
            with contextlib.suppress(OSError):
                entry.unlink()


class _Writer:
    """One append under the lock: knows the file's end and the head, writes entries one by one."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.path = paths.audit_file
        self.head_read = read_head(paths)
        self.head = self.head_read.head
        self.seq = 0
        self.prev = ""
        self.notes: list[dict[str, Any]] = []

    def prepare(self, now_iso: str) -> None:
        """Settle the file's end: set a crash's partial line aside, seal an old trail, record a break."""
        _sweep_head_temps(self.paths)
        tail = _read_tail(self.path)
        if tail.torn:
            self._settle_torn(tail)
            tail = _read_tail(self.path)
        last = _parse(tail.last_line) if tail.last_line is not None else None
        if _chained(last):
            assert last is not None and tail.last_line is not None
            self.seq, self.prev = int(last["seq"]), line_hash(tail.last_line)
            has_chain = True
            if self.head is not None and self.head.matches(self.seq, self.prev):
                # The end is the signed head, or the entry a killed writer had marked pending: either
                # way it is the chain's end now. (A head that does not match stays as found, so a
                # crash before the break entry below is written leaves the mismatch to be found again.)
                self.head = Head(self.seq, self.prev)
        else:
            last = None
            self.seq, has_chain = _last_chained_seq(self.path)
            self.prev = line_hash(tail.last_line) if tail.last_line is not None else ""
        # Judged against the head as found, before the seal below moves it.
        problem = self._end_problem(last, tail, has_chain)
        if not has_chain:
            self._seal(now_iso)
        if problem is not None:
            self.write({"at": now_iso, "actor": "PredictML", "action": BREAK_DETECTED, "jobId": None,
                        "datasetId": None, "deploymentId": None, "reason": problem["message"],
                        "details": problem})

    def _settle_torn(self, tail: _Tail) -> None:
        last = _parse(tail.last_line) if tail.last_line is not None else None
        if crash_explains_torn(self.head, last if _chained(last) else None, tail.last_line):
            # A writer died mid-line: its entry never completed. Keep its bytes aside, then cut them off.
            aside = self.path.with_name(f"{self.path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}-"
                                        f"{secrets.token_hex(3)}")
            aside.write_bytes(tail.torn)
            try:
                with open(self.path, "r+b") as fh:
                    fh.truncate(tail.complete_end)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise StoreWriteError(f"Could not repair {self.path.name}: {exc.strerror or exc}.") from exc
            self.notes.append({"tornLineKeptAs": aside.name})
            log.warning("an interrupted audit write left a partial line; kept as %s", aside.name)
        else:
            # Not a crash of ours: the partial line stays in the file (on a line of its own), and
            # verification reports it until an admin acknowledges it.
            _append_raw(self.path, b"\n")

    def _seal(self, now_iso: str) -> None:
        data = b""
        with contextlib.suppress(FileNotFoundError):
            data = self.path.read_bytes()
        lines = [line for line in data.split(b"\n") if line.strip()]
        details: dict[str, Any] = {"earlierLines": len(lines), "earlierBytes": len(data),
                                   "earlierSha256": hashlib.sha256(data).hexdigest()}
        reason = ("The chain starts; the lines written before it are kept and sealed as history before the chain."
                  if lines else "The chain starts.")
        self.prev = hashlib.sha256(data).hexdigest()
        self.write({"at": now_iso, "actor": "PredictML", "action": CHAIN_STARTED, "jobId": None, "datasetId": None,
                    "deploymentId": None, "reason": reason, "details": details})

    def _end_problem(self, last: dict[str, Any] | None, tail: _Tail, had_chain: bool) -> dict[str, Any] | None:
        read = self.head_read
        if read.problem is not None:
            return {"message": f"Before this entry, {read.problem}.", "problem": "head_invalid"}
        head = self.head
        if head is not None and head.seq == 0 and not had_chain:
            head = None  # a writer died before the chain's first entry: nothing was recorded yet
        if head is None:
            if had_chain:
                return {"message": "Before this entry, the signed head of the trail was missing (the chain could "
                                   "not be checked against it).", "problem": "head_missing"}
            return None
        if not had_chain:
            return {"message": f"Before this entry, the trail had no chained entries although the signed head "
                               f"records {head.seq}: it was emptied, deleted or rewritten.", "problem": "emptied",
                    "signedEntries": head.seq}
        if last is None or tail.last_line is None:
            return {"message": f"Before this entry, the trail did not end with a readable entry; the signed head "
                               f"records {head.seq} entries.", "problem": "end_unreadable",
                    "signedEntries": head.seq}
        seq, digest = int(last["seq"]), line_hash(tail.last_line)
        if head.matches(seq, digest):
            return None
        if seq < head.seq:
            kind, what = "truncated", (f"ended at entry {seq} but the signed head records {head.seq} entries: entries "
                                       "were removed from the end (truncated), or the file was rewritten")
        elif seq > head.seq:
            kind, what = "added", (f"ended at entry {seq}, but the signed head records {head.seq} entries "
                                   "(entries were added outside PredictML)")
        else:
            kind, what = "rewritten", f"entry {seq} differs from the one the signed head records"
        return {"message": f"Before this entry, the trail {what}.", "problem": kind, "signedEntries": head.seq,
                "signedHash": head.hash, "foundEntries": seq, "foundHash": digest}

    def write(self, event: dict[str, Any]) -> dict[str, Any]:
        """Append one entry (pending head, line, head) and return it as written."""
        seq = self.seq + 1
        entry = {"seq": seq, "prev": self.prev, **event}
        line = _encode(entry)
        digest = line_hash(line)
        base = self.head if self.head is not None else Head(0, "")
        _write_head(self.paths, Head(base.seq, base.hash, {"seq": seq, "hash": digest}))
        _append_raw(self.path, line + b"\n")
        self.head = Head(seq, digest)
        _write_head(self.paths, self.head)
        self.head_read = HeadRead(self.head, True)
        self.seq, self.prev = seq, digest
        return entry


def append_entry(paths: Paths, event: dict[str, Any]) -> dict[str, Any]:
    """Append ``event`` (the JSON object of one `core.audit.AuditEvent`) to the chain and return it as written.

    Raises
    ------
    StoreWriteError
        If the line or the head cannot be written (disk full...).
    AuditLockTimeoutError
        If another process holds the trail's lock for more than 10 s.
    """
    paths.home.mkdir(parents=True, exist_ok=True)
    with locked(paths):
        writer = _Writer(paths)
        writer.prepare(str(event.get("at") or ""))
        if writer.notes:
            event = {**event, "details": {**(event.get("details") or {}), **writer.notes[0]}}
        return writer.write(event)


# --------------------------------------------------------------------------- verifying


@dataclass
class Break:
    """One place where the chain does not hold."""

    line: int
    """1-based line number in ``audit.jsonl`` (0 for a problem of the file as a whole)."""
    message: str
    acknowledged: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"line": self.line, "message": self.message, "acknowledged": self.acknowledged}


@dataclass
class ChainReport:
    """What `verify` found."""

    status: str
    """``intact``, ``broken``, ``unchained`` (an old trail, sealed at the next entry) or ``empty``."""
    entries: int
    """Chained entries."""
    earlier_lines: int
    """Lines from before the chain (sealed as history, or waiting to be sealed)."""
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def open_breaks(self) -> list[Break]:
        """The breaks no admin has acknowledged yet."""
        return [b for b in self.breaks if not b.acknowledged]

    @property
    def ok(self) -> bool:
        """True unless an unacknowledged break exists."""
        return not self.open_breaks

    @property
    def message(self) -> str:
        """One sentence: "intact (N entries)" or exactly where the chain breaks."""
        earlier = (f", after {self.earlier_lines} earlier line{'s' if self.earlier_lines != 1 else ''} sealed as "
                   "history before the chain") if self.earlier_lines and self.status != "unchained" else ""
        acked = len(self.breaks) - len(self.open_breaks)
        known = f"; {acked} earlier break{'s' if acked != 1 else ''} acknowledged by an admin" if acked else ""
        if self.status == "empty":
            return "empty (no entries yet)"
        if self.status == "unchained":
            return (f"not chained yet ({self.earlier_lines} line{'s' if self.earlier_lines != 1 else ''} from before "
                    "the chain; they are sealed as history at the next entry)")
        if self.ok:
            return f"intact ({self.entries} entr{'ies' if self.entries != 1 else 'y'}{earlier}){known}"
        first = self.open_breaks[0]
        where = f"broken at line {first.line}" if first.line else "broken"
        more = len(self.open_breaks) - 1
        return f"{where}: {first.message}" + (f" ({more} more break{'s' if more > 1 else ''})" if more else "")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``predictml audit verify --json``)."""
        return {"status": self.status if self.ok or self.status != "intact" else "broken",
                "intact": self.ok and self.status in ("intact", "empty", "unchained"),
                "entries": self.entries, "earlierLines": self.earlier_lines, "message": self.message,
                "breaks": [b.to_dict() for b in self.breaks], "notes": self.notes}


def _seq_problem(seq: int, previous: int) -> str | None:
    if seq == previous + 1:
        return None
    if seq > previous + 1:
        missing = f"entry {previous + 1}" if seq == previous + 2 else f"entries {previous + 1}–{seq - 1}"
        return (f"entry {seq} follows entry {previous}: {missing} {'is' if seq == previous + 2 else 'are'} missing "
                "here (removed, or moved elsewhere)")
    return f"entry {seq} follows entry {previous}: lines were reordered or repeated"


def _entry_problem(obj: dict[str, Any], number: int, prev_seq: int, prev_hash: str) -> str | None:
    """Why a chained entry after the first does not follow the one before it, or None."""
    seq = int(obj["seq"])
    if obj.get("action") == CHAIN_STARTED:
        return f"a second start of the chain at line {number}"
    problem = _seq_problem(seq, prev_seq)
    if problem is None and obj["prev"] != prev_hash:
        problem = (f"entry {seq} does not link to the line before it: line {number - 1} was changed, "
                   "or lines were removed, inserted or reordered here")
    return problem


def _end_breaks(read: HeadRead, started: bool, last: tuple[int, str] | None) -> list[Break]:
    """Compare the trail's last entry with the signed head: what was cut, rewritten or added at the end."""
    head = read.head
    out: list[Break] = []
    if started:
        if read.problem is not None:
            out.append(Break(0, read.problem))
        elif head is None:
            out.append(Break(0, "the signed head of the trail is missing, so its end cannot be checked"))
        elif last is not None and not head.matches(*last):
            seq, _ = last
            if seq < head.seq:
                what = (f"the trail ends at entry {seq} but the signed head records {head.seq} entries: entries were "
                        "removed from the end (truncated), or the file was rewritten")
            elif seq > head.seq:
                what = (f"the trail ends at entry {seq} but the signed head records {head.seq}: the file was rewritten "
                        "or entries were added outside PredictML")
            else:
                what = f"entry {seq} is not the one the signed head records: the last entry was changed or the " \
                       "file was rewritten"
            out.append(Break(0, what))
    elif (head is not None and head.seq > 0) or read.problem is not None:
        # (A head at 0 is a writer that died before the chain's first entry was written.)
        seq = head.seq if head is not None else 0
        out.append(Break(0, f"the trail has no chained entries but the signed head records {seq}: the file was "
                               "emptied, deleted or rewritten" if head is not None else str(read.problem)))
    return out


def verify_bytes(paths: Paths, data: bytes, read: HeadRead) -> ChainReport:
    """Verify the trail's bytes ``data`` against the head ``read`` (see `verify`)."""
    pieces = data.split(b"\n")
    torn = pieces.pop() if pieces else b""
    breaks: list[Break] = []
    notes: list[str] = []
    earlier = entries = 0
    started = False
    prev_hash = ""
    prev_seq = 0
    last: tuple[int, str] | None = None
    last_obj: dict[str, Any] | None = None
    last_line: bytes | None = None
    ack_line = 0
    offset = 0
    for number, line in enumerate(pieces, start=1):
        start, offset = offset, offset + len(line) + 1
        if not started and not line.strip():
            prev_hash = line_hash(line)
            continue
        obj = _parse(line)
        if not started:
            if not _chained(obj):
                earlier += 1
                prev_hash = line_hash(line)
                continue
            assert obj is not None
            started = True
            sealed = hashlib.sha256(data[:start]).hexdigest()
            if obj.get("action") != CHAIN_STARTED:
                breaks.append(Break(number, f"the chain does not start with its seal (line {number} is entry "
                                            f"{obj['seq']}); the start of the trail was removed or changed"))
            elif obj["prev"] != sealed:
                breaks.append(Break(number, f"the {earlier} line{'s' if earlier != 1 else ''} before the chain "
                                            "no longer match their seal: history before the chain was changed"))
            prev_seq = int(obj["seq"])
        elif not _chained(obj):
            what = "is not a complete entry" if obj is None else "is not a chained entry"
            breaks.append(Break(number, f"line {number} {what}: it was changed, or written outside PredictML"))
            prev_hash = line_hash(line)
            continue
        else:
            assert obj is not None
            problem = _entry_problem(obj, number, prev_seq, prev_hash)
            if problem is not None:
                breaks.append(Break(number, problem))
            prev_seq = int(obj["seq"])
        assert obj is not None
        entries += 1
        digest = line_hash(line)
        last, last_obj, last_line = (int(obj["seq"]), digest), obj, line
        prev_hash = digest
        if obj.get("action") == BREAK_DETECTED:
            breaks.append(Break(number, str(obj.get("reason") or "a break was found before this entry")
                                .removeprefix("Before this entry, ").rstrip(".") + " (found when this entry was "
                                                                                   "written)"))
        elif obj.get("action") == ACKNOWLEDGED:
            ack_line = number
    head = read.head
    end = len(pieces) + 1
    if torn:
        if crash_explains_torn(head, last_obj, last_line):
            notes.append(f"An interrupted write left a partial line {end}; it is set aside at the next entry.")
        else:
            breaks.append(Break(end, f"line {end} is incomplete: the file was cut, or a partial line was added"))
    breaks.extend(_end_breaks(read, started, last))
    for b in breaks:
        b.acknowledged = 0 < b.line < ack_line
    if started:
        status = "intact" if not [b for b in breaks if not b.acknowledged] else "broken"
    elif breaks:
        status = "broken"
    else:
        status = "unchained" if earlier else "empty"
    return ChainReport(status, entries, earlier, breaks, notes)


_cache: dict[str, tuple[tuple[Any, ...], ChainReport]] = {}
_cache_guard = threading.Lock()


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    # The change time too: a hand edit can set the modification time back, never the change time.
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def verify(paths: Paths) -> ChainReport:
    """Check the whole trail against its signed head (under the trail's lock; never raises for bad content).

    Returns
    -------
    ChainReport
        ``intact`` with the number of entries, or every place where the chain breaks (line and why).
    """
    ident = (_identity(paths.audit_file), _identity(head_path(paths)))
    with _cache_guard:
        cached = _cache.get(str(paths.home))
    if cached is not None and cached[0] == ident and ident[0] is not None:
        return cached[1]
    # Under the lock: a writer between the line and its head would otherwise look like a break.
    with locked(paths):
        ident = (_identity(paths.audit_file), _identity(head_path(paths)))
        read = read_head(paths)
        try:
            data = paths.audit_file.read_bytes()
        except FileNotFoundError:
            data = b""
    report = verify_bytes(paths, data, read)
    with _cache_guard:
        _cache[str(paths.home)] = (ident, report)
    return report
