"""A bar under a paged table: first, previous, a page number to type, next, last, and which rows are shown."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QToolButton, QWidget

from predictml_desktop.ui.table_models import PagedFrameModel


class PageBar(QWidget):
    """Controls to page through a `PagedFrameModel`; hidden while the table fits on one page.

    Parameters
    ----------
    model
        The paged model the bar drives (and follows: it updates when the model's page changes).
    what
        What the table is, for screen readers ("preview", "scored rows").
    parent
        Owner of the bar.
    """

    def __init__(self, model: PagedFrameModel, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.rows_label = QLabel()
        self.rows_label.setAccessibleName(f"Rows shown in the {what}")
        self.first_button = self._tool("⏮", f"First page of the {what}", lambda: model.set_page(0))
        self.previous_button = self._tool("◀", f"Previous page of the {what}", lambda: model.set_page(model.page - 1))
        self.page_box = QSpinBox()
        self.page_box.setAccessibleName(f"Page of the {what}")
        self.page_box.setKeyboardTracking(False)  # turn the page on Enter, not on every digit typed
        self.page_box.valueChanged.connect(lambda value: model.set_page(value - 1))
        self.pages_label = QLabel()
        self.next_button = self._tool("▶", f"Next page of the {what}", lambda: model.set_page(model.page + 1))
        self.last_button = self._tool("⏭", f"Last page of the {what}", lambda: model.set_page(model.page_count - 1))
        layout.addWidget(self.rows_label)
        layout.addStretch(1)
        for widget in (self.first_button, self.previous_button, QLabel("Page"), self.page_box, self.pages_label,
                       self.next_button, self.last_button):
            layout.addWidget(widget)
        model.page_changed.connect(self._on_model_page_changed)
        self._on_model_page_changed(model.page)

    def _tool(self, text: str, name: str, action: object) -> QToolButton:
        tool = QToolButton()
        tool.setText(text)
        tool.setToolTip(name)
        tool.setAccessibleName(name)
        tool.clicked.connect(action)
        return tool

    @Slot(int)
    def _on_model_page_changed(self, page: int) -> None:
        model = self.model
        rows = 0 if model.table is None else len(model.table)
        pages = model.page_count
        self.setVisible(rows > model.page_size)
        first = model.first_row + 1
        last = min(rows, model.first_row + model.page_size)
        self.rows_label.setText(f"Rows {first:,}–{last:,} of {rows:,}" if rows else "")
        self.page_box.blockSignals(True)
        self.page_box.setRange(1, pages)
        self.page_box.setValue(page + 1)
        self.page_box.blockSignals(False)
        self.pages_label.setText(f"of {pages:,}")
        self.first_button.setEnabled(page > 0)
        self.previous_button.setEnabled(page > 0)
        self.next_button.setEnabled(page < pages - 1)
        self.last_button.setEnabled(page < pages - 1)
