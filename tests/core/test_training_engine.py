"""The training engine with real PyCaret on tiny tables, in this process (no worker)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.artifacts import InputSchema, sha256_file
from predictml_desktop.core.training import TrainingError, TrainingEvent, TrainingOptions
from predictml_desktop.core.training.dataprep import prepare
from predictml_desktop.core.training.engine import TrainingCancelled, TrainingRequest, run_training
from predictml_desktop.core.training.folds import FAULTS_ENV
from tests.core.training_support import binary_frame

pytestmark = pytest.mark.slow

FAST = {"preset": "fast", "models": ["lr", "dt", "nb"]}


def train(frame: pd.DataFrame, folder: Path, *, target: str = "target", problem_type: str | None = None,
          **options: Any) -> tuple[dict[str, Any], list[TrainingEvent]]:
    events: list[TrainingEvent] = []
    request = TrainingRequest(
        frame=frame, target=target, problem_type=problem_type,
        options=TrainingOptions(**{**FAST, **options}), job_id="training_1", dataset_id="report_1",
        model_dir=folder / "models" / "training_1", home=folder, started_at=time.time(),
    )
    return run_training(request, events.append), events


def load_model(folder: Path) -> tuple[Any, InputSchema]:
    model_dir = folder / "models" / "training_1"
    schema = InputSchema.from_dict(json.loads((model_dir / "schema.json").read_text()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return joblib.load(model_dir / "model.pkl"), schema


def test_binary_result_artifacts_and_the_saved_pipeline_contract(tmp_path: Path) -> None:
    frame = binary_frame(160, labels=("no", "yes"))
    result, events = train(frame, tmp_path)
    # The seed's result document, plus what the job records.
    for key in ("success", "model_name", "problem_type", "metrics", "model_path", "modelSha256", "durationS",
                "rankingMetric", "rankingMetricReason", "cv", "baseline", "beatsBaseline", "leaderboard",
                "samples", "features", "environment", "warnings", "classes"):
        assert key in result, key
    assert result["success"] is True and result["problem_type"] == "classification"
    assert result["rankingMetric"] == "auc" and result["model_path"] == "models/training_1/model.pkl"
    assert set(result["metrics"]) >= {"accuracy", "auc", "f1", "precision", "recall", "kappa", "mcc", "log_loss"}
    assert result["samples"] == 160 and result["features"] == 3 and result["holdoutRows"] == 32
    assert result["beatsBaseline"] is True and result["baseline"]["auc"] == pytest.approx(0.5)
    model_dir = tmp_path / "models" / "training_1"
    for name in ("model.pkl", "schema.json", "environment.json", "leaderboard.json", "result.json"):
        assert (model_dir / name).is_file(), name
    for plot in ("confusion_matrix", "roc", "precision_recall", "feature_importance"):
        assert (model_dir / "plots" / f"{plot}.json").is_file() and (model_dir / "plots" / f"{plot}.png").is_file()
    assert sha256_file(model_dir / "model.pkl") == result["modelSha256"]
    assert json.loads((model_dir / "environment.json").read_text())["pycaret"] == "3.3.2"
    # Every candidate is on the leaderboard, the chosen one marked, the baseline included.
    board = result["leaderboard"]
    assert {e["model"] for e in board} >= {"dummy", "lr", "dt", "nb"}
    assert sum(1 for e in board if e["chosen"]) == 1
    for entry in board:
        assert entry["status"] in ("done", "failed", "stopped", "skipped")
        if entry["status"] == "done":
            assert next(iter(entry["scores"])) == "auc" and "std" in entry and entry["fitSeconds"] >= 0
    # The pipeline answers in the original labels, probabilities in schema.classes order.
    pipeline, schema = load_model(tmp_path)
    assert schema.classes == ["no", "yes"] and schema.positive_class == "yes"
    assert [f.name for f in schema.features] == ["x1", "x2", "color"]
    color = schema.feature("color")
    assert color.kind == "categorical" and color.nullable and set(color.categories) == {"red", "green", "blue"}
    assert schema.feature("x1").kind == "numeric" and schema.feature("x1").minimum is not None
    rows = frame[[f.name for f in schema.features]].head(40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = pipeline.predict(rows)
        proba = pipeline.predict_proba(rows)
    assert set(labels) <= {"no", "yes"}
    assert proba.shape == (40, 2) and np.allclose(proba.sum(axis=1), 1)
    assert list(np.where(proba[:, 1] > 0.5, "yes", "no")) == list(labels)
    # Stages in the seed's order.
    progress = [(e.payload["progress"], e.payload["stage"]) for e in events if e.type == "progress"]
    firsts = [p for p, s in progress if s in ("Detecting problem type", "Setting up", "Training models",
                                              "Evaluating", "Saved")]
    assert firsts == sorted(firsts) and firsts[0] == 15 and firsts[-1] == 100
    assert any(25 <= p <= 40 for p, _ in progress) and any(40 < p < 80 for p, _ in progress)


def test_same_data_and_options_give_the_same_model_and_metrics(tmp_path: Path) -> None:
    frame = binary_frame(150, seed=3)
    # MLP and AdaBoost hold the GIL: they are screened in the second lane, concurrently.
    models = ["lr", "dt", "nb", "rf", "mlp", "ada"]
    first, _ = train(frame, tmp_path / "a", models=models)
    second, _ = train(frame, tmp_path / "b", models=models)
    assert first["model_name"] == second["model_name"]
    assert first["metrics"] == second["metrics"] and first["cv"] == second["cv"]
    boards = [{e["model"]: (e["status"], e.get("reason"), e.get("scores")) for e in r["leaderboard"]}
              for r in (first, second)]
    assert boards[0] == boards[1]


def test_a_crash_in_a_fitting_process_fails_one_candidate_and_the_run_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "abort" ends the fitting process as a native crash would (os._exit in the spawned process).
    monkeypatch.setenv(FAULTS_ENV, "abort:nb")
    result, events = train(binary_frame(150, seed=3), tmp_path, models=["lr", "dt", "nb"])
    board = {e["model"]: e for e in result["leaderboard"]}
    assert board["nb"]["status"] == "failed"
    assert board["nb"]["reason"] == "failed: its process stopped unexpectedly (exit code 134)"
    assert board["lr"]["status"] == "done" and result["success"]
    assert any(e.message.startswith("Naive Bayes: failed: its process stopped") for e in events if e.type == "log")
    model, _ = load_model(tmp_path)
    assert sha256_file(tmp_path / "models" / "training_1" / "model.pkl") == result["modelSha256"]
    assert len(model.predict(binary_frame(150, seed=3).drop(columns=["target"]))) == 150


def test_a_deadlocked_fit_is_found_in_seconds_and_the_run_goes_on(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The hang of issue 12: a fit alive but using no CPU. It is ended, not waited for."""
    from predictml_desktop.core.training import pool

    monkeypatch.setattr(pool, "STUCK_AFTER_S", 3.0)
    monkeypatch.setenv(FAULTS_ENV, "hang:dt")
    start = time.monotonic()
    result, _ = train(binary_frame(150, seed=3), tmp_path, models=["lr", "dt", "nb"])
    assert time.monotonic() - start < 60
    dt = next(e for e in result["leaderboard"] if e["model"] == "dt")
    assert dt["status"] == "failed" and "stopped making progress" in dt["reason"]
    assert result["success"]


