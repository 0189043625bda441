"""Entry point of ``predictml``, ``python -m predictml_desktop`` and the packaged app.

Keep this module tiny and free of heavy imports: in a frozen build every child process (training
worker, prediction service, joblib's loky workers) starts here, and must be routed to its role
before anything imports Qt or PyCaret.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys
from pathlib import Path


def _run_loky_helper_if_frozen() -> None:
    # Frozen, sys.executable is this app, so loky starts its workers as
    # `PredictML -m joblib.externals.loky.backend.popen_loky_posix ...` and its resource tracker as
    # `PredictML -c "from joblib.externals.loky... import main; main(...)"`. Without this the app
    # rejects the arguments, every worker dies, and PyCaret silently drops every model
    # (see notes/packaging.md, pitfall 4). multiprocessing.freeze_support() only catches stdlib's.
    if not getattr(sys, "frozen", False):
        return
    argv = sys.argv
    if argv[1:2] == ["-m"] and len(argv) > 2 and argv[2].startswith("joblib.externals.loky"):
        module = argv[2]
        sys.argv = [argv[0], *argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        sys.exit(0)
    if "-c" in argv:
        i = argv.index("-c")
        if argv[i + 1 : i + 2] and argv[i + 1].startswith("from joblib.externals.loky"):
            code = argv[i + 1]
            sys.argv = ["-c", *argv[i + 2 :]]
            exec(code, {"__name__": "__main__"})
            sys.exit(0)


def _ensure_streams() -> None:
    # A windowed Windows build has no console: sys.stdout is None, which crashes print(), tqdm and
    # uvicorn's log formatter.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


def _set_matplotlib_cache() -> None:
    # PyInstaller's run-time hook points MPLCONFIGDIR at a fresh temp folder on every launch, which
    # rebuilds matplotlib's font cache each time (about 1 s, more with many fonts). Use a lasting one.
    import platformdirs

    from predictml_desktop import APP_NAME

    folder = os.path.join(platformdirs.user_cache_dir(APP_NAME, appauthor=False), "matplotlib")
    if getattr(sys, "frozen", False) or "MPLCONFIGDIR" not in os.environ:
        os.environ["MPLCONFIGDIR"] = folder


def _run_app() -> int:
    from predictml_desktop.ui.app import run_app

    return run_app()


def _run_self_test(out: Path | None) -> int:
    from predictml_desktop.selftest import run_self_test

    return run_self_test(out)


def main() -> None:
    """Route to the role given on the command line and exit with its code."""
    multiprocessing.freeze_support()
    _run_loky_helper_if_frozen()
    _ensure_streams()
    _set_matplotlib_cache()
    from predictml_desktop.cli import main as cli_main

    # The window and the self-test need Qt: they are handed to the (Qt-free) command line from here.
    sys.exit(cli_main(sys.argv[1:], run_app=_run_app, run_self_test=_run_self_test))


if __name__ == "__main__":
    main()
