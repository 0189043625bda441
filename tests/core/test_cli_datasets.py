"""``predictml datasets add|list|show``: output, JSON, exit codes, and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from predictml_desktop.cli import main
from predictml_desktop.core.sampledata import purchase_csv_bytes
from tests.core.ingest_helpers import snapshot


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_bytes(purchase_csv_bytes(400))
    return path


def test_add_json_has_the_documented_fields(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "add", str(sample), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("datasetId", "columns", "suggestedTarget", "targetCandidates", "problemType", "warnings"):
        assert key in doc
    assert doc["datasetId"] == "report_1"
    assert doc["suggestedTarget"] == "purchased"
    assert doc["problemType"] == "classification"
    assert doc["targetColumn"] is None
    assert doc["status"] == "uploaded"
    assert doc["filePath"] == "uploads/report_1.csv"
    assert {"id_like", "constant"} <= {w["code"] for w in doc["warnings"]}
    assert doc["targetCandidates"][0] == {"column": "purchased", "score": doc["targetCandidates"][0]["score"],
                                          "reason": doc["targetCandidates"][0]["reason"]}


def test_add_with_target_name_and_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"a": [1, 2]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.DataFrame({"size": [1.5, 2.5, 3.5, 4.5], "price": [10.0, 20.5, 30.1, 41.0]}).to_excel(
            writer, sheet_name="Prices", index=False)
    code = main(["datasets", "add", str(path), "--sheet", "Prices", "--target", "price", "--name", "Houses", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["name"], doc["sheet"], doc["targetColumn"], doc["problemType"], doc["rows"]) == (
        "Houses", "Prices", "price", "regression", 4)


def test_add_a_parquet_file(sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    path = tmp_path / "customers.parquet"
    pd.read_csv(sample).to_parquet(path, index=False)
    assert main(["datasets", "add", str(path), "--target", "purchased", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["filePath"], doc["fileFormat"], doc["rows"], doc["targetColumn"], doc["problemType"]) == (
        "uploads/report_1.parquet", "parquet", 400, "purchased", "classification")
    assert len(doc["columns"]) == 18


def test_add_text_output(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "add", str(sample)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Imported customers.csv as report_1 (400 rows, 18 columns).")
    assert "Suggested target: purchased (classification" in out
    assert "customer_id (excluded)  identifier" in out


def test_list_and_show(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["datasets", "add", str(sample), "--json"])
    main(["datasets", "add", str(sample), "--target", "income", "--json"])
    capsys.readouterr()
    assert main(["datasets", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["datasets"]
    assert [d["datasetId"] for d in listed] == ["report_1", "report_2"]
    assert listed[1]["problemType"] == "regression"
    assert main(["datasets", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "ROWS"]
    assert table[1].startswith("report_1  customers  400")
    assert main(["datasets", "show", "report_2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["targetColumn"] == "income"
    assert main(["datasets", "show", "report_2"]) == 0
    assert "Target: income (regression" in capsys.readouterr().out


def test_list_when_empty(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list"]) == 0
    assert capsys.readouterr().out.strip() == "(none)"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["datasets", "show", "report_42"], 3, "No dataset with id 'report_42'"),
        (["datasets", "add", "{tmp}/missing.csv"], 3, "does not exist"),
        (["datasets", "add", "{tmp}/empty.csv"], 1, "empty.csv is empty (0 bytes)."),
        (["datasets", "add", "{tmp}/ok.csv", "--target", "nope"], 1, "'nope' is not a column of ok.csv"),
        (["datasets", "add", "{tmp}/ok.csv", "--sheet", "S"], 0, ""),  # a sheet is ignored for text files
        (["datasets", "add", "{tmp}/ok.xls"], 1, "save it as .xlsx or CSV"),
        (["datasets", "add"], 2, "the following arguments are required: FILE"),
        (["datasets", "frobnicate"], 2, "invalid choice"),
        (["datasets"], 2, "required"),
    ],
)
def test_exit_codes_and_one_line_errors(args: list[str], code: int, message: str, tmp_path: Path,
                                        predictml_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "ok.csv").write_bytes(b"a,b\n1,2\n3,4\n")
    (tmp_path / "ok.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = snapshot(predictml_home)
    if code == 2:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    else:
        assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    if code:
        assert snapshot(predictml_home) == before
        assert len([line for line in err.splitlines() if line.startswith("predictml")]) == 1


def test_real_process_reports_a_refusal_without_traceback(tmp_path: Path, predictml_home: Path) -> None:
    bad = tmp_path / "ragged.csv"
    bad.write_bytes(b"a,b\n1,2\n3,4,5\n")
    env = {**os.environ, "PREDICTML_HOME": str(predictml_home)}
    result = subprocess.run([sys.executable, "-m", "predictml_desktop", "datasets", "add", str(bad), "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == ("predictml: Line 3 of ragged.csv has 3 values but the header has 2 columns; "
                                     "fix that row (a value containing the delimiter must be in double quotes).")
