"""Every deployment with its status, and the admin's Roll back and Undeploy on the selected one.

A rollback restores the deployment the selected (active) one superseded, in one click plus the
password when the core wants it again; the core keeps exactly one active deployment per dataset.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.deployment import rollback_target
from predictml_desktop.core.governance import Governance
from predictml_desktop.core.records import Dataset, Deployment
from predictml_desktop.core.status import DEPLOYMENT_UNDEPLOYABLE, DeploymentStatus
from predictml_desktop.ui import widgets
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.decisions import DecisionRunner, SessionProvider
from predictml_desktop.ui.formatting import format_timestamp
from predictml_desktop.ui.table_models import Column, RecordTableModel
from predictml_desktop.ui.tasks import Tasks
from predictml_desktop.ui.widgets import Banner

STATUS_WORDS = {"active": "Active (serving)", "inactive": "Inactive", "exported": "Exported (Azure bundle)"}


def load_deployments(store: Any) -> tuple[list[Deployment], dict[str, Dataset]]:
    """Read every deployment (newest first) and the datasets by id (runs off the GUI thread)."""
    snapshot = store.read()
    deployments = sorted(snapshot.deployments.list(), key=lambda d: d.deployed_at or "", reverse=True)
    return deployments, {d.id: d for d in snapshot.datasets.list()}


def load_drift_statuses(paths: Any, dataset_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Read the served drift status of each dataset (runs off the GUI thread; see `core.drift.prediction_log`)."""
    from predictml_desktop.core.drift.prediction_log import drift_status

    found = {dataset_id: drift_status(paths, dataset_id) for dataset_id in dataset_ids}
    return {k: v for k, v in found.items() if v is not None}


