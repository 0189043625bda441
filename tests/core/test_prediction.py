from __future__ import annotations

import ast
import csv
import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import predictml_desktop
from predictml_desktop.core import prediction
from predictml_desktop.core.artifacts import ENVIRONMENT_FILE, MODEL_FILE
from predictml_desktop.core.modeling import pipeline as pycaret_pipeline
from predictml_desktop.core.prediction import (
    BatchTooLargeError,
    InputValidationError,
    ModelIntegrityError,
    ModelNotDeployedError,
    ModelRegistry,
    VersionDriftError,
    predict_frame,
    predict_rows,
    predict_table,
    read_input_file,
    rows_to_frame,
    write_error_report,
    write_predictions,
)
from predictml_desktop.core.store import Store
from tests.trained_models import DeployedHome, TrainedHome, valid_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(deployed_home: DeployedHome) -> ModelRegistry:
    return ModelRegistry(deployed_home.paths)


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = pycaret_pipeline.load_pipeline

    def counting(path: Path, *, drift_allowed: bool) -> Any:
        calls.append(path)
        return real(path, drift_allowed=drift_allowed)

    monkeypatch.setattr(pycaret_pipeline, "load_pipeline", counting)
    import joblib

    real_load = joblib.load

    def counting_joblib(*args: Any, **kwargs: Any) -> Any:
        calls.append(Path(str(args[0])))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(joblib, "load", counting_joblib)
    return calls


def test_predictions_equal_the_pipeline_and_use_the_seed_format(deployed_home: DeployedHome,
                                                                registry: ModelRegistry) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    rows = valid_rows(deployed_home.clf, 200)
    result = predict_rows(clf, rows)
    frame = rows_to_frame(clf.schema, rows)
    proba = clf.pipeline.predict_proba(frame)
    # A yes/no model answers at the decision threshold chosen in training, on every path.
    threshold = clf.schema.decision_threshold
    assert threshold is not None and 0 < threshold < 1
    expected = np.where(proba[:, 1] >= threshold, clf.schema.classes[1], clf.schema.classes[0])
    assert result.predictions == expected.tolist()
    scored = predict_frame(clf, frame)
    assert scored["prediction"].tolist() == expected.tolist()
    assert len(result.probabilities or []) == 200
    for got, want in zip(result.probabilities or [], proba, strict=True):
        assert list(got) == ["class_0", "class_1"]
        assert got["class_0"] == pytest.approx(want[0], abs=1e-12)
    body = result.to_response()
    assert body["success"] is True and body["datasetId"] == deployed_home.clf.dataset_id
    assert body["modelName"] == clf.model_name and len(body["warnings"]) == 200
    json.dumps(body, allow_nan=False)
    # Batch results equal row-by-row results.
    for i in range(0, 200, 37):
        one = predict_rows(clf, rows[i])
        assert one.predictions == [result.predictions[i]]
        # Vectorised maths may differ in the last bit between a batch and a single row.
        assert (one.probabilities or [])[0] == pytest.approx((result.probabilities or [])[i], abs=1e-9)


