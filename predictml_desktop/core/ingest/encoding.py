"""Which encoding a text file is in: a byte-order mark, UTF-8, a multi-byte guess, else Windows-1252.

A file that is not valid UTF-8 is decoded with a legacy encoding only where that is certain to be
right, and the user is told (`TableRead.notes`); the first undecodable byte is named by line and column.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np

from predictml_desktop.core.ingest.common import _COPY_CHUNK, _ENCODING_LABELS, _HEAD_BYTES, IngestError


def _bom_encoding(head: bytes) -> str | None:
    # UTF-32 LE's BOM starts with UTF-16 LE's, so test the longer one first.
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    """Return the 1-based line and character position of byte ``offset`` in ``data``."""
    before = data[:offset]
    line = before.count(b"\n") + 1
    if b"\n" not in before and b"\r" in before:  # CR-only newlines
        line = before.count(b"\r") + 1
        start = before.rfind(b"\r") + 1
    else:
        start = before.rfind(b"\n") + 1
    column = len(before[start:].decode("utf-8", errors="replace")) + 1
    return line, column


def _multibyte_guess(sample: bytes) -> str | None:
    """Name the East Asian encoding ``sample`` seems to be in, or None if it looks Western.

    In Western 8-bit text (cp1252, latin-1) a non-ASCII byte is nearly always alone between ASCII
    letters ("Müller", "café"); in Shift-JIS, GBK, EUC-KR or Big5 every character is two bytes,
    both usually above 0x7F. Decoding such a file as cp1252 "works" and yields mojibake, so a file
    whose high bytes mostly come in runs is refused instead.
    """
    arr = np.frombuffer(sample, dtype=np.uint8)
    high = arr >= 0x80
    n_high = int(high.sum())
    if n_high < 8:
        return None
    paired = high[1:] & high[:-1]
    in_runs = int(paired.sum()) * 2
    if in_runs < 0.6 * n_high:
        return None
    for codec, label in (("cp932", "Shift-JIS (Japanese)"), ("euc_jp", "EUC-JP (Japanese)"),
                         ("gb18030", "GBK/GB18030 (Chinese)"), ("euc_kr", "EUC-KR (Korean)"),
                         ("big5", "Big5 (Chinese)")):
        try:
            sample.decode(codec)
        except UnicodeDecodeError:
            continue
        return label
    return "a multi-byte encoding"


def _fallback_encoding(path: Path, bad_offset: int) -> tuple[str, str]:
    """Choose an 8-bit encoding for a file that is not UTF-8, or refuse it; return (encoding, note).

    ``bad_offset`` is the file offset of the first byte that is not UTF-8; the bytes around it
    decide whether this is Western 8-bit text or a multi-byte encoding that would turn to mojibake.
    """
    start = max(0, bad_offset - 65536)
    with open(path, "rb") as fh:
        fh.seek(start)
        window = fh.read(bad_offset - start + _HEAD_BYTES)
    guess = _multibyte_guess(window)
    if guess is not None:
        line, col = _line_col_in_file(path, bad_offset)
        raise IngestError(
            f"{path.name} is not UTF-8 text (first undecodable byte on line {line:,}, position {col}); "
            f"it looks like {guess}. Save it as UTF-8 (in Excel: CSV UTF-8) and import it again.",
            path=path, line=line, code="encoding",
        )
    # cp1252 leaves five bytes undefined; a file using any of them can only be latin-1.
    decoder = codecs.getincrementaldecoder("cp1252")("strict")
    encoding = "cp1252"
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_COPY_CHUNK):
                decoder.decode(chunk)
    except UnicodeDecodeError:
        encoding = "latin-1"
    note = (
        f"{path.name} is not UTF-8; it was read as {_ENCODING_LABELS[encoding]}. "
        "Check that accented letters look right in the preview."
    )
    return encoding, note


def _line_col_in_file(path: Path, offset: int) -> tuple[int, int]:
    """Return the 1-based line and character position of byte ``offset``, reading in chunks."""
    lines = 0
    last_line_start = 0
    with open(path, "rb") as fh:
        pos = 0
        while pos < offset:
            chunk = fh.read(min(_COPY_CHUNK, offset - pos))
            if not chunk:
                break
            n = chunk.count(b"\n")
            if n:
                lines += n
                last_line_start = pos + chunk.rfind(b"\n") + 1
            pos += len(chunk)
        fh.seek(last_line_start)
        prefix = fh.read(offset - last_line_start)
    if not lines and b"\r" in prefix:  # CR-only newlines
        return _line_col(prefix, len(prefix))
    return lines + 1, len(prefix.decode("utf-8", errors="replace")) + 1


def _head_encoding(path: Path, head: bytes, truncated: bool, notes: list[str]) -> str:
    """Decide the encoding of a BOM-less file from its first megabyte (pandas confirms the rest)."""
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=not truncated)
        return "utf-8"
    except UnicodeDecodeError as exc:
        encoding, note = _fallback_encoding(path, exc.start)
        notes.append(note)
        return encoding


def _first_bad_utf8(path: Path) -> int | None:
    """Return the file offset of the first byte that is not valid UTF-8, streaming the file."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_COPY_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return offset - pending + exc.start
            if not chunk:
                return None
            offset += len(chunk)


def _decode_head(path: Path, head: bytes, encoding: str, truncated: bool) -> tuple[str, bool]:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        return decoder.decode(head, final=not truncated), truncated
    except UnicodeDecodeError:
        raise IngestError(
            f"{path.name} could not be decoded as {_ENCODING_LABELS.get(encoding, encoding)}; "
            "save it as UTF-8 and import it again.",
            path=path, code="encoding",
        ) from None
