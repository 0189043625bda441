"""The app's icons, from ``resources/`` (found by `core.resources` from source or a packaged build)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

from predictml_desktop.core.resources import resource_path, resources_dir

__all__ = ["app_icon", "icon", "render_app_icon_files", "resource_path", "resources_dir"]


@cache
def icon(name: str) -> QIcon:
    """Return the icon ``resources/icons/<name>.svg`` (an empty icon if the file is missing).

    Icons are local SVG files: a packaged offline app cannot download them at run time.
    """
    path = resource_path("icons", f"{name}.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


@cache
def app_icon() -> QIcon:
    """Return the application's icon."""
    path = resource_path("predictml.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


def render_app_icon_files(folder: Path | None = None) -> list[Path]:
    """Render ``predictml.svg`` as the raster icons packagers want: PNG (Linux), ICO (Windows), ICNS (macOS).

    Run ``python -m predictml_desktop.ui.resources`` after changing the SVG; the files are committed.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    folder = folder or resources_dir()
    renderer = QSvgRenderer(str(resource_path("predictml.svg")))
    image = QImage(256, 256, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    written = []
    for suffix, fmt in ((".png", "PNG"), (".ico", "ICO"), (".icns", "ICNS")):
        path = folder / f"predictml{suffix}"
        # PySide6's stub says bytes for the format, but the binding only accepts str.
        if image.save(str(path), fmt):  # type: ignore[call-overload]
            written.append(path)
    return written


if __name__ == "__main__":
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication([])
    for written_path in render_app_icon_files():
        print(written_path)
