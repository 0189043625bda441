"""The deployed model (champion) and the one being approved (challenger), side by side, before replacing it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.governance import ModelSummary
from predictml_desktop.ui.review_data import comparison_rows
from predictml_desktop.ui.table_models import Column, RecordTableModel


class ComparisonDialog(QDialog):
    """The deployed model (champion) and the one being approved (challenger), side by side.

    Open with ``open()``; ``accepted`` means "replace the deployed model".
    """

    def __init__(self, champion: ModelSummary, challenger: ModelSummary, problem_type: str | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Replace the deployed model?")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"Dataset {challenger.dataset_id} already has a deployed model. Approving {challenger.job_id} "
            f"replaces it: the service answers with the new model, and the old one can be restored with "
            f"Roll back (Deployments)."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.rows = comparison_rows(champion, challenger, problem_type)
        self.model = RecordTableModel([
            Column("", lambda r: r[0]),
            Column("Deployed now (champion)", lambda r: r[1], numeric=True),
            Column("Under review (challenger)", lambda r: r[2], numeric=True),
        ], parent=self)
        self.model.set_rows(self.rows)
        self.table = QTableView()
        self.table.setAccessibleName("Champion and challenger")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox()
        self.replace_button = buttons.addButton("&Replace the deployed model", QDialogButtonBox.ButtonRole.AcceptRole)
        self.replace_button.setAccessibleName("Replace the deployed model")
        self.keep_button = buttons.addButton("&Keep the deployed model", QDialogButtonBox.ButtonRole.RejectRole)
        self.keep_button.setAccessibleName("Keep the deployed model")
        self.keep_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
