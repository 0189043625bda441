"""Admin view: first-use account creation, the locked view, unlocking, lockout, idle lock, Lock, password change."""

from __future__ import annotations

import contextlib
import json

from PySide6.QtCore import Qt

from predictml_desktop.core.audit import AuditLog
from predictml_desktop.core.governance import (
    IDLE_TIMEOUT_S,
    LOCKOUT_S,
    AuthenticationError,
    Governance,
    cheap_hasher_for_tests,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.ui.admin_tab import (
    IDLE_LOCK_MESSAGE,
    PAGE_CREATE,
    PAGE_LOADING,
    PAGE_OPEN,
    PAGE_UNLOCK,
    AdminTab,
)
from predictml_desktop.ui.context import AppContext
from tests.trained_models import ADMIN_PASSWORD
from tests.ui.admin_support import ADMIN_NAME, TIMEOUT, FakeClock, make_admin_tab_fixture  # noqa: F401

NEW_PASSWORD = "a different long passphrase 7"


def _actions(paths) -> list[str]:
    # The chain's own first entry (core.audit_chain) is not one of the admin's actions.
    return [e.action for e in AuditLog(paths).events() if e.action != "chain_started"]


def test_first_use_creates_the_admin_and_refuses_short_and_common_passwords_with_the_reason(
        qtbot, make_admin_tab) -> None:
    admin = make_admin_tab(create_admin=False)
    tab, page = admin.tab, admin.tab.create_page
    assert tab.pages.currentIndex() == PAGE_CREATE
    qtbot.waitUntil(lambda: page._blocklist_ready, timeout=TIMEOUT)
    page.name_edit.setText(ADMIN_NAME)

    page.password_edit.setText("short pass")
    assert "10 characters; it needs at least 15" in page.reason_label.text()
    assert not page.create_button.isEnabled()

    page.password_edit.setText("1qaz2wsx3edc4rfv")  # 16 characters, but on the shipped list
    assert "commonly used" in page.reason_label.text()
    assert not page.create_button.isEnabled()

    page.password_edit.setText(ADMIN_PASSWORD)
    page.confirm_edit.setText(ADMIN_PASSWORD + "x")
    assert page.reason_label.text() == "The two passwords differ."
    assert not page.create_button.isEnabled()

    # Pasting works in the password fields (NIST: password managers).
    page.confirm_edit.clear()
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().setText(ADMIN_PASSWORD)
    page.confirm_edit.paste()
    assert page.confirm_edit.text() == ADMIN_PASSWORD
    assert page.reason_label.text() == "The password meets the policy."
    with qtbot.waitSignal(tab.unlocked, timeout=TIMEOUT):
        qtbot.mouseClick(page.create_button, Qt.MouseButton.LeftButton)
    assert tab.pages.currentIndex() == PAGE_OPEN
    assert tab.who_label.text() == f"Signed in as {ADMIN_NAME}"
    [stored] = json.loads(admin.paths.admin_file.read_text())["admins"]
    assert stored["passwordHash"].startswith("$argon2id$") and ADMIN_PASSWORD not in admin.paths.admin_file.read_text()
    assert page.password_edit.text() == "" and page.confirm_edit.text() == ""
    assert _actions(admin.paths) == ["admin_created"]


def test_the_locked_view_says_wrong_password_then_unlocks(qtbot, make_admin_tab) -> None:
    admin = make_admin_tab()
    tab, page = admin.tab, admin.tab.unlock_page
    assert tab.pages.currentIndex() == PAGE_UNLOCK
    assert not tab.review.isVisible()
    assert not page.unlock_button.isEnabled()  # nothing typed yet

    page.password_edit.setText("not the password at all")
    with qtbot.waitSignal(page.refused, timeout=TIMEOUT) as refused:
        qtbot.mouseClick(page.unlock_button, Qt.MouseButton.LeftButton)
    assert refused.args == ["Wrong password."]
    qtbot.waitUntil(lambda: "4 more wrong tries lock unlocking for 5 min" in page.message.text(), timeout=TIMEOUT)
    assert page.password_edit.text() == ""
    assert tab.pages.currentIndex() == PAGE_UNLOCK

    admin.unlock(qtbot)
    assert tab.session is not None and tab.session.name == ADMIN_NAME
    assert _actions(admin.paths)[-2:] == ["unlock_failed", "unlocked"]


def test_five_wrong_passwords_lock_unlocking_for_five_minutes_across_a_restart(qtbot, make_admin_tab) -> None:
    clock = FakeClock()
    admin = make_admin_tab(clock=clock)
    for _ in range(4):
        with contextlib.suppress(AuthenticationError):
            admin.governance.unlock("wrong password number n")
    page = admin.tab.unlock_page
    page.password_edit.setText("the fifth wrong password")
    with qtbot.waitSignal(page.refused, timeout=TIMEOUT) as refused:
        qtbot.mouseClick(page.unlock_button, Qt.MouseButton.LeftButton)
    assert refused.args[0].startswith("Too many wrong passwords: unlocking is locked for 5 min")
    assert page.locked_out and not page.unlock_button.isEnabled()
    page.password_edit.setText(ADMIN_PASSWORD)
    assert not page.unlock_button.isEnabled()

    # A restarted app (a new view on the same data home) is still locked: the core persisted it.
    restarted = make_admin_tab(clock=clock)
    with qtbot.waitSignal(restarted.tab.unlock_page.lockout_checked, timeout=TIMEOUT):
        restarted.tab.unlock_page.refresh()
    assert restarted.tab.unlock_page.locked_out
    assert "locked for 5 min" in restarted.tab.unlock_page.message.text()

    clock.advance(LOCKOUT_S + 1)
    with qtbot.waitSignal(restarted.tab.unlock_page.lockout_checked, timeout=TIMEOUT):
        restarted.tab.unlock_page.refresh()
    assert not restarted.tab.unlock_page.locked_out
    restarted.unlock(qtbot)
    assert "locked_out" in _actions(restarted.paths)


def test_an_idle_session_locks_after_fifteen_minutes_and_lock_ends_it(qtbot, make_admin_tab) -> None:
    admin = make_admin_tab()
    admin.unlock(qtbot)
    tab = admin.tab
    admin.clock.advance(IDLE_TIMEOUT_S - 1)  # 14:59 idle
    tab.check_session()
    assert tab.pages.currentIndex() == PAGE_OPEN
    assert tab.idle_label.text() == "Locks after 0:01 idle"

    # Activity inside the view (a click) keeps the session open.
    qtbot.mouseClick(tab.review.filter_combo, Qt.MouseButton.LeftButton)
    tab.review.filter_combo.hidePopup()
    admin.clock.advance(IDLE_TIMEOUT_S - 1)
    tab.check_session()
    assert tab.pages.currentIndex() == PAGE_OPEN

    admin.clock.advance(2)  # 15:01 idle: the view's own timer notices within a second
    with qtbot.waitSignal(tab.locked, timeout=5_000) as locked:
        pass
    assert locked.args == [IDLE_LOCK_MESSAGE]
    assert tab.pages.currentIndex() == PAGE_UNLOCK and tab.session is None
    assert tab.unlock_page.intro.text() == IDLE_LOCK_MESSAGE

    admin.unlock(qtbot)
    with qtbot.waitSignal(tab.locked, timeout=TIMEOUT):
        qtbot.mouseClick(tab.lock_button, Qt.MouseButton.LeftButton)
    assert tab.pages.currentIndex() == PAGE_UNLOCK
    qtbot.waitUntil(lambda: _actions(admin.paths)[-1] == "locked", timeout=TIMEOUT)


def test_the_password_can_be_changed_with_the_old_one(qtbot, make_admin_tab) -> None:
    admin = make_admin_tab()
    admin.unlock(qtbot)
    admin.tab.change_password()
    dialog = admin.tab.password_dialog
    assert dialog is not None and dialog.isVisible()
    from tests.ui.test_accessibility import _unnamed_controls

    assert _unnamed_controls(dialog) == []
    dialog.old_edit.setText("not the old password at all")
    dialog.new_edit.setText(NEW_PASSWORD)
    dialog.confirm_edit.setText(NEW_PASSWORD)
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.message.text() == "Wrong password.", timeout=TIMEOUT)
    dialog.old_edit.setText(ADMIN_PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=TIMEOUT):
        dialog.submit()
    assert "password_changed" in _actions(admin.paths)
    admin.tab.lock()
    admin.unlock(qtbot, NEW_PASSWORD)


