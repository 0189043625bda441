"""Settings dialog: limits and default preset saved for everyone; the approval policy only with an admin session."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from predictml_desktop.core.audit import AuditLog
from predictml_desktop.core.governance import DEFAULT_POLICY
from predictml_desktop.core.settings import MB, load_settings
from predictml_desktop.ui.settings_dialog import SettingsDialog
from tests.ui.admin_support import TIMEOUT, make_admin_tab_fixture  # noqa: F401
from tests.ui.test_accessibility import _unnamed_controls


def _open(qtbot, dialog: SettingsDialog) -> SettingsDialog:
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=TIMEOUT):
        dialog.open()
    return dialog


def test_limits_and_preset_are_saved_and_the_policy_is_read_only_without_the_admin(qtbot, make_window) -> None:
    window = make_window(run_startup=False)
    window.settings_action.trigger()
    dialog = window.findChild(SettingsDialog)
    assert dialog is not None
    qtbot.waitUntil(dialog.save_button.isEnabled, timeout=TIMEOUT)
    assert dialog.max_rows_spin.value() == 1_000_000 and dialog.preset_combo.currentData() == "balanced"
    assert not dialog.policy_editable
    assert not any(w.isEnabled() for w in dialog._policy_controls())
    assert "read-only" in dialog.policy_note.text()

    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("fast"))
    dialog.max_file_spin.setValue(50)
    dialog.max_rows_spin.setValue(20_000)
    dialog.max_columns_spin.setValue(40)
    dialog.mode_combos["perfectScore"].setCurrentIndex(0)  # disabled, and ignored without a session
    with qtbot.waitSignal(dialog.saved, timeout=TIMEOUT):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    settings = load_settings(window.context.paths)
    assert settings.default_preset == "fast"
    assert (settings.limits.max_file_bytes, settings.limits.max_rows, settings.limits.max_columns) == (
        50 * MB, 20_000, 40)
    assert settings.policy == {}
    assert not dialog.isVisible()


def test_the_admin_changes_the_approval_gates_and_the_change_is_audited(qtbot, make_admin_tab) -> None:
    admin = make_admin_tab()
    admin.unlock(qtbot)
    admin.tab.open_settings()
    dialog = admin.tab.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    qtbot.waitUntil(dialog.save_button.isEnabled, timeout=TIMEOUT)
    assert dialog.policy_editable and all(w.isEnabled() for w in dialog._policy_controls())
    assert _unnamed_controls(dialog) == []
    assert dialog.gates()["beatBaseline"]["mode"] == DEFAULT_POLICY["beatBaseline"]["mode"]

    dialog.mode_combos["minHoldoutScore"].setCurrentIndex(dialog.mode_combos["minHoldoutScore"].findData("block"))
    dialog.min_classification_spin.setValue(0.8)
    dialog.mode_combos["perfectScore"].setCurrentIndex(dialog.mode_combos["perfectScore"].findData("off"))
    dialog.max_gap_spin.setValue(0.05)
    with qtbot.waitSignal(dialog.saved, timeout=TIMEOUT) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert saved.args[0].policy_saved
    policy = load_settings(admin.paths).policy
    assert policy["minHoldoutScore"] == {"mode": "block", "classification": 0.8, "regression": 0.3}
    assert policy["perfectScore"]["mode"] == "off" and policy["maxCvHoldoutGap"]["value"] == 0.05
    [line] = [e for e in AuditLog(admin.paths).events() if e.action == "policy_changed"]
    assert line.actor == "ada@example.org" and line.details["after"]["minHoldoutScore"]["mode"] == "block"
    assert admin.governance.policy()["minHoldoutScore"]["classification"] == 0.8
    json.loads(admin.paths.settings_file.read_text())  # still one valid document


def test_a_policy_save_after_the_session_ended_is_refused(qtbot, make_admin_tab) -> None:
    admin = make_admin_tab()
    admin.unlock(qtbot)
    dialog = _open(qtbot, SettingsDialog(admin.paths, admin.governance, admin.tab.session))
    dialog.mode_combos["beatBaseline"].setCurrentIndex(dialog.mode_combos["beatBaseline"].findData("off"))
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("fast"))
    admin.clock.advance(16 * 60)
    with qtbot.waitSignal(dialog.save_failed, timeout=TIMEOUT) as failed:
        dialog.save()
    assert "locked" in failed.args[0]
    assert load_settings(admin.paths).default_preset == "balanced"  # nothing half-saved
    assert load_settings(admin.paths).policy == {}
    assert dialog.isVisible() and dialog.banner.isVisible()


def test_compute_names_a_dask_cluster_and_a_bad_address_is_refused(qtbot, make_window) -> None:
    window = make_window(run_startup=False)
    dialog = _open(qtbot, SettingsDialog(window.context.paths, parent=window))
    assert dialog.compute_combo.currentData() == "local" and not dialog.cluster_edit.isEnabled()
    dialog.compute_combo.setCurrentIndex(dialog.compute_combo.findData("cluster"))
    assert dialog.cluster_edit.isEnabled()
    dialog.cluster_edit.setText("http://nope")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.banner.kind == "error" and "tcp://host:8786" in dialog.banner.text
    assert load_settings(window.context.paths).compute_cluster == ""
    dialog.cluster_edit.setText("compute-1.example:8786")
    with qtbot.waitSignal(dialog.saved, timeout=TIMEOUT):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert load_settings(window.context.paths).compute_cluster == "tcp://compute-1.example:8786"

    again = _open(qtbot, SettingsDialog(window.context.paths, parent=window))
    assert again.compute_combo.currentData() == "cluster"
    assert again.cluster_edit.text() == "tcp://compute-1.example:8786"
    again.compute_combo.setCurrentIndex(again.compute_combo.findData("local"))
    with qtbot.waitSignal(again.saved, timeout=TIMEOUT):
        qtbot.mouseClick(again.save_button, Qt.MouseButton.LeftButton)
    assert load_settings(window.context.paths).compute_cluster == ""
