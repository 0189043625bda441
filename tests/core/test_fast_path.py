"""The compiled fast path (`core.modeling.fast_path`) against the real PyCaret pipelines it replaces.

Real pipelines only: the session fixtures' engine-trained models (`tests.trained_models`), two more
jobs trained once by the engine on a table with every step type the engine's set-up creates
(dates, missing numbers and categories, a binary category → ordinal encoding, a 4-value one →
one-hot, a 40-value one → target encoding, an imbalanced 3-class string target → label encoding),
and the same fitted preprocessing refitted with other estimators (as the engine's ``_fit``
does: the set-up's pipeline cloned with another final estimator and fitted with PyCaret).
"""

from __future__ import annotations

import concurrent.futures
import math
import time
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictml_desktop.core import prediction
from predictml_desktop.core.artifacts import FeatureSpec, InputSchema
from predictml_desktop.core.ingest import import_dataset, load_dataset_frame
from predictml_desktop.core.modeling import fast_path, fast_steps
from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.modeling.fast_path import FastPathUnsupported, compare_predictions, probe_rows, try_compile
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.prediction import (
    LoadedModel,
    ModelRegistry,
    attach_fast_path,
    load_verified,
    predict_frame,
    predict_rows,
    rows_to_batch,
    rows_to_frame,
    validate_rows,
)
from predictml_desktop.core.prediction.answers import decide
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import TrainingOptions, TrainingRunner, create_job
from tests.server.conftest import live_server
from tests.trained_models import DeployedHome, valid_rows

pytestmark = pytest.mark.slow

RICH_ROWS = 600


def rich_table(n: int = RICH_ROWS, seed: int = 3) -> pd.DataFrame:
    """Every feature kind the engine's set-up turns into a distinct preprocessing step.

    No boolean column and no missing date: the engine cannot train on either at the moment (a
    True/False column fails PyCaret's set-up, and missing dates leave NaN date fields that no step
    imputes), which is reported to the training engine's owner.
    """
    rng = np.random.default_rng(seed)
    size = rng.normal(50, 15, n).round(2)
    size[rng.random(n) < 0.08] = np.nan
    rooms = rng.integers(1, 9, n)
    # Spaces and dashes in categories: LightGBM reports such one-hot column names altered.
    colour = rng.choice(["red", "green", "sky blue", "jet-black"], n).astype(object)
    colour[rng.random(n) < 0.05] = None
    member = rng.choice(["yes", "no"], n)
    town = rng.choice([f"town_{i:02d}" for i in range(40)], n)
    since = np.datetime64("2018-01-01") + rng.integers(0, 2000, n).astype("timedelta64[D]")
    score = (0.05 * np.nan_to_num(size, nan=50) + 0.3 * rooms + (colour == "red") * 1.0 + (member == "yes") * 0.8
             + np.array([int(t[-2:]) % 5 for t in town]) * 0.3 + rng.normal(0, 0.7, n))
    q = np.quantile(score, [0.86, 0.95])
    tier = np.where(score > q[1], "premium", np.where(score > q[0], "plus", "basic"))
    return pd.DataFrame({
        # A name PyCaret cleans for the estimator (its clean_column_names step drops the colon).
        "floor area: m2": size, "rooms": rooms, "colour": colour, "member": member, "town": town,
        "since": pd.Series(since).dt.strftime("%Y-%m-%d"), "tier": tier,
        "value": (score * 10 + rng.normal(0, 2, n)).round(2),
    })


@dataclass
class Case:
    name: str
    model: LoadedModel
    """Loaded with the fast path off: the tests compile and check it themselves."""
    X: pd.DataFrame
    """The training features, dates converted as the engine converts them."""
    y: pd.Series

    @property
    def schema(self) -> InputSchema:
        return self.model.schema

    @property
    def pipeline(self) -> Any:
        return self.model.pipeline

    @property
    def classification(self) -> bool:
        return self.schema.problem_type == "classification"


def _train(root: Path, target: str, kind: str, models: list[str]) -> Case:
    paths = Paths.default().ensure()
    store = Store(paths)
    csv = root / f"rich_{target}.csv"
    rich_table().drop(columns=[c for c in ("tier", "value") if c != target]).to_csv(csv, index=False)
    dataset = import_dataset(store, csv, target=target, name=f"rich ({target})", problem_type=kind)
    job = create_job(store, dataset.id, target, TrainingOptions(preset="fast", models=models), problem_type=kind)
    job = TrainingRunner(store, job.id).run()
    assert job.status == JobStatus.PENDING_REVIEW, job.error
    model = load_verified(paths, job, expected_sha256=job.model_sha256, fast_path=False)
    frame = load_dataset_frame(paths, store.read().datasets.get(dataset.id))
    X = frame[[f.name for f in model.schema.features]].copy()
    for f in model.schema.features:
        if f.kind == "datetime":
            X[f.name] = pd.to_datetime(X[f.name], format="mixed").astype("datetime64[ns]")
    return Case(f"{kind}:{models[0]}", model, X, frame[target])


