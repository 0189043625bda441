"""`TrainingThread`: supervises one training job's worker process and re-emits its events as signals.

The supervision itself (start the worker, read its JSON lines, cancel, escalate to kill, turn the
exit into a job status) is the core's Qt-free `TrainingRunner`, which the command line uses too.
This thread only runs it off the GUI thread and turns its callback into queued signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from predictml_desktop.core.records import TrainingJob
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.ui.tasks import describe_error


def _payload(event: Any) -> dict[str, Any]:
    payload = getattr(event, "payload", None)
    if isinstance(payload, dict):
        return payload
    to_dict = getattr(event, "to_dict", None)
    return to_dict() if callable(to_dict) else {}


class TrainingThread(QThread):
    """Run the core `TrainingRunner` of one job; never touches widgets.

    Parameters
    ----------
    store
        The store holding the job.
    job_id
        The job to train (status ``training``, created by `create_job` or `retry_job`).
    command
        The worker's command line; None for the real worker (tests pass a fake trainer script).
    parent
        Owner of the thread (the training panel), so that closing the window can cancel it.
    """

    progress_changed = Signal(int, str)
    """Percent done (0-100) and the stage name."""

    log_received = Signal(str)
    """One log line of the worker."""

    candidate_finished = Signal(object)
    """A candidate model finished: the ``candidate`` event as a dict (model, scores, fitSeconds...)."""

    succeeded = Signal(object)
    """The job reached ``pending_review``: carries the final `TrainingJob` (model, metrics, duration)."""

    failed = Signal(str)
    """The job failed: carries the sentence for the user ("Target column 'target' not found")."""

    cancelled = Signal()
    """The job was cancelled and its worker's process tree has ended."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        *,
        command: Sequence[str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        from predictml_desktop.core.training import TrainingRunner

        self.job_id = job_id
        self.final_job: TrainingJob | None = None
        self._runner = TrainingRunner(store, job_id, command=list(command) if command is not None else None)

    def run(self) -> None:
        """Supervise the worker until it ends (runs on the thread)."""
        try:
            job = self._runner.run(on_event=self._emit)
        except Exception as exc:  # noqa: BLE001 - see below: still one sentence, never a traceback
            # The runner records failures on the job itself; reaching here means it could not even
            # do that (a damaged record file, a full disk): still one sentence, never a traceback.
            self.failed.emit(describe_error(exc))
            return
        self.final_job = job
        if job.status == JobStatus.PENDING_REVIEW:
            self.succeeded.emit(job)
        elif job.status == JobStatus.CANCELLED:
            self.cancelled.emit()
        else:
            self.failed.emit(job.error or "Training failed for an unknown reason; see the job's log.")

    def _emit(self, event: Any) -> None:
        kind = str(getattr(event, "type", ""))
        data = _payload(event)
        if kind == "progress":
            self.progress_changed.emit(int(data.get("progress", 0)), str(data.get("stage", "")))
        elif kind == "log":
            self.log_received.emit(str(data.get("message", "")))
        elif kind == "candidate":
            self.candidate_finished.emit(dict(data))
        elif kind == "error":
            self.log_received.emit(f"Error: {data.get('message', '')}")

    def cancel(self, *, keep_best: bool = False) -> None:
        """Ask the worker to stop (from the GUI thread).

        With ``keep_best`` the best model finished so far is saved and `succeeded` follows (the job
        stopped early), or `cancelled` when none had finished; without it, `cancelled` follows once
        the worker's tree has ended.
        """
        self._runner.cancel(keep_best=keep_best)
