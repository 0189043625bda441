r"""Compile the Windows installer (packaging/windows/predictml.nsi) with makensis.

On Windows, after ``python packaging\package.py build``::

    python packaging\nsis.py            # dist\PredictML-<version>-setup.exe (LZMA, a few minutes)

On Linux (CI), ``python packaging/nsis.py --check`` compiles the same script with the Linux build
folder standing in for the Windows one and without compression: every instruction, define, include
and file reference is checked by makensis itself, and the result is a real (if useless) installer.

``python packaging/nsis.py --wine-test`` (Linux with Wine 64-bit, CI) runs the installer for real:
a small stand-in app is installed per user into a fresh Wine prefix, upgraded, refused a data folder
as its target, and uninstalled through the command registered in HKCU; every file, Start-menu
entry and registry value is checked, and the data folder must survive. What Wine cannot show (the
real app starting on Windows, SmartScreen, antivirus) is listed in packaging/README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "packaging" / "windows" / "predictml.nsi"
APP = ROOT / "dist" / "PredictML"


def app_version() -> str:
    """Return ``predictml_desktop.__version__`` without importing the package."""
    text = (ROOT / "predictml_desktop" / "__init__.py").read_text("utf-8")
    found = re.search(r'^__version__ = "(\d+\.\d+\.\d+)"', text, re.MULTILINE)
    if not found:
        raise SystemExit("predictml_desktop/__init__.py has no X.Y.Z __version__ (the installer's version needs one)")
    return found.group(1)


def folder_kib(folder: Path) -> int:
    """Return the size of ``folder`` in KiB (the "EstimatedSize" Windows shows)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) // 1024


def compile_installer(app: Path = APP, out: Path | None = None, *, check: bool = False) -> Path:
    """Run makensis on the script; return the installer written.

    Parameters
    ----------
    app
        The PyInstaller one-folder build.
    out
        The installer file (default: ``dist/PredictML-<version>-setup.exe``, or ``-check.exe`` with ``check``).
    check
        Compile the Linux folder in place of the Windows one, uncompressed (CI).
    """
    makensis = shutil.which("makensis")
    if makensis is None:
        raise SystemExit("makensis is not installed (Debian/Ubuntu: apt-get install nsis; Windows: nsis.sf.net)")
    version = app_version()
    out = out or ROOT / "dist" / f"PredictML-{version}-setup{'-check' if check else ''}.exe"
    out.parent.mkdir(parents=True, exist_ok=True)
    # makensis takes "/D" on Windows and "-D" elsewhere; each define is one argument, spaces and all.
    flag = "/" if sys.platform == "win32" else "-"
    defines = {"VERSION": version, "APPDIR": str(app), "OUTFILE": str(out), "SIZE_KB": str(folder_kib(app))}
    args = [makensis, f"{flag}V2", f"{flag}WX"]  # warnings are errors: a typo'd define is caught too
    args += [f"{flag}D{key}={value}" for key, value in defines.items()]
    if check:
        args += [f"{flag}DSTANDIN", f"{flag}DNOCOMPRESS"]
    # Relative paths in the script (the icon) are resolved from its own folder.
    subprocess.run([*args, str(SCRIPT)], check=True, cwd=SCRIPT.parent)
    return out


def _wine() -> str:
    for candidate in ("wine64", "/usr/lib/wine/wine64", "wine"):
        found = shutil.which(candidate)
        if found:
            return found
    raise SystemExit("Wine is not installed (Debian/Ubuntu: apt-get install wine64)")


