"""``make package-test`` fails when a packaging target is missed (issue 17).

The real build takes minutes, so the judging and the exit code are tested here with stand-ins for
the frozen app: small executables that fail, pass, or report a slow first window, and a sparse file
that makes the folder too big without writing 800 MB.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from tests.packaging.scripts import load

package = load("package")


def test_every_target_is_judged_at_its_limit() -> None:
    met = {"buildSeconds": 599.9, "folderMB": 799.9, "windowSeconds": 1.99, "selfTestOk": True}
    assert package.target_failures(met) == []
    assert len(package.judge_targets(met)) == 4
    for key, missed in [("buildSeconds", 600.1), ("folderMB", 800.5), ("windowSeconds", 2.01),
                        ("selfTestOk", False)]:
        failures = package.target_failures({**met, key: missed})
        assert len(failures) == 1, (key, failures)
    assert package.target_failures({**met, "selfTestOk": False, "selfTestError": "exit 1: boom"}) == [
        "frozen self-test failed: exit 1: boom"]
    assert "800.5 MB" in package.target_failures({"folderMB": 800.5})[0]


def test_unmeasured_figures_are_not_judged() -> None:
    assert package.judge_targets({}) == []
    assert [s for _, s in package.judge_targets({"folderMB": 10.0})] == ["folder is 10.0 MB (target: under 800 MB)"]


FAKE_APP = r'''
import json, os, sys, time
from pathlib import Path
mode = Path(__file__).with_name("mode").read_text().strip()
if "--self-test" in sys.argv:
    out = Path(sys.argv[sys.argv.index("--self-test-out") + 1])
    ok = mode != "failing"
    summary = {"ok": ok, "frozen": True, "steps": {"window": {"seconds": 0.1}}}
    if not ok:
        summary["error"] = "ValueError: the training found no model"
    (out / "summary.json").write_text(json.dumps(summary))
    sys.exit(0 if ok else 1)
probe = os.environ["PREDICTML_STARTUP_PROBE"]
# The first window's time as the real app writes it; a slow start is reported, not slept through.
Path(probe).write_text(repr(time.time() + (3.0 if mode == "slow-window" else 0.0)))
'''


@pytest.fixture
def fake_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `dist/PredictML` (in a folder whose name has a space) whose behaviour ``mode`` sets."""
    app = tmp_path / "dist dir" / "PredictML"
    app.mkdir(parents=True)
    (app / "fake_app.py").write_text(FAKE_APP, "utf-8")
    exe = app / "PredictML"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{app / "fake_app.py"}" "$@"\n', "utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(package, "APP", app)
    monkeypatch.setattr(package, "EXE", exe)
    return app


@pytest.mark.parametrize(("mode", "code", "missed"), [
    ("passing", 0, None),
    ("failing", 1, "frozen self-test failed: exit 1: ValueError: the training found no model"),
    ("slow-window", 1, "frozen window appeared in 3.0"),
    ("too-big", 1, "folder is 800.1 MB"),
])
def test_package_test_exits_non_zero_on_a_missed_target(fake_app: Path, mode: str, code: int, missed: str | None,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (fake_app / "mode").write_text(mode)
    if mode == "too-big":
        with (fake_app / "_internal.bin").open("wb") as fh:
            fh.truncate(800_100_000)  # sparse: the size counts, no disk is used
    assert package.main(["test"]) == code
    out = capsys.readouterr().out
    figures = json.loads(out[: out.index("}\n") + 1])
    assert figures["selfTestOk"] is (mode != "failing")
    lines = [line for line in out.splitlines() if line.startswith(("met", "MISSED"))]
    assert lines and all(line.startswith("met") for line in lines) == (missed is None)
    if missed:
        assert any(line.startswith("MISSED") and missed in line for line in lines), lines
    if mode == "failing":
        assert "windowSeconds" not in figures  # no window figure is measured for an app that fails


def test_a_hung_self_test_is_a_failure_not_a_hang(fake_app: Path, tmp_path: Path) -> None:
    hung = tmp_path / "hung"
    hung.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "import time; time.sleep(60)"\n', "utf-8")
    hung.chmod(0o755)
    figures = package.self_test(hung, timeout=1)
    assert figures["selfTestOk"] is False and "no answer within 1 s" in figures["selfTestError"]
    missing = package.self_test(tmp_path / "absent", timeout=5)
    assert missing["selfTestOk"] is False and "cannot start" in missing["selfTestError"]