def test_a_member_whose_final_fit_fails_is_left_out_and_the_others_reweighted() -> None:
    from concurrent.futures import Future
    from types import SimpleNamespace

    from sklearn.linear_model import LogisticRegression

    from predictml_desktop.core.training.finalize import collect
    from predictml_desktop.core.training.pool import TaskStopped

    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    fitted = LogisticRegression().fit(X, y)
    ok: Future[Any] = Future()
    ok.set_result(fitted)
    crashed: Future[Any] = Future()
    crashed.set_exception(TaskStopped("crashed", "its process stopped unexpectedly (exit code 139)"))
    run = SimpleNamespace(classification=True, n_classes=2, exp=SimpleNamespace(assemble=lambda pre, est: est))
    result = collect(run, (None, ["a", "b"], [("lr", 0.7, ok), ("nb", 0.3, crashed)]), tag="all")  # type: ignore[arg-type]
    assert result.members == ["lr"] and result.weights == [1.0] and result.estimator is fitted
    assert result.dropped == ["nb (its process stopped unexpectedly (exit code 139))"]


def test_when_no_member_can_be_fitted_the_training_fails_with_one_sentence(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULTS_ENV, "crash:final-lr,crash:final-nb,crash:final-dt")
    with pytest.raises(TrainingError, match="could not be fitted on the training rows"):
        train(binary_frame(150, seed=3), tmp_path, models=["lr", "nb", "dt"])


