"""Micro-batching: concurrent small requests for one model merged into one pipeline call (the HTTP service)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from predictml_desktop.core.prediction import running
from predictml_desktop.core.prediction.errors import ModelFailedError
from predictml_desktop.core.prediction.running import rows_to_batch

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.loading import LoadedModel


class MicroBatcher:
    """Merges concurrent small prediction requests for one model into one pipeline call.

    Calls into one model are serialised (see `LoadedModel.lock`), and one call for many rows costs
    little more than for one (the estimator's per-call overhead dominates; for the full pipeline,
    tens of milliseconds of pandas work per step). So the requests that arrive while a call runs
    queue up, and the next call takes all of them at once (adaptive batching, as in BentoML or
    Triton). The calling threads take turns as the leader (no dedicated thread): a request that
    finds no call running makes the call itself, so a lone request is predicted in its own thread
    without a hand-off; one that finds a call running waits, and when the call ends one of the
    waiting requests leads the next call with everything queued by then. If a merged call fails,
    each request is retried alone, so one request's bad input never fails another's. Vectorised
    arithmetic may differ in the last bit between a row predicted alone and in a batch
    (probabilities agree within 1e-12).
    """

    MAX_ROWS = 256
    """Requests this large or larger are not merged."""
    GATHER_S = 0.004
    """The longest a call waits for more requests when the previous one merged several."""

    def __init__(self, model: LoadedModel) -> None:
        from collections import deque

        self._model = model
        self._cond = threading.Condition()
        self._queue: deque[tuple[list[dict[str, Any]], Any]] = deque()
        self._running = False
        self._gather_s = 0.0

    def predict(self, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (predictions, probabilities) for ``rows``, computed in a shared pipeline call.

        Raises
        ------
        ModelFailedError
            If the model fails on these rows.
        """
        from concurrent.futures import Future

        future: Future[tuple[np.ndarray, np.ndarray | None]] = Future()
        with self._cond:
            self._queue.append((rows, future))
        while not future.done():
            with self._cond:
                while self._running and not future.done():
                    self._cond.wait()
                if future.done():
                    break
                self._running = True
            try:
                self._lead()
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()
        return future.result()

    def _lead(self) -> None:
        if self._gather_s:
            # Under concurrency (the last call merged requests), wait a moment for the requests being
            # validated right now: otherwise calls alternate between one row and the rest. About as
            # long as a call takes (the fast path's calls are short), never more than GATHER_S.
            time.sleep(self._gather_s)
        with self._cond:
            items: list[tuple[list[dict[str, Any]], Any]] = []
            total = 0
            while self._queue and (not items or total < self.MAX_ROWS):
                item = self._queue.popleft()
                items.append(item)
                total += len(item[0])
        started = time.perf_counter()
        try:
            self._run(items)
        except BaseException:  # interrupted: no request may be left waiting for an answer
            for _, future in items:
                if not future.done():
                    future.set_exception(ModelFailedError("The prediction was interrupted."))
            raise
        self._gather_s = min(self.GATHER_S, time.perf_counter() - started) if len(items) > 1 else 0.0

    def _run(self, items: list[tuple[list[dict[str, Any]], Any]]) -> None:
        model = self._model
        if len(items) > 1:
            try:
                merged = [row for rows, _ in items for row in rows]
                predictions, probabilities = running.run_model(model, rows_to_batch(model.schema, merged))
            except Exception:  # noqa: BLE001 - any failure of the merged call: each request is retried alone below
                pass  # isolate the request the model cannot handle: each one alone below
            else:
                start = 0
                for rows, future in items:
                    end = start + len(rows)
                    future.set_result((predictions[start:end],
                                       None if probabilities is None else probabilities[start:end]))
                    start = end
                return
        for rows, future in items:
            try:
                future.set_result(running.run_model(model, rows_to_batch(model.schema, rows)))
            except ModelFailedError as exc:
                future.set_exception(exc)
            except Exception as exc:  # noqa: BLE001 - never leave a waiting request hanging, never a traceback
                future.set_exception(ModelFailedError(
                    f"The model could not make a prediction for this input ({type(exc).__name__})."))

