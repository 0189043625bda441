"""Settings: import limits and the default training preset for everyone; the approval policy for the admin.

Limits and the preset are saved with `core.settings.save_settings` (signed, with an audit line). The
policy gates and the two-person rule are saved with `Governance.set_policy`, which needs an open
admin session: without an unlocked Admin view the policy is shown read-only. A ``settings.json``
changed outside PredictML is reported at the top, with the safe defaults in force; an admin keeps
its values or discards it there (`Governance.confirm_settings`). Reading and saving run off the GUI
thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.governance import GATE_MODES, GATES, TWO_PERSON_MODES, AdminSession, Governance, policy
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.settings import MB, Settings, SettingsRead, load_settings, read_settings, save_settings
from predictml_desktop.ui.governance_calls import Outcome, attempt
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import Banner

PRESET_LABELS = {"fast": "Fast (about a minute)", "balanced": "Balanced (about 5 minutes)",
                 "thorough": "Thorough (up to 30 minutes)"}
MODE_LABELS = {"block": "Block approval", "warn": "Warn (approval needs an override)", "off": "Off"}
TWO_PERSON_LABELS = {"off": "Off: one admin's approval deploys", "azure": "Azure exports need two admins",
                     "all": "Every deployment needs two admins"}

GATE_HELP = {
    "minHoldoutScore": "The model's holdout score (AUC for classification, R² for regression, or the job's "
                       "ranking metric) must reach this minimum.",
    "maxCvHoldoutGap": "Cross-validation and holdout scores may differ by at most this much; a larger gap means "
                       "overfitting or an unlucky split.",
    "beatBaseline": "The model must do better than a baseline that always predicts the most common answer "
                    "(or the average).",
    "suspectedLeakage": "The data profile must not suspect a column of giving the answer away.",
    "perfectScore": "A perfect holdout score is more often a leak than a triumph.",
}
GATE_TITLES = {
    "minHoldoutScore": "Minimum holdout score",
    "maxCvHoldoutGap": "Maximum cross-validation vs holdout gap",
    "beatBaseline": "Better than the baseline",
    "suspectedLeakage": "No suspected leakage",
    "perfectScore": "No perfect score",
}


@dataclass
class SavedSettings:
    """What `save_all` wrote."""

    settings: Settings
    policy_saved: bool


def save_all(paths: Paths, changes: dict[str, Any], governance: Governance | None, session: AdminSession | None,
             gates: dict[str, dict[str, Any]] | None) -> SavedSettings:
    """Save the policy through the core, then the general settings (runs off the GUI thread).

    Parameters
    ----------
    paths
        The data home.
    changes
        ``default_preset``, ``compute_cluster`` and the `Limits` fields to set.
    governance, session, gates
        The policy to save with `Governance.set_policy` (only when all three are given).

    Raises
    ------
    GovernanceError
        If the policy is refused (session ended, unknown mode).
    """
    saved_policy = False
    if governance is not None and session is not None and gates is not None:
        # First: a refused policy (the session ended) must leave every setting as it was.
        governance.set_policy(session, gates)
        saved_policy = True
    settings = load_settings(paths)
    settings.default_preset = changes.get("default_preset", settings.default_preset)
    settings.compute_cluster = changes.get("compute_cluster", settings.compute_cluster)
    for name in ("max_file_bytes", "max_rows", "max_columns"):
        if name in changes:
            setattr(settings.limits, name, int(changes[name]))
    settings.prediction_log = bool(changes.get("prediction_log", settings.prediction_log))
    save_settings(paths, settings, actor=session.name if session is not None and session.active else None)
    return SavedSettings(load_settings(paths), saved_policy)


class SettingsDialog(QDialog):
    """The Settings dialog (open with ``open()``).

    Parameters
    ----------
    paths
        The data home.
    governance
        The core's governance object (the policy part needs it).
    session
        The admin's open session; without one the policy is read-only.
    """

    loaded = Signal()
    """The current settings are shown."""

    saved = Signal(object)
    """The settings were saved; carries the `SavedSettings`."""

    save_failed = Signal(str)
    """Saving was refused or failed; carries the sentence shown."""

    unverified_decided = Signal(bool)
    """An admin kept (True) or discarded (False) a settings file changed outside PredictML."""

    def __init__(self, paths: Paths, governance: Governance | None = None, session: AdminSession | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.governance = governance
        self.session = session if session is not None and session.active else None
        self.tasks = Tasks(self)
        self._loaded_gates: dict[str, dict[str, Any]] = {}
        self.status: Any = None
        self.setWindowTitle("Settings")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(620, 480)
        layout = QVBoxLayout(self)
        self.banner = Banner(name="Settings message")
        layout.addWidget(self.banner)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        self._build_general()
        self._build_policy()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setAccessibleName("Save the settings")
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAccessibleName("Cancel")
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.save_button.setEnabled(False)
        self.tabs.setEnabled(False)  # until the saved values are shown: the read would undo an edit
        from predictml_desktop.ui.decisions import DecisionRunner

        self.decisions = DecisionRunner(governance, lambda: self.session, self) if governance is not None else None
        if self.decisions is not None:
            self.decisions.failed.connect(lambda _action, message: self.banner.show_message("error", message))
        self.tasks.start(read_settings, paths, on_result=self._on_loaded,
                         on_error=lambda message: self.banner.show_message("error", message))

    # ------------------------------------------------------------------ layout

    def _build_general(self) -> None:
        page = QWidget()
        form = QFormLayout(page)
        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName("Default training preset")
        for key, label in PRESET_LABELS.items():
            self.preset_combo.addItem(label, key)
        form.addRow("Default &preset:", self.preset_combo)
        self.max_file_spin = QSpinBox()
        self.max_file_spin.setAccessibleName("Largest file in MB")
        self.max_file_spin.setRange(1, 100_000)
        self.max_file_spin.setSuffix(" MB")
        form.addRow("Largest &file:", self.max_file_spin)
        self.max_rows_spin = QSpinBox()
        self.max_rows_spin.setAccessibleName("Most rows")
        self.max_rows_spin.setRange(10, 2_000_000_000)
        self.max_rows_spin.setGroupSeparatorShown(True)
        form.addRow("Most &rows:", self.max_rows_spin)
        self.max_columns_spin = QSpinBox()
        self.max_columns_spin.setAccessibleName("Most columns")
        self.max_columns_spin.setRange(2, 100_000)
        form.addRow("Most &columns:", self.max_columns_spin)
        note = QLabel("Files above a limit are refused with the reason; nothing is stored.")
        note.setWordWrap(True)
        form.addRow(note)
        self.prediction_log_check = QCheckBox("Keep a log of served predictions (for Admin → Monitoring)")
        self.prediction_log_check.setAccessibleName("Keep a log of served predictions")
        form.addRow("Prediction &log:", self.prediction_log_check)
        log_note = QLabel("Off by default. When on, the prediction service writes each request's input rows, "
                          "prediction, model and time to the data folder's prediction-log (rotated by size).")
        log_note.setWordWrap(True)
        form.addRow(log_note)
        self.compute_combo = QComboBox()
        self.compute_combo.setAccessibleName("Where models are trained")
        self.compute_combo.addItem("This computer", "local")
        self.compute_combo.addItem("Dask cluster", "cluster")
        form.addRow("C&ompute:", self.compute_combo)
        self.cluster_edit = QLineEdit()
        self.cluster_edit.setAccessibleName("Dask scheduler address")
        self.cluster_edit.setPlaceholderText("tcp://host:8786")
        form.addRow("Scheduler &address:", self.cluster_edit)
        self.compute_combo.currentIndexChanged.connect(self._on_compute_changed)
        compute_note = QLabel("On a Dask cluster the models are fitted by its workers, which need the same versions "
                              "of Python and the model libraries as this computer (checked at each training); "
                              "see the README's \"Training on a Dask cluster\".")
        compute_note.setWordWrap(True)
        form.addRow(compute_note)
        self.tabs.addTab(page, "Import and training")

    def _build_policy(self) -> None:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.policy_note = QLabel()
        self.policy_note.setWordWrap(True)
        self.policy_note.setAccessibleName("Who can change the policy")
        layout.addWidget(self.policy_note)
        grid = QGridLayout()
        self.mode_combos: dict[str, QComboBox] = {}
        row = 0
        for key in GATES:
            title = QLabel(f"<b>{GATE_TITLES[key]}</b>")
            combo = QComboBox()
            combo.setAccessibleName(f"{GATE_TITLES[key]}: what happens when it fails")
            for mode in GATE_MODES:
                combo.addItem(MODE_LABELS[mode], mode)
            title.setBuddy(combo)
            self.mode_combos[key] = combo
            grid.addWidget(title, row, 0)
            grid.addWidget(combo, row, 1)
            row += 1
            help_label = QLabel(GATE_HELP[key])
            help_label.setWordWrap(True)
            grid.addWidget(help_label, row, 0, 1, 2)
            row += 1
            if key == "minHoldoutScore":
                self.min_classification_spin = self._score_spin("Minimum classification score", 0.0, 1.0)
                self.min_regression_spin = self._score_spin("Minimum regression score (R²)", -1.0, 1.0)
                grid.addWidget(QLabel("Classification at least:"), row, 0)
                grid.addWidget(self.min_classification_spin, row, 1)
                row += 1
                grid.addWidget(QLabel("Regression at least:"), row, 0)
                grid.addWidget(self.min_regression_spin, row, 1)
                row += 1
            elif key == "maxCvHoldoutGap":
                self.max_gap_spin = self._score_spin("Largest cross-validation vs holdout gap", 0.0, 1.0)
                grid.addWidget(QLabel("Largest gap:"), row, 0)
                grid.addWidget(self.max_gap_spin, row, 1)
                row += 1
        two = QLabel("<b>Two-person rule</b>")
        self.two_person_combo = QComboBox()
        self.two_person_combo.setAccessibleName("Two-person rule: which deployments need two admins")
        for mode in TWO_PERSON_MODES:
            self.two_person_combo.addItem(TWO_PERSON_LABELS[mode], mode)
        two.setBuddy(self.two_person_combo)
        grid.addWidget(two, row, 0)
        grid.addWidget(self.two_person_combo, row, 1)
        two_help = QLabel("A deployment under the rule needs the approvals of two different admins: the first "
                          "is recorded, the second deploys.")
        two_help.setWordWrap(True)
        grid.addWidget(two_help, row + 1, 0, 1, 2)
        row += 2
        drift = QLabel("<b>Drift against the training data</b>")
        self.drift_mode_combo = QComboBox()
        self.drift_mode_combo.setAccessibleName("Drift: flag a deployment whose data drifted beyond act")
        self.drift_mode_combo.addItem("Flag drift beyond act", "warn")
        self.drift_mode_combo.addItem("Show drift, never flag", "off")
        drift.setBuddy(self.drift_mode_combo)
        grid.addWidget(drift, row, 0)
        grid.addWidget(self.drift_mode_combo, row, 1)
        row += 1
        self.drift_watch_spin = self._score_spin("Drift: watch from PSI", 0.0, 10.0)
        self.drift_act_spin = self._score_spin("Drift: act from PSI", 0.0, 10.0)
        grid.addWidget(QLabel("Watch from PSI:"), row, 0)
        grid.addWidget(self.drift_watch_spin, row, 1)
        grid.addWidget(QLabel("Act from PSI:"), row + 1, 0)
        grid.addWidget(self.drift_act_spin, row + 1, 1)
        drift_help = QLabel("Population stability index per column of a batch file or of the logged requests, "
                            "against the training data: below 0.1 stable, 0.1–0.25 worth watching, 0.25 and "
                            "more act (the field's usual reading).")
        drift_help.setWordWrap(True)
        grid.addWidget(drift_help, row + 2, 0, 1, 2)
        layout.addLayout(grid)
        layout.addStretch(1)
        self.policy_page = page
        self.tabs.addTab(page, "Approval policy")

    @staticmethod
    def _score_spin(name: str, low: float, high: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setAccessibleName(name)
        spin.setRange(low, high)
        spin.setDecimals(3)
        spin.setSingleStep(0.01)
        return spin

    def _policy_controls(self) -> list[QWidget]:
        return [*self.mode_combos.values(), self.min_classification_spin, self.min_regression_spin,
                self.max_gap_spin, self.two_person_combo, self.drift_mode_combo, self.drift_watch_spin,
                self.drift_act_spin]

    # ------------------------------------------------------------------ values

    def _on_loaded(self, read: SettingsRead) -> None:
        settings = read.settings
        self.status = read.status
        self._show_status()
        self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(settings.default_preset)))
        self.max_file_spin.setValue(max(1, round(settings.limits.max_file_bytes / MB)))
        self.max_rows_spin.setValue(settings.limits.max_rows)
        self.max_columns_spin.setValue(settings.limits.max_columns)
        self.cluster_edit.setText(settings.compute_cluster)
        self.compute_combo.setCurrentIndex(1 if settings.compute_cluster else 0)
        self._on_compute_changed()
        gates = policy(settings.policy)
        for key, combo in self.mode_combos.items():
            combo.setCurrentIndex(max(0, combo.findData(gates[key]["mode"])))
        self.min_classification_spin.setValue(float(gates["minHoldoutScore"].get("classification", 0.7)))
        self.min_regression_spin.setValue(float(gates["minHoldoutScore"].get("regression", 0.3)))
        self.max_gap_spin.setValue(float(gates["maxCvHoldoutGap"].get("value", 0.1)))
        self.two_person_combo.setCurrentIndex(max(0, self.two_person_combo.findData(gates["twoPersonRule"]["mode"])))
        self.drift_mode_combo.setCurrentIndex(max(0, self.drift_mode_combo.findData(gates["drift"]["mode"])))
        self.drift_watch_spin.setValue(float(gates["drift"].get("watch", 0.1)))
        self.drift_act_spin.setValue(float(gates["drift"].get("act", 0.25)))
        self.prediction_log_check.setChecked(settings.prediction_log)
        editable = self.policy_editable and read.status.trusted
        for widget in self._policy_controls():
            widget.setEnabled(editable)
        self.policy_note.setText(
            "Only the administrator changes the approval policy; each change is recorded in the audit trail."
            if editable else
            "The approval policy is read-only here: unlock the Admin view, then open Settings from it to change it."
        )
        self._loaded_gates = self.gates()
        self.tabs.setEnabled(True)
        self.save_button.setEnabled(True)
        self.loaded.emit()

    @property
    def policy_editable(self) -> bool:
        """True when the admin session allows changing the policy."""
        return self.governance is not None and self.session is not None and self.session.active

    def gates(self) -> dict[str, dict[str, Any]]:
        """Return the policy the controls describe (the shape of ``Settings.policy``)."""
        out: dict[str, dict[str, Any]] = {key: {"mode": combo.currentData()} for key, combo in self.mode_combos.items()}
        out["minHoldoutScore"]["classification"] = round(self.min_classification_spin.value(), 3)
        out["minHoldoutScore"]["regression"] = round(self.min_regression_spin.value(), 3)
        out["maxCvHoldoutGap"]["value"] = round(self.max_gap_spin.value(), 3)
        out["twoPersonRule"] = {"mode": self.two_person_combo.currentData()}
        out["drift"] = {"mode": self.drift_mode_combo.currentData(), "watch": round(self.drift_watch_spin.value(), 3),
                        "act": round(max(self.drift_act_spin.value(), self.drift_watch_spin.value()), 3)}
        return out

    def changes(self) -> dict[str, Any]:
        """Return the general settings the controls describe."""
        return {
            "default_preset": self.preset_combo.currentData(),
            "max_file_bytes": self.max_file_spin.value() * MB,
            "max_rows": self.max_rows_spin.value(),
            "max_columns": self.max_columns_spin.value(),
            "prediction_log": self.prediction_log_check.isChecked(),
            "compute_cluster": (self.cluster_edit.text().strip() if self.compute_combo.currentData() == "cluster"
                                else ""),
        }

    def _on_compute_changed(self, *_args: object) -> None:
        self.cluster_edit.setEnabled(self.compute_combo.currentData() == "cluster")

    def compute_problem(self) -> str | None:
        """Return why the Compute setting cannot be saved (an address that is not a scheduler's), or None."""
        from predictml_desktop.core.training.options import OptionsError, check_cluster_address

        if self.compute_combo.currentData() != "cluster":
            return None
        try:
            self.cluster_edit.setText(check_cluster_address(self.cluster_edit.text()))
        except OptionsError as exc:
            return str(exc)
        return None

    def save(self) -> None:
        """Save off the GUI thread; the dialog closes once everything is written."""
        # A policy edited while the session was open is sent even if it ended since: the core refuses
        # it with the reason, rather than the change being dropped without a word.
        gates = self.gates() if self.session is not None and self.gates() != self._loaded_gates else None
        problem = self.compute_problem()
        if problem is not None:
            self.banner.show_message("error", problem)
            return
        self.save_button.setEnabled(False)
        self.tasks.start(attempt, save_all, self.paths, self.changes(), self.governance, self.session, gates,
                         on_result=self._on_saved, on_error=self._on_save_failed)

    # ------------------------------------------------------------------ a settings file changed outside PredictML

    def _show_status(self) -> None:
        status = self.status
        if status is None or status.trusted:
            if status is not None and status.state == "unsigned":
                self.banner.show_message("info", status.message)
            return
        actions: list[tuple[str, Any]] = []
        if self.policy_editable:
            if status.state == "unverified":
                actions.append(("Keep its values", lambda: self.decide_unverified(accept=True)))
            actions.append(("Discard it", lambda: self.decide_unverified(accept=False)))
        else:
            self.save_button.setToolTip("An admin must confirm or discard the change first.")
        self.banner.show_message("warning", status.message + ("" if actions else
                                 " Unlock the Admin view and open Settings there to decide."), actions)

    def decide_unverified(self, *, accept: bool) -> None:
        """Keep (signed) or discard a settings file changed outside PredictML (an admin decision, audited)."""
        if self.decisions is None or self.governance is None:
            return
        governance = self.governance

        def done(_status: Any) -> None:
            self.banner.show_message("success", "settings.json is signed again; the decision is in the audit trail.")
            self.tasks.start(read_settings, self.paths, on_result=self._on_loaded,
                             on_error=lambda message: self.banner.show_message("error", message))
            self.unverified_decided.emit(accept)

        label = "keep the changed settings" if accept else "discard the changed settings"
        self.decisions.run("confirm_settings", label,
                           lambda session: governance.confirm_settings(session, accept=accept), step_up=True,
                           on_success=done)

    def _on_saved(self, outcome: Outcome) -> None:
        if not outcome.ok:
            self._on_save_failed(str(outcome.error))
            return
        self.saved.emit(outcome.value)
        self.accept()

    def _on_save_failed(self, message: str) -> None:
        self.save_button.setEnabled(True)
        self.banner.show_message("error", message)
        self.save_failed.emit(message)


def open_settings(window: Any) -> SettingsDialog:
    """Open the Settings dialog over the main window, with the Admin view's session if it is unlocked."""
    admin = window.created_views().get("admin") if hasattr(window, "created_views") else None
    governance = getattr(admin, "governance", None)
    session = getattr(admin, "session", None)
    dialog = SettingsDialog(window.context.paths, governance, session, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