def test_the_chosen_ensemble_is_a_weighted_vote_of_its_members(tmp_path: Path) -> None:
    from sklearn.ensemble import VotingClassifier

    frame = binary_frame(400, seed=8)
    result, events = train(frame, tmp_path, models=["lr", "nb", "dt", "knn", "rf"], preset="balanced")
    pipeline, schema = load_model(tmp_path)
    estimator = pipeline.steps[-1][1]
    members = result["ensemble"]
    assert abs(sum(m["weight"] for m in members) - 1) < 1e-3
    if len(members) == 1:
        assert result["modelId"] == members[0]["model"]
        return
    assert result["modelId"] == "ensemble" and isinstance(estimator, VotingClassifier)
    assert [round(w, 4) for w in estimator.weights] == [m["weight"] for m in members]
    features = frame[[f.name for f in schema.features]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xt = pipeline[:-1].transform(features)
        blended = sum(w * est.predict_proba(Xt) for w, est in zip(estimator.weights, estimator.estimators_,
                                                                  strict=True))
        np.testing.assert_allclose(pipeline.predict_proba(features), blended)
    board = {e["model"]: e for e in result["leaderboard"]}
    assert board["ensemble"]["stage"] == "ensemble" and board["ensemble"]["chosen"]
    assert any(line.message.startswith("Ensemble of ") for line in events if line.type == "log")


def test_stopping_keeps_the_best_model_finished_so_far(tmp_path: Path) -> None:
    """The user's stop (or cancel) ends the search; the best candidate is fitted, saved and usable."""
    events: list[TrainingEvent] = []
    finished: list[str] = []

    def watch(event: TrainingEvent) -> None:
        events.append(event)
        if event.type == "candidate" and event.payload["status"] == "done" and event.payload["model"] != "dummy":
            finished.append(event.payload["model"])

    request = TrainingRequest(
        frame=binary_frame(300, seed=2), target="target", problem_type=None,
        options=TrainingOptions(preset="balanced", models=["lr", "nb", "dt", "rf", "et", "gbc", "mlp", "catboost"]),
        job_id="training_1", model_dir=tmp_path / "models" / "training_1", home=tmp_path, started_at=time.time(),
    )
    result = run_training(request, watch, should_stop=lambda: bool(finished))
    assert result["stoppedEarly"] is True and result["finalizedOnAllRows"] is False
    assert any(w["code"] == "stopped_early" for w in result["warnings"])
    assert result["modelId"] in finished[:3] or result["modelId"] == "ensemble"
    board = {e["model"]: e for e in result["leaderboard"]}
    assert any(e["status"] == "stopped" for e in board.values())
    pipeline, _ = load_model(tmp_path)
    assert sha256_file(tmp_path / "models" / "training_1" / "model.pkl") == result["modelSha256"]
    assert len(pipeline.predict(binary_frame(50, seed=9).drop(columns=["target"]))) == 50


def test_stopping_before_any_model_finished_keeps_nothing(tmp_path: Path) -> None:
    request = TrainingRequest(
        frame=binary_frame(120), target="target", problem_type=None, options=TrainingOptions(**FAST),
        job_id="training_1", model_dir=tmp_path / "models" / "training_1", home=tmp_path, started_at=time.time(),
    )
    with pytest.raises(TrainingCancelled):
        run_training(request, lambda _e: None, should_stop=lambda: True)
    assert not (tmp_path / "models" / "training_1" / "model.pkl").exists()


def test_permutation_importance_on_a_sampled_holdout_ranks_the_signal(tmp_path: Path) -> None:
    """Naive Bayes has no importances of its own: the holdout (over IMPORTANCE_ROWS) is sampled and shuffled."""
    from predictml_desktop.core.training.plots import IMPORTANCE_ROWS

    frame = binary_frame(12_000, seed=5)
    frame["noise"] = np.random.default_rng(99).normal(size=len(frame))
    result, _ = train(frame, tmp_path, models=["nb"])
    assert result["holdoutRows"] > IMPORTANCE_ROWS
    doc = json.loads((tmp_path / "models" / "training_1" / "plots" / "feature_importance.json").read_text())
    assert doc["method"] == "permutation" and doc["complete"]
    ranked = [f["name"] for f in doc["features"]]
    assert ranked == ["x1", "x2", "color", "noise"] and doc["features"][0]["importance"] > 0.1


def test_multiclass_integer_labels_keep_their_values_and_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 2))
    y = np.select([x[:, 0] > 0.5, x[:, 0] < -0.5], [30, 10], 20)
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "target": y})
    result, _ = train(frame, tmp_path)
    assert result["rankingMetric"] == "log_loss" and result["classes"] == [10, 20, 30]
    assert result["decisionThreshold"] is None
    pipeline, schema = load_model(tmp_path)
    assert schema.classes == [10, 20, 30] and schema.positive_class is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = pipeline.predict(frame[["a", "b"]])
        proba = pipeline.predict_proba(frame[["a", "b"]])
    assert set(labels) <= {10, 20, 30}
    assert list(np.asarray(schema.classes)[proba.argmax(axis=1)]) == list(labels)


