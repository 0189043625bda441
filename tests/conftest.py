"""Test isolation: offscreen Qt, and a fresh data home, config folder and caches per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports Qt: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Fixtures with really trained models (trained_template, trained_home, deployed_home), shared by the
# prediction, deployment, server and UI tests.
pytest_plugins = ["tests.trained_models"]


@pytest.fixture(autouse=True)
def predictml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point PREDICTML_HOME (and every other per-user folder) at a temporary directory."""
    home = tmp_path / "home"
    monkeypatch.setenv("PREDICTML_HOME", str(home))
    monkeypatch.setenv("PREDICTML_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mplconfig"))
    # Never read or write the user's real home, even through a library's defaults.
    monkeypatch.setenv("HOME", str(tmp_path / "userhome"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userhome" / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "userhome" / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "userhome" / "cache"))
    return home