def test_regression_has_no_probability(deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    reg = registry.get(deployed_home.reg.dataset_id)
    body = predict_rows(reg, valid_rows(deployed_home.reg, 5)).to_response()
    assert "probability" not in body
    assert all(isinstance(p, float) and math.isfinite(p) for p in body["prediction"])


def test_model_is_loaded_once_and_cached(deployed_home: DeployedHome, registry: ModelRegistry,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_loads(monkeypatch)
    first = registry.get(deployed_home.clf.dataset_id)
    for _ in range(5):
        assert registry.get(deployed_home.clf.dataset_id) is first
    assert len([c for c in calls if c.name == MODEL_FILE]) == 2  # _unpickle + the joblib.load inside it
    listed = {m["datasetId"]: m for m in registry.deployed()}
    assert listed[deployed_home.clf.dataset_id]["status"] == "loaded"


def test_input_validation_names_the_field(deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    row = valid_rows(deployed_home.clf, 1)[0]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({k: v for k, v in row.items() if k not in ("age", "region")}, "age", "missing 2 feature(s): age, region"),
        ({**row, "age": True}, "age", "must be a number"),
        ({**row, "age": float("nan")}, "age", "required"),
        ({**row, "visits": float("inf")}, "visits", "finite"),
        ({**row, "visits": 2.5}, "visits", "whole number"),
        ({**row, "age": None}, "age", "no missing values in training"),
        ({**row, "gender": 3}, "gender", "must be a string"),
        ({**row, "region": "x" * 40_000}, "region", "at most 32767"),
        ({**row, "age": "forty"}, "age", "must be a number"),
    ]
    for bad, field, message in cases:
        with pytest.raises(InputValidationError) as info:
            predict_rows(clf, bad, strict=(field == "gender"))
        assert info.value.field == field, (bad, info.value)
        assert message in str(info.value)
        assert info.value.status == 422
    with pytest.raises(InputValidationError, match="no rows"):
        predict_rows(clf, [])
    with pytest.raises(BatchTooLargeError) as too_many:
        predict_rows(clf, [row] * 11, max_rows=10)
    assert too_many.value.status == 413


def test_lax_and_strict_conversions(deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    row = valid_rows(deployed_home.clf, 1)[0]
    as_strings = {k: (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                  for k, v in row.items()}
    assert predict_rows(clf, as_strings).predictions == predict_rows(clf, row).predictions
    with pytest.raises(InputValidationError, match="not the string"):
        predict_rows(clf, as_strings, strict=True)
    # A nullable feature accepts null (imputed); an extra column is ignored and reported.
    ok = predict_rows(clf, {**row, "income": None, "customer_id": "C1"}, strict=True)
    assert ok.ignored_columns == ["customer_id"]


def test_unseen_category_and_out_of_range_are_warnings(deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    row = valid_rows(deployed_home.clf, 1)[0]
    result = predict_rows(clf, {**row, "region": "Atlantis", "age": 140})
    assert len(result.predictions) == 1
    text = " ".join(result.warnings[0])
    assert "region='Atlantis' was not seen in training" in text
    assert "age=140 is above the training range" in text


def test_not_deployed_and_bad_ids(trained_home: TrainedHome) -> None:
    registry = ModelRegistry(trained_home.paths)
    for dataset_id in (trained_home.clf.dataset_id, "report_999", "../etc", "a\0b", "x" * 500, ""):
        with pytest.raises(ModelNotDeployedError, match="Model not deployed") as info:
            registry.get(dataset_id)
        assert info.value.status == 404


def _tamper_cases(model: Path, other_model: Path, marker: Path) -> dict[str, Any]:
    class Evil:
        def __reduce__(self) -> Any:
            return (Path.write_text, (marker, "pwned"))

    original = model.read_bytes()
    mid = len(original) // 2
    return {
        "flipped byte": original[:mid] + bytes([original[mid] ^ 0xFF]) + original[mid + 1:],
        "truncated": original[:mid],
        "appended": original + b"\0",
        "other model": other_model.read_bytes(),
        "malicious pickle": pickle.dumps(Evil()),
    }


def test_tampered_model_files_are_refused_before_unpickling(deployed_home: DeployedHome, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    paths = deployed_home.paths
    model = paths.model_dir(deployed_home.clf.job_id) / MODEL_FILE
    other = paths.model_dir(deployed_home.reg.job_id) / MODEL_FILE
    marker = tmp_path / "marker"
    calls = _count_loads(monkeypatch)
    original = model.read_bytes()
    for name, data in _tamper_cases(model, other, marker).items():
        model.write_bytes(data)
        registry = ModelRegistry(paths)
        # The approval pinned the model's hash (and the deployment's own hash check would refuse it too).
        with pytest.raises(ModelIntegrityError, match=r"model file \(model.pkl\) changed after the approval") as info:
            registry.get(deployed_home.clf.dataset_id)
        assert info.value.status == 409, name
        assert calls == [], name
        assert not marker.exists(), name
    # Case 6: a malicious pickle with the hash updated in the records. The deployment's HMAC covers
    # the hash, and its key is outside the data home: still refused, still nothing unpickled.
    evil = _tamper_cases(model, other, marker)["malicious pickle"]
    model.write_bytes(evil)
    import hashlib

    new_sha = hashlib.sha256(evil).hexdigest()
    for file, key in ((paths.deployments_file, "deployments"), (paths.jobs_file, "trainingJobs")):
        doc = json.loads(file.read_text("utf-8"))
        for rec in doc[key]:
            if rec.get("modelSha256") and (rec.get("trainingJobId") or rec["id"]) == deployed_home.clf.job_id:
                rec["modelSha256"] = new_sha
        file.write_text(json.dumps(doc), "utf-8")
    with pytest.raises(ModelIntegrityError, match="changed outside PredictML"):
        ModelRegistry(paths).get(deployed_home.clf.dataset_id)
    assert calls == [] and not marker.exists()
    model.write_bytes(original)


def test_hand_edited_deployment_records_serve_nothing(deployed_home: DeployedHome) -> None:
    paths = deployed_home.paths
    registry = ModelRegistry(paths)
    assert registry.get(deployed_home.clf.dataset_id)
    doc = json.loads(paths.deployments_file.read_text("utf-8"))
    clf_dep = next(d for d in doc["deployments"] if d["datasetId"] == deployed_home.clf.dataset_id)
    reg_dep = next(d for d in doc["deployments"] if d["datasetId"] == deployed_home.reg.dataset_id)
    # Point the classifier's deployment at the regressor's job (an approval copied onto another model).
    clf_dep["trainingJobId"], clf_dep["modelSha256"] = reg_dep["trainingJobId"], reg_dep["modelSha256"]
    paths.deployments_file.write_text(json.dumps(doc), "utf-8")
    with pytest.raises(ModelIntegrityError, match="changed outside PredictML"):
        registry.get(deployed_home.clf.dataset_id)
    # A hand-made "active" record with no valid signature is refused too.
    doc["deployments"].append({**reg_dep, "id": "deployment_99", "datasetId": "report_77", "signature": "00"})
    paths.deployments_file.write_text(json.dumps(doc), "utf-8")
    with pytest.raises(ModelIntegrityError):
        registry.get("report_77")
    assert registry.get(deployed_home.reg.dataset_id)


def test_version_drift_is_refused_unless_allowed(deployed_home: DeployedHome, monkeypatch: pytest.MonkeyPatch) -> None:
    from predictml_desktop.core import artifacts

    running = {**artifacts.current_environment(), "scikit-learn": "0.24.0"}
    monkeypatch.setattr(artifacts, "current_environment", lambda: running)
    calls = _count_loads(monkeypatch)
    with pytest.raises(VersionDriftError, match=r"scikit-learn .* \(running 0\.24\.0\)") as info:
        ModelRegistry(deployed_home.paths).get(deployed_home.clf.dataset_id)
    assert info.value.status == 409 and calls == []
    loaded = ModelRegistry(deployed_home.paths, allow_version_drift=True).get(deployed_home.clf.dataset_id)
    assert loaded.version_drift and "scikit-learn" in loaded.version_drift[0]


def test_an_environment_record_edited_or_deleted_after_approval_is_refused(deployed_home: DeployedHome,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = deployed_home.paths.model_dir(deployed_home.clf.job_id) / ENVIRONMENT_FILE
    original = env_file.read_bytes()
    calls = _count_loads(monkeypatch)
    env = json.loads(original)
    env["scikit-learn"] = "0.24.0"
    env_file.write_text(json.dumps(env), "utf-8")
    for allow in (False, True):  # allowing drift never allows a changed record
        with pytest.raises(ModelIntegrityError, match=r"environment record \(environment.json\) changed"):
            ModelRegistry(deployed_home.paths, allow_version_drift=allow).get(deployed_home.clf.dataset_id)
    env_file.unlink()
    with pytest.raises(ModelIntegrityError, match=r"environment.json\) was deleted after the approval"):
        ModelRegistry(deployed_home.paths).get(deployed_home.clf.dataset_id)
    assert calls == []
    env_file.write_bytes(original)
    assert ModelRegistry(deployed_home.paths).get(deployed_home.clf.dataset_id)


def test_new_deployment_is_picked_up_without_a_new_registry(trained_home: TrainedHome) -> None:
    from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests

    registry = ModelRegistry(trained_home.paths)
    with pytest.raises(ModelNotDeployedError):
        registry.get(trained_home.clf.dataset_id)
    gov = Governance(trained_home.paths, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada", "correct horse battery staple 42")
    dep = gov.approve(session, trained_home.clf.job_id, "local", override=True)
    assert registry.get(trained_home.clf.dataset_id).deployment_id == dep.id
    gov.undeploy(session, dep.id)
    with pytest.raises(ModelNotDeployedError):
        registry.get(trained_home.clf.dataset_id)


def test_batch_file_round_trip_with_formula_neutralisation(deployed_home: DeployedHome, registry: ModelRegistry,
                                                           tmp_path: Path) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    frame = deployed_home.clf.frame.head(60).astype(object)
    frame.insert(0, "note", ["=HYPERLINK(\"http://x\")", "@SUM(1)", "+cmd|' /C calc'!A0", "-2+3", "\tx", "plain"] * 10)
    frame.loc[3, "age"] = "old"  # unreadable number: that row is refused, the others predicted
    frame.loc[4, "gender"] = "=1+1"  # a formula in a feature cell
    source = tmp_path / "input.csv"
    frame.to_csv(source, index=False)
    read = read_input_file(source)
    scored = predict_table(clf, read)
    result = scored.frame
    assert list(result.columns[: len(frame.columns)]) == list(frame.columns)
    assert {"prediction", "probability_0", "probability_1", "warnings", "error"} <= set(result.columns)
    assert result.loc[3, "error"] == "age must be a number, not 'old'."
    assert result.loc[3, "prediction"] is None and result.loc[3, "probability_1"] is None
    assert (result["error"].drop(index=3) == "").all() and result["prediction"].drop(index=3).notna().all()
    assert [(p.row, p.column, p.value) for p in scored.problems] == [(3, "age", "old")] and scored.refused == 1
    report = write_error_report(scored.problems, tmp_path / "out.csv")
    assert report == tmp_path / "out.errors.csv"
    assert report.read_text("utf-8-sig").splitlines() == ["row,column,value,error",
                                                          "4,age,old,\"age must be a number, not 'old'.\""]
    # Same predictions as row by row through the Python API for clean rows.
    clean = valid_rows(deployed_home.clf, 1)
    assert predict_rows(clf, clean).predictions[0] in (0, 1)
    for suffix in (".csv", ".xlsx"):
        out = write_predictions(result, tmp_path / f"out{suffix}")
        if suffix == ".csv":
            with open(out, encoding="utf-8-sig", newline="") as fh:
                cells = list(csv.reader(fh))
        else:
            back = pd.read_excel(out, dtype=object)
            cells = [list(map(str, back.columns))]
            cells += [["" if pd.isna(v) else v for v in r] for r in back.values.tolist()]
        header = cells[0]
        for row in cells[1:]:
            for value in row:
                if isinstance(value, str) and value:
                    assert value[0] not in "=+-@\t\r\0", (suffix, value)
        note = header.index("note")
        assert cells[1][note] == "'=HYPERLINK(\"http://x\")"
        prob = header.index("probability_1")
        assert all(0.0 <= float(r[prob]) <= 1.0 for i, r in enumerate(cells[1:]) if i != 3)
    back_csv = pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig")
    assert back_csv["prediction"].drop(index=3).tolist() == result["prediction"].drop(index=3).tolist()
    assert pd.isna(back_csv.loc[3, "prediction"])
    assert write_error_report([], tmp_path / "out.csv") is None and not report.exists()  # no stale report
    neg = pd.DataFrame({"x": [-5.0, 2.0], "s": ["-5", "ok"]})
    out = write_predictions(neg, tmp_path / "neg.csv")
    assert out.read_text("utf-8-sig").splitlines() == ["x,s", "-5.0,'-5", "2.0,ok"]


def test_batch_file_missing_columns_are_all_named(deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    frame = deployed_home.clf.frame.head(5).drop(columns=["age", "visits"])
    with pytest.raises(InputValidationError, match="missing 2 column"):
        predict_frame(clf, frame)


def test_ten_thousand_row_batch(deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    rows = valid_rows(deployed_home.clf, 500, seed=3) * 20
    result = predict_rows(clf, rows)
    assert len(result.predictions) == 10_000
    frame = pd.DataFrame(rows)
    seen: list[float] = []
    out = predict_frame(clf, frame, progress=lambda f, _m: seen.append(f))
    assert out["prediction"].tolist() == result.predictions
    assert seen[-1] == 1.0 and len(seen) == 2


def test_joblib_load_is_called_from_exactly_one_module() -> None:
    root = Path(predictml_desktop.__file__).parent
    callers = set()
    for source in root.rglob("*.py"):
        tree = ast.parse(source.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = ""
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                    name = f"{func.value.id}.{func.attr}"
                if name in ("joblib.load", "pickle.load", "pickle.loads", "cloudpickle.load"):
                    callers.add(source.relative_to(root).as_posix())
            if isinstance(node, ast.ImportFrom) and node.module in ("joblib", "pickle") and any(
                    a.name in ("load", "loads") for a in node.names):
                callers.add(source.relative_to(root).as_posix())
    assert callers == {"core/modeling/pipeline.py"}


def test_store_snapshot_untouched_by_predictions(deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    before = {p.name: p.read_bytes() for p in deployed_home.paths.home.glob("*.json")}
    predict_rows(registry.get(deployed_home.reg.dataset_id), valid_rows(deployed_home.reg, 3))
    assert before == {p.name: p.read_bytes() for p in deployed_home.paths.home.glob("*.json")}
    assert Store(deployed_home.paths).check() == []
    assert np.isfinite(1.0)


def test_micro_batcher_merges_concurrent_requests_without_changing_answers(
        deployed_home: DeployedHome, registry: ModelRegistry) -> None:
    import concurrent.futures

    from predictml_desktop.core.prediction import predict_validated, validate_rows

    clf = registry.get(deployed_home.clf.dataset_id)
    rows = valid_rows(deployed_home.clf, 64, seed=13)
    direct = [predict_rows(clf, row, strict=True) for row in rows]
    calls: list[int] = []
    real = prediction.running.run_model

    def counting(model: Any, frame: pd.DataFrame) -> Any:
        calls.append(len(frame))
        return real(model, frame)

    prediction.running.run_model = counting  # type: ignore[assignment]
    try:
        def one(row: dict[str, Any]) -> Any:
            return predict_validated(clf, validate_rows(clf.schema, [row], strict=True), batched=True)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            batched = list(pool.map(one, rows))
        # A request the model cannot handle (bypassing validation) fails alone.
        broken = [{**rows[0], "signup_date": "not a date at all"}]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(clf.batcher.predict, broken if i == 3 else [rows[i]]) for i in range(8)]
            outcomes = []
            for f in futures:
                try:
                    outcomes.append(f.result())
                except prediction.ModelFailedError:
                    outcomes.append("failed")
    finally:
        prediction.running.run_model = real  # type: ignore[assignment]
    for got, want in zip(batched, direct, strict=True):
        assert got.predictions == want.predictions
        assert (got.probabilities or [])[0] == pytest.approx((want.probabilities or [])[0], abs=1e-9)
    assert len(calls) < 64 and max(calls) > 1  # merged into fewer, larger pipeline calls
    assert outcomes.count("failed") == 1 and outcomes[3] == "failed"


def test_an_unreadable_date_uses_the_training_median_with_a_warning(deployed_home: DeployedHome,
                                                                     registry: ModelRegistry) -> None:
    clf = registry.get(deployed_home.clf.dataset_id)
    spec = clf.schema.feature("signup_date")
    assert spec.kind == "datetime"
    row = valid_rows(deployed_home.clf, 1)[0]
    # One row alone whose only date is unreadable: PyCaret's date step would drop the date features
    # of an all-missing batch and the model would fail; the median date is used instead.
    for strict in (True, False):  # the same verdict over HTTP and through the Python API
        result = predict_rows(clf, {**row, "signup_date": "someday"}, strict=strict)
        assert len(result.predictions) == 1
        assert "signup_date='someday' is not a date; the training's median date" in result.warnings[0][0]
    for text in ("2023-01-24", "2023-01-24T10:30:00Z", "2023-01-24 10:30", "24 January 2023"):
        assert predict_rows(clf, {**row, "signup_date": text}).warnings == [[]], text
    frame = pd.DataFrame([{**row, "signup_date": "never"}, {**row, "signup_date": ""}])
    out = predict_frame(clf, frame)
    assert "signup_date='never' is not a date; the training's median date" in out.loc[0, "warnings"]
    assert "signup_date='' is not a date" in out.loc[1, "warnings"] and (out["error"] == "").all()


def test_damaged_deployment_records_are_reported_not_crashed_on(deployed_home: DeployedHome) -> None:
    from predictml_desktop.core.prediction import RecordsUnavailableError

    deployed_home.paths.deployments_file.write_text("{not json", "utf-8")
    with pytest.raises(RecordsUnavailableError, match="damaged") as info:
        ModelRegistry(deployed_home.paths).get(deployed_home.clf.dataset_id)
    assert info.value.status == 503 and info.value.to_response()["success"] is False


def test_the_decision_threshold_decides_between_the_two_classes() -> None:
    from predictml_desktop.core.prediction.answers import decide

    proba = np.array([[0.8, 0.2], [0.65, 0.35], [0.4, 0.6]])
    argmax = np.array(["no", "no", "yes"])
    assert decide(0.3, argmax, proba, ["no", "yes"]).tolist() == ["no", "yes", "yes"]
    assert decide(None, argmax, proba, ["no", "yes"]).tolist() == ["no", "no", "yes"]
    assert decide(0.3, np.array([0, 0, 1]), proba, [0, 1]).tolist() == [0, 1, 1]
    # A wider label than the model's own answers still fits.
    assert decide(0.1, np.array(["no", "no", "no"]), proba, ["no", "maybe"]).tolist() == ["maybe"] * 3
    three = np.array([[0.2, 0.3, 0.5]])
    assert decide(0.3, np.array(["c"]), three, ["a", "b", "c"]).tolist() == ["c"]
