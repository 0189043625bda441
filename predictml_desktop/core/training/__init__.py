"""The training engine: staged PyCaret search, worker protocol and the Qt-free runner.

Only this package imports PyCaret, and only lazily inside the engine (`engine`, which runs in the
worker process), so that the GUI process and the command line never pay for it. Importing this
package itself is cheap.

Public API (see docs/ARCHITECTURE.md "Training"):

- `TrainingOptions` — preset, budget, models, excluded columns, ranking metric.
- `create_job`, `retry_job`, `fail_stale_jobs`, `request_cancel` — job records.
- `TrainingRunner` — supervises one job's worker process; ``run(on_event)``, ``cancel()``.
- `TrainingEvent`, `EventType`, `Stage` — the worker protocol.
- `TrainingError` — a training that cannot start or did not succeed (one sentence for the user).
"""

from __future__ import annotations

from predictml_desktop.core.training.events import STAGE_PROGRESS, EventType, Stage, TrainingEvent
from predictml_desktop.core.training.jobs import (
    CANCELLED_MESSAGE,
    INTERRUPTED_MESSAGE,
    TrainingError,
    create_job,
    fail_stale_jobs,
    request_cancel,
    retry_job,
)
from predictml_desktop.core.training.options import PRESET_SPECS, PRESETS, TrainingOptions
from predictml_desktop.core.training.runner import TrainingRunner

__all__ = [
    "CANCELLED_MESSAGE",
    "INTERRUPTED_MESSAGE",
    "PRESETS",
    "PRESET_SPECS",
    "STAGE_PROGRESS",
    "EventType",
    "Stage",
    "TrainingError",
    "TrainingEvent",
    "TrainingOptions",
    "TrainingRunner",
    "create_job",
    "fail_stale_jobs",
    "request_cancel",
    "retry_job",
]
