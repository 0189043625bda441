"""``predictml predict --explain`` as a user runs it (a real process on a real data home)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from tests.core.test_training_cli import cli
from tests.trained_models import DeployedHome, valid_rows


def test_predict_json_with_explain(deployed_home: DeployedHome) -> None:
    job = deployed_home.clf
    row = valid_rows(job, 1, seed=3)[0]
    done = cli("predict", job.dataset_id, "--json", json.dumps(row), "--explain", home=deployed_home.paths.home)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    doc = answer["explanations"][0]
    assert set(doc["contributions"]) == set(job.frame.columns)
    assert abs(doc["baseValue"] + math.fsum(doc["contributions"].values()) - doc["output"]) < 1e-6
    plain = cli("predict", job.dataset_id, "--json", json.dumps(row), home=deployed_home.paths.home)
    assert "explanations" not in json.loads(plain.stdout)


def test_predict_file_with_explain(deployed_home: DeployedHome, tmp_path: Path) -> None:
    job = deployed_home.reg
    src = tmp_path / "rows.csv"
    job.frame.head(8).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    done = cli("predict", job.dataset_id, "--input", str(src), "-o", str(out), "--explain",
               home=deployed_home.paths.home)
    assert done.returncode == 0, done.stderr
    assert "contributions" in done.stdout
    scored = pd.read_csv(out)
    assert scored["reason_1"].str.contains("basket_value").all()
    assert len(pd.read_csv(tmp_path / "out.contributions.csv")) == 8
