"""One value, one verdict: the same input through the form's core API, a batch file, HTTP and the Azure score.py.

Each case puts one value into one feature of an otherwise valid row and sends it down every path a
row can take to a model. Every path must agree on whether the value is refused (naming the feature;
a batch file refuses only that row and still predicts the others) or accepted (with the same
warning, and the same prediction).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictml_desktop.core.prediction import ModelRegistry, PredictionError, predict_file, predict_rows
from tests.server.conftest import Served
from tests.trained_models import valid_rows

pytestmark = pytest.mark.slow

MISSING = object()
"""The value is missing: JSON null, an empty cell."""

# (feature, value as JSON, refused?, a word the message or warning says)
CASES: list[tuple[str, Any, bool, str]] = [
    ("age", "abc", True, "number"),
    ("age", 41.5, True, "whole number"),
    ("age", MISSING, True, "required"),
    ("age", 1e23, True, "too large"),
    ("age", 200, False, "above the training range"),
    ("income", MISSING, False, ""),
    ("region", "Atlantis", False, "not seen in training"),
    ("signup_date", "someday", False, "median date"),
    ("discount_offered", 0.5, True, "whole number"),
    ("discount_offered", 7, False, "not seen in training"),
]


def _json(value: Any) -> Any:
    return None if value is MISSING else value


def _cell(value: Any) -> str:
    if value is MISSING:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _verdict_core(served: Served, row: dict[str, Any]) -> tuple[bool, str, Any]:
    model = ModelRegistry(served.paths).get(served.clf.dataset_id)
    try:
        result = predict_rows(model, row)  # the Predict form's call
    except PredictionError as exc:
        return True, f"{exc.details[0]['field']}: {exc}", None
    return False, " ".join(result.warnings[0]), result.predictions[0]


def _verdict_http(served: Served, row: dict[str, Any]) -> tuple[bool, str, Any]:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        answer = client.post(f"/predict/{served.clf.dataset_id}", json={"inputData": row})
    body = answer.json()
    if answer.status_code == 422:
        return True, f"{body['details'][0]['field']}: {body['message']}", None
    assert answer.status_code == 200, body
    return False, " ".join(body["warnings"][0]), body["prediction"][0]


def _verdict_azure(score: Any, row: dict[str, Any]) -> tuple[bool, str, Any]:
    body = score.run(json.dumps({"inputData": row}))
    if not body["success"]:
        assert body["error_code"] in ("INVALID_INPUT", "MISSING_FEATURE"), body
        return True, f"{body['details'][0]['field']}: {body['message']}", None
    return False, " ".join(body["warnings"][0]), body["prediction"][0]


def _verdicts_batch(served: Served, rows: list[dict[str, Any]], cells: list[dict[str, str]],
                    tmp: Path) -> list[tuple[bool, str, Any]]:
    source, output = tmp / "input.csv", tmp / "output.csv"
    with open(source, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(cells)
    written = predict_file(ModelRegistry(served.paths), served.clf.dataset_id, source, output)
    with open(output, encoding="utf-8-sig", newline="") as fh:
        out = list(csv.DictReader(fh))
    report: dict[int, list[dict[str, str]]] = {}
    if written.report is not None:
        with open(written.report, encoding="utf-8-sig", newline="") as fh:
            for line in csv.DictReader(fh):
                report.setdefault(int(line["row"]) - 1, []).append(line)
    verdicts = []
    for i, line in enumerate(out):
        if line["error"]:
            assert line["prediction"] == ""
            assert [r["column"] for r in report[i]] and report[i][0]["error"] in line["error"]
            verdicts.append((True, f"{report[i][0]['column']}: {line['error']}", None))
        else:
            assert i not in report and line["prediction"] != ""
            verdicts.append((False, line["warnings"], float(line["prediction"])))
    assert written.refused == len(report)
    return verdicts


def _import_score(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(bundle))
    spec = importlib.util.spec_from_file_location("score_validation_paths", bundle / "code" / "score.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    return module


def test_one_value_gets_one_verdict_on_every_path(served: Served, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "bundle"
    served.governance.approve(served.session, served.clf.job_id, "azure", out_dir=bundle, reason="paths")
    score = _import_score(bundle, monkeypatch)
    base = valid_rows(served.clf, len(CASES) + 1, seed=31)
    # In the file, every case is one row; the last row is clean (its neighbours' bad cells do not touch it).
    rows = [{**base[i], feature: _json(value)} for i, (feature, value, _, _) in enumerate(CASES)] + [base[-1]]
    cells = [{k: ("" if v is None else str(v)) for k, v in row.items()} for row in rows]
    for i, (feature, value, _, _) in enumerate(CASES):
        cells[i][feature] = _cell(value)
    batch = _verdicts_batch(served, rows, cells, tmp_path)
    assert batch[-1][0] is False
    for i, (feature, value, refused, word) in enumerate(CASES):
        row = rows[i]
        verdicts = {
            "core": _verdict_core(served, row),
            "http": _verdict_http(served, row),
            "azure": _verdict_azure(score, row),
            "batch": batch[i],
        }
        case = f"{feature}={value!r}"
        for path, (was_refused, text, _prediction) in verdicts.items():
            assert was_refused == refused, (case, path, text)
            if refused:
                assert text.startswith(f"{feature}:") or text.startswith(f"inputData.{feature}:"), (case, path, text)
            else:
                assert word in text, (case, path, text)
        if not refused:
            predictions = {path: float(v[2]) for path, v in verdicts.items()}
            assert len(set(predictions.values())) == 1, (case, predictions)
    sys.modules.pop("score_validation_paths", None)
