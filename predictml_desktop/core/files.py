"""Crash-safe file writes (DESIGN §2): atomic replacement, a ``.bak`` of the last good version, appends.

The sweep of temporary files a crash left behind is here too.

Every write goes to a temporary file in the same folder, is flushed and fsynced, then replaces the
old file with `os.replace` (retried on Windows, where a reader may hold the file for a moment), so a
crash at any moment leaves either the old or the new file, never a torn one. `core.store` builds the
record files on these; the audit trail, settings and exports use them directly.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_REPLACE_ATTEMPTS = 5


_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<token>[0-9a-f]{12})\.tmp$")


class StoreError(Exception):
    """A problem with the data home that the user must be told about; the message says what."""


class StoreWriteError(StoreError):
    """A write failed (disk full, permission); the previous file is intact."""


def backup_path(path: Path) -> Path:
    """Return where the last good version of ``path`` is kept."""
    return path.with_name(path.name + ".bak")


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_with_retry(src: Path, dst: Path) -> None:
    # On Windows an antivirus scanner or indexer briefly holding the target makes os.replace fail
    # with PermissionError (beeware/briefcase#1780, bagit-python#191); a short bounded retry is the
    # accepted fix.
    delay = 0.05
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if attempt == _REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(delay)
            delay *= 2


def atomic_write_bytes(path: Path, data: bytes, *, keep_backup: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new content.

    Parameters
    ----------
    path
        The file to write. Its folder must exist.
    data
        The complete new content.
    keep_backup
        Keep the replaced version as ``<name>.bak`` (a hard link, so it costs no copy).

    Raises
    ------
    StoreWriteError
        If the write fails; the old file is untouched and the temporary file removed.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_backup and path.exists():
            _link_backup(path)
        _replace_with_retry(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise StoreWriteError(f"Could not save {path.name} in {path.parent}: {reason}. "
                              "The previous version is intact.") from exc
    try:
        _fsync_dir(path.parent)
    except OSError as exc:
        # The new file is already in place and visible; only its survival of a power cut right now
        # is uncertain. Reporting "not saved" would be false.
        log.warning("could not flush the folder of %s to disk: %s", path.name, exc)


def _link_backup(path: Path) -> None:
    bak = backup_path(path)
    staged = path.with_name(f".{bak.name}.{secrets.token_hex(6)}.tmp")
    try:
        try:
            os.link(path, staged)
        except OSError:
            # File systems without hard links (FAT, some network shares): fall back to a copy.
            shutil.copyfile(path, staged)
        _replace_with_retry(staged, bak)
    except OSError:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise


def sweep_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files that killed writers left in ``folder``; return what was removed.

    Call only while holding the store lock: every writer holds it while its temp file exists, so
    any temp file seen then belongs to a dead process.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if _TEMP_RE.match(entry.name) and entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


def append_line(path: Path, obj: dict[str, Any]) -> None:
    """Append ``obj`` as one JSON line to ``path`` and fsync it (for the audit log).

    A line is written with a single ``write`` call on a file opened for appending, so concurrent
    appenders never interleave within a line; a crash can at worst leave a final partial line,
    which readers skip.
    """
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        with open(path, "ab") as fh:
            if fh.tell() > 0:
                # A previous crash may have left a partial last line: start on a fresh one.
                with open(path, "rb") as rd:
                    rd.seek(-1, os.SEEK_END)
                    if rd.read(1) != b"\n":
                        fh.write(b"\n")
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StoreWriteError(f"Could not append to {path.name}: {exc.strerror or exc}.") from exc