class DeploymentsPanel(QWidget):
    """The deployments table with Roll back and Undeploy.

    Parameters
    ----------
    context
        The app's shared state.
    governance
        The core's governance object.
    session_provider
        Returns the admin tab's open session (None when locked).
    """

    reloaded = Signal()
    """The deployments were read again."""

    rolled_back = Signal(str)
    """A rollback succeeded; carries the restored deployment's id."""

    undeployed = Signal(str)
    """An undeploy succeeded; carries the deployment's id."""
    drift_loaded = Signal()
    """The served drift status of the active deployments was read (a drift beyond "act" is flagged)."""

    def __init__(self, context: AppContext, governance: Governance, session_provider: SessionProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.governance = governance
        self.tasks = Tasks(self)
        self.banner = Banner(name="Deployments message")
        self.decisions = DecisionRunner(governance, session_provider, self)
        self.decisions.started.connect(lambda text: self.banner.show_message("info", text))
        self.decisions.failed.connect(lambda _action, message: self._on_failed(message))
        self.datasets: dict[str, Dataset] = {}
        self.drift: dict[str, dict[str, Any]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        buttons = QHBoxLayout()
        self.rollback_button = QPushButton("&Roll back")
        self.rollback_button.setAccessibleName("Roll back to the previous deployment")
        self.rollback_button.clicked.connect(self.rollback_selected)
        self.undeploy_button = QPushButton("&Undeploy")
        self.undeploy_button.setAccessibleName("Undeploy")
        self.undeploy_button.clicked.connect(self.undeploy_selected)
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.setAccessibleName("Refresh the deployments")
        self.refresh_button.clicked.connect(self.reload)
        for button in (self.rollback_button, self.undeploy_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout.addLayout(buttons)
        self.model = RecordTableModel([
            Column("Deployment", lambda d: d.id),
            Column("Dataset", self._dataset_name),
            Column("Job", lambda d: d.training_job_id),
            Column("Model", lambda d: d.model_name or ""),
            Column("Target", lambda d: "Local" if d.target == "local" else "Azure"),
            Column("Status", lambda d: STATUS_WORDS.get(str(d.status), str(d.status))),
            Column("Endpoint or folder", lambda d: d.endpoint or d.bundle_path or ""),
            Column("Deployed", lambda d: format_timestamp(d.deployed_at)),
            Column("Approved by", lambda d: d.approved_by or ""),
            Column("Replaced by", lambda d: d.superseded_by or ""),
            Column("Drift", self._drift_text),
        ], parent=self)
        self.table = QTableView()
        self.table.setAccessibleName("Deployments")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        layout.addWidget(self.table, 1)
        self._update_buttons()

    def _dataset_name(self, dep: Deployment) -> str:
        dataset = self.datasets.get(dep.dataset_id)
        return f"{dataset.name} ({dep.dataset_id})" if dataset and dataset.name else dep.dataset_id

    def _drift_text(self, dep: Deployment) -> str:
        status = self.drift.get(dep.dataset_id)
        if status is None or dep.status != DeploymentStatus.ACTIVE or dep.target != "local":
            return ""
        if status.get("acting"):
            columns = ", ".join(status.get("columns") or [])
            return f"⚠ Act: {columns} drifted (served requests)"
        return {"watch": "Watch", "ok": "Stable"}.get(str(status.get("level")), "")

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        """Read the deployments again off the GUI thread."""
        self.tasks.start(load_deployments, self.context.store, on_result=self._on_loaded,
                         on_error=lambda message: self.banner.show_message("error", message))

    def _on_loaded(self, result: tuple[list[Deployment], dict[str, Dataset]]) -> None:
        selected = self.selected()
        deployments, self.datasets = result
        self.model.set_rows(deployments)
        active = sorted({d.dataset_id for d in deployments if d.status == DeploymentStatus.ACTIVE})
        self.tasks.start(load_drift_statuses, self.context.paths, active, on_result=self._on_drift_loaded)
        if selected is not None:
            self.select(selected.id)
        self._update_buttons()
        self.reloaded.emit()

    def _on_drift_loaded(self, drift: dict[str, dict[str, Any]]) -> None:
        self.drift = drift
        selected = self.selected()
        self.model.set_rows(list(self.model.rows))
        if selected is not None:
            self.select(selected.id)
        self.drift_loaded.emit()

    def select(self, deployment_id: str) -> bool:
        """Select the row of ``deployment_id``."""
        for row, dep in enumerate(self.model.rows):
            if dep.id == deployment_id:
                self.table.setCurrentIndex(self.model.index(row, 0))
                self.table.selectRow(row)
                return True
        return False

    def select_active(self, dataset_id: str) -> bool:
        """Select the active local deployment of ``dataset_id``."""
        for dep in self.model.rows:
            if dep.dataset_id == dataset_id and dep.status == DeploymentStatus.ACTIVE and dep.target == "local":
                return self.select(dep.id)
        return False

    def selected(self) -> Deployment | None:
        """Return the selected deployment."""
        index = self.table.currentIndex()
        return self.model.row_object(index.row()) if index.isValid() else None

    def _on_current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        dep = self.selected()
        busy = self.decisions.busy
        previous = rollback_target(self.model.rows, dep) if dep is not None else None
        self.rollback_button.setEnabled(previous is not None and not busy)
        self.rollback_button.setText(f"&Roll back to {previous.training_job_id}" if previous else "&Roll back")
        self.undeploy_button.setEnabled(dep is not None and not busy and dep.status in DEPLOYMENT_UNDEPLOYABLE)

    # ------------------------------------------------------------------ decisions

    def rollback_selected(self) -> None:
        """Restore the deployment the selected one replaced."""
        dep = self.selected()
        previous = rollback_target(self.model.rows, dep) if dep is not None else None
        if dep is None or previous is None:
            return
        self.rollback(dep.dataset_id, previous.training_job_id, dep.training_job_id)

    def rollback(self, dataset_id: str, restored_job: str | None = None, retired_job: str | None = None) -> None:
        """Roll the dataset back to its previous deployment (password step-up when the core wants it)."""
        what = f" to {restored_job}" if restored_job else ""
        instead = f" instead of {retired_job}" if retired_job else ""

        def done(restored: Deployment) -> None:
            self.banner.show_message("success", f"Rolled back: {restored.training_job_id} answers predictions for "
                                                f"{restored.dataset_id} again{instead}.")
            self.context.notify_records_changed()
            self.reload()
            self.rolled_back.emit(restored.id)

        self.decisions.run("rollback", f"roll {dataset_id} back{what}",
                           lambda s: self.governance.rollback(s, dataset_id, "rolled back from the Admin view"),
                           step_up=True, on_success=done)
        self._update_buttons()

    def undeploy_selected(self) -> None:
        """Stop serving the selected deployment (or retire an Azure export), after a confirmation."""
        dep = self.selected()
        if dep is None:
            return
        if not widgets.confirm(self, "Undeploy?",
                               f"Stop using {dep.id} ({dep.training_job_id})? "
                               + ("The service stops answering for this dataset." if dep.target == "local"
                                  else "The bundle on disk is kept."),
                               yes="Undeploy", no="Cancel"):
            return
        dep_id = dep.id

        def done(_dep: Deployment) -> None:
            self.banner.show_message("success", f"{dep_id} is undeployed.")
            self.context.notify_records_changed()
            self.reload()
            self.undeployed.emit(dep_id)

        self.decisions.run("undeploy", f"undeploy {dep_id}", lambda s: self.governance.undeploy(s, dep_id),
                           on_success=done)
        self._update_buttons()

    def _on_failed(self, message: str) -> None:
        self._update_buttons()
        self.banner.show_message("error", message)
