"""Profiling: column kinds, warnings, target suggestion and problem type."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from predictml_desktop.core.ingest import read_table
from predictml_desktop.core.profile import ColumnKind, ProfileError, problem_type_for, profile_frame

N = 200
RNG = np.random.default_rng(7)


def _kinds_frame() -> pd.DataFrame:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "again", "today"]
    return pd.DataFrame(
        {
            "row_id": np.arange(1, N + 1),
            "uuid": [f"a{i:08x}-{i * 7919 % 65536:04x}" for i in range(N)],
            "price": RNG.normal(100, 20, N).round(2),
            "color": RNG.choice(["red", "green", "blue"], N),
            "rating": RNG.integers(1, 6, N),
            "member": RNG.choice(["yes", "no"], N),
            "active": RNG.random(N) < 0.5,
            "flag": RNG.integers(0, 2, N),
            "joined": pd.Series(pd.date_range("2020-01-01", periods=N, freq="D")).dt.strftime("%Y-%m-%d"),
            "comment": [" ".join(RNG.choice(words, 8)) + f" {i}" for i in range(N)],
            "source": ["web"] * N,
            "nothing": [np.nan] * N,
        }
    )


def test_column_kinds() -> None:
    profile = profile_frame(_kinds_frame())
    kinds = {c["name"]: c["kind"] for c in profile.columns}
    assert kinds == {
        "row_id": ColumnKind.ID,
        "uuid": ColumnKind.ID,
        "price": ColumnKind.NUMERIC,
        "color": ColumnKind.CATEGORICAL,
        "rating": ColumnKind.INTEGER_CATEGORICAL,
        "member": ColumnKind.BOOLEAN,
        "active": ColumnKind.BOOLEAN,
        "flag": ColumnKind.BOOLEAN,
        "joined": ColumnKind.DATETIME,
        "comment": ColumnKind.TEXT,
        "source": ColumnKind.CONSTANT,
        "nothing": ColumnKind.EMPTY,
    }
    assert set(profile.excluded_columns) == {"row_id", "uuid", "source", "nothing"}


def test_column_summaries_and_json() -> None:
    frame = _kinds_frame()
    frame.loc[:9, "price"] = np.nan
    profile = profile_frame(frame)
    price = profile.column("price")
    assert price["missingShare"] == 0.05
    assert price["unique"] == frame["price"].nunique()
    assert price["summary"]["min"] == pytest.approx(frame["price"].min())
    assert price["summary"]["mean"] == pytest.approx(frame["price"].mean())
    color = profile.column("color")
    assert [t["value"] for t in color["summary"]["top"]] == frame["color"].value_counts().index.tolist()
    assert profile.column("joined")["summary"] == {"min": "2020-01-01T00:00:00", "max": "2020-07-18T00:00:00"}
    # Everything the record stores must be plain JSON (the store refuses NaN and numpy scalars).
    json.dumps([profile.columns, profile.warnings, profile.target_candidates], allow_nan=False)


def test_warnings_for_ids_constants_empty_and_missing_columns() -> None:
    frame = _kinds_frame()
    frame["sparse"] = np.where(RNG.random(N) < 0.7, np.nan, RNG.normal(size=N))
    codes = {(w["code"], w["column"]) for w in profile_frame(frame).warnings}
    assert {("id_like", "row_id"), ("id_like", "uuid"), ("constant", "source"), ("empty_column", "nothing"),
            ("high_missing", "sparse")} <= codes


def test_duplicate_rows_are_counted() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3, 1, 1], "b": ["x", "y", "z", "x", "x"]})
    [warning] = [w for w in profile_frame(frame).warnings if w["code"] == "duplicate_rows"]
    assert warning["message"].startswith("2 rows are exact duplicates of other rows (40%)")


@pytest.mark.parametrize("seed", range(5))
def test_leakage_is_reported_for_a_feature_that_gives_the_target_away(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 1000
    x = rng.normal(size=n)
    y = (x + rng.normal(scale=1.0, size=n) > 0).astype(int)
    frame = pd.DataFrame({
        "x": x,  # a strong but honest feature: not leakage
        "noise": rng.normal(size=n),
        "outcome_code": np.where(y == 1, "P", "N"),  # the target spelled differently
        "score_after": y * 10 + rng.normal(scale=0.1, size=n),  # recorded after the outcome
        "y": y,
    })
    warnings = profile_frame(frame, target="y").warnings
    leaks = {w["column"] for w in warnings if w["code"] == "leakage"}
    assert leaks == {"outcome_code", "score_after"}
    message = next(w["message"] for w in warnings if w["column"] == "outcome_code")
    assert message.startswith("Column 'outcome_code' alone predicts the target 'y' almost perfectly (100.0% accuracy")


@pytest.mark.parametrize("seed", range(5))
def test_leakage_in_regression(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 800
    size = rng.uniform(50, 200, n)
    price = size * 3000 + rng.normal(scale=20000, size=n)
    frame = pd.DataFrame({"size": size, "price_with_tax": price * 1.2, "rooms": rng.integers(1, 6, n), "price": price})
    leaks = {w["column"] for w in profile_frame(frame, target="price").warnings if w["code"] == "leakage"}
    assert leaks == {"price_with_tax"}


def test_class_balance_warnings() -> None:
    labels = ["a"] * 180 + ["b"] * 15 + ["c"] * 5
    frame = pd.DataFrame({"x": RNG.normal(size=200), "label": labels, "target_gap": [None] * 3 + labels[3:]})
    warnings = profile_frame(frame, target="label").warnings
    by_code = {w["code"]: w["message"] for w in warnings}
    assert by_code["minority_class"].startswith("The class 'c' of the target 'label' has only 2.5% of the rows")
    assert by_code["small_classes"].startswith("1 class of the target 'label' has fewer than 10 rows: 'c' (5)")
    missing = profile_frame(frame, target="target_gap").warnings
    assert any(w["code"] == "target_missing" and w["message"].startswith("3 rows (1.5%) have no value")
               for w in missing)


def test_unsuitable_target_is_warned_about() -> None:
    warnings = profile_frame(_kinds_frame(), target="comment").warnings
    assert any(w["code"] == "target_unsuitable" and "free text" in w["message"] for w in warnings)


def test_candidates_never_include_id_constant_text_or_empty_columns() -> None:
    profile = profile_frame(_kinds_frame())
    columns = {c["column"] for c in profile.target_candidates}
    assert columns.isdisjoint({"row_id", "uuid", "source", "nothing", "comment", "joined"})
    assert all(c["reason"].endswith(".") and c["reason"][0].isupper() for c in profile.target_candidates)


@pytest.mark.parametrize(
    ("name", "position"),
    [("churn", 0), ("Survived", 1), ("default_payment_next_month", 2), ("is_fraud", 3), ("Label", 0)],
)
def test_target_names_win_wherever_they_are(name: str, position: int) -> None:
    frame = pd.DataFrame({"age": RNG.integers(18, 80, N), "city": RNG.choice(["a", "b", "c"], N),
                          "income": RNG.normal(5e4, 1e4, N), "visits": RNG.poisson(3, N)})
    frame.insert(position, name, RNG.integers(0, 2, N))
    profile = profile_frame(frame)
    assert profile.suggested_target == name
    assert profile.problem_type == "classification"
    assert "typical of a target" in profile.target_candidates[0]["reason"]


def test_last_column_is_preferred_without_name_hints() -> None:
    frame = pd.DataFrame({"a": RNG.normal(size=N), "b": RNG.normal(size=N), "c": RNG.choice(["x", "y"], N)})
    profile = profile_frame(frame)
    assert profile.suggested_target == "c"
    assert "it is the last column" in profile.target_candidates[0]["reason"].lower()


def test_no_candidate_when_nothing_can_be_a_target() -> None:
    frame = pd.DataFrame({"id": range(50), "const": [1] * 50})
    profile = profile_frame(frame)
    assert (profile.suggested_target, profile.problem_type, profile.target_candidates) == (None, None, [])


@pytest.mark.parametrize(
    ("values", "expected", "reason"),
    [
        (RNG.normal(size=100), "regression", "continuous numbers"),
        (RNG.integers(0, 3, 100), "classification", "whole numbers with only 3 distinct values"),
        (RNG.integers(0, 500, 100) * 7, "regression", "whole numbers with"),
        (RNG.choice(["cat", "dog"], 100), "classification", "labels (2 classes)"),
        (RNG.random(100) < 0.3, "classification", "yes/no"),
        (np.where(RNG.random(100) < 0.3, 1.0, 0.0), "classification", "only 2 distinct values"),
    ],
)
def test_problem_type(values: np.ndarray, expected: str, reason: str) -> None:
    frame = pd.DataFrame({"x": range(100), "y": values})
    problem, why = problem_type_for(frame, "y")
    assert problem == expected
    assert reason in why


def test_problem_type_of_a_missing_or_empty_target() -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": [np.nan, np.nan]})
    with pytest.raises(ProfileError, match="'z' is not a column"):
        problem_type_for(frame, "z")
    with pytest.raises(ProfileError, match="The target 'y' has no values"):
        problem_type_for(frame, "y")
    with pytest.raises(ProfileError, match="'z' is not a column"):
        profile_frame(frame, target="z")


def test_overriding_the_target_changes_problem_type_and_warnings() -> None:
    frame = _kinds_frame()
    suggested = profile_frame(frame)
    chosen = profile_frame(frame, target="price")
    assert suggested.suggested_target == chosen.suggested_target
    assert chosen.problem_type == "regression"
    assert suggested.problem_type != chosen.problem_type


# --------------------------------------------------------------------------- scikit-learn datasets


def _sklearn(name: str) -> tuple[pd.DataFrame, str]:
    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "digits": datasets.load_digits,
    }[name]
    frame = loader(as_frame=True).frame
    expected = "regression" if name == "diabetes" else "classification"
    return frame, expected


SKLEARN = ["iris", "wine", "breast_cancer", "diabetes", "digits"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("name", SKLEARN)
def test_sklearn_datasets_get_the_right_target_and_problem_type(name: str, fmt: str, tmp_path: Path) -> None:
    frame, expected = _sklearn(name)
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_excel(path, index=False)
    table = read_table(path)
    assert table.frame.shape == frame.shape
    profile = profile_frame(table.frame)
    assert profile.suggested_target == "target"
    assert profile.problem_type == expected
    assert not [w for w in profile.warnings if w["code"] == "leakage"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_iris_with_species_names_first(fmt: str, tmp_path: Path) -> None:
    bunch = datasets.load_iris(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame.insert(0, "species", bunch.target_names[bunch.target])
    path = tmp_path / f"iris.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_excel(path, index=False)
    profile = profile_frame(read_table(path).frame)
    assert (profile.suggested_target, profile.problem_type) == ("species", "classification")
    assert profile.problem_type_reason == "The target holds labels (3 classes)."


def test_breast_cancer_renamed_diagnosis_with_text_labels(tmp_path: Path) -> None:
    bunch = datasets.load_breast_cancer(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame.insert(3, "diagnosis", np.where(bunch.target == 1, "benign", "malignant"))
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    profile = profile_frame(read_table(path).frame)
    assert profile.suggested_target == "diagnosis"
    assert profile.problem_type == "classification"


def test_a_big_tables_parallel_analysis_equals_the_serial_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import predictml_desktop.core.profile.profiling as profiling

    rng = np.random.default_rng(1)
    n = 5_000
    frame = pd.DataFrame({
        "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "whole": rng.integers(0, 12, n).astype(float),
        "zeros": np.where(rng.random(n) < 0.5, 0.0, -0.0),  # one value: 0.0 == -0.0
        "id": np.arange(n),
        "flag": rng.integers(0, 2, n),
        "when": pd.date_range("2020-01-01", periods=n, freq="h"),
        "city": rng.choice(["Oslo", "Lima", None], n),
        "y": rng.choice(["yes", "no"], n),
    })
    serial = profiling.profile_frame(frame)
    monkeypatch.setattr(profiling, "PARALLEL_MIN_CELLS", 0)
    parallel = profiling.profile_frame(frame)
    assert parallel == serial
    assert serial.kinds["zeros"] == "constant" and serial.column("x")["unique"] == int(frame["x"].nunique())