def test_regression_metrics_plots_and_schema(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"size": rng.uniform(20, 200, 120).round(1), "rooms": rng.integers(1, 6, 120)})
    frame["price"] = 1000 * frame["size"] + 5000 * frame["rooms"] + rng.normal(0, 8000, 120)
    result, _ = train(frame, tmp_path, target="price", models=["lr", "dt"])
    assert result["problem_type"] == "regression" and result["rankingMetric"] == "r2"
    assert set(result["metrics"]) == {"r2", "rmse", "mae", "mape"} and result["metrics"]["r2"] > 0.5
    plots = tmp_path / "models" / "training_1" / "plots"
    assert {p.stem for p in plots.glob("*.png")} == {"residuals", "predicted_vs_actual", "feature_importance",
                                                     "contribution_summary"}
    _, schema = load_model(tmp_path)
    assert schema.classes == [] and schema.feature("rooms").integer


def test_at_the_budget_the_best_model_finished_so_far_is_kept(tmp_path: Path) -> None:
    events: list[TrainingEvent] = []
    request = TrainingRequest(
        frame=binary_frame(120), target="target", problem_type=None,
        options=TrainingOptions(preset="balanced", budget_s=10, models=["lr", "dt", "nb", "rf", "et"]),
        job_id="training_1", model_dir=tmp_path / "models" / "training_1", home=tmp_path,
        started_at=time.time() - 60,  # the budget ran out before the search began
    )
    result = run_training(request, events.append)
    # The first candidates to finish are kept (the budget never leaves a run without a model);
    # nothing more is started, and the model is not refitted on every row.
    assert result["success"] and result["finalizedOnAllRows"] is False
    reasons = [e["reason"] for e in result["leaderboard"] if e["status"] in ("stopped", "skipped")]
    assert any("the time budget ran out" in r for r in reasons), reasons
    assert any(w["code"] == "budget_reached" for w in result["warnings"])
    pipeline, _ = load_model(tmp_path)
    assert len(pipeline.predict(binary_frame(20, seed=3).drop(columns=["target"]))) == 20


