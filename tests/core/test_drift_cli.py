"""``predictml drift`` (table, JSON, HTML, exit codes) and the drift summary of ``predictml predict --input``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from predictml_desktop.cli import main
from predictml_desktop.cli.drift import EXIT_DRIFT
from predictml_desktop.core.ingest import import_dataset
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.sampledata import make_purchase_table
from predictml_desktop.core.store import Store
from tests.trained_models import DeployedHome


@pytest.fixture
def dataset_id(tmp_path: Path) -> str:
    csv = tmp_path / "train.csv"
    make_purchase_table(2000).to_csv(csv, index=False)
    return import_dataset(Store(Paths.default().ensure()), csv, target="purchased").id


def test_drift_command_exit_codes_table_json_html(dataset_id: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    same = tmp_path / "same.csv"
    make_purchase_table(2000, seed=5).to_csv(same, index=False)
    assert main(["drift", dataset_id, str(same)]) == 0
    out = capsys.readouterr().out
    assert "Column" in out and "income" in out and "No drift" in out

    moved = make_purchase_table(2000, seed=5)
    moved["visits"] = moved["visits"] + 10
    shifted = tmp_path / "shifted.csv"
    moved.to_csv(shifted, index=False)
    html = tmp_path / "report.html"
    assert main(["drift", dataset_id, str(shifted), "--json", "--html", str(html)]) == EXIT_DRIFT
    doc = json.loads(capsys.readouterr().out)
    assert doc["level"] == "act"
    assert [c["column"] for c in doc["columns"] if c["level"] in ("watch", "act")] == ["visits"]
    assert "visits" in html.read_text("utf-8")

    assert main(["drift", "dataset_nope", str(same)]) == 3
    assert "no dataset" in capsys.readouterr().err
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    assert main(["drift", dataset_id, str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.xlsx" in err and "Traceback" not in err


def test_predict_file_prints_drift_and_writes_report(deployed_home: DeployedHome, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    job = deployed_home.clf
    frame = job.frame.sample(n=300, replace=True, random_state=1).reset_index(drop=True)
    frame["income"] = frame["income"] * 3
    source = tmp_path / "new rows.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    assert main(["predict", job.dataset_id, "--input", str(source), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Drift:" in printed and "income" in printed
    report = tmp_path / "scored.drift.html"
    assert report.is_file() and "income" in report.read_text("utf-8")


def test_predict_still_writes_when_drift_cannot_be_computed(deployed_home: DeployedHome, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from predictml_desktop.core.drift.reference import cache_path

    job = deployed_home.clf
    paths = deployed_home.paths
    dataset = Store(paths).read().datasets.get(job.dataset_id)
    paths.resolve(dataset.file_path).unlink()  # the training upload is gone: no reference can be built
    cache_path(paths, job.dataset_id).unlink(missing_ok=True)
    source = tmp_path / "rows.csv"
    job.frame.head(50).to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    assert main(["predict", job.dataset_id, "--input", str(source), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert out.is_file() and "Wrote predictions" in captured.out
    assert "Drift not computed" in captured.err and "missing" in captured.err
    assert not (tmp_path / "scored.drift.html").exists()
