"""The Linux installer: a ``.deb`` of the PyInstaller folder, and the proof that it installs cleanly.

``build``: ``dist/PredictML_<version>_amd64.deb`` from ``dist/PredictML/`` (built first if missing)
with ``dpkg-deb``. The package installs

- the app under ``/opt/PredictML`` (the folder is relocatable, see notes/packaging.md),
- the ``predictml`` command as ``/usr/bin/predictml``, a symlink to the app's executable,
- a menu entry ``/usr/share/applications/predictml.desktop`` (CSV and Excel files open with it),
- the icon in the hicolor theme (scalable SVG and a 256 px PNG),
- ``/usr/share/doc/predictml/copyright``.

No maintainer scripts: the menu and icon caches are refreshed by the file triggers of
desktop-file-utils and gtk-update-icon-cache when those are installed, the app writes nothing
outside the users' own folders, and dpkg removes every file it unpacked. Users' data folders
(``~/.local/share/PredictML``, ``~/.config/PredictML``, ``~/.cache/PredictML``) are never the
package's, so neither ``remove`` nor ``purge`` touches them.

``install-test`` (root, Debian/Ubuntu, what CI runs): builds the package and a "previous version"
of it, installs the previous one with ``apt-get``, makes data as an ordinary user created for the
test, upgrades with ``apt-get install ./PredictML_<version>_amd64.deb``, runs ``predictml
--self-test`` from the installed command as that user, removes the package and checks that none
of its files are left and that the user's data is byte for byte what it was. It then removes the
user and the packages it installed, leaving the machine as it found it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
APP = DIST / "PredictML"
STAGING = ROOT / "build" / "deb"

PACKAGE = "predictml"
INSTALL_DIR = "opt/PredictML"
COMMAND = "usr/bin/predictml"
DESKTOP_FILE = "usr/share/applications/predictml.desktop"
MAINTAINER = "PredictML Desktop maintainers <predictml-desktop@example.org>"

# System libraries the package needs. PyInstaller leaves the C library and the GL/EGL stack to the
# system (they must match the machine's drivers); the X11 list is what the app's display check
# (predictml_desktop/ui/app.py, _X11_LIBRARIES) looks for before it opens a window, so without them an
# installed app would refuse to start on a minimal desktop; the Wayland libraries are what Qt's
# Wayland plugin links and the build machine may lack (the build then warns and leaves them out).
DEPENDS = [
    "libegl1", "libgl1", "libfontconfig1", "libxcb1", "libdrm2",
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-shape0", "libxcb-util1", "libxcb-xkb1", "libxkbcommon-x11-0",
    "libwayland-client0", "libwayland-cursor0", "libwayland-egl1",
]

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=PredictML Desktop
GenericName=Machine learning
Comment=Offline AutoML: train, review and serve models from your own tables
Exec=predictml %f
Icon=predictml
Terminal=false
Categories=Science;DataVisualization;
MimeType=text/csv;application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
Keywords=AutoML;prediction;model;CSV;Excel;
"""

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: PredictML Desktop
Comment: The application folder /opt/PredictML also carries the Python runtime and the
 libraries it was frozen with (PyInstaller one-folder build); their licences are those of
 their own projects.

Files: *
Copyright: 2026 PredictML Desktop authors
License: Proprietary
 All rights reserved.
"""

DESCRIPTION = """Offline AutoML desktop application
 PredictML Desktop trains, compares and explains models on CSV and Excel
 tables, lets an administrator approve them, and answers predictions in the
 app, from files and over a local HTTP API. Nothing leaves the machine.
