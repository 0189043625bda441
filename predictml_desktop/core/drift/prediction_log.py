"""The opt-in log of served predictions (issue 15 item 2), and what the Monitoring view reads from it.

Off by default (``Settings.prediction_log``). When on, the service hands each answered request to
`PredictionLog.record`, which only puts a tuple on a queue (a few microseconds); a background
thread turns it into one JSON line — time, dataset, deployment, model, latency, the input rows and
the predictions — appends it to ``prediction-log/predictions.jsonl`` and rotates the file by size
(``predictions.1.jsonl`` … ``predictions.5.jsonl``, oldest dropped). A request therefore never
waits for the disk. The setting is re-read at most once a second, so turning the log on or off in
the app takes effect in a running service without a restart.

The same thread keeps ``cache/drift-status/<datasetId>.json`` up to date: once at least `MIN_ROWS`
new rows arrived for a dataset (and at most every `STATUS_INTERVAL_S` after the first), drift of
the last `STATUS_WINDOW_DAYS` days of its logged inputs is computed and written atomically; the
service's ``/models`` and the Admin deployments read it.

A crash can leave a partial last line; readers skip lines that do not parse.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from predictml_desktop.core.drift.stats import MIN_ROWS

if TYPE_CHECKING:
    from predictml_desktop.core.drift.report import DriftReport
from predictml_desktop.core.files import atomic_write_bytes
from predictml_desktop.core.paths import Paths, safe_name

log = logging.getLogger(__name__)

LOG_FOLDER = "prediction-log"
LOG_NAME = "predictions.jsonl"
KEEP_ROTATED = 5
STATUS_INTERVAL_S = 30.0
STATUS_WINDOW_DAYS = 7
SETTINGS_RECHECK_S = 1.0
_STOP = object()
_UNREAD = object()


def log_folder(paths: Paths) -> Path:
    """Return the folder of the prediction log."""
    return paths.home / LOG_FOLDER


def log_files(paths: Paths) -> list[Path]:
    """Return the log's files, oldest first."""
    folder = log_folder(paths)
    rotated = [folder / f"predictions.{i}.jsonl" for i in range(KEEP_ROTATED, 0, -1)]
    return [p for p in [*rotated, folder / LOG_NAME] if p.is_file()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        with contextlib.suppress(ValueError, TypeError):
            return _jsonable(value.item())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


class PredictionLog:
    """The service's writer of the prediction log: `record` enqueues, a daemon thread writes.

    Parameters
    ----------
    paths
        The data home.
    enabled
        Force on or off (tests, benchmarks); None follows ``Settings.prediction_log``, re-read at most
        once a second.
    max_bytes
        Rotate above this size (None: ``Settings.prediction_log_max_mb``).
    """

    def __init__(self, paths: Paths, *, enabled: bool | None = None, max_bytes: int | None = None) -> None:
        self.paths = paths
        self._forced = enabled
        self._max_bytes = max_bytes
        self._enabled = bool(enabled)
        self._checked_at = -math.inf
        self._stamp: Any = _UNREAD
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._new_rows: dict[str, int] = {}
        self._status_at: dict[str, float] = {}
        self.written = 0

    @property
    def enabled(self) -> bool:
        """True when requests are logged (the setting, re-read at most once a second)."""
        if self._forced is not None:
            return self._forced
        now = time.monotonic()
        if now - self._checked_at >= SETTINGS_RECHECK_S:
            self._checked_at = now
            try:
                st = self.paths.settings_file.stat()
                stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            if stamp != self._stamp or self._stamp is _UNREAD:
                # Reading and verifying settings.json took ~0.1 ms here (more on a slow disk): only
                # when the file changed, so that no request pays it more than once per change.
                self._stamp = stamp
                try:
                    from predictml_desktop.core.settings import load_settings

                    settings = load_settings(self.paths)
                    self._enabled = settings.prediction_log
                    if self._max_bytes is None:
                        self._max_bytes = max(1, settings.prediction_log_max_mb) * 1024 * 1024
                except Exception:  # a settings problem must never fail a prediction
                    log.exception("prediction log: settings unreadable; not logging")
                    self._enabled = False
        return self._enabled

    def record(self, *, dataset_id: str, deployment_id: str | None, job_id: str | None, model_name: str | None,
               rows: list[Any], predictions: list[Any], latency_ms: float) -> bool:
        """Queue one answered request (nothing when the log is off); return True if it was queued."""
        if not self.enabled:
            return False
        self._ensure_thread()
        self._queue.put((time.time(), dataset_id, deployment_id, job_id, model_name, rows, predictions, latency_ms))
        return True

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the writer thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        done = threading.Event()
        if self._thread is None:
            return
        self._queue.put(done)
        done.wait(timeout)

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        folder = log_folder(self.paths)
        while True:
            item = self._queue.get()
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._queue.get_nowait())
            lines: list[bytes] = []
            events: list[threading.Event] = []
            stop = False
            for entry in batch:
                if entry is _STOP:
                    stop = True
                elif isinstance(entry, threading.Event):
                    events.append(entry)
                else:
                    lines.append(self._line(entry))
            if lines:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    self._append(folder / LOG_NAME, lines)
                    self.written += len(lines)
                except OSError as exc:
                    log.warning("prediction log not written: %s", exc)
                self._maybe_update_status()
            for event in events:
                event.set()
            if stop:
                return

    def _line(self, entry: tuple[Any, ...]) -> bytes:
        at, dataset_id, deployment_id, job_id, model_name, rows, predictions, latency_ms = entry
        self._new_rows[dataset_id] = self._new_rows.get(dataset_id, 0) + len(rows)
        doc = {"time": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "datasetId": dataset_id, "deploymentId": deployment_id, "trainingJobId": job_id,
               "modelName": model_name, "latencyMs": round(float(latency_ms), 3), "inputs": _jsonable(rows),
               "predictions": _jsonable(predictions)}
        return (json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")

    def _append(self, path: Path, lines: list[bytes]) -> None:
        limit = self._max_bytes or 20 * 1024 * 1024
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        pending: list[bytes] = []
        for line in lines:
            if size and size + len(line) > limit:
                # Each file stays under the limit, even when a burst of requests is written at once.
                if pending:
                    with open(path, "ab") as fh:
                        fh.write(b"".join(pending))
                    pending = []
                rotate(path)
                size = 0
            pending.append(line)
            size += len(line)
        if pending:
            with open(path, "ab") as fh:
                fh.write(b"".join(pending))

    def _maybe_update_status(self) -> None:
        now = time.monotonic()
        for dataset_id, count in list(self._new_rows.items()):
            last = self._status_at.get(dataset_id)
            if count < MIN_ROWS or (last is not None and now - last < STATUS_INTERVAL_S):
                continue
            self._new_rows[dataset_id] = 0
            self._status_at[dataset_id] = now
            from predictml_desktop.core.drift.service import DriftError

            try:
                update_drift_status(self.paths, dataset_id)
            except DriftError as exc:
                log.warning("drift status of %s not updated: %s", dataset_id, exc)
            except Exception:  # monitoring must never stop the log
                log.exception("drift status of %s not updated", dataset_id)


def rotate(path: Path) -> None:
    """Shift ``predictions.jsonl`` to ``predictions.1.jsonl`` (and older ones up), dropping the oldest."""
    folder = path.parent
    oldest = folder / f"predictions.{KEEP_ROTATED}.jsonl"
    with contextlib.suppress(FileNotFoundError):
        oldest.unlink()
    for i in range(KEEP_ROTATED - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            (folder / f"predictions.{i}.jsonl").replace(folder / f"predictions.{i + 1}.jsonl")
    path.replace(folder / "predictions.1.jsonl")


# ---------------------------------------------------------------------- reading


def read_entries(paths: Paths, *, dataset_id: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Yield the logged requests, oldest first (partial or foreign lines skipped)."""
    low = since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if since else None
    high = until.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if until else None
    for path in log_files(paths):
        try:
            with open(path, "rb") as fh:
                for raw in fh:
                    try:
                        doc = json.loads(raw)
                    except ValueError:
                        continue
                    if not isinstance(doc, dict) or not isinstance(doc.get("time"), str):
                        continue
                    if dataset_id is not None and doc.get("datasetId") != dataset_id:
                        continue
                    if (low and doc["time"] < low) or (high and doc["time"] > high):
                        continue
                    yield doc
        except OSError as exc:
            log.warning("prediction log %s unreadable: %s", path, exc)


@dataclass
class Window:
    """The logged requests of one dataset over a time window, as tables."""

    requests: pd.DataFrame
    """One row per request: ``time`` (UTC), ``latencyMs``, ``rows``, ``modelName``."""
    inputs: pd.DataFrame
    """Every logged input row (columns as sent)."""
    predictions: pd.Series


def load_window(paths: Paths, dataset_id: str, *, days: float = STATUS_WINDOW_DAYS,
                now: datetime | None = None) -> Window:
    """Return the requests of ``dataset_id`` logged in the last ``days`` days."""
    end = now or datetime.now(UTC)
    requests: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    predictions: list[Any] = []
    for doc in read_entries(paths, dataset_id=dataset_id, since=end - timedelta(days=days)):
        found, said = doc.get("inputs"), doc.get("predictions")
        rows: list[Any] = found if isinstance(found, list) else []
        answers: list[Any] = said if isinstance(said, list) else []
        requests.append({"time": doc["time"], "latencyMs": doc.get("latencyMs"), "rows": len(rows),
                         "modelName": doc.get("modelName")})
        inputs.extend(r for r in rows if isinstance(r, dict))
        predictions.extend(answers)
    frame = pd.DataFrame(requests, columns=["time", "latencyMs", "rows", "modelName"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce")
    return Window(frame, pd.DataFrame(inputs), pd.Series(predictions, dtype=object))


# ---------------------------------------------------------------------- drift status


def status_path(paths: Paths, dataset_id: str) -> Path:
    """Return where the served drift status of a dataset is kept."""
    return paths.cache / "drift-status" / f"{safe_name(dataset_id)}.json"


def update_drift_status(paths: Paths, dataset_id: str, *, days: float = STATUS_WINDOW_DAYS) -> dict[str, Any]:
    """Compute drift of the logged inputs of the last ``days`` days and store it (see `drift_status`)."""
    from predictml_desktop.core.drift.report import compare
    from predictml_desktop.core.drift.service import context_for

    window = load_window(paths, dataset_id, days=days)
    ctx = context_for(paths, dataset_id)
    report = compare(ctx.reference, window.inputs, ctx.thresholds, source=f"requests of the last {days:g} days")
    return write_drift_status(paths, dataset_id, report, days)


def write_drift_status(paths: Paths, dataset_id: str, report: DriftReport, days: float) -> dict[str, Any]:
    """Store the served drift status of a dataset from a report over its logged inputs; return it."""
    status = {"schemaVersion": 1, "datasetId": dataset_id, "level": str(report.level), "acting": report.acting,
              "rows": report.rows, "windowDays": days, "computedAt": report.created_at,
              "summary": report.summary(),
              "columns": [c.name for c in report.flagged if str(c.level) == "act"]}
    path = status_path(paths, dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(status, ensure_ascii=False).encode("utf-8"), keep_backup=False)
    return status


def drift_status(paths: Paths, dataset_id: str) -> dict[str, Any] | None:
    """Return the last served drift status of a dataset (None if never computed or unreadable)."""
    try:
        doc = json.loads(status_path(paths, dataset_id).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("datasetId") == dataset_id else None


def models_drift_field(paths: Paths, dataset_id: str) -> dict[str, Any] | None:
    """Return the optional ``drift`` field of a ``/models`` entry: the served drift status, or None if unknown.

    ``flagged`` is True when a column of the logged inputs drifted beyond the policy's "act" threshold.
    """
    status = drift_status(paths, dataset_id)
    if status is None:
        return None
    return {"level": status.get("level"), "flagged": bool(status.get("acting")), "columns": status.get("columns", []),
            "rows": status.get("rows"), "windowDays": status.get("windowDays"),
            "computedAt": status.get("computedAt")}
