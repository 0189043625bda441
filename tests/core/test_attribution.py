"""Per-prediction explanations on models trained by the real engine (issue 15, item 1).

Contributions must add up to the answer (1e-6) in the user's columns: one-hot columns summed into
their category column and date parts into their date column, for yes/no, several-class and
quantity models, exact (trees, linear), an ensemble, and the sampling method.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.ingest import import_dataset, load_dataset_frame
from predictml_desktop.core.modeling import attribution
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.prediction import LoadedModel, attach_fast_path, load_verified, validate_rows
from predictml_desktop.core.prediction.explaining import explain_rows, summary
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training import TrainingOptions, TrainingRunner, create_job
from tests.core.test_fast_path import rich_table
from tests.trained_models import purchase_table


@dataclass
class Case:
    model: LoadedModel
    X: pd.DataFrame
    y: pd.Series
    rows: list[dict[str, Any]]


def _train(root: Path, frame: pd.DataFrame, target: str, kind: str, models: list[str]) -> Case:
    paths = Paths.default().ensure()
    store = Store(paths)
    csv = root / f"{target}.csv"
    frame.to_csv(csv, index=False)
    dataset = import_dataset(store, csv, target=target, name=target, problem_type=kind)
    job = create_job(store, dataset.id, target, TrainingOptions(preset="fast", models=models), problem_type=kind)
    job = TrainingRunner(store, job.id).run()
    assert job.status == JobStatus.PENDING_REVIEW, job.error
    model = load_verified(paths, job, expected_sha256=job.model_sha256, fast_path=False)
    data = load_dataset_frame(paths, store.read().datasets.get(dataset.id))
    data = data[data[target].notna()].reset_index(drop=True)
    X = data[[f.name for f in model.schema.features]].copy()
    raw = X.head(40).astype(object).where(X.head(40).notna(), None).to_dict(orient="records")
    rows = validate_rows(model.schema, raw, strict=False).rows
    for f in model.schema.features:
        if f.kind == "datetime":
            X[f.name] = pd.to_datetime(X[f.name], format="mixed").astype("datetime64[ns]")
    return Case(model, X, data[target], rows)


def _refit(case: Case, name: str, estimator: Any) -> Case:
    """The engine's fitted set-up with another final estimator (as the engine's final fit does)."""
    from sklearn.base import clone

    pipeline = clone(case.model.pipeline)
    pipeline.steps[-1] = (pipeline.steps[-1][0], estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(case.X, case.y)
    model = LoadedModel(dataset_id="x", job_id=name, model_name=name, schema=case.model.schema, pipeline=pipeline,
                        sha256="", path=Path(name))
    return Case(model, case.X, case.y, case.rows)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    from catboost import CatBoostClassifier, CatBoostRegressor
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import VotingClassifier, VotingRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    from xgboost import XGBClassifier, XGBRegressor

    root = tmp_path_factory.mktemp("explain")
    with pytest.MonkeyPatch.context() as env:
        for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MPLCONFIGDIR"):
            env.setenv(name, str(root / "userhome" / name.lower()))
        env.setenv("PREDICTML_HOME", str(root / "home"))
        env.setenv("PREDICTML_CONFIG_HOME", str(root / "config"))
        purchases = purchase_table()
        binary = _train(root, purchases.drop(columns=["basket_value"]), "purchased", "classification", ["lightgbm"])
        quantity = _train(root, purchases.drop(columns=["purchased"]), "basket_value", "regression", ["lr"])
        several = _train(root, rich_table().drop(columns=["value"]), "tier", "classification", ["lightgbm"])
    lgbm = LGBMClassifier(n_estimators=40, n_jobs=1, verbose=-1, random_state=0)
    out = {
        "binary:lightgbm": binary,
        "binary:lr": _refit(binary, "lr", LogisticRegression(max_iter=2000)),
        "binary:xgboost": _refit(binary, "xgb", XGBClassifier(n_estimators=30, n_jobs=1, random_state=0)),
        "binary:catboost": _refit(binary, "cb", CatBoostClassifier(iterations=30, verbose=False, thread_count=1,
                                                                   random_seed=0, allow_writing_files=False)),
        "binary:dt": _refit(binary, "dt", DecisionTreeClassifier(max_depth=5, random_state=0)),
        "binary:ensemble": _refit(binary, "ens", VotingClassifier(
            [("lr", LogisticRegression(max_iter=2000)), ("lightgbm", lgbm)], voting="soft", weights=[0.4, 0.6])),
        "binary:mixed": _refit(binary, "mixed", VotingClassifier(
            [("lr", LogisticRegression(max_iter=2000)), ("dt", DecisionTreeClassifier(max_depth=4, random_state=0))],
            voting="soft", weights=[0.5, 0.5])),
        "regression:lr": quantity,
        "regression:xgboost": _refit(quantity, "xgb", XGBRegressor(n_estimators=30, n_jobs=1, random_state=0)),
        "regression:catboost": _refit(quantity, "cb", CatBoostRegressor(iterations=30, verbose=False, thread_count=1,
                                                                        random_seed=0, allow_writing_files=False)),
        "regression:ensemble": _refit(quantity, "ens", VotingRegressor(
            [("lr", LinearRegression()), ("xgb", XGBRegressor(n_estimators=20, n_jobs=1))], weights=[1, 3])),
        "several:lightgbm": several,
        "several:lr": _refit(several, "lr", LogisticRegression(max_iter=3000)),
    }
    for case in out.values():
        attach_fast_path(case.model)
    return out


EXACT = {
    "binary:lightgbm": attribution.METHOD_TREE, "binary:lr": attribution.METHOD_LINEAR,
    "binary:xgboost": attribution.METHOD_TREE, "binary:catboost": attribution.METHOD_TREE,
    "regression:lr": attribution.METHOD_LINEAR, "regression:xgboost": attribution.METHOD_TREE,
    "regression:catboost": attribution.METHOD_TREE,
    "several:lightgbm": attribution.METHOD_TREE, "several:lr": attribution.METHOD_LINEAR,
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_contributions_add_up_to_the_answer(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    explanation = explain_rows(case.model, case.rows)
    a = explanation.attribution
    assert a.method == EXACT[name] and a.exact
    assert a.values.shape == (len(case.rows), len(case.model.schema.features))
    assert a.max_additivity_error() < 1e-6
    # The explained answer is the model's own: the positive class's probability, or the value.
    result = case.model.pipeline
    frame = case.X.head(len(case.rows))
    if name.startswith("regression"):
        assert np.allclose(a.output, result.predict(frame), atol=1e-6)
    else:
        proba = result.predict_proba(frame)
        assert np.allclose(a.output, proba[np.arange(len(frame)), a.explained_class], atol=1e-6)
    assert np.abs(a.values).sum() > 0


def test_one_hot_and_date_columns_are_summed_into_the_uploaded_columns(cases: dict[str, Case]) -> None:
    case = cases["several:lr"]
    pipeline = case.model.pipeline
    from predictml_desktop.core.modeling.pipeline import transform

    model_columns = list(transform(pipeline, case.X.head(3)).columns)
    # The pipeline really expands them: the town's one-hot (or encoded) columns and the date's parts.
    assert any(c.startswith("since_") for c in model_columns) and "since" not in model_columns
    assert any(c.startswith("colour_") for c in model_columns)
    explanation = explain_rows(case.model, case.rows)
    assert explanation.columns == [f.name for f in case.model.schema.features]
    assert {"since", "colour", "town", "floor area: m2"} <= set(explanation.columns)
    linear = pipeline.steps[-1][1]
    k = int(explanation.attribution.explained_class[0])
    Xt = transform(pipeline, case.X.head(1))
    # The date's contribution is the sum over its parts (in margin space, before the link): nonzero
    # whenever the row's date differs from the typical one and the model uses it.
    parts = [j for j, c in enumerate(Xt.columns) if c.startswith("since_")]
    assert np.any(linear.coef_[:, parts] != 0)
    assert explanation.attribution.values[0, explanation.columns.index("since")] != 0
    assert 0 <= k < 3


def test_an_ensemble_is_the_weighted_sum_of_its_members(cases: dict[str, Case]) -> None:
    for name in ("binary:ensemble", "regression:ensemble"):
        case = cases[name]
        a = explain_rows(case.model, case.rows).attribution
        assert a.method.startswith(attribution.METHOD_ENSEMBLE) and a.exact, a.method
        assert a.max_additivity_error() < 1e-6
    # The binary ensemble's contributions are 0.4 × the linear member's + 0.6 × the trees'.
    case = cases["binary:ensemble"]
    voting = case.model.pipeline.steps[-1][1]
    from predictml_desktop.core.modeling.pipeline import transform

    Xt = transform(case.model.pipeline, case.X.head(len(case.rows)))
    lr_alone = _refit(case, "lr-alone", voting.named_estimators_["lr"])
    assert lr_alone is not None
    proba = voting.predict_proba(Xt)[:, 1]
    members = [m.predict_proba(Xt)[:, 1] for m in voting.estimators_]
    assert np.allclose(proba, 0.4 * members[0] + 0.6 * members[1])


def test_an_ensemble_with_an_unexplainable_member_samples_only_that_member(cases: dict[str, Case]) -> None:
    a = explain_rows(cases["binary:mixed"].model, cases["binary:mixed"].rows).attribution
    assert not a.exact
    assert attribution.METHOD_LINEAR in a.method and "sampling SHAP (approximate," in a.method, a.method
    assert a.max_additivity_error() < 1e-6


def test_the_sampling_method_adds_up_exactly_and_says_it_is_approximate(cases: dict[str, Case]) -> None:
    case = cases["binary:dt"]
    explanation = explain_rows(case.model, case.rows)
    a = explanation.attribution
    assert not a.exact and a.method.startswith("sampling SHAP (approximate,")
    assert a.max_additivity_error() < 1e-9
    again = explain_rows(case.model, case.rows).attribution
    assert np.array_equal(a.values, again.values)  # a fixed seed: the same answer every time


def test_sampling_matches_the_exact_values_of_a_linear_model() -> None:
    """With every permutation of three players, sampling SHAP is exact: a linear game checks it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    reference = np.zeros(3)
    w = np.array([1.0, -2.0, 0.5])
    values, base, output, count = attribution.explain_function(
        lambda batch: batch[0] @ w, X, reference, [[0], [1], [2]], budget=10_000)
    assert count == attribution.MAX_PERMUTATIONS
    assert np.allclose(values, X * w)
    assert np.allclose(base + values.sum(axis=1), output)