"""


class DebError(Exception):
    """The package could not be built or failed its installation test; the message says why."""


def app_version() -> str:
    """Return the app's version, read from ``predictml_desktop/__init__.py`` (no import needed)."""
    text = (ROOT / "predictml_desktop" / "__init__.py").read_text("utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not found:
        raise DebError("predictml_desktop/__init__.py has no __version__")
    return found.group(1)


def deb_name(version: str, arch: str = "amd64") -> str:
    """Return the package's file name: ``PredictML_<version>_<arch>.deb``."""
    return f"PredictML_{version}_{arch}.deb"


def glibc_floor(folder: Path) -> str | None:
    """Return the newest ``GLIBC_x.y`` symbol version any ELF file below ``folder`` needs.

    That is the oldest C library the frozen app can run on (PyInstaller never bundles libc).
    """
    newest: tuple[int, ...] = ()
    pattern = re.compile(rb"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?\x00")
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
            data = fh.read()
        for match in pattern.finditer(data):
            newest = max(newest, tuple(int(g) for g in match.groups() if g is not None))
    return ".".join(map(str, newest)) if newest else None


def _place(source: Path, target: Path) -> None:
    # A hard link costs nothing for a 800 MB folder; a copy only when the staging area is elsewhere.
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _normalise_modes(root: Path) -> None:
    # Debian policy: directories 0755, programs 0755, everything else (shared libraries included,
    # which wheels often ship executable) 0644, whatever the build machine's umask was.
    shared_library = re.compile(r"\.so(\.\d+)*$")
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            executable = path.stat().st_mode & 0o111 and not shared_library.search(name)
            os.chmod(path, 0o755 if executable else 0o644)


def stage(app: Path, root: Path, version: str, *, extra_files: Mapping[str, str] | None = None) -> int:
    """Lay out the package's file tree under ``root``; return its installed size in KiB.

    Parameters
    ----------
    app
        The PyInstaller one-folder build (``PredictML`` executable and ``_internal/``).
    root
        An empty folder: it receives ``DEBIAN/`` and the files at their installed paths.
    version
        The package version.
    extra_files
        Files to add (installed path → text); the installation test gives the previous version one.
    """
    if not (app / "PredictML").is_file():
        raise DebError(f"{app} holds no PredictML executable: run `make package` first")
    if root.exists():
        shutil.rmtree(root)
    opt = root / INSTALL_DIR
    for dirpath, _dirnames, filenames in os.walk(app):
        for name in filenames:
            source = Path(dirpath) / name
            relative = source.relative_to(app)
            if relative == Path("predictml.desktop"):
                continue  # the archive's entry; the package installs its own below
            target = opt / relative
            if source.is_symlink():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(os.readlink(source))
            else:
                _place(source, target)
    (root / COMMAND).parent.mkdir(parents=True)
    (root / COMMAND).symlink_to(f"/{INSTALL_DIR}/PredictML")
    (root / DESKTOP_FILE).parent.mkdir(parents=True)
    (root / DESKTOP_FILE).write_text(DESKTOP_ENTRY, "utf-8")
    icons = root / "usr/share/icons/hicolor"
    resources = ROOT / "resources"
    _place(resources / "predictml.svg", icons / "scalable/apps/predictml.svg")
    _place(resources / "predictml.png", icons / "256x256/apps/predictml.png")
    doc = root / "usr/share/doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT, "utf-8")
    changelog = f"{PACKAGE} ({version}) stable; urgency=medium\n\n  * Release {version}.\n\n -- {MAINTAINER}  " \
                f"{time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\n"
    (doc / "changelog.gz").write_bytes(gzip.compress(changelog.encode("utf-8"), mtime=0))
    for relative, text in (extra_files or {}).items():
        path = root / relative.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    _normalise_modes(root)
    size = sum(p.lstat().st_size for p in root.rglob("*") if not p.is_dir())
    debian = root / "DEBIAN"
    debian.mkdir(mode=0o755)
    sums = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and debian not in path.parents:
            sums.append(f"{_md5(path)}  {path.relative_to(root).as_posix()}\n")
    (debian / "md5sums").write_text("".join(sums), "utf-8")
    os.chmod(debian / "md5sums", 0o644)
    return (size + 1023) // 1024


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def control(version: str, installed_kib: int, glibc: str | None) -> str:
    """Return the ``DEBIAN/control`` text."""
    depends = ([f"libc6 (>= {glibc})"] if glibc else ["libc6"]) + DEPENDS
    return (
        f"Package: {PACKAGE}\n"
        f"Version: {version}\n"
        "Architecture: amd64\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {', '.join(depends)}\n"
        "Section: science\n"
        "Priority: optional\n"
        f"Description: {DESCRIPTION}"
    )


def build_deb(app: Path = APP, out_dir: Path = DIST, *, version: str | None = None,
              extra_files: Mapping[str, str] | None = None, compression: str = "zstd",
              level: int | None = 9, staging: Path = STAGING) -> Path:
    """Build the ``.deb`` of ``app`` into ``out_dir`` and return its path.

    Parameters
    ----------
    app
        The PyInstaller one-folder build.
    out_dir
        Where ``PredictML_<version>_amd64.deb`` is written.
    version
        The package version (default: the app's ``__version__``).
    extra_files
        Extra files for the package (installed path → text).
    compression, level
        dpkg-deb's compressor and level. zstd -9 packs the 786 MB folder into 220 MB in 16 s here;
        xz -6 makes 181 MB but takes 300 s, gzip -6 294 MB in 100 s. Every dpkg that can run the app
        (glibc 2.36+: Debian 12, Ubuntu 23.04 and later) reads zstd.
    staging
        A scratch folder on the same file system as ``app`` (its files are hard-linked there).
    """
    version = version or app_version()
    installed_kib = stage(app, staging, version, extra_files=extra_files)
    (staging / "DEBIAN" / "control").write_text(control(version, installed_kib, glibc_floor(app)), "utf-8")
    os.chmod(staging / "DEBIAN" / "control", 0o644)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / deb_name(version)
    levels = [f"-z{level}"] if level is not None else []
    subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", *levels, "--threads-max=2",
                    "--build", str(staging), str(target)], check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(staging)
    return target


