"""The worker protocol (DESIGN §5): one JSON object per line, and the stages of a training.

The worker prints events on its stdout; the runner reads them back with `TrainingEvent.from_json_line`,
which never raises: a line that is not a well-formed event (a stray print of a library, a torn
line of a killed process) becomes a ``log`` event carrying the text, so garbage can never crash the
supervisor or the GUI.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

MAX_LINE_CHARS: Final = 2_000
DASHBOARD_PREFIX: Final = "Dask dashboard: "
"""Starts the log line that gives a cluster's dashboard link (the Training view shows it as a link)."""
"""A log line longer than this is cut (a library dumping a whole array must not flood the job record)."""


class EventType(StrEnum):
    """The kinds of worker events."""

    PROGRESS = "progress"
    LOG = "log"
    CANDIDATE = "candidate"
    RESULT = "result"
    ERROR = "error"


class Stage(StrEnum):
    """The seed's stages; each starts at the percentage of `STAGE_PROGRESS`."""

    LOAD = "Loading data"
    DETECT = "Detecting problem type"
    SETUP = "Setting up"
    TRAIN = "Training models"
    EVALUATE = "Evaluating"
    SAVED = "Saved"


STAGE_PROGRESS: Final[dict[Stage, int]] = {
    Stage.LOAD: 5,
    Stage.DETECT: 15,
    Stage.SETUP: 25,
    Stage.TRAIN: 40,
    Stage.EVALUATE: 80,
    Stage.SAVED: 100,
}
"""Percent done when each stage starts; progress also moves between 40 and 80 as candidates finish."""


def _clean(value: Any) -> Any:
    # NaN and infinities are not JSON; a metric that could not be computed is reported as null.
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return _clean(value.item())
        except (TypeError, ValueError):
            return str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


@dataclass(frozen=True)
class TrainingEvent:
    """One event of the worker protocol.

    Parameters
    ----------
    type
        The kind of event.
    payload
        The event's fields, as in DESIGN §5 (``progress`` and ``stage``; ``message``; ``model``,
        ``scores`` and ``fitSeconds``; the result document; ``message``), plus optional extras
        (a candidate's ``name``, ``stage``, ``std``; a progress event's ``unit`` and ``timeoutS``,
        which tell the supervisor which candidate runs and when it overruns its share).
    """

    type: EventType
    payload: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def progress(cls, progress: float, stage: str, **extra: Any) -> TrainingEvent:
        """Return a ``progress`` event (percent done and the stage name)."""
        return cls(EventType.PROGRESS, {"progress": round(progress), "stage": str(stage), **extra})

    @classmethod
    def log(cls, message: str, **extra: Any) -> TrainingEvent:
        """Return a ``log`` event."""
        return cls(EventType.LOG, {"message": str(message)[:MAX_LINE_CHARS], **extra})

    @classmethod
    def candidate(cls, entry: dict[str, Any]) -> TrainingEvent:
        """Return a ``candidate`` event for one leaderboard entry (it must have ``model``)."""
        return cls(EventType.CANDIDATE, dict(entry))

    @classmethod
    def result(cls, document: dict[str, Any]) -> TrainingEvent:
        """Return the final ``result`` event carrying the result document."""
        return cls(EventType.RESULT, dict(document))

    @classmethod
    def error(cls, message: str, **extra: Any) -> TrainingEvent:
        """Return an ``error`` event with one sentence for the user."""
        return cls(EventType.ERROR, {"message": str(message)[:MAX_LINE_CHARS], **extra})

    # ------------------------------------------------------------------ accessors

    @property
    def message(self) -> str:
        """The ``message`` of a log or error event ("" otherwise)."""
        value = self.payload.get("message")
        return value if isinstance(value, str) else ""

    def to_dict(self) -> dict[str, Any]:
        """Return the event as the JSON object of the protocol (``type`` first)."""
        return {"type": self.type.value, **_clean(self.payload)}

    def to_json_line(self) -> str:
        """Return the event as one line of JSON (no newline inside, none at the end)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json_line(cls, line: str | bytes) -> TrainingEvent:
        """Parse one line of the protocol; anything malformed becomes a ``log`` event with its text.

        Parameters
        ----------
        line
            One line read from the worker (with or without its newline; bytes are decoded as UTF-8).

        Returns
        -------
        TrainingEvent
            The event. Never raises.
        """
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        text = line.strip()
        try:
            doc = json.loads(text) if text.startswith("{") else None
        except ValueError:
            doc = None
        event = cls._from_doc(doc) if isinstance(doc, dict) else None
        if event is None:
            return cls.log(text)
        return event

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> TrainingEvent | None:
        try:
            kind = EventType(str(doc.get("type")))
        except ValueError:
            return None
        payload = {k: v for k, v in doc.items() if k != "type"}
        if kind is EventType.PROGRESS:
            value = payload.get("progress")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return None
            payload["progress"] = max(0, min(100, round(value)))
            payload["stage"] = str(payload.get("stage") or "")
        elif kind in (EventType.LOG, EventType.ERROR):
            if not isinstance(payload.get("message"), str):
                return None
            payload["message"] = payload["message"][:MAX_LINE_CHARS]
        elif kind is EventType.CANDIDATE:
            if not isinstance(payload.get("model"), str) or not payload["model"]:
                return None
            if not isinstance(payload.get("scores", {}), dict):
                return None
        return cls(kind, payload)
