"""Crash-safe JSON record files under a cross-process lock (DESIGN §2).

Every write goes to a temporary file in the same folder, is flushed and fsynced, then replaces the
old file with `os.replace`, so a crash at any moment leaves either the old or the new file, never a
torn one (a plain ``json.dump`` over the old file left an unreadable file in more than half of the
kills we tried). The previous good version is kept as ``<name>.bak``. A file that does not parse is
never overwritten: reading it raises `StoreCorruptError`, and `Store.recover` keeps the bad copy and
restores the backup only when asked to.

All record files share one lock (``.store.lock``): a change that touches jobs, datasets and
deployments together (an approval, say) is one transaction.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import filelock

# The file primitives live in core.files; they are re-exported here, where most callers found them.
from predictml_desktop.core.files import StoreError as StoreError
from predictml_desktop.core.files import StoreWriteError as StoreWriteError
from predictml_desktop.core.files import append_line as append_line
from predictml_desktop.core.files import atomic_write_bytes as atomic_write_bytes
from predictml_desktop.core.files import backup_path as backup_path
from predictml_desktop.core.files import sweep_temp_files as sweep_temp_files
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, Deployment, Record, TrainingJob, now_iso
from predictml_desktop.core.status import check_transition

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


"""Version of the record files this code writes. Version 0 is the seed's bare JSON array."""


LOCK_TIMEOUT_S = 10.0


R = TypeVar("R", bound=Record)


class StoreCorruptError(StoreError):
    """A record file that cannot be parsed or does not have the expected shape."""

    def __init__(self, path: Path, detail: str) -> None:
        backup = backup_path(path)
        self.path, self.detail = path, detail
        self.has_backup = backup.exists() and _parses(backup)
        offer = (
            "a backup of its last good version can be restored"
            if self.has_backup
            else "it can be set aside and an empty one started"
        )
        super().__init__(
            f"The data file {path.name} in {path.parent} is damaged ({detail}). "
            f"It has not been changed; {offer}."
        )


class StoreNewerVersionError(StoreError):
    """A record file written by a newer PredictML; it is read but never rewritten."""


class StoreLockTimeoutError(StoreError):
    """Another process held the data home's lock for too long."""


