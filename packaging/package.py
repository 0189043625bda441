"""Build the packaged app and check it: ``make package`` / ``make package-test``.

``build``: PyInstaller one-folder build from build.spec into ``dist/PredictML/`` (and ``dist/PredictML.app``
on macOS), then an archive (``.tar.gz`` on Linux, ``.zip`` on Windows, a ``.dmg`` of the .app on macOS)
and, on Linux, a ``.desktop`` file. The installers are made from the folder by packaging/deb.py (Linux)
and packaging/nsis.py (Windows); packaging/README.md says how on each system.
``test``: the frozen ``PredictML --self-test`` (the whole product, headless) and the frozen
window's cold start (exec to first painted window), each timed, plus build time and folder size.

Targets (issue 7): build under 10 minutes on 2 cores; folder under 800 MB; self-test passes;
frozen window up within 2 s. A missed target makes the command exit with status 1 (issue 17), so
``make package-test`` fails in CI instead of printing a warning nobody reads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
APP = DIST / "PredictML"
EXE = APP / ("PredictML.exe" if sys.platform == "win32" else "PredictML")

BUILD_TARGET_S = 600
SIZE_TARGET_MB = 800
WINDOW_TARGET_S = 2.0

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=PredictML Desktop
Comment=Offline AutoML: train, review and serve models from your own tables
Exec={exe} %f
Icon={icon}
Terminal=false
Categories=Science;DataVisualization;
MimeType=text/csv;application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
"""


def folder_size_mb(folder: Path) -> float:
    """Return the size of every file below ``folder`` in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def build() -> dict[str, Any]:
    """Run PyInstaller and make the archive; return build seconds and folder size."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(DIST), "--workpath", str(WORK), str(ROOT / "build.spec")],
        check=True, cwd=ROOT,
    )
    build_s = time.perf_counter() - started
    if sys.platform.startswith("linux"):
        icon = APP / "_internal" / "resources" / "predictml.svg"
        (APP / "predictml.desktop").write_text(DESKTOP_ENTRY.format(exe="PredictML", icon=icon.name), "utf-8")
    archive = archive_folder()
    return {"buildSeconds": round(build_s, 1), "folderMB": round(folder_size_mb(APP), 1),
            "archive": str(archive.relative_to(ROOT)), "archiveMB": round(archive.stat().st_size / 1e6, 1)}


def archive_folder() -> Path:
    """Pack the build for distribution: a zip on Windows, a disk image of the .app on macOS, else a tar.gz.

    The tar.gz keeps the executable bit and symlinks. The disk image (hdiutil, macOS only) holds
    ``PredictML.app`` and a link to /Applications to drag it onto.
    """
    if sys.platform == "win32":
        return Path(shutil.make_archive(str(DIST / "PredictML-windows"), "zip", DIST, "PredictML"))
    if sys.platform == "darwin":
        target = DIST / "PredictML-macos.dmg"
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(DIST / "PredictML.app", Path(tmp) / "PredictML.app", symlinks=True)
            (Path(tmp) / "Applications").symlink_to("/Applications")
            subprocess.run(["hdiutil", "create", "-volname", "PredictML", "-srcfolder", tmp, "-ov",
                            "-format", "UDZO", str(target)], check=True)
        return target
    target = DIST / f"PredictML-{sys.platform}.tar.gz"
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(APP, arcname="PredictML")
    return target


def self_test(exe: Path | None = None, timeout: float = 900) -> dict[str, Any]:
    """Run the frozen self-test in a clean environment; return its verdict, summary and wall time.

    Never raises for a failing app: the verdict is one of the targets `target_failures` judges,
    and the figures gathered so far are still printed.
    """
    exe = exe or EXE
    with tempfile.TemporaryDirectory(prefix="predictml-frozen-") as tmp:
        return _self_test_in(exe, Path(tmp), timeout)


