"""The Admin view with several admins: the Admins tab, unlocking as one of them, the verified audit trail and
its acknowledgement, settings changed outside PredictML, and the two-person rule in the review.

Records are the governance tests' (model files of plain bytes: governance only hashes them), so no
model is trained here.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from predictml_desktop.core.audit import AuditLog
from predictml_desktop.core.settings import read_settings
from predictml_desktop.core.store import Store
from predictml_desktop.ui.admin_tab import PAGE_OPEN, PAGE_UNLOCK
from tests.core.governance_records import add_dataset, add_job
from tests.trained_models import ADMIN_PASSWORD
from tests.ui.admin_support import ADMIN_NAME, TIMEOUT, AdminHarness, make_admin_tab_fixture  # noqa: F401
from tests.ui.test_accessibility import _unnamed_controls

BOB, BOB_PASSWORD = "Bob Builder", "violet tractor under seventeen moons"


def _open(qtbot, make_admin_tab) -> AdminHarness:
    admin = make_admin_tab()
    admin.unlock(qtbot)
    return admin


def _show_admins(qtbot, admin: AdminHarness) -> None:
    with qtbot.waitSignal(admin.tab.admins.reloaded, timeout=TIMEOUT):
        admin.tab.tabs.setCurrentWidget(admin.tab.admins)


def test_the_admins_tab_lists_adds_and_removes_admins(qtbot, make_admin_tab) -> None:
    admin = _open(qtbot, make_admin_tab)
    panel = admin.tab.admins
    _show_admins(qtbot, admin)
    assert panel.names() == [ADMIN_NAME]
    assert panel.model.index(0, 2).data() == "(first admin)"
    panel.select(ADMIN_NAME)
    assert not panel.remove_button.isEnabled()  # never the last admin
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    dialog = panel.add_dialog
    assert dialog is not None and not dialog.ok_button.isEnabled()
    dialog.name_edit.setText(BOB)
    dialog.password_edit.setText("short")
    assert "at least 15" in dialog.message.text()
    dialog.password_edit.setText(BOB_PASSWORD)
    dialog.confirm_edit.setText(BOB_PASSWORD)
    assert dialog.ok_button.isEnabled()
    assert _unnamed_controls(dialog) == []
    with qtbot.waitSignal(panel.changed, timeout=TIMEOUT):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.names() == [ADMIN_NAME, BOB], timeout=TIMEOUT)
    assert panel.model.index(1, 2).data() == ADMIN_NAME
    [added] = [e for e in AuditLog(admin.paths).events() if e.action == "admin_added"]
    assert added.actor == ADMIN_NAME and added.details == {"admin": BOB}

    assert panel.select(BOB) and panel.remove_button.isEnabled()
    panel.reason_edit.setText("left the team")
    with qtbot.waitSignal(panel.changed, timeout=TIMEOUT):
        qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.names() == [ADMIN_NAME], timeout=TIMEOUT)
    [removed] = [e for e in AuditLog(admin.paths).events() if e.action == "admin_removed"]
    assert removed.reason == "left the team" and admin.governance.admin_names() == [ADMIN_NAME]
    assert _unnamed_controls(admin.tab) == []


def test_with_several_admins_the_unlock_page_asks_who_you_are(qtbot, make_admin_tab) -> None:
    admin = make_admin_tab()
    session = admin.governance.unlock(ADMIN_PASSWORD)
    admin.governance.add_admin(session, BOB, BOB_PASSWORD)
    page = admin.tab.unlock_page
    with qtbot.waitSignal(page.lockout_checked, timeout=TIMEOUT):
        page.refresh()
    assert page.name_combo.isVisible()
    assert [page.name_combo.itemText(i) for i in range(page.name_combo.count())] == [ADMIN_NAME, BOB]
    page.name_combo.setCurrentText(BOB)
    page.password_edit.setText(ADMIN_PASSWORD)  # Ada's password is not Bob's
    with qtbot.waitSignal(page.refused, timeout=TIMEOUT):
        qtbot.mouseClick(page.unlock_button, Qt.MouseButton.LeftButton)
    assert "Wrong password" in page.message.text()
    assert admin.governance.lockout_state(BOB).failed_attempts == 1
    assert admin.governance.lockout_state(ADMIN_NAME).failed_attempts == 0
    page.password_edit.setText(BOB_PASSWORD)
    with qtbot.waitSignal(admin.tab.unlocked, timeout=TIMEOUT):
        qtbot.mouseClick(page.unlock_button, Qt.MouseButton.LeftButton)
    assert admin.tab.pages.currentIndex() == PAGE_OPEN
    assert admin.tab.who_label.text() == f"Signed in as {BOB}"


def test_the_audit_tab_shows_the_verified_trail_and_an_admin_acknowledges_a_break(qtbot, make_admin_tab) -> None:
    admin = _open(qtbot, make_admin_tab)
    bar = admin.tab.audit.integrity
    with qtbot.waitSignal(bar.verified, timeout=TIMEOUT):
        admin.tab.tabs.setCurrentWidget(admin.tab.audit)
    assert "Verified" in bar.status_label.text() and "intact (" in bar.status_label.text()
    assert not bar.acknowledge_button.isVisible()
    # Someone edits a line of the trail by hand.
    lines = admin.paths.audit_file.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(ADMIN_NAME.encode(), b"mallory@example.org")
    admin.paths.audit_file.write_bytes(b"\n".join(lines))
    with qtbot.waitSignal(bar.verified, timeout=TIMEOUT):
        qtbot.mouseClick(bar.verify_button, Qt.MouseButton.LeftButton)
    assert "Not intact" in bar.status_label.text() and "broken at line 3" in bar.status_label.text()
    assert "At line 3 (not acknowledged)" in bar.breaks_label.text()
    assert bar.acknowledge_button.isVisible() and not bar.acknowledge_button.isEnabled()
    bar.reason_edit.setText("line 2 was corrected by the IT department")
    with qtbot.waitSignal(bar.acknowledged, timeout=TIMEOUT):
        qtbot.mouseClick(bar.acknowledge_button, Qt.MouseButton.LeftButton)
    assert "Verified" in bar.status_label.text() and "1 earlier break acknowledged" in bar.status_label.text()
    assert "At line 3 (acknowledged)" in bar.breaks_label.text()
    [ack] = [e for e in AuditLog(admin.paths).events() if e.action == "audit_acknowledged"]
    assert ack.actor == ADMIN_NAME and ack.reason.startswith("line 2")


def test_settings_changed_outside_are_reported_and_an_admin_discards_them(qtbot, make_admin_tab) -> None:
    admin = _open(qtbot, make_admin_tab)
    session = admin.tab.session
    admin.governance.set_policy(session, {"perfectScore": {"mode": "off"}})
    settings_file = admin.paths.settings_file
    doc = json.loads(settings_file.read_text())
    doc["policy"]["beatBaseline"] = {"mode": "off"}
    settings_file.write_text(json.dumps(doc))
    admin.tab.open_settings()
    dialog = admin.tab.settings_dialog
    qtbot.waitUntil(lambda: dialog.status is not None, timeout=TIMEOUT)
    assert dialog.banner.kind == "warning" and "changed outside PredictML" in dialog.banner.text
    assert dialog.mode_combos["beatBaseline"].currentData() == "block"  # the safe default is what applies
    assert not dialog.mode_combos["beatBaseline"].isEnabled()  # no policy edit until the change is decided
    [discard] = [b for b in dialog.banner.findChildren(QPushButton) if b.text() == "Discard it"]
    with qtbot.waitSignal(dialog.unverified_decided, timeout=TIMEOUT):
        qtbot.mouseClick(discard, Qt.MouseButton.LeftButton)
    assert read_settings(admin.paths).status.state == "signed"
    assert admin.governance.policy()["perfectScore"]["mode"] == "off"  # the last signed policy is back
    assert admin.governance.policy()["beatBaseline"]["mode"] == "block"
    qtbot.waitUntil(lambda: dialog.mode_combos["beatBaseline"].isEnabled(), timeout=TIMEOUT)
    dialog.reject()


def test_two_person_rule_in_the_review(qtbot, make_admin_tab) -> None:
    admin = make_admin_tab()
    governance = admin.governance
    ada = governance.unlock(ADMIN_PASSWORD)
    governance.set_policy(ada, {"twoPersonRule": {"mode": "all"}})
    governance.add_admin(ada, BOB, BOB_PASSWORD)
    store = Store(admin.paths)
    job = add_job(store, add_dataset(store))
    review = admin.tab.review
    page = admin.tab.unlock_page
    qtbot.waitUntil(lambda: admin.tab.pages.currentIndex() == PAGE_UNLOCK, timeout=TIMEOUT)
    with qtbot.waitSignal(page.lockout_checked, timeout=TIMEOUT):
        page.refresh()
    page.name_combo.setCurrentText(ADMIN_NAME)
    with qtbot.waitSignal(review.reloaded, timeout=TIMEOUT):
        admin.unlock(qtbot)
    with qtbot.waitSignal(review.details_loaded, timeout=TIMEOUT):
        assert review.select_job(job)
    with qtbot.waitSignal(review.decided, timeout=TIMEOUT):
        qtbot.mouseClick(review.approve_local_button, Qt.MouseButton.LeftButton)
    assert review.banner.kind == "info" and "second admin" in review.banner.text
    assert Store(admin.paths).deployments() == []
    qtbot.waitUntil(lambda: any("Waiting" in t and ADMIN_NAME in t for t in review.gate_texts()), timeout=TIMEOUT)
    # Bob, in the same view after Ada locks it, makes the deployment.
    admin.tab.lock()
    with qtbot.waitSignal(page.lockout_checked, timeout=TIMEOUT):
        page.refresh()
    page.name_combo.setCurrentText(BOB)
    admin.unlock(qtbot, BOB_PASSWORD)
    with qtbot.waitSignal(review.details_loaded, timeout=TIMEOUT):
        assert review.select_job(job)
    with qtbot.waitSignal(review.decided, timeout=TIMEOUT):
        qtbot.mouseClick(review.approve_local_button, Qt.MouseButton.LeftButton)
    [dep] = Store(admin.paths).deployments()
    assert dep.approvers == [ADMIN_NAME, BOB] and dep.status == "active"
