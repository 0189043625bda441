"""User settings kept in ``settings.json``: import limits (DESIGN §9), training and service defaults.

Unknown keys are kept; a value of the wrong type falls back to its default with a logged warning,
because a hand-edited setting must never stop the app from starting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import atomic_write_bytes, encode_document

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
MB = 1024 * 1024


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
    policy: dict[str, Any] = field(default_factory=dict)
    """Approval gates set by the admin (see ``core.governance``)."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


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
        obj.extra = {k: v for k, v in data.items() if k not in known and k != "schemaVersion"}
    return obj


def load_settings(paths: Paths) -> Settings:
    """Read ``settings.json``; a missing or unreadable file gives the defaults (and a logged warning)."""
    path = paths.settings_file
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        log.warning("settings.json is unreadable (%s); using defaults and leaving it untouched", exc)
        return Settings()
    return _coerce(Settings, data)


def save_settings(paths: Paths, settings: Settings) -> None:
    """Write ``settings.json`` atomically."""
    data = dataclasses.asdict(settings)
    extra = data.pop("extra", {})
    doc = {"schemaVersion": SETTINGS_VERSION, **extra, **data}
    atomic_write_bytes(paths.ensure().settings_file, encode_document(doc))
