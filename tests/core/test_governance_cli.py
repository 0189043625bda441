"""``predictml admin set-password``, ``approve``, ``reject`` and ``predict`` through the real command line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from predictml_desktop.cli import main
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.status import DeploymentStatus, JobStatus
from predictml_desktop.core.store import Store
from tests.trained_models import TrainedHome, valid_rows

pytestmark = pytest.mark.slow

PASSWORD = "a long enough passphrase for the shell"


def run(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        *, password: str | None = PASSWORD, stdin: str = "") -> tuple[int, str, str]:
    if password is None:
        monkeypatch.delenv("PREDICTML_ADMIN_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("PREDICTML_ADMIN_PASSWORD", password)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_admin_approve_reject_and_predict(trained_home: TrainedHome, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clf, reg = trained_home.clf, trained_home.reg
    # No admin yet: approving is refused, and set-password needs a name.
    code, _out, err = run(["approve", clf.job_id, "--to", "local"], capsys, monkeypatch)
    assert code == 1 and "No admin account exists" in err
    code, _out, err = run(["admin", "set-password"], capsys, monkeypatch)
    assert code == 2 and "--name" in err
    code, _out, err = run(["admin", "set-password", "--name", "ada"], capsys, monkeypatch, password="short")
    assert code == 1 and "at least 15" in err
    code, out, _err = run(["admin", "set-password", "--name", "ada"], capsys, monkeypatch,
                          password=None, stdin=PASSWORD + "\n")
    assert code == 0 and "created" in out

    code, _out, err = run(["approve", clf.job_id, "--to", "local"], capsys, monkeypatch, password="not the password!")
    assert code == 1 and err.strip() == "predictml: Wrong password."
    code, _out, err = run(["approve", "training_99", "--to", "local"], capsys, monkeypatch)
    assert code == 3 and "training_99" in err
    code, out, err = run(["approve", clf.job_id, "--to", "local", "--reason", "good", "--json"], capsys, monkeypatch)
    assert code == 0, err
    dep = json.loads(out)
    assert dep["status"] == DeploymentStatus.ACTIVE and dep["endpoint"].endswith(f"/predict/{clf.dataset_id}")

    code, _out, err = run(["reject", reg.job_id], capsys, monkeypatch)
    assert code == 2 and "--reason" in err
    code, out, _err = run(["reject", reg.job_id, "--reason", "not useful"], capsys, monkeypatch)
    assert code == 0 and "Rejected" in out
    assert Store(trained_home.paths).read().jobs.get(reg.job_id).status == JobStatus.REJECTED

    # predict --json: the seed's answer; a dataset without a deployment is exit code 3.
    row = valid_rows(clf, 1)[0]
    code, out, _err = run(["predict", clf.dataset_id, "--json", json.dumps({"inputData": row})], capsys, monkeypatch)
    assert code == 0
    body = json.loads(out)
    assert body["success"] is True and body["prediction"] in ([0], [1]) and "probability" in body
    code, _out, err = run(["predict", reg.dataset_id, "--json", json.dumps(row)], capsys, monkeypatch)
    assert code == 3 and "Model not deployed" in err
    code, _out, err = run(["predict", clf.dataset_id, "--json", "{nope"], capsys, monkeypatch)
    assert code == 2
    code, _out, err = run(["predict", clf.dataset_id, "--json", json.dumps({**row, "age": "old"})], capsys,
                          monkeypatch)
    assert code == 1 and "age must be a number" in err

    # predict --input FILE -o OUT.
    source = tmp_path / "new customers.csv"
    clf.frame.head(25).to_csv(source, index=False)
    out_file = tmp_path / "scored.xlsx"
    code, out, err = run(["predict", clf.dataset_id, "--input", str(source), "-o", str(out_file)], capsys,
                         monkeypatch)
    assert code == 0, err
    scored = pd.read_excel(out_file)
    assert len(scored) == 25 and {"prediction", "probability_0", "probability_1", "warnings"} <= set(scored.columns)
    # Parquet in, Parquet out; and an .xlsx output a worksheet cannot hold is refused in one sentence.
    parquet_source = tmp_path / "new customers.parquet"
    clf.frame.head(25).to_parquet(parquet_source, index=False)
    code, out, err = run(["predict", clf.dataset_id, "--input", str(parquet_source), "-o",
                          str(tmp_path / "scored.parquet")], capsys, monkeypatch)
    assert code == 0, err
    assert pd.read_parquet(tmp_path / "scored.parquet")["prediction"].isin([0, 1]).all()
    tall = tmp_path / "tall.csv"
    tall.write_bytes(b"age,visits\n" + b"30,2\n" * 1_048_576)
    monkeypatch.setenv("PREDICTML_HOME", str(Paths.default().home))
    from predictml_desktop.core.settings import load_settings, save_settings

    settings = load_settings(Paths.default())
    settings.limits.max_rows = 2_000_000
    save_settings(Paths.default(), settings)
    code, out, err = run(["predict", clf.dataset_id, "--input", str(tall), "-o", str(tmp_path / "tall.xlsx")],
                         capsys, monkeypatch)
    assert code == 1 and err.strip().endswith("tall.csv has 1,048,576 rows, more than an Excel worksheet holds "
                                              "(1,048,575 below its header row); write the predictions as .csv or "
                                              ".parquet instead.")
    assert "Traceback" not in err and not (tmp_path / "tall.xlsx").exists()

    # The audit trail, from the shell.
    code, out, _err = run(["admin", "audit", "--json"], capsys, monkeypatch)
    actions = [e["action"] for e in json.loads(out)["events"]]
    assert actions.count("approved") == 1 and actions.count("rejected") == 1 and "unlock_failed" in actions
    hits = [p for p in Paths.default().home.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert hits == []


def test_change_password_from_the_shell(trained_home: TrainedHome, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(["admin", "set-password", "--name", "ada"], capsys, monkeypatch)[0] == 0
    new = "another passphrase that is long"
    monkeypatch.setenv("PREDICTML_ADMIN_PASSWORD_NEW", new)
    code, out, err = run(["admin", "set-password"], capsys, monkeypatch)
    assert code == 0, err
    monkeypatch.delenv("PREDICTML_ADMIN_PASSWORD_NEW")
    code, out, _err = run(["admin", "status", "--json"], capsys, monkeypatch)
    assert json.loads(out)["adminExists"] is True
    assert run(["approve", trained_home.clf.job_id, "--to", "local"], capsys, monkeypatch)[0] == 1
    code, _out, err = run(["approve", trained_home.clf.job_id, "--to", "local"], capsys, monkeypatch, password=new)
    assert code == 0, err


def test_serve_refuses_a_port_in_use_with_a_free_one(trained_home: TrainedHome) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "predictml_desktop", "serve", "--port", str(port)],
                                capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr and "is free" in result.stderr
    assert "Traceback" not in result.stderr
