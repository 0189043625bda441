"""Build the packaged app and check it: ``make package`` / ``make package-test``.

``build``: PyInstaller one-folder build from build.spec into ``dist/PredictML/``, then an archive of
the folder (``.tar.gz`` on Linux and macOS, ``.zip`` on Windows) and, on Linux, a ``.desktop`` file.
``test``: the frozen ``PredictML --self-test`` (the whole product, headless) and the frozen
window's cold start (exec to first painted window), each timed, plus build time and folder size.

Targets (issue 7): build under 10 minutes on 2 cores; folder under 800 MB; self-test passes;
frozen window up within 2 s.
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
from pathlib import Path

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
Categories=Science;DataVisualization;Education;
MimeType=text/csv;application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
"""


def folder_size_mb(folder: Path) -> float:
    """Return the size of every file below ``folder`` in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def build() -> dict[str, float]:
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
    """Pack ``dist/PredictML`` for distribution (tar.gz keeps the executable bit and symlinks)."""
    if sys.platform == "win32":
        return Path(shutil.make_archive(str(DIST / "PredictML-windows"), "zip", DIST, "PredictML"))
    target = DIST / f"PredictML-{sys.platform}.tar.gz"
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(APP, arcname="PredictML")
    return target


def self_test() -> dict[str, object]:
    """Run the frozen self-test in a clean environment; return its summary and wall time."""
    out = Path(tempfile.mkdtemp(prefix="predictml-frozen-"))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    proc = subprocess.run([str(EXE), "--self-test", "--self-test-out", str(out)], env=env, cwd=out,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text("utf-8")) if summary_file.exists() else {}
    if proc.returncode != 0 or not summary.get("ok") or not summary.get("frozen"):
        sys.stderr.write(proc.stderr[-6000:])
        raise SystemExit(f"frozen self-test FAILED (exit {proc.returncode}): {summary.get('error', 'no summary')}")
    return {"selfTestSeconds": round(wall, 1), "summary": summary}


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


def main() -> int:
    """Build and/or test the package; print the figures and whether each target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "test", "build-and-test"])
    args = parser.parse_args()
    figures: dict[str, object] = {}
    if args.action in ("build", "build-and-test"):
        figures.update(build())
    if not EXE.exists():
        raise SystemExit(f"{EXE} is missing: run `make package` first")
    if args.action in ("test", "build-and-test"):
        figures.update(self_test())
        figures["windowSeconds"] = round(window_start(), 2)
    figures.setdefault("folderMB", round(folder_size_mb(APP), 1))
    checks = {
        "build < 10 min": figures.get("buildSeconds", 0) < BUILD_TARGET_S,  # type: ignore[operator]
        "folder < 800 MB": figures["folderMB"] < SIZE_TARGET_MB,  # type: ignore[operator]
    }
    if "windowSeconds" in figures:
        checks["window < 2 s"] = figures["windowSeconds"] < WINDOW_TARGET_S  # type: ignore[operator]
    summary = figures.pop("summary", None)
    print(json.dumps(figures, indent=2))
    if isinstance(summary, dict):
        print("self-test steps:", json.dumps(summary.get("steps", {})))
    for name, ok in checks.items():
        print(f"{'met ' if ok else 'MISSED'}  {name}")
    print("frozen self-test passed" if summary else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