def test_a_damaged_admin_file_is_reported_and_never_taken_for_no_admin(qtbot) -> None:
    admin_file = Paths.default().ensure().admin_file
    admin_file.write_text('{"name": "ada", "passwordHash": "plain text"}')
    context = AppContext(Paths.default())
    tab = AdminTab(context, governance=Governance(context.paths, hasher=cheap_hasher_for_tests()))
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.state_checked, timeout=TIMEOUT):
        pass
    assert tab.pages.currentIndex() == PAGE_LOADING
    assert "is damaged" in tab.loading_label.text() and "has not been changed" in tab.loading_label.text()
    assert tab.retry_button.isVisibleTo(tab)
    assert admin_file.read_text() == '{"name": "ada", "passwordHash": "plain text"}'


def test_a_missing_admin_file_is_pointed_out_before_a_new_account_replaces_it(qtbot, make_admin_tab) -> None:
    first = make_admin_tab()
    first.paths.admin_file.unlink()
    admin = make_admin_tab(create_admin=False)
    page = admin.tab.create_page
    assert admin.tab.pages.currentIndex() == PAGE_CREATE
    qtbot.waitUntil(page.previous_label.isVisible, timeout=TIMEOUT)
    assert f"earlier admin account ({ADMIN_NAME})" in page.previous_label.text()
    assert "admin.json" in page.previous_label.text()