def _refit(case: Case, name: str, estimator: Any) -> Case:
    """The engine's fitted set-up with another final estimator, fitted by PyCaret as the engine's ``_fit`` does."""
    from sklearn.base import clone

    pipeline = clone(case.pipeline)
    pipeline.steps[-1] = (pipeline.steps[-1][0], estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(case.X, case.y)
    model = LoadedModel(dataset_id="rich", job_id=name, model_name=name, schema=case.schema, pipeline=pipeline,
                        sha256="", path=Path(name))
    return Case(name, model, case.X, case.y)


def case_with(case: Case, pipeline: Any) -> Case:
    """``case`` with another fitted pipeline (same schema and training rows)."""
    model = LoadedModel(dataset_id="rich", job_id="variant", model_name="variant", schema=case.schema,
                        pipeline=pipeline, sha256="", path=Path("variant"))
    return Case(case.name, model, case.X, case.y)


@pytest.fixture(scope="session")
def rich_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """Two engine jobs (LightGBM on the 3-class target, extra trees on the quantity) and refitted variants."""
    from catboost import CatBoostClassifier
    from lightgbm import LGBMRegressor
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.tree import DecisionTreeClassifier
    from xgboost import XGBClassifier

    root = tmp_path_factory.mktemp("rich")
    with pytest.MonkeyPatch.context() as env:
        # Session scope runs before the per-test isolation: keep everything in this folder.
        for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MPLCONFIGDIR"):
            env.setenv(name, str(root / "userhome" / name.lower()))
        env.setenv("PREDICTML_HOME", str(root / "home"))
        env.setenv("PREDICTML_CONFIG_HOME", str(root / "config"))
        clf = _train(root, "tier", "classification", ["lightgbm"])
        reg = _train(root, "value", "regression", ["et"])
    cases = [clf, reg,
             _refit(clf, "classification:lr", LogisticRegression(max_iter=1000)),
             _refit(clf, "classification:rf", RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1)),
             _refit(clf, "classification:knn", KNeighborsClassifier()),
             _refit(clf, "classification:dt", DecisionTreeClassifier(random_state=0)),
             _refit(clf, "classification:xgboost", XGBClassifier(n_estimators=30, n_jobs=1, random_state=0)),
             _refit(clf, "classification:catboost",
                    CatBoostClassifier(iterations=40, verbose=False, thread_count=1, random_seed=0,
                                       allow_writing_files=False)),
             _refit(reg, "regression:lr", LinearRegression()),
             _refit(reg, "regression:ridge", Ridge()),
             _refit(reg, "regression:lightgbm", LGBMRegressor(n_estimators=50, n_jobs=1, verbose=-1)),
             _refit(reg, "regression:knn", KNeighborsRegressor())]
    return {case.name: case for case in cases}


CASE_NAMES = ["classification:lightgbm", "classification:lr", "classification:rf", "classification:knn",
              "classification:dt", "classification:xgboost", "classification:catboost",
              "regression:et", "regression:lr", "regression:ridge", "regression:lightgbm", "regression:knn"]


