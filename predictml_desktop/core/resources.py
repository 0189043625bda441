"""Files shipped in ``resources/`` (sample data, common passwords, icons), from source or a packaged build."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """Return the ``resources/`` folder: beside the package from source, under ``_MEIPASS`` when frozen.

    build.spec copies ``resources/`` to the bundle's root, which PyInstaller exposes as ``sys._MEIPASS``.
    """
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """Return the path of a file below ``resources/`` (it may not exist; callers say so to the user)."""
    return resources_dir().joinpath(*parts)