# --- the installation test (root) -------------------------------------------------------------------

def _run(cmd: list[str], *, check: bool = True, env: Mapping[str, str] | None = None,
         cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=None if env is None else dict(env),
                          cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise DebError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def installed_packages() -> dict[str, str]:
    """Return the installed Debian packages: name → version."""
    out = _run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}|${Package}|${Version}\n"]).stdout
    return {name: ver for status, name, ver in (line.split("|") for line in out.splitlines())
            if status.startswith("ii")}


def package_paths(deb: Path) -> list[str]:
    """Return every path a ``.deb`` installs (``/opt/PredictML/...``), directories included."""
    listing = _run(["dpkg-deb", "--contents", str(deb)]).stdout
    paths = []
    for line in listing.splitlines():
        name = line.split(None, 5)[5].split(" -> ")[0]
        paths.append("/" + name.removeprefix("./").rstrip("/"))
    return [p for p in paths if p != "/"]


def snapshot(folders: Iterable[Path]) -> dict[str, str]:
    """Return path → SHA-256 (or ``dir``) of everything below ``folders``: what "untouched" means."""
    shot = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_dir():
                shot[str(path)] = "dir"
            else:
                shot[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return shot


@contextmanager
def test_user(base: Path) -> Iterator[tuple[str, Path]]:
    """Create an ordinary user with its own home below ``base``; remove it (and its home) afterwards."""
    name = f"pml-deb-{os.getpid()}"
    home = base / "home"
    _run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", name])
    try:
        yield name, home
    finally:
        _run(["userdel", "--remove", name], check=False)


def as_user(user: str, home: Path, args: list[str], *, check: bool = True,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``args`` as ``user`` with a clean login-like environment (nothing of root's leaks in)."""
    env = ["env", "-i", f"HOME={home}", f"USER={user}", f"LOGNAME={user}", "PATH=/usr/local/bin:/usr/bin:/bin",
           "LANG=C.UTF-8", "QT_QPA_PLATFORM=offscreen"]
    return _run(["runuser", "-u", user, "--", *env, *args], check=check, cwd=home, timeout=timeout)


def install_test(*, apt_update: bool = True) -> list[str]:
    """Build, install, upgrade, self-test and remove the package; return the checks that passed.

    Raises
    ------
    DebError
        With the first check that failed.
    """
    if os.geteuid() != 0:
        raise DebError("the installation test installs a package and creates a user: run it as root")
    passed: list[str] = []

    def check(condition: bool, what: str, detail: str = "") -> None:
        if not condition:
            raise DebError(f"FAILED: {what}{': ' + detail if detail else ''}")
        passed.append(what)
        print(f"ok      {what}", flush=True)

    version = app_version()
    previous = f"{version}~previous"
    stale = f"/{INSTALL_DIR}/_internal/only-in-the-previous-version.txt"
    work = Path(tempfile.mkdtemp(prefix="predictml-deb-"))
    os.chmod(work, 0o755)  # the test user and apt's sandbox user read below it
    before = installed_packages()
    started = time.perf_counter()
    try:
        old_deb = build_deb(out_dir=work / "old", version=previous, level=3,
                            extra_files={stale: "removed by the upgrade\n"})
        new_deb = build_deb(out_dir=work)
        print(f"built {new_deb.name} ({new_deb.stat().st_size / 1e6:.0f} MB) and {old_deb.name} "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        if apt_update:
            _run(["apt-get", "update", "-qq"], timeout=600)
        apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # desktop-file-utils validates the menu entry, and its trigger proves the menu picks it up.
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "desktop-file-utils"], env=apt_env)
        new_paths = package_paths(new_deb)
        existed = {p for p in new_paths if os.path.lexists(p)}
        check(not any(p.startswith(f"/{INSTALL_DIR}") for p in existed) and f"/{COMMAND}" not in existed,
              "nothing of the package is on the machine before the test")
        with test_user(work) as (user, home):
            _run(["apt-get", "install", "-y", "-q", f"./old/{old_deb.name}"], env=apt_env, cwd=work)
            check(installed_packages().get(PACKAGE) == previous, f"{old_deb.name} installed by apt-get")
            sample = home / "purchases.csv"
            shutil.copyfile(f"/{INSTALL_DIR}/_internal/resources/sample_data/customer_purchases.csv", sample)
            os.chown(sample, *_ids(user))
            as_user(user, home, ["predictml", "datasets", "add", str(sample), "--target", "purchased"])
            data = [home / ".local/share/PredictML", home / ".config/PredictML"]
            listed = json.loads(as_user(user, home, ["predictml", "datasets", "list", "--json"]).stdout)
            check(len(listed["datasets"]) == 1, "the previous version made a dataset in the user's data folder",
                  str(listed))
            made = snapshot(data)
            check(any(v != "dir" for v in made.values()), "the user's data folder holds files", str(data))

            _run(["apt-get", "install", "-y", "-q", f"./{new_deb.name}"], env=apt_env, cwd=work)
            check(installed_packages().get(PACKAGE) == version,
                  f"upgraded with apt-get install ./{new_deb.name}")
            check(not os.path.lexists(stale), "the upgrade removed a file only the previous version had")
            check(snapshot(data) == made, "the upgrade left the user's data untouched")
            verify = _run(["dpkg", "--verify", PACKAGE], check=False)
            check(verify.returncode == 0 and not verify.stdout.strip(), "every installed file matches md5sums",
                  verify.stdout)
            which = as_user(user, home, ["sh", "-c", "command -v predictml"]).stdout.strip()
            check(which == f"/{COMMAND}", "`predictml` is on the user's PATH", which)
            relisted = as_user(user, home, ["predictml", "datasets", "list", "--json"]).stdout
            check(json.loads(relisted) == listed, "the new version reads the previous version's data")
            kept = snapshot(data)

            out = home / "self-test"
            t0 = time.perf_counter()
            proc = as_user(user, home, ["predictml", "--self-test", "--self-test-out", str(out)], check=False)
            summary_file = out / "summary.json"
            summary = json.loads(summary_file.read_text("utf-8")) if summary_file.exists() else {}
            check(proc.returncode == 0 and summary.get("ok") is True and summary.get("frozen") is True,
                  f"`predictml --self-test` passed as user {user} ({time.perf_counter() - t0:.0f} s)",
                  f"exit {proc.returncode}, {summary.get('error')}\n{proc.stderr[-4000:]}")
            check(_run(["dpkg", "--verify", PACKAGE], check=False).stdout.strip() == "",
                  "running the app changed nothing in the installed files")
            desktop = Path("/", DESKTOP_FILE).read_text("utf-8")
            check("Exec=predictml %f" in desktop and "Icon=predictml" in desktop,
                  "the menu entry starts `predictml` with the hicolor icon")
            validate = _run(["desktop-file-validate", f"/{DESKTOP_FILE}"], check=False)
            check(validate.returncode == 0 and not validate.stdout.strip(), "desktop-file-validate accepts the entry",
                  validate.stdout)
            check("predictml.desktop" in _mime_cache(), "the menu's MIME cache offers PredictML for CSV files")
            check(all(os.path.isfile(f"/usr/share/icons/hicolor/{icon}") for icon in
                      ("scalable/apps/predictml.svg", "256x256/apps/predictml.png")), "the icon is in hicolor")

            _run(["apt-get", "remove", "-y", "-q", PACKAGE], env=apt_env)
            check(PACKAGE not in installed_packages(), "apt-get remove uninstalled the package")
            left = [p for p in new_paths if p not in existed and os.path.lexists(p) and not _owned(p)]
            check(not left, f"none of the package's {len(new_paths)} paths is left", ", ".join(left[:20]))
            check(not os.path.lexists(f"/{INSTALL_DIR}"), f"/{INSTALL_DIR} is gone")
            check("predictml.desktop" not in _mime_cache(), "the menu no longer lists PredictML")
            check(snapshot(data) == kept, "the user's data is untouched after the removal")
    finally:
        # Leave the machine as found: the package (if a check failed midway), then what apt added.
        added = sorted(set(installed_packages()) - set(before))
        if added:
            _run(["apt-get", "purge", "-y", "-q", *added], check=False,
                 env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        shutil.rmtree(work, ignore_errors=True)
    check(set(installed_packages()) == set(before), "the machine's package list is as before the test")
    print(f"deb install test: {len(passed)} checks passed in {time.perf_counter() - started:.0f} s", flush=True)
    return passed


def _owned(path: str) -> bool:
    # A directory another package still owns (/usr/share/applications, say) is not a leftover.
    return os.path.isdir(path) and _run(["dpkg-query", "-S", path], check=False).returncode == 0


def _mime_cache() -> str:
    cache = Path("/usr/share/applications/mimeinfo.cache")
    return cache.read_text("utf-8") if cache.exists() else ""


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def main(argv: list[str] | None = None) -> int:
    """``build`` the package, or run the root-only ``install-test``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=["build", "install-test"])
    parser.add_argument("--no-apt-update", action="store_true", help="install-test: skip `apt-get update`")
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            if not (APP / "PredictML").is_file():
                subprocess.run([sys.executable, str(ROOT / "packaging" / "package.py"), "build"], check=True)
            started = time.perf_counter()
            deb = build_deb()
            seconds = time.perf_counter() - started
            print(f"{deb.relative_to(ROOT)}: {deb.stat().st_size / 1e6:.0f} MB in {seconds:.0f} s")
        else:
            install_test(apt_update=not args.no_apt_update)
    except DebError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
