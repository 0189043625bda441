"""Functions the fitting-pool tests run in spawned processes (they must be importable by name)."""

from __future__ import annotations

import os
import time

import numpy as np

from predictml_desktop.core.training.pool import load_shared


def add(a: int, b: int) -> int:
    return a + b


def pid() -> int:
    return os.getpid()


def fail() -> None:
    raise ValueError("bad value in row 3")


def crash() -> None:
    os._exit(139)  # as a segmentation fault ends a process


def sleep_forever() -> None:
    time.sleep(10**6)  # a deadlock: alive, but using no CPU


def spin(seconds: float) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return os.getpid()


def total(path: str) -> float:
    array = load_shared(path)
    assert not array.flags.writeable  # mapped read-only, not copied
    return float(np.sum(array))
