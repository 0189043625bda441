"""Audit view: the trail written by real governance decisions, filtered by action, job, who, date and text, exported."""

from __future__ import annotations

import contextlib
import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate

from predictml_desktop.core.governance import AuthenticationError, Governance, cheap_hasher_for_tests
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import Store
from predictml_desktop.ui.audit_view import AuditView
from tests.core.governance_records import add_dataset, add_job
from tests.trained_models import ADMIN_PASSWORD
from tests.ui.admin_support import TIMEOUT, FakeClock


@pytest.fixture
def trail(predictml_home: Path) -> dict[str, str]:
    """Decisions by a real admin session on records whose model files are plain bytes (governance only hashes them)."""
    paths = Paths.default().ensure()
    clock = FakeClock()
    clock.advance(-3 * 86400)  # the account was made three days ago
    gov = Governance(paths, clock=clock, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada@example.org", ADMIN_PASSWORD)
    store = Store(paths)
    dataset = add_dataset(store)
    approved, rejected = add_job(store, dataset), add_job(store, dataset)
    clock.advance(3 * 86400)  # today
    session = gov.unlock(ADMIN_PASSWORD)
    gov.approve(session, approved, "local", reason="good enough")
    gov.reject(session, rejected, "=HYPERLINK(\"http://evil\") leaks")
    with contextlib.suppress(AuthenticationError):
        gov.unlock("wrong password for the trail")
    return {"approved": approved, "rejected": rejected}


@pytest.fixture
def view(qtbot, trail) -> AuditView:
    widget = AuditView(Paths.default())
    qtbot.addWidget(widget)
    widget.show()
    with qtbot.waitSignal(widget.loaded, timeout=TIMEOUT):
        widget.reload()
    return widget


def _reload(qtbot, view: AuditView, **filters) -> list:
    with qtbot.waitSignal(view.loaded, timeout=TIMEOUT):
        view.set_filter(**filters)
    return view.shown_events()


def test_the_trail_is_shown_newest_first_with_who_what_and_why(view: AuditView, trail) -> None:
    events = view.shown_events()
    # The first entry is the hash chain's own start (core.audit_chain).
    assert [e.action for e in events] == ["unlock_failed", "rejected", "approved", "unlocked", "admin_created",
                                          "chain_started"]
    assert view.count_label.text() == "6 events"
    assert events[1].reason.startswith("=HYPERLINK") and events[2].job_id == trail["approved"]
    assert view.model.index(2, 3).data() == "Approved"
    assert view.model.index(2, 0).data() == "4"  # its line in audit.jsonl, as verification names them
    assert ADMIN_PASSWORD not in json.dumps([e.to_dict() for e in events])


def test_filter_by_action_job_who_and_text(qtbot, view: AuditView, trail) -> None:
    assert [e.action for e in _reload(qtbot, view, action="rejected")] == ["rejected"]
    assert view.count_label.text() == "1 of 6 events"
    assert [e.action for e in _reload(qtbot, view, job_id=trail["approved"])] == ["approved"]
    assert len(_reload(qtbot, view, actor="ada@example.org")) == 5
    assert _reload(qtbot, view, actor="someone else") == []
    assert [e.action for e in _reload(qtbot, view, text="good enough")] == ["approved"]
    # The controls drive the same filter.
    with qtbot.waitSignal(view.loaded, timeout=TIMEOUT):
        view.set_filter()
    with qtbot.waitSignal(view.loaded, timeout=TIMEOUT):
        view.action_combo.setCurrentIndex(view.action_combo.findData("unlock_failed"))
    assert [e.action for e in view.shown_events()] == ["unlock_failed"]


def test_filter_by_date(qtbot, view: AuditView) -> None:
    today = QDate.currentDate()
    with qtbot.waitSignal(view.loaded, timeout=TIMEOUT):
        view.since_edit.setDate(today)
        view.until_edit.setDate(today)
        view.dates_check.setChecked(True)
    assert "admin_created" not in [e.action for e in view.shown_events()]  # three days ago
    assert len(view.shown_events()) == 4
    with qtbot.waitSignal(view.loaded, timeout=TIMEOUT):
        view.since_edit.setDate(today.addDays(-4))
        view.until_edit.setDate(today.addDays(-2))
    assert [e.action for e in view.shown_events()] == ["admin_created", "chain_started"]
    start = view.current_filter().since
    assert view.current_filter().until - start == timedelta(days=3)


def test_export_writes_the_shown_events_as_csv_with_formulas_neutralised_and_as_json_lines(
        qtbot, view: AuditView, tmp_path: Path) -> None:
    _reload(qtbot, view, text="")
    target = tmp_path / "audit.csv"
    view.ask_export_path = lambda: target
    with qtbot.waitSignal(view.exported, timeout=TIMEOUT):
        view.export()
    with open(target, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["action"] for r in rows] == ["chain_started", "admin_created", "unlocked", "approved", "rejected",
                                           "unlock_failed"]
    assert rows[4]["reason"].startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it

    _reload(qtbot, view, action="approved")
    target = tmp_path / "approved.jsonl"
    view.ask_export_path = lambda: target
    with qtbot.waitSignal(view.exported, timeout=TIMEOUT):
        view.export()
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["approved"] and lines[0]["reason"] == "good enough"


def test_unreadable_lines_are_skipped_and_reported(qtbot, view: AuditView) -> None:
    with open(Paths.default().audit_file, "ab") as fh:
        fh.write(b'{"action": "approved", "actor": "x", "at": "2026-')  # a crash mid-line
    with qtbot.waitSignal(view.loaded, timeout=TIMEOUT):
        view.reload()
    assert view.count_label.text() == "6 events"
    assert view.banner.isVisible() and "1 line of" in view.banner.text
