"""Loaded by every Python process of a Windows-shaped test run (the make target puts this folder on
PYTHONPATH): the training worker, its fitting processes and the service too, not just the tests.

Windows has no ``fork``: here a call to ``os.fork`` fails loudly, and multiprocessing starts its
processes with ``spawn``, as it must on Windows.
"""

import multiprocessing
import os


def _no_fork() -> int:
    raise RuntimeError("os.fork() was called: Windows has no fork (Windows-shaped run)")


os.fork = _no_fork
try:
    multiprocessing.set_start_method("spawn", force=True)
except RuntimeError:
    pass
