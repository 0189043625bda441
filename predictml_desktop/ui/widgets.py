"""Small widgets the views share: message banners, cards, placeholder pages, confirmations."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.ui.resources import icon

_BANNER_STYLES = {
    "info": ("#e8f0fa", "#3a6ea5", "data"),
    "success": ("#e3f5e7", "#1e7b34", "success"),
    "warning": ("#fff4d6", "#b26a00", "warning"),
    "error": ("#fde7e5", "#b3261e", "error"),
}


TABLE_FILE_FILTER = "Tables (*.csv *.tsv *.txt *.xlsx *.xlsm *.parquet);;All files (*)"
"""File dialog filter for tables; the core decides what it accepts and says why it refuses the rest."""


PREVIEW_SIZING_ROWS = 15
"""Rows a table measures to size its columns to their contents (measuring every cell is slow)."""


def button(text: str, on_click: Callable[[], object], *, name: str | None = None, icon_name: str | None = None
           ) -> QPushButton:
    """Return a push button; its accessible name is ``name``, else its text without ``&`` and ``…``."""
    widget = QPushButton(icon(icon_name), text) if icon_name else QPushButton(text)
    widget.setAccessibleName(name or text.replace("&", "").rstrip("…").strip())
    widget.clicked.connect(on_click)
    return widget


def table_view(model: QAbstractItemModel, name: str, *, row_numbers: bool = False) -> QTableView:
    """Return a read-only table of whole-row selection over ``model``, named for screen readers.

    ``row_numbers`` keeps the vertical header (data previews); record lists do without it.
    """
    view = QTableView()
    view.setAccessibleName(name)
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setResizeContentsPrecision(PREVIEW_SIZING_ROWS)
    view.verticalHeader().setVisible(row_numbers)
    return view


def clear_layout(layout: QLayout) -> None:
    """Remove every item of ``layout``, deleting its widgets."""
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.deleteLater()


def confirm(parent: QWidget | None, title: str, text: str, *, yes: str = "Yes", no: str = "No") -> bool:
    """Ask a yes/no question; return True for yes. Tests replace this function to answer it."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.YesRole)
    no_button = box.addButton(no, QMessageBox.ButtonRole.NoRole)
    box.setDefaultButton(no_button)
    box.exec()
    return box.clickedButton() is yes_button


def heading(text: str, level: int = 1) -> QLabel:
    """Return a bold label used as a section title (level 1 largest)."""
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * {1: 1.5, 2: 1.2}.get(level, 1.0))
    label.setFont(font)
    label.setAccessibleName(text)
    return label


class Banner(QFrame):
    """A coloured message strip with an icon, a sentence and optional action buttons.

    It is hidden until `show_message` is called.
    """

    closed = Signal()
    """The user dismissed the banner."""

    def __init__(self, parent: QWidget | None = None, *, name: str = "Message") -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self._icon = QLabel()
        self._icon.setFixedSize(22, 22)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.label.setAccessibleName(name)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        self._actions = QHBoxLayout()
        layout.addLayout(self._actions)
        self.kind = "info"
        self.hide()

    @property
    def text(self) -> str:
        """The sentence shown."""
        return self.label.text()

    def show_message(
        self,
        kind: str,
        text: str,
        actions: list[tuple[str, Callable[[], object]]] | None = None,
    ) -> list[QPushButton]:
        """Show ``text`` styled as ``kind`` (info, success, warning, error); return the action buttons."""
        background, border, icon_name = _BANNER_STYLES[kind]
        self.kind = kind
        self.setStyleSheet(
            f"QFrame#banner {{ background: {background}; border: 1px solid {border}; border-radius: 4px; }}"
        )
        self._icon.setPixmap(icon(icon_name).pixmap(20, 20))
        self.label.setText(text)
        clear_layout(self._actions)
        buttons = []
        for title, callback in actions or []:
            button = QPushButton(title)
            button.setAccessibleName(title)
            button.clicked.connect(callback)
            self._actions.addWidget(button)
            buttons.append(button)
        self.show()
        return buttons

    def clear(self) -> None:
        """Hide the banner."""
        self.label.clear()
        self.hide()


class Card(QFrame):
    """A framed panel with a title, used for summaries and results."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setStyleSheet(
            "QFrame#card { background: palette(base); border: 1px solid palette(mid); border-radius: 6px; }"
        )
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(14, 12, 14, 12)
        self.title = heading(title, 2)
        self.body.addWidget(self.title)
        if not title:
            self.title.hide()


class PlaceholderPage(QWidget):
    """A page for a view whose content has not been built yet: it says what will be there."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(title))
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setAccessibleName(f"{title} (coming soon)")
        layout.addWidget(self.label)
        layout.addStretch(1)