def wine_test() -> list[str]:
    """Install, upgrade, refuse, and uninstall a stand-in app under Wine; return the checks passed."""
    wine = _wine()
    wineserver = shutil.which("wineserver") or str(Path(wine).with_name("wineserver"))
    passed: list[str] = []

    def check(condition: bool, what: str, detail: str = "") -> None:
        if not condition:
            raise SystemExit(f"FAILED: {what}{': ' + detail if detail else ''}")
        passed.append(what)
        print(f"ok      {what}", flush=True)

    with tempfile.TemporaryDirectory(prefix="predictml nsis ") as tmp:
        work = Path(tmp)
        prefix = work / "wine prefix"
        (work / "tmp").mkdir()
        # TMPDIR too: Wine's own scratch folders then go with the rest when the test ends.
        env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=",
                   TMPDIR=str(work / "tmp"))

        def run(*args: str, code: int = 0) -> str:
            proc = subprocess.run([wine, *args], env=env, capture_output=True, text=True, timeout=300)
            subprocess.run([wineserver, "-w"], env=env, timeout=300)  # uninstallers re-launch themselves
            if proc.returncode != code:
                raise SystemExit(f"FAILED: wine {' '.join(args)} exited {proc.returncode}, not {code}: {proc.stderr}")
            return proc.stdout.replace("\r", "")

        installers = {}
        for release, stale in (("previous", True), ("current", False)):
            app = work / f"{release} build" / "PredictML"
            (app / "_internal" / "resources").mkdir(parents=True)
            (app / "PredictML").write_bytes(b"MZ stand-in for PredictML.exe")
            (app / "_internal" / "resources" / "data.txt").write_text(release, "utf-8")
            if stale:
                (app / "_internal" / "only-in-previous.dll").write_text("old", "utf-8")
            installers[release] = compile_installer(app, work / f"PredictML-{release}-setup.exe", check=True)
        run("wineboot", "--init")
        local = prefix / "drive_c" / "users" / os.environ.get("USER", "root") / "AppData" / "Local"
        if not local.is_dir():
            local = next(prefix.glob("drive_c/users/*/AppData/Local"))
        start_menu = local.parent / "Roaming/Microsoft/Windows/Start Menu/Programs/PredictML Desktop"
        installed = local / "Programs" / "PredictML"
        data = local / "PredictML"
        data.mkdir(parents=True)
        (data / "datasets-metadata.json").write_text('{"schemaVersion": 1}', "utf-8")
        key = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\PredictML"

        run(str(installers["previous"]), "/S")
        check((installed / "PredictML.exe").is_file() and (installed / "uninstall.exe").is_file()
              and (installed / "_internal" / "only-in-previous.dll").is_file(),
              "a silent install without admin rights put the app in %LOCALAPPDATA%\\Programs\\PredictML")
        check(sorted(p.name for p in start_menu.glob("*.lnk")) == ["PredictML Desktop.lnk",
                                                                    "Uninstall PredictML Desktop.lnk"],
              "the Start menu has the app and its uninstaller")
        values = run("reg", "query", key)
        check("PredictML Desktop" in values and "uninstall.exe\" /S" in values and "InstallLocation" in values,
              "the uninstaller is registered under HKCU", values)

        run(str(installers["current"]), "/S")
        check(not (installed / "_internal" / "only-in-previous.dll").exists()
              and (installed / "_internal" / "resources" / "data.txt").read_text("utf-8") == "current",
              "an upgrade replaces the previous version's files")

        run(str(installers["current"]), "/S", f"/D={_windows_path(data, prefix)}", code=2)
        check(sorted(p.name for p in data.iterdir()) == ["datasets-metadata.json"],
              "the installer refuses the data folder as its target")

        quiet = next(line.split("REG_SZ", 1)[1].strip() for line in values.splitlines()
                     if "QuietUninstallString" in line)
        uninstaller = quiet.split('"')[1]
        run(uninstaller, "/S")
        check(not installed.exists() and not start_menu.exists(), "the uninstaller removed the app and its menu entry")
        check("PredictML" not in run("reg", "query", r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall",
                                     code=0), "the uninstaller removed its registry key")
        check((data / "datasets-metadata.json").read_text("utf-8") == '{"schemaVersion": 1}',
              "the data folder is untouched")
    print(f"NSIS installer under Wine: {len(passed)} checks passed", flush=True)
    return passed


def _windows_path(path: Path, prefix: Path) -> str:
    return "C:\\" + "\\".join(path.relative_to(prefix / "drive_c").parts)


def main(argv: list[str] | None = None) -> int:
    """Compile the installer; ``--check`` for the Linux CI check."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compile with the Linux folder, uncompressed (CI)")
    parser.add_argument("--keep", action="store_true", help="with --check: keep the compiled installer")
    parser.add_argument("--wine-test", action="store_true", help="install and uninstall a stand-in app under Wine")
    args = parser.parse_args(argv)
    if args.wine_test:
        wine_test()
        return 0
    if not APP.is_dir():
        raise SystemExit(f"{APP} is missing: build the app first (make package)")
    started = time.perf_counter()
    installer = compile_installer(check=args.check)
    print(f"{installer.name}: {installer.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s")
    if args.check and not args.keep:
        installer.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
