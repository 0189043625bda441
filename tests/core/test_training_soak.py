"""Soak: awkward tables trained end to end through the real worker, default preset and budget (issue 12, item 5).

Each table goes the way a user's file goes: imported by the ingestion code, a job created with
the default options, `TrainingRunner` supervising the real worker process. A table must end in
review with a model that loads (its hash checked) and predicts a few of its rows; the one-class
targets must be refused with their sentence. Timing is not asserted, but every run has a hard
limit (the job's budget plus a margin): a run still going then is cancelled and the test fails
saying that it hung, so a deadlock fails CI instead of hanging it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.prediction import ModelRegistry, predict_rows
from predictml_desktop.core.records import TrainingJob
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import EventType, TrainingOptions, TrainingRunner, create_job
from predictml_desktop.core.training.jobs import TrainingError
from tests.core.training_support import Recorder, import_frame, make_store

pytestmark = pytest.mark.slow

HANG_MARGIN_S = 60.0
"""Time past the budget before a run counts as hung (the worker's start and the final save)."""
CANCEL_WAIT_S = 30.0


# --------------------------------------------------------------------------- the tables


def engine_repro_table() -> pd.DataFrame:
    """The generator of the engine-repro reproducer (shared/testdata/engine-repro/make_imbalanced_multiclass.py).

    3,300 rows, 7 features (2 categorical), 4 classes (69/23/6/2 %). With the default preset on
    Linux it hung at "Evaluating": the final refit in the forked process lane sat in SMOTE's
    nearest-neighbour search (an OpenMP loop) after the engine had used OpenMP before the fork.
    """
    rng = np.random.default_rng(1)
    n = 3300
    df = pd.DataFrame({
        "a": rng.gamma(2, 50, n), "b": rng.integers(0, 30, n), "c": rng.normal(0, 1, n),
        "d": rng.exponential(3, n), "e": rng.integers(1, 6, n),
        "proto": rng.choice(["tcp", "udp", "icmp", "x"], n, p=[.5, .3, .15, .05]),
        "day": rng.choice(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], n)})
    score = ((df.a > 120).astype(int) + (df.b > 20).astype(int) + (df.proto == "udp").astype(int)
             + (df.d > 6).astype(int))
    label = np.select([score <= 1, score == 2, score == 3], ["N", "M", "H"], "L")
    flip = rng.random(n) < 0.05
    label[flip] = rng.choice(["N", "M", "H", "L"], flip.sum())
    df["cls"] = label
    return df


def imbalanced_multiclass_table() -> pd.DataFrame:
    """600 rows, 5 classes of 65/20/6/5/4 %, numeric and categorical features with missing values."""
    rng = np.random.default_rng(2)
    n = 600
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    region = rng.choice(["north", "south", "east", "west"], n)
    z = 1.6 * x1 + 0.8 * x2 + (region == "east") * 0.9
    cls = np.select([z < 0.75, z < 1.9, z < 2.6, z < 3.1], ["common", "frequent", "uncommon", "rare"], "very_rare")
    frame = pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4), "x3": rng.normal(size=n).round(4),
                          "region": region, "tier": rng.choice(["a", "b", "c"], n), "cls": cls})
    frame.loc[rng.random(n) < 0.05, "x2"] = np.nan
    frame.loc[rng.random(n) < 0.05, "region"] = np.nan
    return frame


def many_categoricals_table() -> pd.DataFrame:
    """400 rows, 24 categorical columns of 2 to 48 levels (some with missing values), 2 numeric, yes/no."""
    rng = np.random.default_rng(3)
    n = 400
    cols: dict[str, Any] = {}
    for i in range(24):
        levels = [f"c{i}_{j}" for j in range(2 + 2 * i)]
        cols[f"cat{i:02d}"] = rng.choice(levels, n)
    cols["amount"] = rng.gamma(2, 30, n).round(2)
    cols["tenure"] = rng.integers(0, 60, n)
    frame = pd.DataFrame(cols)
    logit = ((frame["cat00"] == "c0_1") * 1.5 + (frame["cat05"].isin(["c5_0", "c5_1", "c5_2"])) * 1.2
             - frame["tenure"] / 40 + rng.normal(0, 0.5, n))
    frame["churned"] = np.where(logit > 0.3, "yes", "no")
    for i in (3, 7, 11, 19):
        frame.loc[rng.random(n) < 0.08, f"cat{i:02d}"] = np.nan
    return frame


def dates_with_gaps_table() -> pd.DataFrame:
    """360 daily-ish rows: dates with gaps of up to 3 weeks, some missing, a timestamp; a quantity to predict."""
    rng = np.random.default_rng(4)
    n = 360
    days = pd.Timestamp("2021-01-04") + pd.to_timedelta(np.cumsum(rng.choice([1, 1, 1, 2, 3, 7, 21], n)), unit="D")
    opened = days + pd.to_timedelta(rng.integers(6 * 60, 22 * 60, n), unit="min")
    weekend = days.dayofweek >= 5
    sales = 200 + 80 * weekend + 30 * np.sin(2 * np.pi * days.dayofyear / 365) + rng.normal(0, 15, n)
    frame = pd.DataFrame({
        "day": days.strftime("%Y-%m-%d"),
        "opened_at": opened.strftime("%Y-%m-%d %H:%M"),
        "staff": rng.integers(2, 9, n),
        "promo": rng.choice(["none", "flyer", "radio"], n),
        "sales": sales.round(2),
    })
    frame.loc[rng.random(n) < 0.04, "day"] = ""
    return frame


