"""Helpers shared by the ingestion tests."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove nothing was written."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def small_workbook(path: Path, rows: int = 3) -> Path:
    """Write a valid one-sheet workbook with openpyxl and return its path."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["a", "b"])
    for i in range(rows):
        ws.append([i, f"x{i}"])
    wb.save(path)
    return path


def rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes | Iterable[bytes]]) -> Path:
    """Copy the zip ``src`` to ``dst``, replacing (or adding) members; iterables are streamed."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename not in replace:
                zout.writestr(info, zin.read(info.filename))
        for name, content in replace.items():
            if isinstance(content, bytes):
                zout.writestr(name, content)
            else:
                with zout.open(name, "w", force_zip64=True) as fh:
                    for part in content:
                        fh.write(part)
    return dst


SHEET = "xl/worksheets/sheet1.xml"
_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = b"</sheetData></worksheet>"


def sheet_rows(n_rows: int, batch: int = 10_000) -> Iterator[bytes]:
    """Stream the XML of a sheet with a header row and ``n_rows`` varied numeric rows."""
    yield _SHEET_HEAD
    yield b'<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c><c r="B1" t="inlineStr"><is><t>b</t></is></c></row>'
    for start in range(2, n_rows + 2, batch):
        yield b"".join(
            b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d"><v>%d</v></c></row>' % (r, r, r * 7919 % 100_003, r,
                                                                                  r * 31)
            for r in range(start, min(start + batch, n_rows + 2))
        )
    yield _SHEET_TAIL


def overlapping_zip(path: Path) -> Path:
    """A zip whose central directory lists two members sharing one body (the overlap trick)."""
    body = zlib.compress(b"<x/>" * 1000)[2:-4]  # raw deflate
    crc = zlib.crc32(b"<x/>" * 1000)
    name_a, name_b = b"[Content_Types].xml", b"xl/workbook.xml"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(body), 4000, len(name_a), 0)
    data = local + name_a + body
    central = b""
    for name in (name_a, name_b):
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(body), 4000,
                               len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(central), len(data), 0)
    path.write_bytes(data + central + end)
    return path


def forge_declared_size(src: Path, dst: Path, member: str, size: int) -> Path:
    """Copy a zip, lying about ``member``'s uncompressed size in both of its headers (a forged-size bomb)."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + name_len]) == member.encode():
            struct.pack_into("<I", data, pos + 24, size)
        pos = data.find(b"PK\x01\x02", pos + 4)
    dst.write_bytes(bytes(data))
    return dst
