"""Test isolation: offscreen Qt, and a fresh data home, config folder and caches per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports Qt: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WINDOWS_SHAPED = os.environ.get("PREDICTML_WINDOWS_SHAPED") == "1"
"""``make test-windows-shaped``: the tests run as a Windows machine would run them, on Linux.

Windows cannot fork: every process is started afresh (multiprocessing's ``spawn``), and a fork
anywhere (our code or a library) fails the test instead of quietly working here. Data homes and input
files live under a path with spaces, non-ASCII letters and an apostrophe (``--basetemp`` given by the
make target), and the CSV files tests write end their lines with CRLF, as Windows programs write them.
"""

if WINDOWS_SHAPED:
    import pandas as pd

    # No fork and spawn only: tests/windows_shaped/sitecustomize.py, in this process and every child.
    assert os.fork.__name__ == "_no_fork", "run with make test-windows-shaped (its PYTHONPATH)"
    _to_csv = pd.DataFrame.to_csv

    def _to_csv_crlf(self: pd.DataFrame, *args: object, **kwargs: object) -> object:
        kwargs.setdefault("lineterminator", "\r\n")
        return _to_csv(self, *args, **kwargs)  # type: ignore[arg-type]

    pd.DataFrame.to_csv = _to_csv_crlf  # type: ignore[method-assign]

# Fixtures with really trained models (trained_template, trained_home, deployed_home), shared by the
# prediction, deployment, server and UI tests.
pytest_plugins = ["tests.trained_models"]


@pytest.fixture(autouse=True)
def predictml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point PREDICTML_HOME (and every other per-user folder) at a temporary directory."""
    if WINDOWS_SHAPED:
        assert " " in str(tmp_path) and not str(tmp_path).isascii(), "run with make test-windows-shaped"
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
