"""The .deb builder (packaging/deb.py) on a small stand-in for the PyInstaller folder.

dpkg-deb builds it for real and reads it back; the installation itself (root, apt-get, a test user)
is `make deb-test`, which CI runs on the real build.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.packaging.scripts import load

deb = load("deb")

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is Debian's (CI runs Debian)")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A one-folder app in a path with spaces: a real ELF executable, a library, data, a symlink."""
    folder = tmp_path / "build dir with spaces" / "PredictML"
    (folder / "_internal" / "resources").mkdir(parents=True)
    shutil.copyfile("/bin/true", folder / "PredictML")
    (folder / "PredictML").chmod(0o700)  # a tight umask on the build machine must not leak into the package
    (folder / "_internal" / "resources" / "data.txt").write_text("payload", "utf-8")
    (folder / "_internal" / "resources" / "data.txt").chmod(0o600)
    os.symlink("resources/data.txt", folder / "_internal" / "link.txt")
    (folder / "predictml.desktop").write_text("[Desktop Entry]\n", "utf-8")  # the archive's, not the package's
    (folder / "_internal" / "libQt6Gui.so.6").write_bytes(b"\x7fELF")
    (folder / "_internal" / "libQt6Gui.so.6").chmod(0o755)  # wheels ship libraries executable
    return folder


def _dpkg(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], check=True, capture_output=True, text=True).stdout


def test_the_package_installs_the_app_the_command_the_menu_entry_and_the_icon(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "out dir"
    built = deb.build_deb(app, out, version="1.2.3", staging=tmp_path / "staging area")
    assert built == out / "PredictML_1.2.3_amd64.deb"
    assert not (tmp_path / "staging area").exists()

    info = {k: v.strip() for k, _, v in (line.partition(":") for line in _dpkg("--field", str(built)).splitlines()
                                         if line and not line.startswith(" "))}
    assert info["Package"] == "predictml" and info["Version"] == "1.2.3" and info["Architecture"] == "amd64"
    depends = [d.strip() for d in info["Depends"].split(",")]
    assert depends[0] == f"libc6 (>= {deb.glibc_floor(app)})"
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1", "libfontconfig1"} <= set(depends)
    assert int(info["Installed-Size"]) >= os.path.getsize("/bin/true") // 1024

    entries = {}
    for line in _dpkg("--contents", str(built)).splitlines():
        mode, owner, _size, _date, _time, name = line.split(None, 5)
        entries[name.removeprefix("./")] = (mode, owner)
    assert entries["opt/PredictML/PredictML"] == ("-rwxr-xr-x", "root/root")
    assert entries["opt/PredictML/_internal/resources/data.txt"] == ("-rw-r--r--", "root/root")
    assert entries["opt/PredictML/_internal/libQt6Gui.so.6"] == ("-rw-r--r--", "root/root")
    assert entries["usr/bin/predictml -> /opt/PredictML/PredictML"][0].startswith("l")
    assert "opt/PredictML/_internal/link.txt -> resources/data.txt" in entries
    assert "usr/share/icons/hicolor/scalable/apps/predictml.svg" in entries
    assert "usr/share/icons/hicolor/256x256/apps/predictml.png" in entries
    assert "usr/share/doc/predictml/copyright" in entries
    assert not any(name.startswith("opt/PredictML/predictml.desktop") for name in entries)
    assert all(mode[0] != "d" or mode == "drwxr-xr-x" for mode, _ in entries.values())

    tree = tmp_path / "extracted"
    subprocess.run(["dpkg-deb", "--extract", str(built), str(tree)], check=True)
    desktop = (tree / "usr/share/applications/predictml.desktop").read_text("utf-8")
    assert "Exec=predictml %f" in desktop and "Icon=predictml" in desktop and "text/csv" in desktop
    # md5sums lists every regular file with its real digest (dpkg --verify relies on it).
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "--control", str(built), str(control)], check=True)
    sums = dict(reversed(line.split("  ", 1)) for line in (control / "md5sums").read_text("utf-8").splitlines())
    files = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
    assert sorted(sums) == sorted(p.relative_to(tree).as_posix() for p in files)
    data = "opt/PredictML/_internal/resources/data.txt"
    assert sums[data] == deb._md5(tree / data)
    assert not (control / "postinst").exists() and not (control / "postrm").exists()


def test_extra_files_are_packaged_and_a_missing_build_is_explained(app: Path, tmp_path: Path) -> None:
    built = deb.build_deb(app, tmp_path, version="1.2.2~previous", staging=tmp_path / "s",
                          extra_files={"/opt/PredictML/_internal/old.txt": "old\n"})
    assert "./opt/PredictML/_internal/old.txt" in _dpkg("--contents", str(built))
    with pytest.raises(deb.DebError, match="run `make package` first"):
        deb.build_deb(tmp_path / "nowhere", tmp_path, version="1", staging=tmp_path / "s2")


def test_glibc_floor_reads_the_newest_symbol_version(tmp_path: Path) -> None:
    elf = tmp_path / "lib.so"
    elf.write_bytes(b"\x7fELF" + b"\0" * 12 + b"GLIBC_2.17\0GLIBC_2.34\0GLIBC_2.4\0")
    (tmp_path / "notes.txt").write_bytes(b"GLIBC_2.99\0")  # not an ELF file: ignored
    assert deb.glibc_floor(tmp_path) == "2.34"
    elf.unlink()
    assert deb.glibc_floor(tmp_path) is None


def test_permissions_of_the_staged_tree(app: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    deb.stage(app, root, "1.0")
    assert stat.S_IMODE((root / "opt/PredictML/PredictML").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "DEBIAN").stat().st_mode) == 0o755