def fifty_rows_table() -> pd.DataFrame:
    """50 rows: two numeric columns and a category, a yes/no target."""
    rng = np.random.default_rng(5)
    n = 50
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], n)
    y = np.where(1.5 * x1 - x2 + (color == "red") + rng.normal(0, 0.5, n) > 0, "yes", "no")
    return pd.DataFrame({"x1": x1.round(3), "x2": x2.round(3), "color": color, "bought": y})


def three_hundred_columns_table() -> pd.DataFrame:
    """160 rows × 300 numeric features (5 informative), a yes/no target."""
    rng = np.random.default_rng(6)
    n, p = 160, 300
    X = rng.normal(size=(n, p)).round(3)
    logit = X[:, 0] * 1.5 - X[:, 1] + X[:, 2] * 0.8 + X[:, 3] * X[:, 4]
    frame = pd.DataFrame(X, columns=[f"f{i:03d}" for i in range(p)])
    frame["label"] = np.where(logit + rng.normal(0, 0.5, n) > 0, "pos", "neg")
    return frame


def one_class_table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"x": rng.normal(size=120).round(3), "kind": rng.choice(["a", "b"], 120),
                         "approved": "yes"})


def one_class_and_a_stray_row_table() -> pd.DataFrame:
    """One class, plus a single row of another: the dataset shows two values; the worker refuses it."""
    frame = one_class_table()
    frame.loc[17, "approved"] = "no"
    return frame


TRAINED: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "engine_repro": (engine_repro_table, "cls"),
    "imbalanced_multiclass": (imbalanced_multiclass_table, "cls"),
    "many_categoricals": (many_categoricals_table, "churned"),
    "dates_with_gaps": (dates_with_gaps_table, "sales"),
    "fifty_rows": (fifty_rows_table, "bought"),
    "three_hundred_columns": (three_hundred_columns_table, "label"),
}


# --------------------------------------------------------------------------- running with a hard limit


@pytest.fixture
def store(predictml_home: Path) -> Store:
    return make_store(predictml_home)


def train_or_fail_as_hung(store: Store, job: TrainingJob, table: str) -> tuple[TrainingJob, Recorder]:
    """Run the job under the real runner; fail the test, saying it hung, if it outlives budget + margin."""
    budget = TrainingOptions.from_dict(job.options).effective_budget_s
    limit = budget + HANG_MARGIN_S
    runner = TrainingRunner(store, job.id)
    recorder = Recorder()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["job"] = runner.run(recorder)
        except BaseException as exc:  # noqa: BLE001 - reported below, on the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"soak-{table}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        # What the run had reached, read before the cancel adds events of its own.
        progress = recorder.of(EventType.PROGRESS)
        last = progress[-1].payload if progress else {}
        logs = [e.message for e in recorder.of(EventType.LOG)][-3:]
        runner.cancel()  # ends the worker's whole process tree
        thread.join(CANCEL_WAIT_S)
        pytest.fail(f"{table}: training hung: no result after {limit:.0f} s (budget {budget:.0f} s + "
                    f"{HANG_MARGIN_S:.0f} s); last stage {last.get('stage')!r} at {last.get('progress')} %; "
                    f"last log lines: {logs}", pytrace=False)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["job"], recorder


def _rows_for_prediction(frame: pd.DataFrame, names: list[str], n: int = 5) -> list[dict[str, Any]]:
    """The first rows as a client would send them: JSON values, missing cells as null, dates as text."""
    rows: list[dict[str, Any]] = json.loads(frame[names].head(n).to_json(orient="records", date_format="iso"))
    return rows


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("table", list(TRAINED))
def test_table_trains_to_review_and_its_model_predicts(table: str, store: Store, tmp_path: Path) -> None:
    make, target = TRAINED[table]
    frame = make()
    dataset = import_frame(store, frame, tmp_path, name=f"{table}.csv", target=target)
    job = create_job(store, dataset.id, target, TrainingOptions())
    assert TrainingOptions.from_dict(job.options).preset == "balanced"  # the default preset, its default budget

    final, recorder = train_or_fail_as_hung(store, job, table)

    assert final.status == JobStatus.PENDING_REVIEW, f"{table}: {final.status}: {final.error}"
    assert final.model_path and store.paths.resolve(final.model_path).is_file()
    model = ModelRegistry(store.paths).load_job(job.id)  # checks the file against the recorded SHA-256
    features = [f.name for f in model.schema.features]
    assert features and set(features) <= set(frame.columns) - {target}
    result = predict_rows(model, _rows_for_prediction(frame, features))
    assert len(result.predictions) == 5
    if final.problem_type == "classification":
        labels = {str(v) for v in frame[target].dropna().unique()}
        assert {str(p) for p in result.predictions} <= labels
        assert result.probabilities is not None
        for probabilities in result.probabilities:
            assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    else:
        assert all(np.isfinite(float(p)) for p in result.predictions)
    assert recorder.of(EventType.RESULT), "the worker never sent its result"


def test_a_one_class_target_is_refused_with_its_sentence(store: Store, tmp_path: Path) -> None:
    dataset = import_frame(store, one_class_table(), tmp_path, name="one_class.csv", target="approved")
    with pytest.raises(TrainingError, match=r"^The target has only one class \(every row of 'approved'"):
        create_job(store, dataset.id, "approved", TrainingOptions())


def test_one_class_and_a_stray_row_is_refused_by_the_worker(store: Store, tmp_path: Path) -> None:
    dataset = import_frame(store, one_class_and_a_stray_row_table(), tmp_path, name="stray.csv", target="approved")
    job = create_job(store, dataset.id, "approved", TrainingOptions())  # two values: the worker decides

    final, _ = train_or_fail_as_hung(store, job, "one_class_and_a_stray_row")

    assert final.status == JobStatus.FAILED
    assert final.error is not None and final.error.startswith("The target has only one class")
    assert "Traceback" not in final.error and final.model_path is None
