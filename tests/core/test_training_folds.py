"""The process lane that fits GIL-bound folds: answers, failures, a native crash, no process left."""

from __future__ import annotations

import os

import numpy as np
import psutil
import pytest
from sklearn.linear_model import LogisticRegression

from predictml_desktop.core.training.folds import Fold, FoldSet, LaneError, ProcessLane, fit_fold, lane_supported

pytestmark = pytest.mark.skipif(not lane_supported(), reason="the process lane forks (Linux only)")


class Exploding(LogisticRegression):
    """Raises from fit, like a model that refuses its data."""

    def fit(self, X, y, sample_weight=None):
        raise ValueError("cannot fit these rows")


class Crashing(LogisticRegression):
    """Ends its process from fit, like a native crash."""

    def fit(self, X, y, sample_weight=None):
        os._exit(139)


def fold_set() -> FoldSet:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    fold = Fold(X[:60], y[:60], X[60:], y[60:], np.arange(60, 80))
    return FoldSet("cv", [fold], 80, y, 0.0)


def test_the_lane_answers_what_a_local_fit_answers_and_leaves_no_process() -> None:
    fs = fold_set()
    lane = ProcessLane([fs])
    try:
        assert lane.pid is not None and lane.pid != os.getpid()
        assert psutil.Process(lane.pid).ppid() == os.getpid()
        remote = lane.fit(LogisticRegression(), "cv", 0, True)
        f = fs.folds[0]
        local = fit_fold(LogisticRegression(), f.X_tr, f.y_tr, f.X_va, True)
        for a, b in zip(remote[1:], local[1:], strict=True):
            np.testing.assert_array_equal(a, b)
        with pytest.raises(LaneError) as failed:
            lane.fit(Exploding(), "cv", 0, True)
        assert failed.value.kind == "ValueError" and "cannot fit these rows" in str(failed.value)
        # A failed fit leaves the lane usable.
        assert lane.fit(LogisticRegression(), "cv", 0, True)[2] is not None and lane.broken is None
    finally:
        pid = lane.pid
        lane.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_native_crash_in_the_lane_fails_that_fit_only_and_marks_the_lane_broken() -> None:
    lane = ProcessLane([fold_set()])
    try:
        with pytest.raises(LaneError) as crashed:
            lane.fit(Crashing(), "cv", 0, True)
        assert crashed.value.kind == LaneError.STOPPED
        assert "stopped unexpectedly (exit code 139)" in str(crashed.value) and lane.broken
        with pytest.raises(LaneError):  # later requests are refused at once, not sent to a dead process
            lane.fit(LogisticRegression(), "cv", 0, True)
    finally:
        lane.close()