def _self_test_in(exe: Path, out: Path, timeout: float) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    try:
        proc = subprocess.run([str(exe), "--self-test", "--self-test-out", str(out)], env=env, cwd=out,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"selfTestSeconds": round(time.perf_counter() - started, 1), "selfTestOk": False,
                "selfTestError": f"no answer within {timeout:.0f} s (killed)"}
    except OSError as exc:
        return {"selfTestSeconds": 0.0, "selfTestOk": False, "selfTestError": f"cannot start {exe}: {exc}"}
    wall = time.perf_counter() - started
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text("utf-8")) if summary_file.exists() else {}
    ok = proc.returncode == 0 and bool(summary.get("ok")) and bool(summary.get("frozen"))
    figures: dict[str, Any] = {"selfTestSeconds": round(wall, 1), "selfTestOk": ok, "summary": summary}
    if not ok:
        sys.stderr.write(proc.stderr[-6000:])
        figures["selfTestError"] = f"exit {proc.returncode}: {summary.get('error', 'no summary written')}"
    return figures


def window_start(runs: int = 3) -> float:
    """Median seconds from exec of the frozen app to its first painted main window."""
    times = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="predictml-start-"))
        probe = home / "first-paint"
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PREDICTML_HOME=str(home / "data"),
                   PREDICTML_CONFIG_HOME=str(home / "config"), PREDICTML_STARTUP_PROBE=str(probe))
        started = time.time()
        subprocess.run([str(EXE)], env=env, timeout=120, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(float(probe.read_text()) - started)
        shutil.rmtree(home, ignore_errors=True)
    return statistics.median(times)


def judge_targets(figures: Mapping[str, Any]) -> list[tuple[bool, str]]:
    """Return ``(met, sentence)`` for each target whose figure was measured.

    A figure that was not measured (no build in ``test``, no self-test in ``build``) is not judged.

    Parameters
    ----------
    figures
        ``buildSeconds``, ``folderMB``, ``windowSeconds``, ``selfTestOk`` (and ``selfTestError``),
        each optional.
    """
    verdicts = []
    if "buildSeconds" in figures:
        verdicts.append((figures["buildSeconds"] < BUILD_TARGET_S,
                         f"build took {figures['buildSeconds']:.0f} s (target: under {BUILD_TARGET_S} s)"))
    if "folderMB" in figures:
        verdicts.append((figures["folderMB"] < SIZE_TARGET_MB,
                         f"folder is {figures['folderMB']:.1f} MB (target: under {SIZE_TARGET_MB} MB)"))
    if "windowSeconds" in figures:
        verdicts.append((figures["windowSeconds"] < WINDOW_TARGET_S,
                         f"frozen window appeared in {figures['windowSeconds']:.2f} s "
                         f"(target: under {WINDOW_TARGET_S:g} s)"))
    if "selfTestOk" in figures:
        verdicts.append((bool(figures["selfTestOk"]),
                         "frozen self-test passed" if figures["selfTestOk"]
                         else f"frozen self-test failed: {figures.get('selfTestError', 'no reason given')}"))
    return verdicts


def target_failures(figures: Mapping[str, Any]) -> list[str]:
    """Return one sentence per missed target among the measured figures; empty when all are met."""
    return [sentence for met, sentence in judge_targets(figures) if not met]


def main(argv: list[str] | None = None) -> int:
    """Build and/or test the package; print the figures; return 1 if a target was missed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=["build", "test", "build-and-test"])
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    if args.action in ("build", "build-and-test"):
        figures.update(build())
    if not EXE.exists():
        raise SystemExit(f"{EXE} is missing: run `make package` first")
    if args.action in ("test", "build-and-test"):
        figures.update(self_test())
        if figures["selfTestOk"]:
            figures["windowSeconds"] = round(window_start(), 2)
    figures.setdefault("folderMB", round(folder_size_mb(APP), 1))
    summary = figures.pop("summary", None)
    print(json.dumps(figures, indent=2))
    if summary:
        print("self-test steps:", json.dumps(summary.get("steps", {})))
    verdicts = judge_targets(figures)
    for met, sentence in verdicts:
        print(f"{'met   ' if met else 'MISSED'}  {sentence}")
    return 0 if all(met for met, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