def test_a_budget_out_during_successive_halving_keeps_the_best_screened_model(tmp_path: Path) -> None:
    """A table larger than one screening sample: the rungs stop at the budget and a model is still kept."""
    request = TrainingRequest(
        frame=binary_frame(3_000, seed=2), target="target", problem_type=None,
        options=TrainingOptions(preset="fast", budget_s=10, models=["lr", "nb", "dt", "rf"]),
        job_id="training_1", model_dir=tmp_path / "models" / "training_1", home=tmp_path,
        started_at=time.time() - 60,
    )
    result = run_training(request, lambda _e: None)
    assert result["success"] and result["modelId"] in ("lr", "nb", "dt", "rf")
    assert any(w["code"] == "budget_reached" for w in result["warnings"])
    assert not any(e["stage"] == "cross-validation" and e["status"] == "done" and e["model"] != "dummy"
                   for e in result["leaderboard"])


def test_the_budget_caps_the_whole_job(tmp_path: Path) -> None:
    """Set-up and final fits included: a 15 s budget on a table that takes longer ends by about then."""
    started = time.time()
    frame = binary_frame(6_000, seed=6)
    for i in range(20):
        frame[f"n{i}"] = np.random.default_rng(i).normal(size=len(frame))
    request = TrainingRequest(frame=frame, target="target", problem_type=None,
                              options=TrainingOptions(preset="balanced", budget_s=15), job_id="training_1",
                              model_dir=tmp_path / "models" / "training_1", home=tmp_path, started_at=started)
    result = run_training(request, lambda _e: None)
    assert result["success"] and any(w["code"] == "budget_reached" for w in result["warnings"])
    # The search stops at its deadline: what is left of the budget is kept for the final fits. (The
    # job's wall time against the budget is measured in bench/, on an idle machine: a timed unit test
    # would fail whenever the machine is busy.)
    from predictml_desktop.core.training.search import FINAL_RESERVE_SHARE

    assert result["searchEndedS"] <= 15 * (1 - FINAL_RESERVE_SHARE) + 1.0
    reasons = [e["reason"] or "" for e in result["leaderboard"]]
    assert any("budget" in r or "not cross-validated" in r for r in reasons), reasons


def test_a_crashing_candidate_is_skipped_and_the_run_finishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULTS_ENV, "crash:nb")
    result, events = train(binary_frame(120), tmp_path)
    nb = next(e for e in result["leaderboard"] if e["model"] == "nb")
    assert nb["status"] == "failed" and "injected failure" in nb["reason"]
    assert result["success"] and result["modelId"] != "nb"
    assert any(e.message.startswith("Naive Bayes: failed: RuntimeError: injected failure") for e in events
               if e.type == "log")


def test_imbalanced_binary_is_ranked_by_auc_and_its_threshold_balances_the_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 600
    x = rng.normal(size=(n, 3))
    logit = -3.6 + 1.6 * x[:, 0] + 0.8 * x[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    assert 0.03 < y.mean() < 0.1
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "noise": x[:, 2], "churned": y})
    result, _ = train(frame, tmp_path, target="churned", models=["lr", "dt", "nb", "ridge"])
    assert result["rankingMetric"] == "auc" and "imbalanced" in result["rankingMetricReason"]
    threshold = result["decisionThreshold"]
    # A rare class: the threshold that balances both classes' F1 is well below one half.
    assert threshold["objective"] == "f1_macro" and threshold["value"] < 0.5
    assert threshold["score"] >= threshold["scoreAtHalf"]
    _, schema = load_model(tmp_path)
    assert schema.decision_threshold == pytest.approx(threshold["value"])
    assert result["metrics"]["auc"] > result["baseline"]["auc"] + 0.2
    assert result["metrics"]["f1_macro"] > result["baseline"]["f1_macro"] + 0.1
    assert result["beatsBaseline"] is True