def _pipeline_answer(case: Case, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
    return pycaret_pipeline.predict(case.pipeline, rows_to_frame(case.schema, rows), probabilities=case.classification)


def _validated(case: Case, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return validate_rows(case.schema, rows, strict=False, max_rows=len(rows)).rows


# --------------------------------------------------------------------------- what the pipelines hold


def test_the_rich_pipelines_hold_every_step_type_the_engine_creates(rich_cases: dict[str, Case]) -> None:
    fast, reason = try_compile(rich_cases["classification:lightgbm"].pipeline,
                               rich_cases["classification:lightgbm"].schema)
    assert fast is not None, reason
    assert fast.steps == [
        "label_encoding: label decoding",
        "date_feature_extractor: ExtractDateTimeFeatures",
        "numerical_imputer: SimpleImputer",
        "categorical_imputer: SimpleImputer",
        "ordinal_encoding: OrdinalEncoder",
        "onehot_encoding: OneHotEncoder",
        "rest_encoding: TargetEncoder",
        "normalize: StandardScaler",
        "clean_column_names: CleanColumnNames",
    ]
    assert fast.columns[0] == "floor area m2"
    assert fast.columns[-3:] == ["since_year", "since_month", "since_day"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_parity_on_1000_random_rows(rich_cases: dict[str, Case], name: str) -> None:
    case = rich_cases[name]
    fast, reason = try_compile(case.pipeline, case.schema)
    assert fast is not None, reason
    rows = _validated(case, probe_rows(case.schema, 1000, seed=11))
    # What the estimator receives is the same, bit for bit, names and order included.
    want_X = case.pipeline._memory_full_transform(case.pipeline, rows_to_frame(case.schema, rows), None,
                                                  with_final=False)[0]
    got_X = fast.transform(rows_to_batch(case.schema, rows))
    assert list(got_X.columns) == list(want_X.columns)
    assert np.array_equal(got_X.to_numpy(), want_X.to_numpy(dtype="float64"), equal_nan=True)
    # And so are the answers: labels identical, probabilities (values) within 1e-9.
    expected = _pipeline_answer(case, rows)
    got = fast.predict(rows_to_batch(case.schema, rows), case.classification)
    assert compare_predictions(expected, got, regression=not case.classification) is None
    # Rows alone get other column dtypes (a missing value makes its column float or object).
    for i in range(0, 1000, 40):
        alone = fast.predict(rows_to_batch(case.schema, rows[i:i + 1]), case.classification)
        assert compare_predictions(_pipeline_answer(case, rows[i:i + 1]), alone,
                                   regression=not case.classification) is None, i


def _feature_strategy(spec: FeatureSpec) -> st.SearchStrategy[Any]:
    if spec.kind == "numeric":
        number: st.SearchStrategy[Any] = (st.integers(-10**9, 10**9) if spec.integer
                                          else st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False))
        values = st.one_of(number, st.sampled_from([spec.minimum, spec.maximum, 0.0]).map(
            lambda v: float(round(v)) if spec.integer else v))
    elif spec.kind == "datetime":
        values = st.dates(date(1700, 1, 1), date(2250, 12, 31)).map(date.isoformat)
    else:
        values = st.one_of(st.sampled_from(list(spec.categories or ["x"])), st.text(max_size=8))
    return st.one_of(st.none(), values) if spec.nullable else values


@pytest.mark.parametrize("name", ["classification:lightgbm", "regression:lr"])
def test_parity_on_hypothesis_rows(rich_cases: dict[str, Case], name: str) -> None:
    """Adversarial single rows: any text as a category, huge numbers, dates from 1700 to 2250."""
    case = rich_cases[name]
    fast = fast_path.compile_pipeline(case.pipeline, case.schema)
    assert fast is not None

    @settings(max_examples=60, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.fixed_dictionaries({f.name: _feature_strategy(f) for f in case.schema.features}))
    def check(row: dict[str, Any]) -> None:
        rows = _validated(case, [row])
        got = fast.predict(rows_to_batch(case.schema, rows), case.classification)
        assert compare_predictions(_pipeline_answer(case, rows), got, regression=not case.classification) is None

    check()


def _variant(case: Case, change: str) -> Any:
    """The engine's fitted set-up with a step PyCaret's set-up offers but the engine does not use."""
    from pycaret.internal.preprocess.transformers import ExtractDateTimeFeatures, RemoveMulticollinearity
    from sklearn.base import clone
    from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler

    pipeline = clone(case.pipeline)
    steps = dict(pipeline.steps)
    wrapper = type(steps["normalize"])
    before_estimator = len(pipeline.steps) - 1
    if change in ("minmax", "robust", "maxabs"):
        scaler = {"minmax": MinMaxScaler(clip=True), "robust": RobustScaler(), "maxabs": MaxAbsScaler()}[change]
        steps["normalize"].set_params(transformer=scaler)
    elif change == "date-fields":
        steps["date_feature_extractor"].set_params(
            transformer=ExtractDateTimeFeatures(["year", "quarter", "dayofweek", "dayofyear"]))
    elif change == "selection":
        pipeline.steps.insert(before_estimator, ("low_variance", wrapper(VarianceThreshold(0.01))))
        pipeline.steps.insert(before_estimator + 1, ("feature_selection", wrapper(SelectKBest(f_classif, k=7))))
    elif change == "multicollinearity":
        pipeline.steps.insert(before_estimator, ("remove_multicollinearity",
                                                 wrapper(RemoveMulticollinearity(threshold=0.05))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(case.X, case.y)
    return pipeline


@pytest.mark.parametrize("change", ["minmax", "robust", "maxabs", "date-fields", "selection", "multicollinearity"])
def test_other_scalers_date_fields_and_column_selection(rich_cases: dict[str, Case], change: str) -> None:
    base = rich_cases["classification:lr"]
    case = case_with(base, _variant(base, change))
    fast, reason = try_compile(case.pipeline, case.schema)
    assert fast is not None, reason
    if change == "selection":
        assert len(fast.columns) == 7
    if change == "multicollinearity":
        assert dict(case.pipeline.steps)["remove_multicollinearity"].transformer.drop_  # it dropped something
    rows = _validated(case, probe_rows(case.schema, 300, seed=3))
    assert compare_predictions(_pipeline_answer(case, rows), fast.predict(rows_to_batch(case.schema, rows), True),
                               regression=False) is None
    for i in range(5):
        assert compare_predictions(_pipeline_answer(case, rows[i:i + 1]),
                                   fast.predict(rows_to_batch(case.schema, rows[i:i + 1]), True),
                                   regression=False) is None


# --------------------------------------------------------------------------- the prediction path


@pytest.mark.parametrize("name", ["classification:lightgbm", "classification:catboost", "regression:et"])
def test_the_prediction_path_uses_it_only_after_the_check(rich_cases: dict[str, Case], name: str) -> None:
    case = rich_cases[name]
    model = LoadedModel(dataset_id="rich", job_id=name, model_name=name, schema=case.schema,
                        pipeline=case.pipeline, sha256="", path=Path(name))
    assert not model.fast_path
    assert attach_fast_path(model)
    assert model.fast_path and model.fast_path_reason.startswith("matched the pipeline on 200 generated rows")
    assert model.info()["fastPath"] is True
    rows = valid_rows_from(case, 120)
    slow = LoadedModel(dataset_id="rich", job_id=name, model_name=name, schema=case.schema,
                       pipeline=case.pipeline, sha256="", path=Path(name))
    fast_result = predict_rows(model, rows)
    slow_result = predict_rows(slow, rows)
    assert fast_result.predictions == slow_result.predictions
    for mine, theirs in zip(fast_result.probabilities or [], slow_result.probabilities or [], strict=True):
        assert mine == pytest.approx(theirs, abs=1e-9)
    # Batch files go through the same path.
    table = pd.DataFrame(rows)
    assert predict_frame(model, table)["prediction"].tolist() == predict_frame(slow, table)["prediction"].tolist()


def valid_rows_from(case: Case, n: int) -> list[dict[str, Any]]:
    """Rows of the training table as a client sends them (JSON values, dates as text)."""
    sample = case.X.sample(n=n, replace=True, random_state=5)
    rows = []
    for record in sample.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for key, value in record.items():
            if isinstance(value, pd.Timestamp):
                row[key] = value.isoformat()
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                row[key] = None
            else:
                row[key] = value.item() if hasattr(value, "item") else value
        rows.append(row)
    return rows


def test_a_pipeline_with_an_unknown_step_keeps_the_full_pipeline(rich_cases: dict[str, Case]) -> None:
    from sklearn.base import clone
    from sklearn.preprocessing import PowerTransformer

    case = rich_cases["classification:lr"]
    pipeline = clone(case.pipeline)
    wrapper = type(pipeline.steps[-2][1])  # PyCaret's TransformerWrapper, as its set-up uses it
    # What PyCaret's set-up adds for transformation=True (the engine does not ask for it).
    pipeline.steps.insert(len(pipeline.steps) - 1, ("transformation", wrapper(PowerTransformer())))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(case.X, case.y)
    fast, reason = try_compile(pipeline, case.schema)
    assert fast is None and reason == "the step transformation (PowerTransformer) has no fast equivalent"
    model = LoadedModel(dataset_id="rich", job_id="p", model_name="p", schema=case.schema, pipeline=pipeline,
                        sha256="", path=Path("p"))
    assert not attach_fast_path(model)
    assert model.fast_path_reason == reason and model.info()["fastPath"] is False
    rows = valid_rows_from(case, 30)
    frame = rows_to_frame(case.schema, _validated(case, rows))
    expected = pycaret_pipeline.predict(pipeline, frame, probabilities=True)
    assert predict_rows(model, rows).predictions == expected[0].tolist()


def test_something_that_is_not_a_pycaret_pipeline_is_not_compiled(rich_cases: dict[str, Case]) -> None:
    from sklearn.pipeline import Pipeline

    case = rich_cases["regression:ridge"]
    fast, reason = try_compile(Pipeline([("model", case.pipeline.steps[-1][1])]), case.schema)
    assert fast is None and "not a PyCaret pipeline" in reason


def test_a_compiled_pipeline_that_differs_is_refused_at_load(rich_cases: dict[str, Case],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    case = rich_cases["classification:lr"]
    fast = fast_path.compile_pipeline(case.pipeline, case.schema)
    assert fast is not None
    scaler = next(k for k in fast.kernels if isinstance(k, fast_steps._Scale))
    op, mean = scaler.ops[0]
    scaler.ops[0] = (op, mean + 1e-3)  # a tiny error in one step
    monkeypatch.setattr(prediction.loading, "try_compile", lambda pipeline, schema: (fast, ""))
    model = LoadedModel(dataset_id="rich", job_id="x", model_name="x", schema=case.schema,
                        pipeline=case.pipeline, sha256="", path=Path("x"))
    assert not attach_fast_path(model)
    assert model.fast_path_reason.startswith("differs from the pipeline: row ")


def test_a_batch_it_cannot_reproduce_takes_the_full_pipeline(rich_cases: dict[str, Case]) -> None:
    case = rich_cases["classification:lightgbm"]
    model = LoadedModel(dataset_id="rich", job_id="x", model_name="x", schema=case.schema,
                        pipeline=case.pipeline, sha256="", path=Path("x"))
    assert attach_fast_path(model) and model.fast is not None
    rows = _validated(case, valid_rows_from(case, 20))
    batch = rows_to_batch(case.schema, rows)
    # A missing date (the request validation never sends one): PyCaret's date step depends on how
    # many dates of the batch are missing, so the fast path leaves such a batch to the pipeline.
    batch.columns["since"][3] = np.datetime64("NaT")
    with pytest.raises(FastPathUnsupported):
        model.fast.predict(batch, True)
    expected = pycaret_pipeline.predict(case.pipeline, batch.to_frame(), probabilities=True)
    assert compare_predictions(expected, prediction.running.run_model(model, batch), regression=False) is None


def test_concurrent_predictions_through_the_fast_path(rich_cases: dict[str, Case]) -> None:
    case = rich_cases["classification:lightgbm"]
    model = LoadedModel(dataset_id="rich", job_id="x", model_name="x", schema=case.schema,
                        pipeline=case.pipeline, sha256="", path=Path("x"))
    assert attach_fast_path(model)
    rows = valid_rows_from(case, 64)
    alone = [predict_rows(model, row) for row in rows]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda row: predict_rows(model, row), rows))
    assert [r.predictions for r in together] == [r.predictions for r in alone]
    assert [r.probabilities for r in together] == [r.probabilities for r in alone]


# --------------------------------------------------------------------------- the deployed models


def test_the_engines_deployed_models_use_the_fast_path_and_models_says_so(deployed_home: DeployedHome) -> None:
    with live_server(deployed_home.paths) as url, httpx.Client(base_url=url, timeout=30) as client:
        listed = client.get("/models").json()["models"]
        assert {m["fastPath"] for m in listed} == {None}  # not loaded yet: not known yet
        for job in deployed_home.jobs.values():
            r = client.post(f"/predict/{job.dataset_id}", json={"inputData": valid_rows(job, 5)})
            assert r.status_code == 200, r.text
        # The service answers with the pipeline at once and checks the compiled form in the background.
        deadline = time.monotonic() + 60
        while True:
            listed = client.get("/models").json()["models"]
            if all(m["fastPathReason"] != prediction.FAST_PATH_PENDING for m in listed):
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.05)
        for job in deployed_home.jobs.values():
            r = client.post(f"/predict/{job.dataset_id}", json={"inputData": valid_rows(job, 5)})
            assert r.status_code == 200, r.text
    assert [m["fastPath"] for m in listed] == [True, True]
    assert all(m["fastPathReason"].startswith("matched the pipeline") for m in listed)
    registry = ModelRegistry(deployed_home.paths)
    for job in deployed_home.jobs.values():
        model = registry.get(job.dataset_id)
        assert model.fast_path, model.fast_path_reason
        rows = valid_rows(job, 200, seed=4)
        expected = pycaret_pipeline.predict(model.pipeline, rows_to_frame(model.schema, _validated_for(model, rows)),
                                            probabilities=model.problem_type == "classification")
        got = predict_rows(model, rows)
        # The app answers at the model's decision threshold (a yes/no model's), on both paths alike.
        labels = model.schema.classes
        want = decide(model.schema.decision_threshold, expected[0], expected[1], labels) if labels else expected[0]
        assert got.predictions == want.tolist()
    off = ModelRegistry(deployed_home.paths, fast_path=False).get(deployed_home.clf.dataset_id)
    assert not off.fast_path and off.fast_path_reason == "disabled"


def _validated_for(model: LoadedModel, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return validate_rows(model.schema, rows, strict=False).rows