def test_sentences_and_summary(cases: dict[str, Case]) -> None:
    case = cases["binary:lightgbm"]
    explanation = explain_rows(case.model, case.rows[:3])
    reasons = explanation.reasons(0)
    assert len(reasons) == 3
    assert all(" the chance of " in r and (" raised " in r or " lowered " in r) for r in reasons), reasons
    # ``purchased`` is 0/1: the sentences name the class as the result card does ("Purchased: Yes").
    assert all(" the chance of Yes" in r or " the chance of No" in r for r in reasons), reasons
    doc = explanation.row_document(0)
    assert set(doc["contributions"]) == set(explanation.columns)
    assert doc["method"] == attribution.METHOD_TREE
    rows = summary(explanation)
    assert rows[0]["meanAbs"] >= rows[-1]["meanAbs"]
    reg = explain_rows(cases["regression:lr"].model, cases["regression:lr"].rows[:1])
    assert "basket_value" in reg.reasons(0)[0]




def test_the_engine_writes_a_contribution_summary_of_holdout_rows(cases: dict[str, Case]) -> None:
    import json

    for name in ("binary:lightgbm", "regression:lr", "several:lightgbm"):
        model = cases[name].model
        folder = model.path.parent / "plots"
        doc = json.loads((folder / "contribution_summary.json").read_text("utf-8"))
        assert doc["kind"] == "contribution_summary" and (folder / "contribution_summary.png").is_file()
        assert doc["method"] and 0 < doc["rows"] <= 200 and "holdout" in doc["title"]
        names = [f["name"] for f in doc["features"]]
        assert set(names) <= {f.name for f in model.schema.features} and names
        sizes = [f["meanAbs"] for f in doc["features"]]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0
        assert all(len(f["dots"]) == doc["rows"] for f in doc["features"])
        assert abs(np.mean(np.abs(doc["features"][0]["dots"])) - sizes[0]) < 1e-3 * max(1.0, sizes[0])


@pytest.mark.parametrize(("label", "words"), [(1, "Yes"), ("1.0", "Yes"), (True, "Yes"), ("y", "Yes"), (0, "No"),
                                              ("False", "No"), ("off", "No"), ("gold", "gold"), (2, "2")])
def test_a_yes_no_class_reads_as_yes_or_no_everywhere(label: object, words: str) -> None:
    from predictml_desktop.core.input_schema import class_in_words

    assert class_in_words(label) == words