def test_no_signal_is_reported_as_no_better_than_the_baseline(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                          "target": rng.normal(size=200) * 10})
    result, _ = train(frame, tmp_path, models=["dt"], problem_type="regression")
    if result["beatsBaseline"]:
        pytest.skip("a decision tree beat the mean by chance on pure noise")
    assert any(w["code"] == "no_better_than_baseline" and w["level"] == "warning" for w in result["warnings"])


@pytest.mark.parametrize("frame, target, message", [
    (pd.DataFrame({"a": range(30), "b": ["x"] * 30}), "target", "Target column 'target' not found"),
    (pd.DataFrame({"a": range(30), "target": ["x"] * 30}), "target", "The target has only one class"),
    (pd.DataFrame({"a": range(30), "target": [None] * 29 + ["x"]}), "target", "The target has only one class"),
    (pd.DataFrame({"a": range(10), "target": ["x", "y"] * 5}), "target", "at least 20"),
    (pd.DataFrame({"target": ["x", "y"] * 15, "id": [f"r{i}" for i in range(30)]}), "target", "No column can be used"),
])
def test_data_that_cannot_be_trained_gives_one_sentence(frame: pd.DataFrame, target: str, message: str) -> None:
    columns = [{"name": "id", "kind": "id"}] if "id" in frame else []
    with pytest.raises(TrainingError, match=message):
        prepare(frame, target, columns=columns, excluded_columns=["id"] if "id" in frame else [])


def test_regression_of_a_text_target_is_refused() -> None:
    frame = pd.DataFrame({"a": range(30), "target": ["low", "high", "mid"] * 10})
    with pytest.raises(TrainingError, match="not numeric"):
        prepare(frame, "target", problem_type="regression")


def test_column_roles_follow_the_profile() -> None:
    frame = pd.DataFrame({
        "id": [f"c{i}" for i in range(40)], "const": 1, "when": pd.date_range("2024-01-01", periods=40).astype(str),
        "code": [1, 2, 3, 4] * 10, "amount": np.linspace(0, 1, 40), "note": ["free text here"] * 40,
        "target": ["a", "b"] * 20,
    })
    columns = [{"name": "id", "kind": "id"}, {"name": "const", "kind": "constant"},
               {"name": "when", "kind": "datetime"},
               {"name": "code", "kind": "integer_categorical"}, {"name": "amount", "kind": "numeric"},
               {"name": "note", "kind": "text"}, {"name": "target", "kind": "categorical"}]
    data = prepare(frame, "target", columns=columns, excluded_columns=["id", "const"], user_excluded=["amount"])
    # Integer codes stay numbers for the model (ordered levels carry signal); free text and IDs are out.
    assert data.dates == ["when"] and data.numeric == ["code"] and data.categorical == []
    assert set(data.ignored) == {"id", "const", "note", "amount"}
    assert data.ignored["amount"] == "excluded by the user"
    assert str(data.frame["when"].dtype) == "datetime64[ns]"


