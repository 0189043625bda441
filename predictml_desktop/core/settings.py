"""User settings in ``settings.json``: import limits (DESIGN §9), training and service defaults, the approval policy.

The file is signed (issue 14): every write through the app or the command line carries an HMAC of
its content under the installation's key (`core.integrity`), the name of who wrote it, and an audit
line. A file whose signature does not verify was changed outside PredictML: it is reported
(`SettingsStatus`), never rewritten without an admin's decision, and the safe defaults apply until an
admin confirms it (its values then apply, signed) or discards it (the last signed version, or the
defaults, apply). Only an admin changes the approval policy (`core.governance.Governance.set_policy`).

Versions: 1 is the unsigned file of earlier releases, read as before; it is adopted — signed, its
content recorded in the audit trail — on the first admin action after the upgrade (an unlock, or
creating the account). Version 2 adds the signature. A version-1 file found after settings have been
signed here (the trail records it) is a signature stripped by hand, and is treated as changed.

Unknown keys are kept; a value of the wrong type falls back to its default with a logged warning,
because a hand-edited setting must never stop the app from starting.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predictml_desktop.core import integrity
from predictml_desktop.core.files import StoreError, atomic_write_bytes
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import now_iso

log = logging.getLogger(__name__)

SETTINGS_VERSION = 2
SETTINGS_PURPOSE = "settings"
MB = 1024 * 1024

SIGNED_SETTINGS_ACTIONS = ("settings_adopted", "settings_changed", "settings_confirmed", "settings_discarded")
"""Audit actions written only once settings are signed: their presence means an unsigned file is no longer legacy."""


class SettingsError(StoreError):
    """A settings change that is refused; the message says why and what to do."""


class SettingsUnverifiedError(SettingsError):
    """``settings.json`` was changed outside PredictML: an admin must confirm or discard it before it is written."""


@dataclass
class Limits:
    """What ingestion accepts (DESIGN §9)."""

    max_file_bytes: int = 200 * MB
    max_rows: int = 1_000_000
    max_columns: int = 500
    max_cell_chars: int = 32_767
    """Excel's own limit for one cell."""
    max_decompressed_bytes: int = 2_000 * MB
    """For .xlsx: the sum of uncompressed member sizes a workbook may declare."""
    max_compression_ratio: int = 200
    """For .xlsx: a member that inflates more than this is treated as a zip bomb."""


@dataclass
class Settings:
    """Every user-changeable setting, with its default."""

    limits: Limits = field(default_factory=Limits)
    default_preset: str = "balanced"
    server_port: int = 8000
    server_keep_running: bool = False
    """Keep the prediction service running after the app closes."""
    require_api_key: bool = False
    prediction_log: bool = False
    """Keep a log of served predictions (inputs, answer, model, time) in ``prediction-log/`` for monitoring."""
    prediction_log_max_mb: int = 20
    """Size at which the prediction log is rotated (five rotated files are kept)."""
    compute_cluster: str = ""
    """Settings → Compute: empty trains on this computer (the default); a Dask scheduler's address
    (``tcp://host:8786``) fits the models on that cluster's workers."""
    policy: dict[str, Any] = field(default_factory=dict)
    """Approval gates and the two-person rule set by an admin (see ``core.governance``)."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class SettingsStatus:
    """Whether the settings in force come from a file PredictML wrote."""

    state: str
    """``absent`` (defaults), ``signed``, ``unsigned`` (from an earlier release, adopted on the next admin
    action), ``unverified`` (changed outside PredictML), ``unreadable`` or ``newer`` (a later release's)."""
    message: str
    signed_by: str | None = None
    signed_at: str | None = None
    file_sha256: str | None = None

    @property
    def trusted(self) -> bool:
        """True when the file's values apply; otherwise the safe defaults do."""
        return self.state in ("absent", "signed", "unsigned", "newer")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"state": self.state, "trusted": self.trusted, "message": self.message, "signedBy": self.signed_by,
                "signedAt": self.signed_at, "fileSha256": self.file_sha256}


