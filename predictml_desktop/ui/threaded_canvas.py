"""matplotlib's Qt canvas, drawing on a worker thread (`plots.render_figure`) and painting the last picture.

Its own module because importing it imports matplotlib, which must stay off the app's start-up:
`plots._canvas_class` imports it on first use.
"""

from __future__ import annotations

import logging
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from PySide6.QtCore import Qt, QThread, QTimer, Signal
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QWidget

from predictml_desktop.ui.plots import render_figure
from predictml_desktop.ui.tasks import Tasks

log = logging.getLogger(__name__)


class ThreadedCanvas(FigureCanvasQTAgg):
    """matplotlib's Qt canvas, rendering on a worker thread; paints the last finished picture."""

    rendered = Signal()
    """A new picture of the figure is shown."""

    failed = Signal(str)
    """The plot document could not be drawn; carries why."""

    def __init__(self, figure: Any, doc: dict[str, Any] | None = None) -> None:
        super().__init__(figure)
        self.tasks = Tasks(self)
        self.image: QImage | None = None
        self.doc = doc
        """The document still to draw on the figure (None once drawn)."""
        self._pending = False
        self._rendering = False

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Ask for a new picture at the new size."""
        # The base class resizes the figure here; a render may be using it, so the render does it.
        QWidget.resizeEvent(self, event)
        self.draw_idle()

    def draw_idle(self) -> None:
        """Schedule a render on a worker thread (coalescing requests made while one runs)."""
        if not hasattr(self, "tasks"):
            return  # called by the base class's __init__: nothing to draw on yet
        if QThread.currentThread() is not self.thread():
            return  # an artist going stale during a render: that render already draws it
        self._pending = True
        if not self._rendering:
            QTimer.singleShot(0, self._render)

    def draw(self) -> None:
        """Render off the GUI thread, like `draw_idle` (matplotlib's draw would block it)."""
        self.draw_idle()

    def _render(self) -> None:
        if self._rendering or not self._pending:
            return
        self._pending = False
        ratio = self.device_pixel_ratio
        width, height = max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio))
        self._rendering = True
        self.tasks.start(render_figure, self.figure, width, height, self.doc, on_result=self._on_rendered,
                         on_error=self._on_render_failed, on_finish=self._on_render_finished)

    def _on_rendered(self, image: QImage) -> None:
        self.doc = None
        image.setDevicePixelRatio(self.device_pixel_ratio)
        self.image = image
        self.update()
        self.rendered.emit()

    def _on_render_failed(self, message: str) -> None:
        log.warning("could not draw a plot: %s", message)
        self._pending = False
        self.failed.emit(message)

    def _on_render_finished(self) -> None:
        self._rendering = False
        if self._pending:
            self._render()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint the last finished picture."""
        painter = QPainter(self)
        try:
            painter.fillRect(event.rect(), Qt.GlobalColor.white)
            if self.image is not None:
                painter.drawImage(0, 0, self.image)
            self._draw_rect_callback(painter)
        finally:
            painter.end()

