"""Reading CSV/TSV/TXT files: pandas' C parser, streamed with progress and limits, plus the checks it lacks.

pandas accepts silently what this module refuses with one sentence: NUL bytes, binary files, a
``;`` file read as one column, short or long rows (`core.ingest.text_checks`), blank or duplicate
headers. Text keeps its exact characters (``keep_default_na=False``).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.ingest.common import (
    _BINARY_SIGNATURES,
    _COPY_CHUNK,
    _ENCODING_LABELS,
    _HEAD_BYTES,
    IngestCancelled,
    IngestError,
    ProgressFn,
    StopFn,
    TableRead,
    _check_cells,
    _check_header,
    _looks_headerless,
    _na_placeholders,
    _short,
)
from predictml_desktop.core.ingest.encoding import (
    _bom_encoding,
    _decode_head,
    _fallback_encoding,
    _first_bad_utf8,
    _head_encoding,
    _line_col_in_file,
)
from predictml_desktop.core.ingest.sniffing import _Sniff, _sniff
from predictml_desktop.core.ingest.text_checks import _first_ragged_record, _ragged_error
from predictml_desktop.core.settings import Limits


class _ProgressReader(io.RawIOBase):
    """A file wrapper that hashes, scans for NUL bytes, reports progress and can cancel.

    pandas' C parser pulls the file through it, so these checks cost no second pass over the file.
    """

    def __init__(self, fh: io.BufferedIOBase, total: int, progress: ProgressFn, should_stop: StopFn,
                 *, scan_nul: bool, path: Path, newline: bytes = b"\n", max_lines: int | None = None) -> None:
        super().__init__()
        self._fh, self._total, self._progress, self._should_stop = fh, max(total, 1), progress, should_stop
        self._scan_nul, self._path = scan_nul, path
        self._newline, self._max_lines = newline, max_lines
        self.sha = hashlib.sha256()
        self.offset = 0
        self.lines = 0
        self.truncated = False
        self.nul_at: int | None = None
        self.has_quote = False
        self._last_report = -1.0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._should_stop():
            raise IngestCancelled(f"Reading {self._path.name} was cancelled.", path=self._path, code="cancelled")
        if self.truncated:
            return 0
        n = self._fh.readinto(buffer)
        if not n:
            return 0
        chunk = bytes(memoryview(buffer)[:n])
        if self._max_lines is not None:
            count = chunk.count(self._newline)
            if self.lines + count > self._max_lines:
                # Stop feeding the parser once the file has more lines than the row limit allows:
                # an oversized file is refused without being loaded whole.
                need = self._max_lines - self.lines
                ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == self._newline[0])
                n = int(ends[need - 1]) + 1 if need > 0 else 0
                chunk = chunk[:n]
                count = need
                self.truncated = True
            self.lines += count
        self.sha.update(chunk)
        if self._scan_nul and self.nul_at is None:
            pos = chunk.find(b"\x00")
            if pos >= 0:
                self.nul_at = self.offset + pos
        if not self.has_quote and b'"' in chunk:
            self.has_quote = True
        self.offset += n
        fraction = self.offset / self._total
        if fraction - self._last_report >= 0.01:
            self._last_report = fraction
            self._progress(min(fraction, 1.0))
        return n

    def drain(self) -> None:
        """Hash whatever the parser did not read (it stops early when ``nrows`` is reached)."""
        while True:
            chunk = self._fh.read(_COPY_CHUNK)
            if not chunk:
                return
            self.sha.update(chunk)
            self.offset += len(chunk)


_EXPECTED_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


_EOF_IN_STRING = re.compile(r"EOF inside string starting at row (\d+)")


def _parser_error(path: Path, exc: Exception) -> IngestError:
    message = str(exc)
    m = _EXPECTED_FIELDS.search(message)
    if m:
        expected, line, saw = (int(g) for g in m.groups())
        return IngestError(
            f"Line {line:,} of {path.name} has {saw} values but the header has {expected} columns; "
            "fix that row (a value containing the delimiter must be in double quotes).",
            path=path, line=line, code="ragged_row",
        )
    m = _EOF_IN_STRING.search(message)
    if m:
        row = int(m.group(1)) + 1
        return IngestError(
            f"{path.name} has a double quote that is never closed, in the value starting on row {row:,} "
            "(counting the header as row 1); close the quote or remove it.",
            path=path, line=row, code="unclosed_quote",
        )
    if "Buffer overflow" in message or "out of memory" in message:
        return IngestError(f"{path.name} could not be parsed: a row is malformed or far too long.",
                           path=path, code="malformed")
    return IngestError(f"{path.name} could not be parsed as a table: {message.strip()}.", path=path,
                       code="malformed")


def _head_and_encoding(path: Path, size: int, encoding: str | None, notes: list[str]) -> tuple[bytes, bool, str]:
    """Read the first megabyte, refuse a binary file, and decide the encoding (unless given)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
    truncated = len(head) < size
    if not head.strip(b" \t\r\n"):
        raise IngestError(f"{path.name} has no data (only blank lines or spaces).", path=path, code="empty")
    bom = _bom_encoding(head)
    if encoding is None:
        if bom is None:
            for magic, what in _BINARY_SIGNATURES:
                if head.startswith(magic):
                    advice = ("Rename it to end in .parquet and open it again." if magic == b"PAR1"
                              else "Choose the CSV or Excel file itself.")
                    raise IngestError(
                        f"{path.name} is not a text table: it is {what} with a {path.suffix} name. {advice}",
                        path=path, code="binary",
                    )
            _refuse_binary_by_content(path, head)
        encoding = bom or _head_encoding(path, head, truncated, notes)
    elif encoding in {"cp1252", "latin-1"}:
        notes.append(f"{path.name} was read as {_ENCODING_LABELS[encoding]}.")
    return head, truncated, encoding


