"""Starting, watching and ending child processes (training worker, prediction service).

In a packaged build ``sys.executable`` is the app itself, so children are started by re-running
the app with a role argument that ``__main__`` handles before importing Qt; from source they are
``python -m predictml_desktop``. Children run in a process group (POSIX session) of their own, so
that a cancel ends joblib's worker processes too: killing only the worker's PID was seen to leave
four loky processes computing for 40 s and more.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import psutil

PARENT_PID_ENV = "PREDICTML_PARENT_PID"
"""Set for children: the PID whose death they must follow."""


def is_frozen() -> bool:
    """Return True in a PyInstaller build."""
    return bool(getattr(sys, "frozen", False))


def app_command(*args: str) -> list[str]:
    """Return the command line that runs this app with ``args`` (frozen or from source)."""
    if is_frozen():
        return [sys.executable, *args]
    return [sys.executable, "-m", "predictml_desktop", *args]


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for a child: ours, plus the parent PID and unbuffered output."""
    env = dict(os.environ)
    env[PARENT_PID_ENV] = str(os.getpid())
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if extra:
        env.update(extra)
    return env


def spawn(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: int | IO[Any] | None = subprocess.PIPE,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stderr: int | IO[Any] | None = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """Start ``args`` as the leader of a new process group.

    Parameters
    ----------
    args
        The command line (see `app_command`).
    cwd
        Working directory of the child.
    env
        Its environment; `child_environment()` if None.
    stdin, stdout, stderr
        As for `subprocess.Popen`; pipes by default.
    """
    kwargs: dict[str, Any] = {}
    if sys.platform == "win32":
        # A new group receives CTRL_BREAK_EVENT without it reaching us; no console window pops up.
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(
        list(args),
        cwd=str(cwd) if cwd else None,
        env=env if env is not None else child_environment(),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        **kwargs,
    )


def descendants(pid: int) -> list[psutil.Process]:
    """Return the living descendants of ``pid`` (empty if it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(proc: subprocess.Popen[bytes], *, grace_s: float = 3.0) -> None:
    """End ``proc`` and everything it started: terminate, wait ``grace_s``, then kill.

    The process group is signalled as a whole (joblib/loky workers included); descendants that
    left the group are found through psutil as a fallback.
    """
    snapshot = descendants(proc.pid)
    if proc.poll() is None:
        _signal_group(proc, terminate=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    if proc.poll() is None:
        _signal_group(proc, terminate=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)
    else:
        # The leader is gone; make sure its group is too (busy loky workers ignore a dead parent).
        _signal_group(proc, terminate=False)
    survivors = [p for p in snapshot + descendants(proc.pid) if _alive(p)]
    for p in survivors:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(survivors, timeout=2.0)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_group(proc: subprocess.Popen[bytes], *, terminate: bool) -> None:
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            if terminate:
                proc.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, check=False)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM if terminate else signal.SIGKILL)


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """Return PID and create time, which together identify a process despite PID reuse."""
    p = psutil.Process(pid or os.getpid())
    return {"pid": p.pid, "createTime": p.create_time()}


def identity_alive(identity: dict[str, Any] | None) -> bool:
    """Return True if the process recorded by `process_identity` still runs."""
    if not identity or not isinstance(identity.get("pid"), int):
        return False
    try:
        p = psutil.Process(identity["pid"])
        return abs(p.create_time() - float(identity.get("createTime", 0))) < 1.0 and _alive(p)
    except (psutil.Error, TypeError, ValueError):
        return False


def follow_parent(poll_s: float = 1.0, *, kill_group_on_sigterm: bool = False) -> None:
    """Make this process (and its group) die when the process that started it dies.

    Linux: ``PR_SET_PDEATHSIG`` delivers SIGTERM at once; it is not retroactive, so the parent is
    re-checked right after arming it (topoteretes/cognee#4249). Everywhere: a daemon thread polls
    the parent and, when it is gone, kills this process group, taking joblib's workers along (they
    only notice a dead parent between tasks).

    Parameters
    ----------
    poll_s
        Seconds between two checks of the parent.
    kill_group_on_sigterm
        Treat SIGTERM as "end the whole group now" (the training worker, whose joblib children
        must not outlive it); a server wants SIGTERM for its graceful shutdown instead.
    """
    parent = os.environ.get(PARENT_PID_ENV)
    if not parent or not parent.isdigit():
        return
    parent_pid = int(parent)
    if kill_group_on_sigterm and sys.platform != "win32":
        signal.signal(signal.SIGTERM, lambda _sig, _frame: _die())
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if not psutil.pid_exists(parent_pid):
        _die()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if not psutil.pid_exists(parent_pid) or (sys.platform != "win32" and os.getppid() != parent_pid):
                _die()

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def _die() -> None:
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(0), signal.SIGKILL)
    os._exit(1)
