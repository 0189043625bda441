"""The wizard's first step: a dashed area that invites a drop, with the two ways to start."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from predictml_desktop.ui.resources import icon


class DropZone(QFrame):
    """The first step: a dashed area that invites a drop, and the two ways to start."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropzone")
        self.setStyleSheet(
            "QFrame#dropzone { border: 2px dashed palette(mid); border-radius: 10px; background: palette(base); }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(30, 30, 30, 30)
        layout.addStretch(1)
        title = QLabel("Drop a CSV, Excel or Parquet file here")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        self.limits_label = QLabel()
        self.limits_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.limits_label.setWordWrap(True)
        layout.addWidget(self.limits_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.open_button = QPushButton(icon("open"), "&Open a file…")
        self.open_button.setAccessibleName("Open a file")
        self.sample_button = QPushButton(icon("sample"), "Try the &sample dataset")
        self.sample_button.setAccessibleName("Try the sample dataset")
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addStretch(1)
