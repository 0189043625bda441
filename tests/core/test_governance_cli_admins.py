"""The command line of issue 14: ``audit verify``/``acknowledge``, several admins (``--as``), policy, settings."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from predictml_desktop.cli import main
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.status import DeploymentStatus
from predictml_desktop.core.store import Store
from tests.core.governance_records import add_dataset, add_job

ADA_PW = "a long enough passphrase for the shell"
BOB_PW = "another long passphrase for bob"


def run(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *,
        password: str | None = ADA_PW, new: str | None = None, stdin: str = "") -> tuple[int, str, str]:
    for name, value in (("PREDICTML_ADMIN_PASSWORD", password), ("PREDICTML_ADMIN_PASSWORD_NEW", new)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(predictml_home: Path) -> Store:
    return Store(Paths.default())


def test_several_admins_the_two_person_rule_and_the_trail_from_the_shell(
        store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(["admin", "set-password", "--name", "ada"], capsys, monkeypatch)
    assert code == 0
    code, out, err = run(["admin", "add", "--name", "bob"], capsys, monkeypatch, new=BOB_PW)
    assert code == 0 and "bob added" in out, err
    code, out, _ = run(["admin", "list", "--json"], capsys, monkeypatch)
    assert [a["name"] for a in json.loads(out)["admins"]] == ["ada", "bob"]
    assert json.loads(out)["admins"][1]["createdBy"] == "ada"

    ds = add_dataset(store)
    job = add_job(store, ds)
    # Two admins: who is acting must be said.
    code, _, err = run(["approve", job, "--to", "local", "--override"], capsys, monkeypatch)
    assert code == 2 and "--as NAME" in err
    code, out, _ = run(["admin", "policy", "--two-person", "all", "--as", "ada"], capsys, monkeypatch)
    assert code == 0 and "twoPersonRule: all" in out
    code, out, err = run(["approve", job, "--to", "local", "--override", "--as", "ada"], capsys, monkeypatch)
    assert code == 0 and "second admin" in out, err
    assert store.deployments() == []
    code, out, err = run(["approve", job, "--to", "local", "--override", "--as", "bob", "--json"], capsys,
                         monkeypatch, password=BOB_PW)
    assert code == 0, err
    dep = json.loads(out)
    assert dep["status"] == DeploymentStatus.ACTIVE and dep["approvers"] == ["ada", "bob"]

    code, out, _ = run(["audit", "verify"], capsys, monkeypatch, password=None)
    assert code == 0 and out.startswith("Audit trail: intact (")
    # A hand edit of one line: exit 1 and where it breaks.
    home = store.paths
    lines = home.audit_file.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"actor":"ada"', b'"actor":"eve"')
    home.audit_file.write_bytes(b"\n".join(lines))
    code, out, _ = run(["audit", "verify", "--json"], capsys, monkeypatch, password=None)
    report = json.loads(out)
    assert code == 1 and not report["intact"] and report["breaks"][0]["line"] == 4
    code, out, err = run(["audit", "acknowledge", "--reason", "my typo", "--as", "bob"], capsys, monkeypatch,
                         password=BOB_PW)
    assert code == 0 and "intact" in out, err
    code, out, _ = run(["audit", "verify"], capsys, monkeypatch, password=None)
    assert code == 0 and "1 earlier break acknowledged" in out and "acknowledged at line 4" in out

    code, _, err = run(["admin", "remove", "bob", "--as", "ada", "--reason", "left"], capsys, monkeypatch)
    assert code == 0, err
    code, _, err = run(["admin", "remove", "ada"], capsys, monkeypatch)
    assert code == 1 and "last admin" in err


def test_signed_settings_from_the_shell(store: Store, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    run(["admin", "set-password", "--name", "ada"], capsys, monkeypatch)
    code, out, _ = run(["admin", "policy", "--set", "perfectScore=off"], capsys, monkeypatch)
    assert code == 0 and "perfectScore: off" in out
    code, out, _ = run(["admin", "settings"], capsys, monkeypatch, password=None)
    assert code == 0 and out.startswith("settings.json: signed. Signed by ada")
    settings = store.paths.settings_file
    doc = json.loads(settings.read_text())
    doc["policy"]["beatBaseline"] = {"mode": "off"}
    settings.write_text(json.dumps(doc))
    code, out, _ = run(["admin", "settings", "--json"], capsys, monkeypatch, password=None)
    assert code == 1 and json.loads(out)["state"] == "unverified"
    code, out, _ = run(["admin", "policy", "--json"], capsys, monkeypatch, password=None)
    assert json.loads(out)["beatBaseline"]["mode"] == "block" and json.loads(out)["perfectScore"]["mode"] == "warn"
    code, _, err = run(["admin", "policy", "--set", "minHoldoutScore=off"], capsys, monkeypatch)
    assert code == 1 and "changed outside PredictML" in err
    code, _, err = run(["admin", "policy", "--set", "nonsense"], capsys, monkeypatch)
    assert code == 2
    code, out, err = run(["admin", "settings", "discard", "--reason", "not mine"], capsys, monkeypatch)
    assert code == 0 and "discarded" in out, err
    code, out, _ = run(["admin", "policy", "--json"], capsys, monkeypatch, password=None)
    assert json.loads(out)["perfectScore"]["mode"] == "off" and json.loads(out)["beatBaseline"]["mode"] == "block"


def test_audit_verify_as_a_real_process(store: Store) -> None:
    store.paths.audit_file.write_text('{"at":"2024-01-01","actor":"ada","action":"approved"}\n')
    env = {**os.environ}
    proc = subprocess.run([sys.executable, "-m", "predictml_desktop", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "not chained yet (1 line from before the chain" in proc.stdout