class NotFoundError(StoreError, KeyError):
    """No record with the given id."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


Migration = Callable[[Any], dict[str, Any]]


@dataclass
class DocumentSpec:
    """What one JSON file holds: its top-level list key and how to migrate older versions."""

    key: str
    """The key of the list of records (``datasets``, ``trainingJobs``, ``deployments``)."""
    record: type[Record]
    migrations: dict[int, Migration]
    """``migrations[n]`` turns a version-``n`` document into version ``n + 1``."""


def _from_seed_array(key: str) -> Migration:
    def migrate(doc: Any) -> dict[str, Any]:
        if isinstance(doc, dict):  # a dict without schemaVersion: take its list as is
            items = doc.get(key, [])
        else:
            items = doc
        highest = 0
        for item in items if isinstance(items, list) else []:
            match = re.search(r"(\d+)$", str(item.get("id", ""))) if isinstance(item, dict) else None
            if match:
                highest = max(highest, int(match.group(1)))
        return {"schemaVersion": 1, "nextId": highest + 1, key: items}

    return migrate


SPECS: dict[str, DocumentSpec] = {
    "datasets": DocumentSpec("datasets", Dataset, {0: _from_seed_array("datasets")}),
    "jobs": DocumentSpec("trainingJobs", TrainingJob, {0: _from_seed_array("trainingJobs")}),
    "deployments": DocumentSpec("deployments", Deployment, {0: _from_seed_array("deployments")}),
}


@dataclass
class LoadedDocument:
    """A parsed, migrated document and what is known of its origin."""

    doc: dict[str, Any]
    source_version: int
    exists: bool

    @property
    def read_only(self) -> bool:
        """True when the file comes from a newer PredictML and must not be rewritten."""
        return self.source_version > SCHEMA_VERSION


def load_document(path: Path, spec: DocumentSpec) -> LoadedDocument:
    """Read, validate and migrate (in memory) one record file.

    Raises
    ------
    StoreCorruptError
        If the file does not parse or does not have the shape of a record file.
    """
    if not path.exists():
        return LoadedDocument({"schemaVersion": SCHEMA_VERSION, "nextId": 1, spec.key: []}, SCHEMA_VERSION, False)
    try:
        raw = json.loads(path.read_bytes())
    except UnicodeDecodeError:
        raise StoreCorruptError(path, "it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise StoreCorruptError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}") from None
    except OSError as exc:
        raise StoreError(f"Could not read {path}: {exc.strerror or exc}.") from exc
    version = raw.get("schemaVersion", 0) if isinstance(raw, dict) else 0
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise StoreCorruptError(path, f"its schemaVersion {version!r} is not a version number")
    if not isinstance(raw, (dict, list)):
        raise StoreCorruptError(path, f"it holds a JSON {type(raw).__name__} instead of an object")
    doc: Any = raw
    for step in range(version, SCHEMA_VERSION):
        doc = spec.migrations[step](doc)
    _validate(path, doc, spec)
    return LoadedDocument(doc, version, True)


def _validate(path: Path, doc: Any, spec: DocumentSpec) -> None:
    if not isinstance(doc, dict):
        raise StoreCorruptError(path, "it is not a JSON object")
    items = doc.get(spec.key)
    if not isinstance(items, list):
        raise StoreCorruptError(path, f"its {spec.key!r} entry is not a list")
    seen: set[str] = set()
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise StoreCorruptError(path, f"entry {n + 1} of {spec.key!r} has no id")
        if item["id"] in seen:
            raise StoreCorruptError(path, f"the id {item['id']!r} appears twice")
        seen.add(item["id"])
    next_id = doc.get("nextId", 1)
    if not isinstance(next_id, int) or isinstance(next_id, bool):
        raise StoreCorruptError(path, "its nextId is not a number")


def encode_document(doc: dict[str, Any]) -> bytes:
    """Serialise a document the way every record file is written (UTF-8, indented, stable)."""
    return (json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")


class Table(Generic[R]):
    """The records of one file inside a transaction: read, add, change, delete."""

    def __init__(self, name: str, spec: DocumentSpec, loaded: LoadedDocument, path: Path) -> None:
        self.name, self._spec, self._loaded, self._path = name, spec, loaded, path
        self._items: list[dict[str, Any]] = loaded.doc[spec.key]
        self.dirty = False

    @property
    def _record(self) -> type[R]:
        return self._spec.record  # type: ignore[return-value]

    def list(self) -> list[R]:
        """Return every record, oldest first."""
        return [self._record.from_dict(item) for item in self._items]

    def get(self, record_id: str) -> R:
        """Return one record.

        Raises
        ------
        NotFoundError
            If there is no record with that id.
        """
        return self._record.from_dict(self._find(record_id))

    def find(self, record_id: str) -> R | None:
        """Return one record, or None."""
        try:
            return self.get(record_id)
        except NotFoundError:
            return None

    def _find(self, record_id: str) -> dict[str, Any]:
        for item in self._items:
            if item["id"] == record_id:
                return item
        raise NotFoundError(f"No {self._record.KIND} with id {record_id!r}.")

    def new_id(self) -> str:
        """Reserve and return the next id (``<prefix><n>``); ids are never reused."""
        self._check_writable()
        n = int(self._loaded.doc.get("nextId", 1))
        existing = {item["id"] for item in self._items}
        while f"{self._record.ID_PREFIX}{n}" in existing:
            n += 1
        self._loaded.doc["nextId"] = n + 1
        self.dirty = True
        return f"{self._record.ID_PREFIX}{n}"

    def add(self, record: R) -> R:
        """Insert a new record (give it an id from `new_id`, or an empty id to get one)."""
        self._check_writable()
        if not record.id:
            record.id = self.new_id()
        if any(item["id"] == record.id for item in self._items):
            raise StoreError(f"A {self._record.KIND} with id {record.id!r} already exists.")
        self._items.append(_jsonable(record.to_dict()))
        self.dirty = True
        return record

    def update(self, record_id: str, **changes: Any) -> R:
        """Change fields of a record; a status change must be legal in the transition table.

        Parameters
        ----------
        record_id
            The record to change.
        **changes
            snake_case field names and their new values.

        Raises
        ------
        NotFoundError
            If there is no such record.
        IllegalTransitionError
            If ``status`` changes in a way the table forbids; nothing is changed then.
        """
        self._check_writable()
        unknown = set(changes) - self._record.field_names()
        if unknown:
            raise TypeError(f"{self._record.__name__} has no field(s) {', '.join(sorted(unknown))}")
        item = self._find(record_id)
        record = self._record.from_dict(item)
        if "status" in changes:
            check_transition(self._record.KIND, record_id, str(getattr(record, "status", "")), str(changes["status"]))
        for key, value in changes.items():
            setattr(record, key, value)
        if hasattr(record, "updated_at") and "updated_at" not in changes:
            setattr(record, "updated_at", now_iso())  # noqa: B010 - not every record has it
        item.clear()
        item.update(_jsonable(record.to_dict()))
        self.dirty = True
        return record

    def delete(self, record_id: str) -> R:
        """Remove a record and return it."""
        self._check_writable()
        item = self._find(record_id)
        self._items.remove(item)
        self.dirty = True
        return self._record.from_dict(item)

    def _check_writable(self) -> None:
        if self._loaded.read_only:
            raise StoreNewerVersionError(
                f"{self._path.name} was written by a newer version of PredictML "
                f"(schema {self._loaded.source_version}); this version only reads it."
            )

    def encoded(self) -> bytes:
        """Return the document as it would be written."""
        doc = dict(self._loaded.doc)
        doc["schemaVersion"] = SCHEMA_VERSION
        return encode_document(doc)

    @property
    def migrated(self) -> bool:
        """True when the file on disk has an older schema than this code writes."""
        return self._loaded.exists and self._loaded.source_version < SCHEMA_VERSION

    @property
    def source_version(self) -> int:
        """The schema version the file had on disk."""
        return self._loaded.source_version


def _jsonable(obj: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON now so a value that cannot be stored (NaN, a numpy scalar) fails at
    # the change that introduced it, not later at commit time.
    try:
        return json.loads(json.dumps(obj, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"A record value cannot be stored as JSON: {exc}") from None


class Transaction:
    """A locked read-modify-write of the record files; files are loaded on first use."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._tables: dict[str, Table[Any]] = {}

    def _table(self, name: str) -> Table[Any]:
        if name not in self._tables:
            path = self._store.file_of(name)
            self._tables[name] = Table(name, SPECS[name], load_document(path, SPECS[name]), path)
        return self._tables[name]

    @property
    def datasets(self) -> Table[Dataset]:
        """Dataset records."""
        return self._table("datasets")

    @property
    def jobs(self) -> Table[TrainingJob]:
        """Training job records."""
        return self._table("jobs")

    @property
    def deployments(self) -> Table[Deployment]:
        """Deployment records."""
        return self._table("deployments")

    def commit(self) -> None:
        """Write every changed file (each atomically)."""
        # Jobs first, deployments last: a crash between files leaves at worst an approved job with
        # no deployment yet, never a deployment whose job does not say so.
        for name in ("datasets", "jobs", "deployments"):
            table = self._tables.get(name)
            if table is None or not table.dirty:
                continue
            path = self._store.file_of(name)
            if table.migrated:
                keep = path.with_name(f"{path.name}.v{table.source_version}.bak")
                if not keep.exists():
                    shutil.copyfile(path, keep)
            atomic_write_bytes(path, table.encoded())
            table.dirty = False