def _coerce(cls: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    defaults = cls()
    known = {f.name: f for f in dataclasses.fields(cls)}
    for name, _f in known.items():
        if name == "extra" or name not in data:
            continue
        value, default = data[name], getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _coerce(type(default), value if isinstance(value, dict) else {})
        elif type(value) is type(default) or (isinstance(default, float) and type(value) is int):
            kwargs[name] = value
        else:
            log.warning("settings.json: %s=%r is not a %s; using %r", name, value, type(default).__name__, default)
    obj = cls(**kwargs)
    if "extra" in known:
        obj.extra = {k: v for k, v in data.items() if k not in known and k not in _META_KEYS}
    return obj


_META_KEYS = frozenset({"schemaVersion", "signature", "signedBy", "signedAt"})

Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, Migration] = {
    # Version 0 (no schemaVersion) and version 1 hold the same fields; version 2 adds the signature,
    # which only an admin's adoption (or a write through the app) can add.
    0: lambda doc: {**doc, "schemaVersion": 1},
    1: lambda doc: {**doc, "schemaVersion": 2},
}


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """Return ``doc`` migrated step by step to `SETTINGS_VERSION` (in memory; idempotent)."""
    version = doc.get("schemaVersion", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        version = 0
    for step in range(max(0, version), SETTINGS_VERSION):
        doc = MIGRATIONS[step](doc)
    return doc


def _signed_part(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "signature"}


def _trail_has_signed_settings(paths: Paths) -> bool:
    # Only this version writes these actions, so their presence means settings were signed here once.
    try:
        data = paths.audit_file.read_bytes()
    except OSError:
        return False
    return any(f'"action":"{action}"'.encode() in data for action in SIGNED_SETTINGS_ACTIONS)


@dataclass
class SettingsRead:
    """The settings in force, what the file held, and whether it can be trusted."""

    settings: Settings
    status: SettingsStatus
    raw: dict[str, Any] | None = None
    """The file's JSON object as found (None when absent or unreadable)."""


def read_settings(paths: Paths) -> SettingsRead:
    """Read ``settings.json`` and check its signature; never raises for a damaged or edited file.

    Returns
    -------
    SettingsRead
        The file's values when it is signed by this installation (or from an earlier release, until
        adopted); otherwise the defaults, with the reason in ``status``.
    """
    path = paths.settings_file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return SettingsRead(Settings(), SettingsStatus("absent", "No settings saved yet; the defaults apply."))
    except OSError as exc:
        return SettingsRead(Settings(), SettingsStatus(
            "unreadable", f"settings.json cannot be read ({exc.strerror or exc}); the safe defaults apply."))
    sha = integrity.sha256_bytes(data)
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        log.warning("settings.json is unreadable (%s); using defaults and leaving it untouched", exc)
        return SettingsRead(Settings(), SettingsStatus(
            "unreadable", "settings.json is not readable JSON (changed outside PredictML?); the safe defaults "
                          "apply until an admin discards it.", file_sha256=sha))
    version = doc.get("schemaVersion", 0)
    signed_by = doc.get("signedBy") if isinstance(doc.get("signedBy"), str) else None
    signed_at = doc.get("signedAt") if isinstance(doc.get("signedAt"), str) else None
    if "signature" not in doc and isinstance(version, int) and version < SETTINGS_VERSION:
        if _trail_has_signed_settings(paths):
            return SettingsRead(Settings(), SettingsStatus(
                "unverified", "settings.json has lost its signature (it was replaced by an unsigned file outside "
                              "PredictML); the safe defaults apply until an admin confirms or discards it.",
                file_sha256=sha), doc)
        return SettingsRead(_coerce(Settings, migrate(doc)), SettingsStatus(
            "unsigned", "settings.json comes from an earlier version and is not signed yet; it is adopted on the next "
                        "admin unlock.", file_sha256=sha), doc)
    try:
        valid = integrity.signature_matches(paths, SETTINGS_PURPOSE, _signed_part(doc), doc.get("signature"))
    except integrity.SigningKeyError as exc:
        return SettingsRead(Settings(), SettingsStatus("unverified", f"{exc} The safe defaults apply.",
                                                       signed_by, signed_at, sha), doc)
    if not valid:
        return SettingsRead(Settings(), SettingsStatus(
            "unverified", "settings.json was changed outside PredictML (its signature does not match); the safe "
                          "defaults apply until an admin confirms or discards the change.", signed_by, signed_at, sha),
            doc)
    if isinstance(version, int) and version > SETTINGS_VERSION:
        return SettingsRead(_coerce(Settings, doc), SettingsStatus(
            "newer", "settings.json was written by a newer PredictML; it is used but not changed.",
            signed_by, signed_at, sha), doc)
    who = f" by {signed_by}" if signed_by else ""
    return SettingsRead(_coerce(Settings, doc), SettingsStatus(
        "signed", f"Signed{who}{f' at {signed_at}' if signed_at else ''}.", signed_by, signed_at, sha), doc)


def load_settings(paths: Paths) -> Settings:
    """Return the settings in force: the signed file's values, or the safe defaults (see `read_settings`)."""
    return read_settings(paths).settings


def settings_status(paths: Paths) -> SettingsStatus:
    """Return whether ``settings.json`` is signed by this installation, and what applies if not."""
    return read_settings(paths).status


def _document(settings: Settings) -> dict[str, Any]:
    data = dataclasses.asdict(settings)
    extra = data.pop("extra", {})
    return {**extra, **data}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            out[key] = {"before": before.get(key), "after": after.get(key)}
    return out


def local_user() -> str:
    """Return how an audit line names a change made without an admin session (the operating-system user)."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        name = "unknown"
    return f"{name} (no admin session)"


LAST_SIGNED_FILE = "settings.last-signed.json"
"""A copy of the newest signed settings, restored when an admin discards a change made outside PredictML."""


def write_signed(paths: Paths, settings: Settings, *, signed_by: str) -> None:
    """Write ``settings`` as a signed version-2 file (no checks, no audit line: callers do both)."""
    doc: dict[str, Any] = {"schemaVersion": SETTINGS_VERSION, **_document(settings), "signedBy": signed_by,
                           "signedAt": now_iso()}
    doc["signature"] = integrity.sign(paths, SETTINGS_PURPOSE, doc)
    data = (json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")
    atomic_write_bytes(paths.ensure().settings_file, data)
    # A hand edit replaces settings.json in place; this copy keeps what PredictML last signed.
    atomic_write_bytes(paths.home / LAST_SIGNED_FILE, data, keep_backup=False)


def settings_from_document(doc: dict[str, Any]) -> Settings:
    """Return the settings a JSON document holds (any version; bad values fall back to their defaults)."""
    return _coerce(Settings, migrate({k: v for k, v in doc.items() if k not in _META_KEYS}))


def last_signed(paths: Paths) -> tuple[Settings, str]:
    """Return the newest settings PredictML signed (if their copy still verifies) or the defaults, and which it is."""
    try:
        doc = json.loads((paths.home / LAST_SIGNED_FILE).read_bytes())
    except (OSError, ValueError):
        return Settings(), "defaults"
    if isinstance(doc, dict) and integrity.signature_matches(paths, SETTINGS_PURPOSE, _signed_part(doc),
                                                             doc.get("signature")):
        return settings_from_document(doc), "last signed version"
    return Settings(), "defaults"


def keep_aside(paths: Paths, label: str) -> Path | None:
    """Copy ``settings.json`` to ``settings.json.<label>-<time>`` before it is replaced; return the copy."""
    src = paths.settings_file
    if not src.exists():
        return None
    dest = src.with_name(f"{src.name}.{label}-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while dest.exists():
        n += 1
        dest = src.with_name(f"{src.name}.{label}-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    shutil.copyfile(src, dest)
    return dest


def save_settings(paths: Paths, settings: Settings, *, actor: str | None = None, policy_change: bool = False,
                  audit: bool = True) -> bool:
    """Write ``settings.json`` signed, and record what changed in the audit trail.

    Parameters
    ----------
    paths
        The data home.
    settings
        The settings to write (usually `load_settings`, changed).
    actor
        Who changes them: the admin's name, or None for a change made without an admin session (the
        operating-system user is recorded).
    policy_change
        Allow ``settings.policy`` to differ from the policy in force; only `Governance.set_policy`
        passes True (it checks the admin session and writes its own audit line).
    audit
        Write a ``settings_changed`` audit line (False when the caller records the change itself).

    Returns
    -------
    bool
        False when nothing changed (the signed file is left as it is).

    Raises
    ------
    SettingsUnverifiedError
        If the file on disk was changed outside PredictML (an admin must confirm or discard it first).
    SettingsError
        If the policy would change without ``policy_change``, or the file is a newer version's.
    StoreWriteError
        If the file cannot be written.
    """
    current = read_settings(paths)
    if current.status.state in ("unverified", "unreadable"):
        raise SettingsUnverifiedError(
            "settings.json was changed outside PredictML, so it is not saved over: an admin must confirm or discard "
            "that change first (Admin → Settings, or predictml admin settings confirm|discard).")
    if current.status.state == "newer":
        raise SettingsError("settings.json was written by a newer PredictML; this version does not change it.")
    if settings.policy != current.settings.policy and not policy_change:
        raise SettingsError("Only an admin changes the approval policy: unlock the Admin view and open Settings there.")
    before, after = _document(current.settings), _document(settings)
    changes = _changes(before, after)
    if not changes and current.status.state == "signed":
        return False
    who = actor or local_user()
    if current.status.state == "unsigned":
        keep = paths.settings_file.with_name(f"{paths.settings_file.name}.v1.bak")
        if not keep.exists():
            shutil.copyfile(paths.settings_file, keep)
    write_signed(paths, settings, signed_by=who)
    if audit:
        from predictml_desktop.core.audit import AuditAction, AuditEvent, AuditLog

        details: dict[str, Any] = {"changes": changes}
        if current.status.state == "unsigned":
            details["adoptedUnsignedSha256"] = current.status.file_sha256
        AuditLog(paths).append(AuditEvent(action=str(AuditAction.SETTINGS_CHANGED), actor=who, details=details))
    return True


def compute_cluster(paths: Paths) -> str | None:
    """Return the Dask scheduler that Settings → Compute names, or None for this computer (never raises)."""
    try:
        address = load_settings(paths).compute_cluster.strip()
    except Exception:  # noqa: BLE001 - an unreadable setting must never stop a training: this computer then
        return None
    return address or None
