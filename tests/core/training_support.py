"""Shared helpers of the training tests: stores with datasets, the fake trainer, process checks."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, TrainingJob
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import TrainingEvent, TrainingOptions, TrainingRunner, create_job

FAKE_TRAINER = Path(__file__).resolve().parents[1] / "fake_trainer.py"


def make_store(home: Path) -> Store:
    store = Store(Paths(home))
    store.startup()
    return store


def add_dataset(store: Store, *, target: str = "target", classes: int = 2) -> Dataset:
    """A dataset record (no file): enough for the runner with the fake trainer."""
    columns = [
        {"name": "x1", "kind": "numeric", "missingShare": 0.0, "unique": 90},
        {"name": "x2", "kind": "categorical", "missingShare": 0.0, "unique": 3},
        {"name": target, "kind": "categorical", "missingShare": 0.0, "unique": classes},
    ]
    with store.transaction() as tx:
        return tx.datasets.add(Dataset(id="", name="fake.csv", file_name="fake.csv", rows=100, columns=columns,
                                       target_column=target, problem_type="classification"))


def fake_command(mode: str, **flags: Any) -> list[str]:
    cmd = [sys.executable, str(FAKE_TRAINER), "--mode", mode]
    for key, value in flags.items():
        cmd += [f"--{key}", str(value)]
    return cmd


def new_job(store: Store, dataset_id: str, target: str = "target", **options: Any) -> TrainingJob:
    return create_job(store, dataset_id, target, TrainingOptions(**options))


class Recorder:
    """Collects a runner's events (thread-safe) and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[TrainingEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: TrainingEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[TrainingEvent], bool], timeout: float = 60.0) -> TrainingEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [f"{e.type}:{str(e.payload)[:80]}" for e in self.events[-10:]]
                    raise AssertionError(f"event not seen within {timeout} s; last events: {kinds}")
                self._cond.wait(left)

    def of(self, kind: str) -> list[TrainingEvent]:
        return [e for e in self.events if e.type == kind]


class Background:
    """Runs ``runner.run`` on a thread, as the GUI's TrainingThread does."""

    def __init__(self, runner: TrainingRunner, recorder: Recorder) -> None:
        self.runner = runner
        self.result: TrainingJob | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(recorder,), daemon=True)
        self.thread.start()

    def _run(self, recorder: Recorder) -> None:
        try:
            self.result = self.runner.run(recorder)
        except BaseException as exc:  # noqa: BLE001 - surfaced by join()
            self.error = exc

    def join(self, timeout: float = 60.0) -> TrainingJob:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the runner did not return"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and its living descendants."""
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def binary_frame(n: int = 160, seed: int = 0, labels: tuple[Any, Any] = ("no", "yes")) -> pd.DataFrame:
    """A small table with real signal: two numeric columns, a category with missing values."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    logit = 1.8 * x1 - 1.2 * x2 + (color == "red") * 0.8
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), labels[1], labels[0])
    frame = pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4), "color": color, "target": y})
    frame.loc[rng.random(n) < 0.05, "color"] = np.nan
    return frame


def import_frame(store: Store, frame: pd.DataFrame, folder: Path, name: str = "data.csv",
                 target: str = "target") -> Dataset:
    """Store ``frame`` as a real dataset, through the ingestion API."""
    from predictml_desktop.core.ingest import import_dataset

    path = folder / name
    frame.to_csv(path, index=False)
    return import_dataset(store, path, target=target)
