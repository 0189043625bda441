"""``predictml train`` and ``predictml jobs``: real processes, real training on a tiny file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.training_support import binary_frame

pytestmark = pytest.mark.slow


def cli(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREDICTML_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "predictml_desktop", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def test_train_a_file_then_list_show_and_refuse_to_cancel(predictml_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    binary_frame(120, labels=("no", "yes")).to_csv(data, index=False)
    run = cli("train", str(data), "--target", "target", "--preset", "fast", "--models", "lr,dt", "--json",
              home=predictml_home)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["success"] is True and doc["problem_type"] == "classification"
    for key in ("jobId", "datasetId", "model_name", "metrics", "model_path", "durationS"):
        assert doc[key] not in (None, ""), key
    assert "auc" in doc["metrics"] and doc["model_path"].startswith(f"models/{doc['jobId']}/")
    assert "Training models" in run.stderr and "Saved" in run.stderr  # progress goes to stderr

    listed = cli("jobs", "list", "--json", home=predictml_home)
    assert listed.returncode == 0
    jobs = json.loads(listed.stdout)["jobs"]
    assert [j["status"] for j in jobs] == ["pending_review"] and jobs[0]["jobId"] == doc["jobId"]

    shown = cli("jobs", "show", doc["jobId"], home=predictml_home)
    assert shown.returncode == 0 and "leaderboard" in shown.stdout and doc["model_name"] in shown.stdout

    cancel = cli("jobs", "cancel", doc["jobId"], home=predictml_home)
    assert cancel.returncode == 1 and "not training" in cancel.stderr

    bad = cli("train", "--dataset", doc["datasetId"], "--target", "nope", home=predictml_home)
    assert bad.returncode == 1
    assert "Target column 'nope' not found" in bad.stderr and "Traceback" not in bad.stderr

    missing = cli("jobs", "show", "training_99", home=predictml_home)
    assert missing.returncode == 3


def test_train_usage_errors_exit_2(predictml_home: Path) -> None:
    assert cli("train", "--target", "y", home=predictml_home).returncode == 2  # neither FILE nor --dataset
    assert cli("train", "x.csv", "--dataset", "report_1", "--target", "y", home=predictml_home).returncode == 2