def test_saved_model_answers_rows_built_by_the_prediction_path(tmp_path: Path) -> None:
    """Integers, coded categories, dates and missing values, as `core.prediction` builds them from JSON."""
    from predictml_desktop.core.prediction import rows_to_frame
    from predictml_desktop.core.profile import profile_frame

    rng = np.random.default_rng(11)
    n = 160
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "plan": rng.choice([1, 2, 3], n),
        "city": rng.choice(["Oslo", "Lima", "Pune"], n),
        "joined": pd.Series(pd.date_range("2020-01-01", periods=n, freq="7D")).dt.strftime("%Y-%m-%d"),
        "spend": rng.normal(50, 10, n).round(2),
    })
    frame.loc[::9, "spend"] = np.nan
    frame["target"] = np.where(frame["age"] + 10 * frame["plan"] + rng.normal(0, 8, n) > 65, "buy", "skip")
    profile = profile_frame(frame, target="target")
    request = TrainingRequest(frame=frame, target="target", problem_type=None, options=TrainingOptions(**FAST),
                              columns=profile.columns, excluded_columns=profile.excluded_columns,
                              job_id="training_1", model_dir=tmp_path / "models" / "training_1", home=tmp_path)
    run_training(request, lambda _e: None)
    pipeline, schema = load_model(tmp_path)
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds == {"age": "numeric", "plan": "numeric", "city": "categorical", "joined": "datetime",
                     "spend": "numeric"}
    assert schema.feature("plan").integer and schema.feature("plan").minimum == 1
    rows = [{"age": 30, "plan": 2, "city": "Lima", "joined": "2021-05-01", "spend": 42.5},
            {"age": 71, "plan": 3, "city": "Oslo", "joined": "2022-01-10", "spend": None},
            {"age": 25, "plan": 1, "city": "Paris", "joined": "2020-02-02", "spend": 60.0}]  # unseen city
    features = rows_to_frame(schema, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = list(pipeline.predict(features))
        proba = pipeline.predict_proba(features)
    assert set(labels) <= {"buy", "skip"} and proba.shape == (3, 2)
    assert list(np.asarray(schema.classes)[proba.argmax(axis=1)]) == labels


def test_boolean_columns_and_dates_with_gaps_train_and_predict(tmp_path: Path) -> None:
    """True/False columns read from a CSV (bool dtype) and a date column missing in 30% of rows.

    Both once failed the set-up (scikit-learn's imputer refuses bool and datetime columns), and PyCaret
    drops the features of a date more than 10% missing, so a model trained on such gaps failed when a
    prediction filled them. The same file must train, and its rows predict, through the form and the
    batch path alike.
    """
    from predictml_desktop.core.ingest import import_dataset
    from predictml_desktop.core.paths import Paths
    from predictml_desktop.core.prediction import load_verified, predict_frame, predict_rows
    from predictml_desktop.core.status import JobStatus
    from predictml_desktop.core.store import Store
    from predictml_desktop.core.training import TrainingRunner, create_job

    rng = np.random.default_rng(5)
    n = 240
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "x1": x,
        "member": rng.random(n) > 0.5,
        "seen": pd.Series(pd.date_range("2024-01-01", periods=60, freq="D")[rng.integers(0, 60, n)])
        .dt.strftime("%Y-%m-%d"),
        "target": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
    })
    frame.loc[rng.random(n) < 0.3, "seen"] = None
    csv = tmp_path / "gaps.csv"
    frame.to_csv(csv, index=False)
    paths = Paths(tmp_path / "home", tmp_path / "config").ensure()
    store = Store(paths)
    dataset = import_dataset(store, csv, target="target")
    job = create_job(store, dataset.id, "target", TrainingOptions(preset="fast", models=["lr", "dt"]))
    job = TrainingRunner(store, job.id).run()
    assert job.status == JobStatus.PENDING_REVIEW, job.error

    model = load_verified(paths, job, expected_sha256=job.model_sha256)
    # The compiled path answers for it (checked against the pipeline at load), not the slow fallback.
    assert model.fast_path, model.fast_path_reason
    kinds = {f.name: f.kind for f in model.schema.features}
    assert kinds == {"x1": "numeric", "member": "boolean", "seen": "datetime"}
    seen = model.schema.feature("seen")
    assert seen.nullable and seen.default is not None
    result = predict_rows(model, [{"x1": 1.5, "member": True, "seen": "2024-01-20"},
                                  {"x1": -1.5, "member": "false", "seen": None}])
    assert result.predictions == ["yes", "no"]
    assert result.warnings[0] == [] and "seen is missing; the training's median date" in result.warnings[1][0]
    scored = predict_frame(model, frame.drop(columns=["target"]))
    assert len(scored) == n and scored["prediction"].isin(["yes", "no"]).all()
    assert (scored["prediction"] == frame["target"]).mean() > 0.75
