"""The audit trail: one JSON line per admin decision, password event or settings change, in ``audit.jsonl`` (DESIGN §6).

The file is append-only and tamper-evident: every line carries its entry number and the hash of
the line before it, and the newest entry is signed with the installation's key
(`core.audit_chain`: how lines are chained, written under a cross-process lock, and verified).
`AuditLog.verify` says "intact (N entries)" or exactly where the chain breaks. Reading for display
(`AuditLog.read`) shows every readable line, chained or not, and counts the unreadable ones.
Nothing here ever receives a password: events carry who, what, which job, when and why.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from predictml_desktop.core import audit_chain
from predictml_desktop.core.audit_chain import ChainReport
from predictml_desktop.core.files import atomic_write_bytes
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import parse_iso


class AuditAction(StrEnum):
    """What an audit line records."""

    ADMIN_CREATED = "admin_created"
    UNLOCKED = "unlocked"
    UNLOCK_FAILED = "unlock_failed"
    LOCKED_OUT = "locked_out"
    LOCKED = "locked"
    PASSWORD_CONFIRMED = "password_confirmed"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_CHANGE_FAILED = "password_change_failed"
    PASSWORD_REHASHED = "password_rehashed"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"
    DELETED = "deleted"
    UNDEPLOYED = "undeployed"
    ROLLED_BACK = "rolled_back"
    POLICY_CHANGED = "policy_changed"
    APPROVAL_RECORDED = "approval_recorded"
    """A first approval under the two-person rule, waiting for a second admin."""
    ADMIN_ADDED = "admin_added"
    ADMIN_REMOVED = "admin_removed"
    SETTINGS_ADOPTED = "settings_adopted"
    """A settings file from before signed settings, signed on the first admin action after the upgrade."""
    SETTINGS_CHANGED = "settings_changed"
    SETTINGS_CONFIRMED = "settings_confirmed"
    """An admin accepted a settings file changed outside PredictML, which is signed from then on."""
    SETTINGS_DISCARDED = "settings_discarded"
    """An admin set aside a settings file changed outside PredictML; the last signed one (or defaults) applies."""
    CHAIN_STARTED = audit_chain.CHAIN_STARTED
    AUDIT_BREAK_DETECTED = audit_chain.BREAK_DETECTED
    AUDIT_ACKNOWLEDGED = audit_chain.ACKNOWLEDGED


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
"""First characters that make a spreadsheet evaluate a cell (OWASP CSV injection, CWE-1236)."""


def neutralise_cell(value: Any) -> Any:
    """Return ``value`` with a leading ``'`` if it is a string a spreadsheet would run as a formula.

    Numbers are returned unchanged: prefixing ``-5`` would corrupt it.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class AuditEvent:
    """One line of the audit trail."""

    action: str
    actor: str
    at: str = ""
    """UTC, ISO 8601 with a ``Z`` suffix."""
    job_id: str | None = None
    dataset_id: str | None = None
    deployment_id: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    """Its entry number in the chain (None for a line from before the chain)."""
    line: int | None = None
    """Its line number in ``audit.jsonl`` (set when read)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object written as one line (camelCase keys, as the records)."""
        return {
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "jobId": self.job_id,
            "datasetId": self.dataset_id,
            "deploymentId": self.deployment_id,
            "reason": self.reason,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEvent:
        """Build an event from a line written by `to_dict`.

        Raises
        ------
        ValueError
            If the line has no action or no actor.
        """
        if not isinstance(data.get("action"), str) or not isinstance(data.get("actor"), str):
            raise ValueError("an audit line needs an action and an actor")
        details = data.get("details")
        seq = data.get("seq")
        return cls(
            action=data["action"],
            actor=data["actor"],
            at=str(data.get("at") or ""),
            job_id=data.get("jobId"),
            dataset_id=data.get("datasetId"),
            deployment_id=data.get("deploymentId"),
            reason=data.get("reason"),
            details=details if isinstance(details, dict) else {},
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        )


@dataclass
class AuditReadResult:
    """The readable events of the audit file and how many lines could not be read."""

    events: list[AuditEvent]
    skipped_lines: int = 0


class AuditLog:
    """Append to, read, filter and export ``audit.jsonl``.

    Parameters
    ----------
    paths
        The data home.
    """

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    @property
    def path(self) -> Path:
        """The audit file."""
        return self.paths.audit_file

    def append(self, event: AuditEvent, *, at: float | None = None) -> AuditEvent:
        """Write one event as the next entry of the chain (one fsynced line, then the signed head) and return it.

        Parameters
        ----------
        event
            The event; its ``at`` is filled from ``at`` when empty.
        at
            Epoch seconds of the event (the governance clock), used when ``event.at`` is empty.

        Raises
        ------
        StoreWriteError
            If the line cannot be written (disk full...).
        """
        if not event.at:
            event.at = _utc_iso(at if at is not None else datetime.now(UTC).timestamp())
        written = audit_chain.append_entry(self.paths, event.to_dict())
        event.seq = int(written["seq"])
        if written.get("details") != event.details and isinstance(written.get("details"), dict):
            event.details = written["details"]
        return event

    def verify(self) -> ChainReport:
        """Check the chain against its signed head: "intact (N entries)" or where it breaks (`ChainReport`)."""
        return audit_chain.verify(self.paths)

    def read(self) -> AuditReadResult:
        """Return every readable event, oldest first; unreadable lines are skipped and counted."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return AuditReadResult([])
        events: list[AuditEvent] = []
        skipped = 0
        # Split on b"\n" only, as the chain does, so line numbers match `verify`'s.
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                event = AuditEvent.from_dict(json.loads(line))
                event.line = number
                events.append(event)
            except (ValueError, TypeError, AttributeError):
                # A crash can leave a partial last line; a hand edit can leave anything. Neither may
                # hide the rest of the trail.
                skipped += 1
        return AuditReadResult(events, skipped)

    def events(self) -> list[AuditEvent]:
        """Return every readable event, oldest first."""
        return self.read().events

    @staticmethod
    def filter(
        events: Iterable[AuditEvent],
        *,
        actions: Iterable[str] | None = None,
        actor: str | None = None,
        job_id: str | None = None,
        dataset_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        text: str | None = None,
    ) -> list[AuditEvent]:
        """Return the events that match every given criterion.

        Parameters
        ----------
        events
            Events to filter (from `events`).
        actions
            Keep only these actions.
        actor, job_id, dataset_id
            Exact matches.
        since, until
            Keep events at or after ``since`` and before ``until`` (aware datetimes).
        text
            Case-insensitive substring of the reason or any field.
        """
        wanted = set(actions) if actions is not None else None
        needle = text.casefold() if text else None
        out: list[AuditEvent] = []
        for ev in events:
            if wanted is not None and ev.action not in wanted:
                continue
            if actor is not None and ev.actor != actor:
                continue
            if job_id is not None and ev.job_id != job_id:
                continue
            if dataset_id is not None and ev.dataset_id != dataset_id:
                continue
            if since is not None or until is not None:
                try:
                    when = parse_iso(ev.at)
                except ValueError:
                    continue
                if since is not None and when < since:
                    continue
                if until is not None and when >= until:
                    continue
            if needle is not None and needle not in json.dumps(ev.to_dict(), ensure_ascii=False).casefold():
                continue
            out.append(ev)
        return out

    @staticmethod
    def export(events: Iterable[AuditEvent], path: Path) -> Path:
        """Write ``events`` to ``path`` as CSV (``.csv``) or JSON lines (any other suffix).

        CSV cells that a spreadsheet would evaluate as formulas are prefixed with ``'``.

        Returns
        -------
        Path
            The written file.
        """
        rows = [ev.to_dict() for ev in events]
        if path.suffix.lower() == ".csv":
            buf = io.StringIO(newline="")
            writer = csv.writer(buf)
            columns = ["at", "actor", "action", "jobId", "datasetId", "deploymentId", "reason", "details"]
            writer.writerow(columns)
            for row in rows:
                cells = [row[c] if c != "details" else json.dumps(row[c], ensure_ascii=False) for c in columns]
                writer.writerow(["" if v is None else neutralise_cell(v) for v in cells])
            data = buf.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8
        else:
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data, keep_backup=False)
        return path