def _checked_frame(path: Path, frame: pd.DataFrame, sniff: _Sniff, encoding: str, has_quote: bool, limits: Limits,
                   *, ascii_compatible: bool) -> pd.DataFrame:
    """Refuse what pandas accepted silently (an extra value per row, no rows, short rows, long cells)."""
    if not isinstance(frame.index, pd.RangeIndex):
        raise IngestError(
            f"The data rows of {path.name} have one more value than the header has column names; "
            "add the missing column name or remove the extra delimiter at the end of each line.",
            path=path, line=2, code="ragged_row",
        )
    if len(frame) == 0:
        raise IngestError(f"{path.name} has a header row but no data rows.", path=path, code="header_only")
    _check_columns_match(path, frame, sniff.header)
    if ascii_compatible and frame[frame.columns[-1]].isna().any():
        ragged = _first_ragged_record(path, sniff, encoding, has_quote)
        if ragged is not None:
            raise _ragged_error(path, *ragged, len(sniff.header))
    _check_cells(path, frame, limits)
    return _na_placeholders(frame)


def _read_csv(
    path: Path,
    size: int,
    limits: Limits,
    progress: ProgressFn,
    should_stop: StopFn,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> TableRead:
    notes: list[str] = []
    head, truncated, encoding = _head_and_encoding(path, size, encoding, notes)
    ascii_compatible = encoding not in {"utf-16", "utf-32"}
    text, head_cut = _decode_head(path, head, encoding, truncated)
    if not text.strip():
        raise IngestError(f"{path.name} has no data (only blank lines or spaces).", path=path, code="empty")
    if text.startswith("\ufeff"):
        text = text[1:]
    sniff = _sniff(path, text, head_cut, delimiter)
    _check_header(path, sniff.header, limits)

    if not ascii_compatible:
        _check_nul_text(path, encoding, sniff)
    progress(0.02)
    newline = b"\r" if (b"\n" not in head and b"\r" in head) else b"\n"
    try:
        try:
            frame, reader = _parse(path, size, encoding, sniff, limits, progress, should_stop,
                                   scan_nul=ascii_compatible, newline=newline, exact=False)
        except _NeedExactRead:
            # More physical lines than the row limit allows, but quoted values may span lines:
            # count records exactly (slower, bounded by nrows).
            frame, reader = _parse(path, size, encoding, sniff, limits, progress, should_stop,
                                   scan_nul=ascii_compatible, newline=newline, exact=True)
    except _NotUtf8 as exc:
        # The first megabyte was UTF-8 but something later is not: decide around that byte.
        bad = _first_bad_utf8(path)
        encoding, note = _fallback_encoding(path, bad if bad is not None else exc.offset)
        retried = _read_csv(path, size, limits, progress, should_stop, encoding=encoding,
                            delimiter=sniff.delimiter)
        retried.notes = [*notes, note, *(n for n in retried.notes if "was read as" not in n)]
        return retried
    sha = reader.sha.hexdigest()
    frame = _fix_mixed_columns(path, frame, encoding, sniff, bool(frame.attrs.pop("mixed_types", False)))
    frame = _checked_frame(path, frame, sniff, encoding, reader.has_quote, limits, ascii_compatible=ascii_compatible)
    if sniff.decimal == ",":
        notes.append(f"{path.name} writes decimals with a comma; such numbers were read as numbers.")
    if _looks_headerless(sniff.header):
        notes.append(
            f"The first row of {path.name} looks like data rather than column names; "
            "PredictML uses the first row as the header."
        )
    progress(1.0)
    return TableRead(
        frame=frame,
        encoding=encoding,
        delimiter=sniff.delimiter,
        sheet=None,
        sheets=[],
        file_format="csv",
        size_bytes=size,
        sha256=sha,
        notes=notes,
    )


class _NeedExactRead(Exception):
    """The fast read stopped at the line budget without knowing the exact record count."""


class _NotUtf8(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def _parse(
    path: Path,
    size: int,
    encoding: str,
    sniff: _Sniff,
    limits: Limits,
    progress: ProgressFn,
    should_stop: StopFn,
    *,
    scan_nul: bool,
    newline: bytes,
    exact: bool,
) -> tuple[pd.DataFrame, _ProgressReader]:
    """Run pandas' C parser over the file through `_ProgressReader`, mapping its errors to sentences."""
    with open(path, "rb") as raw:
        # Header, the allowed rows, and one more: enough to tell "over the limit".
        max_lines = None if exact else limits.max_rows + 2
        reader = _ProgressReader(raw, size, lambda f: progress(0.02 + 0.9 * f), should_stop,
                                 scan_nul=scan_nul, path=path, newline=newline, max_lines=max_lines)
        buffered = io.BufferedReader(reader, buffer_size=1 << 18)
        try:
            frame = _pandas_read(buffered, encoding, sniff, nrows=limits.max_rows + 1 if exact else None)
        except UnicodeDecodeError as exc:
            if encoding != "utf-8":
                raise IngestError(
                    f"{path.name} could not be decoded as {_ENCODING_LABELS.get(encoding, encoding)}; "
                    "save it as UTF-8 and import it again.",
                    path=path, code="encoding",
                ) from None
            raise _NotUtf8(exc.start) from None
        except pd.errors.EmptyDataError:
            raise IngestError(f"{path.name} has no data (only blank lines).", path=path, code="empty") from None
        except pd.errors.ParserError as exc:
            if reader.nul_at is not None:
                raise _nul_error(path, reader.nul_at, sniff) from None
            if reader.truncated:
                raise _NeedExactRead() from None
            if _EXPECTED_FIELDS.search(str(exc)):
                # pandas counts records, not the lines an editor shows; find the line ourselves.
                ragged = _first_ragged_record(path, sniff, encoding, reader.has_quote)
                if ragged is not None:
                    raise _ragged_error(path, *ragged, len(sniff.header)) from None
            raise _parser_error(path, exc) from None
        except (MemoryError, OverflowError):
            raise IngestError(f"{path.name} is too large to read into memory on this computer.",
                              path=path, code="too_large") from None
        if reader.nul_at is not None:
            raise _nul_error(path, reader.nul_at, sniff)
        if len(frame) > limits.max_rows:
            raise IngestError(
                f"{path.name} has more than {limits.max_rows:,} data rows (the limit); use a sample "
                "(the limit can be changed in Settings).",
                path=path, code="too_many_rows",
            )
        if reader.truncated:
            raise _NeedExactRead()
        reader.drain()
    return frame, reader


def _fix_mixed_columns(path: Path, frame: pd.DataFrame, encoding: str, sniff: _Sniff,
                       mixed_warning: bool) -> pd.DataFrame:
    """Re-read as text the columns whose chunks pandas typed differently (numbers and strings mixed).

    pandas' default low-memory parsing infers types chunk by chunk; a column with numbers in one
    chunk and text in another comes back holding both (and "007" as 7). Reading the whole file
    at once avoids that but doubles time and memory, so only the affected columns are re-read.
    """
    if not mixed_warning:
        return frame
    from pandas.api.types import infer_dtype

    mixed = [
        i for i, dtype in enumerate(frame.dtypes)
        if dtype.kind == "O" and infer_dtype(frame.iloc[:, i], skipna=True) not in {"string", "empty"}
    ]
    if not mixed:
        return frame
    with open(path, "rb") as raw:
        text = _pandas_read(raw, encoding, sniff, nrows=len(frame), usecols=mixed, as_text=True)
    out = frame.copy(deep=False)
    for position, i in enumerate(mixed):
        out.isetitem(i, text.iloc[:, position].to_numpy())
    return out


def _refuse_binary_by_content(path: Path, head: bytes) -> None:
    sample = head[:65536]
    nuls = sample.count(b"\x00")
    if nuls > len(sample) // 4 and len(sample) >= 8:
        # Every other byte zero: UTF-16 written without its byte-order mark.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if max(even, odd) > 0.8 * (len(sample) // 2):
            raise IngestError(
                f"{path.name} looks like UTF-16 text without a byte-order mark; save it as UTF-8 "
                "(in Excel: CSV UTF-8) and import it again.",
                path=path, code="encoding",
            )
        raise IngestError(
            f"{path.name} is not a text table: it holds binary data. Choose the CSV or Excel file itself.",
            path=path, code="binary",
        )
    controls = sum(sample.count(bytes([b])) for b in (*range(1, 9), 11, 12, *range(14, 32), 127) if b != 27)
    if len(sample) >= 64 and controls > 0.1 * len(sample):
        raise IngestError(
            f"{path.name} is not a text table: it holds binary data. Choose the CSV or Excel file itself.",
            path=path, code="binary",
        )


def _read_csv_options(encoding: str, sniff: _Sniff, *, as_text: bool = False) -> dict[str, Any]:
    """Return the options of every ``pandas.read_csv`` call on a user's file (whole or in chunks)."""
    return {
        "sep": sniff.delimiter,
        "encoding": "utf-8" if encoding == "utf-8-sig" else encoding,
        "header": 0,
        # Keep text exactly as written: only empty cells are missing; see _na_placeholders.
        "keep_default_na": False,
        "na_values": [""],
        # Codes with leading zeros ("08123") stay text: as numbers they would lose them.
        "dtype": object if as_text else (dict.fromkeys(sniff.text_columns, object) or None),
        "quotechar": '"',
        "doublequote": True,
        "decimal": sniff.decimal,
        "skip_blank_lines": True,
        "encoding_errors": "strict",
        "engine": "c",
    }


def _pandas_read(source: IO[bytes], encoding: str, sniff: _Sniff, *, nrows: int | None,
                 usecols: list[int] | None = None, as_text: bool = False) -> pd.DataFrame:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.DtypeWarning)
        frame = pd.read_csv(source, nrows=nrows, usecols=usecols, **_read_csv_options(encoding, sniff, as_text=as_text))
    frame.attrs["mixed_types"] = any(issubclass(w.category, pd.errors.DtypeWarning) for w in caught)
    return frame


def _nul_error(path: Path, offset: int, sniff: _Sniff) -> IngestError:
    line, col = _line_col_in_file(path, offset)
    with open(path, "rb") as fh:
        # The line so far (bounded: a line longer than a few MB is named without its column).
        fh.seek(max(0, offset - _COPY_CHUNK))
        data = fh.read(min(offset, _COPY_CHUNK))
    line_start = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
    before = data[line_start:].decode("utf-8", errors="replace")
    field_no = before.count(sniff.delimiter)
    column = sniff.header[field_no] if field_no < len(sniff.header) else None
    where = f" (column {_short(column)!r})" if column is not None else ""
    return IngestError(
        f"{path.name} contains a NUL byte on line {line:,}, position {col}{where}; such a file is damaged "
        "or not plain text. Remove the NUL characters and import it again.",
        path=path, line=line, column=column if column is not None else col, code="nul",
    )


def _check_columns_match(path: Path, frame: pd.DataFrame, header: list[str]) -> None:
    cols = [str(c) for c in frame.columns]
    if cols != header:
        if len(cols) == len(header):
            # Our csv module read of the header is RFC 4180-exact; keep its names.
            frame.columns = pd.Index(header, dtype=object)
        else:
            raise IngestError(
                f"The header of {path.name} could not be read consistently ({len(header)} names found, "
                f"pandas saw {len(cols)}); check the first row in a text editor.",
                path=path, line=1, code="malformed",
            )


def _check_nul_text(path: Path, encoding: str, sniff: _Sniff) -> None:
    """Find a NUL character in a UTF-16/32 file (where NUL bytes are normal, NUL characters are not).

    pandas' parser would silently cut the value at the NUL, so the decoded text is scanned first.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_COPY_CHUNK)
            text = decoder.decode(chunk, final=not chunk)
            pos = text.find("\x00")
            if pos >= 0:
                before = text[:pos]
                line += before.count("\n")
                line_text = before[before.rfind("\n") + 1 :]
                field_no = line_text.count(sniff.delimiter)
                column = sniff.header[field_no] if field_no < len(sniff.header) else None
                where = f" (column {_short(column)!r})" if column is not None else ""
                raise IngestError(
                    f"{path.name} contains a NUL character on line {line:,}, position {len(line_text) + 1}{where}; "
                    "such a file is damaged or not plain text. Remove the NUL characters and import it again.",
                    path=path, line=line, column=column, code="nul",
                )
            line += text.count("\n")
            if not chunk:
                return
