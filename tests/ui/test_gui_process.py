"""The GUI process itself, checked in a fresh interpreter: PyCaret is never imported by the window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys
from PySide6.QtWidgets import QApplication
from predictml_desktop.core.paths import Paths
from predictml_desktop.ui.main_window import MainWindow
from predictml_desktop.ui.tasks import wait_for_background_jobs
from predictml_desktop.ui.wizard import STEP_REVIEW

app = QApplication(sys.argv[:1])
window = MainWindow(Paths.default())
window.show()
reports = []
window.startup_finished.connect(reports.append)
while not reports:
    app.processEvents()
wizard = window.view("data")
wizard.open_sample()
while wizard.steps.currentIndex() != STEP_REVIEW:
    app.processEvents()
    if wizard.banner.kind == "error" and wizard.banner.isVisible():
        raise SystemExit(wizard.banner.text)
wizard.go_to_target()
for key in window.view_keys():
    window.show_view(key)
    app.processEvents()
assert wait_for_background_jobs(60_000)
app.processEvents()
print(json.dumps({"pycaret": sorted(m for m in sys.modules if m.split(".")[0] == "pycaret"),
                  "dask": sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed")),
                  "pandas": "pandas" in sys.modules}))
window.close()
"""


def test_the_gui_process_never_imports_pycaret(predictml_home: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # The wizard really ran (pandas was needed to read the sample), yet no PyCaret module was loaded,
    # nor Dask (it loads only in a training worker whose job runs on a cluster).
    assert found == {"pycaret": [], "dask": [], "pandas": True}


def test_no_display_is_one_sentence_and_exit_code_2_not_a_qt_abort(predictml_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "predictml_desktop"], env=env, capture_output=True, text=True,
                          timeout=120)
    if not sys.platform.startswith("linux"):
        return
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("predictml: No graphical display was found (DISPLAY and WAYLAND_DISPLAY are not "
                                   "set): start PredictML from a desktop session, or use the command line "
                                   "(predictml --help).")


def test_missing_x11_libraries_are_named_with_their_packages() -> None:
    from predictml_desktop.ui.app import display_problem

    present = {"xcb-cursor": None, "xkbcommon-x11": None}
    message = display_problem({"DISPLAY": ":0"}, lambda lib: present.get(lib, f"lib{lib}.so"))
    if not sys.platform.startswith("linux"):
        assert message is None
        return
    assert message is not None
    assert "libxcb-cursor0, libxkbcommon-x11-0" in message
    assert "sudo apt install libxcb-cursor0 libxkbcommon-x11-0" in message
    assert display_problem({"DISPLAY": ":0"}, lambda lib: f"lib{lib}.so") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, lambda lib: None) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, lambda lib: None) is None


def test_the_library_cache_lookup_finds_what_is_installed() -> None:
    from predictml_desktop.ui.app import _ldconfig_finder

    finder = _ldconfig_finder()
    if finder is None:  # no ldconfig here (not Linux): the check is skipped, never a false alarm
        return
    assert (finder("c") or "").startswith("libc.so")
    assert finder("no-such-library-anywhere") is None
