"""The installation's secret key and the keyed signatures made with it (deployments, audit head, settings).

Any process running as the user can edit the data home. What it cannot do without the key is
produce a signature this installation accepts: the key is 32 random bytes in the configuration
folder, outside the data home, readable by the user only (mode 0600). It signs the deployment
records (`core.deployment`), the head of the audit trail's hash chain (`core.audit`) and the
settings file with the approval policy (`core.settings`).

Each use signs under its own purpose (``HMAC(key, purpose + NUL + payload)``), so a signature made
for one kind of document is never valid for another. Deployments keep the unprefixed HMAC they
were signed with before purposes existed (`core.deployment.compute_signature`), so existing
records stay valid.

Accepted risk (reliability note P-7): someone who can read the user's configuration folder can read
the key too. The signatures detect edits made to the data home by hand or by a program that does
not hold the key; they are not a defence against the user's own account being compromised.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from predictml_desktop.core.paths import Paths

SIGNING_KEY_FILE = "deployment-signing.key"
"""The key's file name; kept from when it signed deployments only, so existing keys stay in use."""
KEY_BYTES = 32


class SigningKeyError(Exception):
    """The installation key exists but cannot be read or is damaged; the message says what to do."""


def key_path(paths: Paths) -> Path:
    """Return the file holding the installation key (in the configuration folder)."""
    return paths.config / SIGNING_KEY_FILE


def existing_key(paths: Paths) -> bytes | None:
    """Return the installation key if it exists, without creating it (for checking signatures).

    Raises
    ------
    SigningKeyError
        If the key file exists but cannot be read or has the wrong size.
    """
    if not key_path(paths).exists():
        return None
    return installation_key(paths)


def installation_key(paths: Paths) -> bytes:
    """Return the installation key, creating it (mode 0600) on first use.

    Creation is race-free across processes: the key is written to a private temporary file and
    hard-linked into place, which fails if another process got there first; then the winner's key
    is read.

    Raises
    ------
    SigningKeyError
        If the key file exists but cannot be read or has the wrong size.
    """
    path = key_path(paths)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.chmod(path.parent, 0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(KEY_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
            except OSError:
                # No hard links on this file system: an exclusive rename is the next best thing.
                if not path.exists():
                    os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"The signing key {path} cannot be read: {exc.strerror or exc}.") from exc
    if len(key) != KEY_BYTES:
        raise SigningKeyError(f"The signing key {path} is damaged; delete it and approve the models again.")
    return key


def canonical_json(value: Any) -> bytes:
    """Return the one byte form of ``value`` that is signed (sorted keys, no spaces, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def keyed_signature(key: bytes, purpose: str, payload: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``payload`` for ``purpose`` under ``key``."""
    return hmac.new(key, purpose.encode("ascii") + b"\0" + payload, hashlib.sha256).hexdigest()


def sign(paths: Paths, purpose: str, value: Any) -> str:
    """Return the signature of ``value`` (as `canonical_json`) for ``purpose`` with the installation key."""
    return keyed_signature(installation_key(paths), purpose, canonical_json(value))


def signature_matches(paths: Paths, purpose: str, value: Any, signature: Any) -> bool:
    """Return True if ``signature`` is this installation's signature of ``value`` (constant-time comparison).

    A missing key never verifies anything (and is not created here).
    """
    if not isinstance(signature, str) or not signature:
        return False
    key = existing_key(paths)
    if key is None:
        return False
    expected = keyed_signature(key, purpose, canonical_json(value))
    return hmac.compare_digest(expected, signature)


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