class Store:
    """The data home's record files.

    Parameters
    ----------
    paths
        The data home layout; defaults to `Paths.default()`.
    lock_timeout
        Seconds to wait for another process holding the lock before `StoreLockTimeoutError`.

    Examples
    --------
    >>> store = Store(Paths(tmp))                                          # doctest: +SKIP
    >>> with store.transaction() as tx:                                    # doctest: +SKIP
    ...     job = tx.jobs.update("training_1", status="pending_review")
    """

    def __init__(self, paths: Paths | None = None, *, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        self.paths = (paths or Paths.default()).ensure()
        self._lock = filelock.FileLock(str(self.paths.lock_file), timeout=lock_timeout)
        self._lock_timeout = lock_timeout
        self._local = threading.local()
        # filelock is re-entrant per thread, but flock() does not exclude two threads of one
        # process from each other on every platform; this lock does.
        self._thread_lock = threading.RLock()

    def file_of(self, name: str) -> Path:
        """Return the path of the ``datasets``, ``jobs`` or ``deployments`` file."""
        return {
            "datasets": self.paths.datasets_file,
            "jobs": self.paths.jobs_file,
            "deployments": self.paths.deployments_file,
        }[name]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the data home's lock (re-entrant within a thread)."""
        with self._thread_lock:
            try:
                self._lock.acquire()
            except filelock.Timeout:
                raise StoreLockTimeoutError(
                    f"Another PredictML process has held the data folder {self.paths.home} busy for more "
                    f"than {self._lock_timeout:g} s; try again, or close the other PredictML window."
                ) from None
            try:
                yield
            finally:
                self._lock.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lock, yield a `Transaction`, and write its changes if the block succeeds.

        A nested call in the same thread joins the outer transaction, which writes at its end.
        """
        current: Transaction | None = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with self.locked():
            tx = Transaction(self)
            self._local.tx = tx
            try:
                yield tx
                tx.commit()
            finally:
                self._local.tx = None

    def read(self) -> Transaction:
        """Return an unlocked snapshot for reading (each file is replaced atomically, never torn)."""
        return Transaction(self)

    # Convenience readers, each one consistent snapshot of one file.
    def datasets(self) -> list[Dataset]:
        """Return every dataset record."""
        return self.read().datasets.list()

    def jobs(self) -> list[TrainingJob]:
        """Return every training job record."""
        return self.read().jobs.list()

    def deployments(self) -> list[Deployment]:
        """Return every deployment record."""
        return self.read().deployments.list()

    def startup(self) -> list[Path]:
        """Sweep temporary files left by killed writers; call once when a process opens the home."""
        with self.locked():
            removed = sweep_temp_files(self.paths.home)
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted save", len(removed))
        return removed

    def check(self) -> list[StoreError]:
        """Return the problems of every record file (damaged, newer version) without changing them."""
        problems: list[StoreError] = []
        for name in SPECS:
            try:
                loaded = load_document(self.file_of(name), SPECS[name])
                if loaded.read_only:
                    problems.append(StoreNewerVersionError(
                        f"{self.file_of(name).name} was written by a newer version of PredictML; "
                        "this version will not change it."))
            except StoreCorruptError as exc:
                problems.append(exc)
        return problems

    def recover(self, name: str) -> str:
        """Set a damaged record file aside and restore its backup (or start it empty).

        Parameters
        ----------
        name
            ``datasets``, ``jobs`` or ``deployments``.

        Returns
        -------
        str
            A sentence saying what was done, for the user.
        """
        path = self.file_of(name)
        with self.locked():
            try:
                load_document(path, SPECS[name])
                return f"{path.name} is readable; nothing to recover."
            except StoreCorruptError:
                pass
            stamp = time.strftime("%Y%m%d-%H%M%S")
            kept = path.with_name(f"{path.name}.corrupt-{stamp}")
            os.replace(path, kept)
            bak = backup_path(path)
            try:
                load_document(bak, SPECS[name]) if bak.exists() else None
                restorable = bak.exists()
            except StoreCorruptError:
                restorable = False
            if restorable:
                atomic_write_bytes(path, bak.read_bytes(), keep_backup=False)
                return f"Restored {path.name} from its last good version; the damaged file is kept as {kept.name}."
            return f"Started an empty {path.name}; the damaged file is kept as {kept.name}."
