"""Finding the first ragged record of a text file (a row with more or fewer fields than the header).

pandas reports only "Expected N fields in line L"; these functions scan the file in chunks, aware of
quoted fields, to name the exact line and the number of values the user has to fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predictml_desktop.core.ingest.common import _COPY_CHUNK, IngestError, _plural
from predictml_desktop.core.ingest.sniffing import _Sniff


def _inside_quotes(positions: np.ndarray, quotes: np.ndarray, parity: int) -> np.ndarray:
    """Tell which of the sorted byte ``positions`` lie inside double quotes.

    A byte is inside when an odd number of quotes precede it (counting ``parity`` carried from the
    previous chunk); counting via the quotes' ranks among the positions costs O(quotes + positions)
    rather than a pass over every byte.
    """
    ranks = np.searchsorted(positions, quotes)
    before = np.cumsum(np.bincount(ranks, minlength=len(positions) + 1))[: len(positions)]
    return ((before + parity) & 1).astype(bool)


def _first_ragged_record(path: Path, sniff: _Sniff, encoding: str, has_quote: bool) -> tuple[int, int] | None:
    """Return (line, values) of the first record whose number of values differs from the header's.

    A vectorised pass over the bytes counts each record's delimiters outside double quotes (quote
    parity, which RFC 4180's doubled quotes keep right, carried across chunks). Blank and
    whitespace-only lines are skipped, as pandas skips them. The line is the physical line on which
    the record ends, as a text editor counts lines. None when the encoding is not ASCII-compatible
    or the delimiter is not one byte.
    """
    if encoding in {"utf-16", "utf-32"} or len(sniff.delimiter.encode("utf-8")) != 1:
        return None
    width = len(sniff.header)
    delim = ord(sniff.delimiter)
    blank_bytes = frozenset(b for b in b" \t\r" if b != delim)
    with open(path, "rb") as fh:
        head = fh.read(65536)
        fh.seek(0)
        newline = 13 if (b"\n" not in head and b"\r" in head) else 10
        newline_byte = bytes([newline])
        parity = 0
        fields = 1  # values so far in the record still open at the end of the previous chunk
        tail = b""  # that record's first bytes (enough to tell a blank line)
        lines_before = 0
        header_seen = False
        while chunk := fh.read(_COPY_CHUNK):
            arr = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(arr == newline)
            delims = np.flatnonzero(arr == delim)
            if has_quote:
                quotes = np.flatnonzero(arr == 34)
                if len(quotes) or parity:
                    ends = ends[~_inside_quotes(ends, quotes, parity)]
                    delims = delims[~_inside_quotes(delims, quotes, parity)]
                    parity = (parity + len(quotes)) & 1
            if len(ends):
                before = np.searchsorted(delims, ends)  # delimiters before each record end
                counts = np.empty(len(ends), dtype=np.int64)
                counts[0] = fields + int(before[0])
                counts[1:] = np.diff(before) + 1
                first = 0
                while not header_seen and first < len(ends):
                    # The header is the first record that is not a blank line.
                    header_seen = not _blank_record(chunk, ends, first, tail, blank_bytes)
                    first += 1
                # Only records of the wrong length need a closer look (is it a blank line?).
                for i in (np.flatnonzero(counts[first:] != width) + first).tolist():
                    if _blank_record(chunk, ends, i, tail, blank_bytes):
                        continue
                    line = lines_before + chunk.count(newline_byte, 0, int(ends[i])) + 1
                    return line, int(counts[i])
                fields = 1 + len(delims) - int(before[-1])
                tail = chunk[int(ends[-1]) + 1 :][:256]
            else:
                fields += len(delims)
                tail = (tail + chunk)[:256]
            lines_before += chunk.count(newline_byte)
        if header_seen and fields != width and tail and not set(tail) <= blank_bytes:
            return lines_before + 1, fields
    return None


def _blank_record(chunk: bytes, ends: np.ndarray, i: int, tail: bytes, blank_bytes: frozenset[int]) -> bool:
    start = int(ends[i - 1]) + 1 if i else 0
    body = (tail if i == 0 else b"") + chunk[start : int(ends[i])]
    return not body or (set(body[:4096]) <= blank_bytes and set(body) <= blank_bytes)


def _ragged_error(path: Path, line: int, values: int, width: int) -> IngestError:
    fix = (
        "a value containing the delimiter must be in double quotes" if values > width
        else "leave a cell empty with an extra delimiter rather than leaving it out"
    )
    return IngestError(
        f"Line {line:,} of {path.name} has {_plural(values, 'value')} but the header has {width} columns; "
        f"fix that row ({fix}).",
        path=path, line=line, code="ragged_row",
    )
