"""Read a user's CSV/TSV/TXT or Excel file within limits, and store an accepted dataset.

The parsing itself is pandas' C parser (CSV) or openpyxl in read-only mode (Excel); this module adds
what they do not do: encoding detection, delimiter sniffing, the checks for what pandas accepts
silently (NUL bytes, duplicate or blank headers, a ``;`` file read as one column, short rows), the
size/row/column/cell limits of DESIGN §9 checked while streaming, a zip-bomb guard for workbooks
(this CPython's ``zipfile`` lacks the gh-109858 overlap check), and one clear sentence for every
refusal (`IngestError`).

Public entry points: `list_sheets`, `read_table`, `store_dataset`, `import_dataset`,
`load_dataset_frame`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import itertools
import os
import re
import secrets
import struct
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset
from predictml_desktop.core.settings import Limits, load_settings

if TYPE_CHECKING:
    from predictml_desktop.core.profile import Profile
    from predictml_desktop.core.store import Store

ProgressFn = Callable[[float], None]
StopFn = Callable[[], bool]

CSV_EXTENSIONS = (".csv", ".tsv", ".txt")
EXCEL_EXTENSIONS = (".xlsx", ".xlsm")
ACCEPTED_EXTENSIONS = CSV_EXTENSIONS + EXCEL_EXTENSIONS
DELIMITERS = (",", ";", "\t", "|")

_HEAD_BYTES = 1 << 20
"""How much of a text file is decoded up front to sniff its delimiter and header."""
_COPY_CHUNK = 1 << 22
_MAX_ZIP_ENTRIES = 10_000
_RATIO_MIN_BYTES = 1 << 20
"""Members smaller than this are never called a bomb: tiny XML parts compress extremely well."""

# The strings pandas reads as missing by default. We read with ``keep_default_na=False`` so that a
# text value such as "NULL" or "None" survives unchanged, and turn these tokens into missing values
# only in a column whose other values are all numbers (where they can only be placeholders).
_NA_TOKENS = frozenset(
    {"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
     "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "#DIV/0!", "#VALUE!", "#REF!", "#NUM!", "#NAME?",
     "#NULL!", "?", "-", ""}
)

_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook or a compressed file)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-format Office file (.xls or .doc)"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file"),
)

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

_ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with byte-order mark)",
    "utf-16": "UTF-16",
    "utf-32": "UTF-32",
    "cp1252": "Windows-1252 (Western European)",
    "latin-1": "Latin-1 (ISO-8859-1)",
}


class IngestError(Exception):
    """A file that cannot be imported; ``str()`` is one sentence for the user.

    Parameters
    ----------
    message
        The sentence shown to the user: it names the file and, where relevant, the line, column and
        value, and says what to do.
    path
        The file concerned.
    line, column, value
        Where the problem is, when it has a place (1-based line as a text editor counts it; column
        as a name or a 1-based position; the offending value, shortened).
    code
        A stable identifier of the kind of refusal (``not_found``, ``empty``, ``ragged_row``, ...),
        for tests and for callers that react differently to some kinds.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        column: str | int | None = None,
        value: str | None = None,
        code: str = "invalid",
    ) -> None:
        super().__init__(message)
        self.path, self.line, self.column, self.value, self.code = path, line, column, value, code


class IngestCancelled(IngestError):
    """Reading was stopped because ``should_stop()`` returned true."""


@dataclass
class TableRead:
    """A table read from a file, with how it was read.

    Attributes
    ----------
    frame
        The data, one column per header name, in file order. Text values are kept exactly as written;
        only empty cells (and, in otherwise numeric columns, placeholders such as ``NA``) are missing.
    encoding, delimiter
        How a text file was decoded and split (None for Excel).
    sheet, sheets
        The worksheet read and every worksheet of the workbook (None and [] for text files).
    file_format
        ``"csv"`` or ``"excel"``.
    size_bytes, sha256
        Of the file as read.
    notes
        Non-fatal findings to show the user, e.g. that the file was decoded as Windows-1252.
    """

    frame: pd.DataFrame
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheets: list[str]
    file_format: str
    size_bytes: int
    sha256: str
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def _short(value: object, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):,.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:,.0f} KB"


def _noop_progress(_fraction: float) -> None:
    return None


def _never_stop() -> bool:
    return False


def _resolve_limits(limits: Limits | None) -> Limits:
    return limits if limits is not None else load_settings(Paths.default()).limits


def _file_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in CSV_EXTENSIONS:
        return "csv"
    if ext in EXCEL_EXTENSIONS:
        return "excel"
    accepted = " ".join(ACCEPTED_EXTENSIONS)
    if ext == ".xls":
        raise IngestError(
            f"{path.name} is an old-format Excel workbook (.xls), which is not supported; "
            "open it in Excel and save it as .xlsx or CSV.",
            path=path, code="xls",
        )
    if ext in {".xlsb", ".ods", ".numbers"}:
        raise IngestError(
            f"{path.name} is a {ext} spreadsheet, which is not supported; save it as .xlsx or CSV "
            f"(accepted: {accepted}).",
            path=path, code="extension",
        )
    what = f"the extension {ext}" if ext else "no extension"
    raise IngestError(
        f"{path.name} has {what}; PredictML reads only these file types: {accepted}.",
        path=path, code="extension",
    )


def _check_path(path: Path, limits: Limits) -> tuple[str, int]:
    """Return (file_format, size) or raise the refusal for a path that cannot be read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise IngestError(f"The file {path} does not exist.", path=path, code="not_found") from None
    except PermissionError:
        raise IngestError(f"PredictML is not allowed to read {path}.", path=path, code="unreadable") from None
    except OSError as exc:
        raise IngestError(f"Could not open {path}: {exc.strerror or exc}.", path=path, code="unreadable") from None
    if path.is_dir():
        raise IngestError(f"{path} is a folder, not a file; choose a data file inside it.", path=path, code="folder")
    fmt = _file_format(path)
    size = st.st_size
    if size == 0:
        raise IngestError(f"{path.name} is empty (0 bytes).", path=path, code="empty")
    if size > limits.max_file_bytes:
        raise IngestError(
            f"{path.name} is {_mb(size)}, over the limit of {_mb(limits.max_file_bytes)}; "
            "use a smaller extract (the limit can be changed in Settings).",
            path=path, code="too_large",
        )
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except PermissionError:
        raise IngestError(f"PredictML is not allowed to read {path}.", path=path, code="unreadable") from None
    except OSError as exc:
        raise IngestError(f"Could not read {path}: {exc.strerror or exc}.", path=path, code="unreadable") from None
    return fmt, size


# --------------------------------------------------------------------------- text files: encoding


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


# --------------------------------------------------------------------------- text files: sniffing


@dataclass
class _Sniff:
    delimiter: str
    header: list[str]
    sample_rows: list[list[str]]
    decimal: str = "."

    @property
    def text_columns(self) -> list[str]:
        """Columns to keep as text: codes written with leading zeros ("08123") in the sample."""
        keep = set()
        for row in self.sample_rows:
            for i, cell in enumerate(row[: len(self.header)]):
                if _LEADING_ZERO.match(cell):
                    keep.add(i)
        return [self.header[i] for i in sorted(keep)]


_LEADING_ZERO = re.compile(r"^\s*[+-]?0\d+\s*$")


def _records(text: str, delimiter: str, limit: int) -> tuple[list[list[str]], bool]:
    """Parse up to ``limit`` records; also say whether parsing hit a csv error."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                        doublequote=True, strict=False)
    try:
        for row in reader:
            # pandas skips blank and whitespace-only lines; so must the header and sample.
            if row and not (len(row) == 1 and not row[0].strip(" \t\r")):
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        return rows, True
    return rows, False


def _sniff(path: Path, text: str, truncated: bool, forced: str | None) -> _Sniff:
    """Pick the delimiter among `DELIMITERS` whose field counts are the most consistent."""
    if truncated:
        # The head may end inside a record: drop what follows the last newline.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        body = text[: cut + 1] if cut >= 0 else text
    else:
        body = text
    candidates = (forced,) if forced else DELIMITERS
    preferred = "\t" if path.suffix.lower() == ".tsv" else ","
    best: tuple[tuple[float, ...], str, list[list[str]]] | None = None
    for delim in candidates:
        rows, failed = _records(body or text, delim, 400)
        if truncated and len(rows) > 1:
            rows = rows[:-1]  # the last record may be cut short
        if not rows:
            continue
        width = len(rows[0])
        data = rows[1:]
        consistent = sum(len(r) == width for r in data) / len(data) if data else 1.0
        score = (
            0.0 if failed else 1.0,
            1.0 if width > 1 else 0.0,
            round(consistent, 2),
            1.0 if delim == preferred else 0.0,
            float(width),
        )
        if best is None or score > best[0]:
            best = (score, delim, rows)
    if best is None:
        raise IngestError(f"{path.name} has no data (only blank lines).", path=path, code="empty")
    _, delim, rows = best
    return _Sniff(delim, rows[0], rows[1:], _sniff_decimal(delim, rows[1:]))


_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(\d*|(\.\d{3})+),\d+$")
_DECIMAL_POINT = re.compile(r"^-?\d+\.\d+$")


def _sniff_decimal(delimiter: str, rows: list[list[str]]) -> str:
    """Return ``","`` when a ``;`` file writes numbers with decimal commas (European Excel exports)."""
    if delimiter == "," or not rows:
        return "."
    comma = point = 0
    for row in rows[:200]:
        for cell in row:
            if _DECIMAL_COMMA.match(cell):
                comma += 1
            elif _DECIMAL_POINT.match(cell):
                point += 1
    return "," if comma > 0 and point == 0 else "."


def _check_header(path: Path, header: list[str], limits: Limits, where: str | None = None) -> None:
    where = where or path.name
    if len(header) > limits.max_columns:
        raise IngestError(
            f"{where} has {len(header):,} columns, over the limit of {limits.max_columns:,}; "
            "remove columns you do not need (the limit can be changed in Settings).",
            path=path, code="too_many_columns",
        )
    for i, name in enumerate(header, start=1):
        if name == "":
            raise IngestError(
                f"Column {i} of {where} has no name in the header row; give every column a name "
                "(the first row must hold the column names).",
                path=path, line=1, column=i, code="blank_header",
            )
        if len(name) > limits.max_cell_chars:
            raise IngestError(
                f"The name of column {i} of {where} is {len(name):,} characters long, over the limit "
                f"of {limits.max_cell_chars:,}.",
                path=path, line=1, column=i, code="cell_too_long",
            )
    counts = Counter(header)
    dupes = [name for name, n in counts.items() if n > 1]
    if dupes:
        name = dupes[0]
        positions = [i for i, h in enumerate(header, start=1) if h == name]
        raise IngestError(
            f"{where} has {len(positions)} columns named {_short(name)!r} (columns "
            f"{', '.join(map(str, positions))}); rename them so that every column name is different.",
            path=path, line=1, column=name, value=name, code="duplicate_header",
        )


# --------------------------------------------------------------------------- text files: reading


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
                    raise IngestError(
                        f"{path.name} is not a text table: it is {what} with a {path.suffix} name. "
                        "Choose the CSV or Excel file itself.",
                        path=path, code="binary",
                    )
            _refuse_binary_by_content(path, head)
        encoding = bom or _head_encoding(path, head, truncated, notes)
    elif encoding in {"cp1252", "latin-1"}:
        notes.append(f"{path.name} was read as {_ENCODING_LABELS[encoding]}.")

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
    has_quote = reader.has_quote
    frame = _fix_mixed_columns(path, frame, encoding, sniff, bool(frame.attrs.pop("mixed_types", False)))

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
    frame = _na_placeholders(frame)
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


def _pandas_read(source: IO[bytes], encoding: str, sniff: _Sniff, *, nrows: int | None,
                 usecols: list[int] | None = None, as_text: bool = False) -> pd.DataFrame:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.DtypeWarning)
        frame = pd.read_csv(
            source,
            sep=sniff.delimiter,
            encoding="utf-8" if encoding == "utf-8-sig" else encoding,
            header=0,
            # Keep text exactly as written: only empty cells are missing; see _na_placeholders.
            keep_default_na=False,
            na_values=[""],
            nrows=nrows,
            usecols=usecols,
            # Codes with leading zeros ("08123") stay text: as numbers they would lose them.
            dtype=object if as_text else (dict.fromkeys(sniff.text_columns, object) or None),
            quotechar='"',
            doublequote=True,
            decimal=sniff.decimal,
            skip_blank_lines=True,
            encoding_errors="strict",
            engine="c",
        )
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


def _object_columns(frame: pd.DataFrame) -> list[Any]:
    return [col for col, dtype in zip(frame.columns, frame.dtypes, strict=True) if dtype.kind == "O"]


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


def _max_len(values: np.ndarray) -> int:
    try:
        from pandas._libs.writers import max_len_string_array

        return int(max_len_string_array(values))
    except (ImportError, TypeError, ValueError):  # private pandas API: fall back if it ever moves
        return max((len(v) for v in values if isinstance(v, str)), default=0)


def _check_cells(path: Path, frame: pd.DataFrame, limits: Limits) -> None:
    for col in _object_columns(frame):
        values = frame[col].to_numpy()
        if _max_len(values) > limits.max_cell_chars:
            lengths = frame[col].map(lambda v: len(v) if isinstance(v, str) else 0).to_numpy()
            row = int(np.argmax(lengths))
            raise IngestError(
                f"A value in column {_short(col)!r} of {path.name} (data row {row + 1:,}) is "
                f"{int(lengths[row]):,} characters long, over the limit of {limits.max_cell_chars:,} "
                "characters per cell.",
                path=path, line=row + 2, column=str(col), value=_short(values[row]), code="cell_too_long",
            )


def _na_placeholders(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn NA placeholders into missing values in columns that are otherwise numeric."""
    changes: dict[Any, pd.Series] = {}
    for col in _object_columns(frame):
        series = frame[col]
        # Cheap look at a sample first: a real text column is discarded without scanning it all.
        sample = series.iloc[:1000].dropna().iloc[:200]
        sample = sample[~sample.isin(_NA_TOKENS)]
        if sample.empty or pd.to_numeric(sample, errors="coerce").isna().any():
            continue
        if sample.astype(str).str.match(_LEADING_ZERO).any():
            continue  # codes such as "08123" were kept as text on purpose
        present = series.dropna()
        placeholder = present.isin(_NA_TOKENS)
        rest = present[~placeholder]
        numbers = pd.to_numeric(rest, errors="coerce")
        if numbers.isna().any():
            continue
        converted = pd.to_numeric(series.where(~series.isin(_NA_TOKENS)), errors="coerce")
        changes[col] = converted
    if not changes:
        return frame
    out = frame.copy(deep=False)
    for col, values in changes.items():
        out[col] = values
    return out


def _looks_headerless(header: list[str]) -> bool:
    def numeric(s: str) -> bool:
        try:
            float(s)
        except ValueError:
            return False
        return True

    return len(header) > 1 and all(numeric(h) for h in header)


# --------------------------------------------------------------------------- Excel workbooks


class _CountingReader(io.RawIOBase):
    """Counts the decompressed bytes read from one workbook member against the budget."""

    def __init__(self, inner: IO[bytes], archive: _BudgetZipFile, name: str) -> None:
        super().__init__()
        self._inner, self._archive, self.name = inner, archive, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._archive.account(n, self.name)
        return n

    def read(self, size: int | None = -1) -> bytes:
        data = self._inner.read(-1 if size is None else size)
        self._archive.account(len(data), self.name)
        return data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._inner.close()
        super().close()


class _BudgetZipFile(zipfile.ZipFile):
    """A ZipFile that counts every decompressed byte and stops at the budget.

    ``ZipExtFile`` already stops a member at its declared size, and `_inspect_workbook` checked
    those sizes; counting here is the belt to those braces, and it drives progress and cancel.
    """

    def __init__(self, file: Path, *, budget: int, path: Path, should_stop: StopFn,
                 on_member_bytes: Callable[[str, int], None]) -> None:
        super().__init__(file, "r")
        self.budget, self.used, self._path = budget, 0, path
        self._should_stop, self._on_member_bytes = should_stop, on_member_bytes

    def open(self, name: Any, mode: Any = "r", pwd: bytes | None = None, *,
             force_zip64: bool = False) -> IO[bytes]:
        inner = super().open(name, mode, pwd, force_zip64=force_zip64)
        if mode != "r":
            return inner
        member = name.filename if isinstance(name, zipfile.ZipInfo) else str(name)
        return io.BufferedReader(_CountingReader(inner, self, member), buffer_size=1 << 16)

    def account(self, n: int, name: str) -> None:
        self.used += n
        self._on_member_bytes(name, n)
        if self.used > self.budget:
            raise IngestError(
                f"{self._path.name} expands to more than {_mb(self.budget)} when unpacked, over the limit; "
                "it may be a zip bomb, or it is too large to import.",
                path=self._path, code="zip_bomb",
            )
        if self._should_stop():
            raise IngestCancelled(f"Reading {self._path.name} was cancelled.", path=self._path, code="cancelled")


def _inspect_workbook(path: Path, limits: Limits) -> dict[str, int]:
    """Check a workbook's zip directory before anything is decompressed; return member sizes.

    Refuses encrypted workbooks, a declared unpacked size over the budget, a member compressed
    beyond the ratio cap, and entries whose data overlap (the quoted-overlap bomb that this
    CPython's zipfile does not detect, gh-109858).
    """
    with open(path, "rb") as fh:
        magic = fh.read(8)
        if magic == _OLE2_MAGIC:
            fh.seek(0)
            encrypted = False
            carry = b""
            while True:
                chunk = fh.read(_COPY_CHUNK)
                if not chunk:
                    break
                if _ENCRYPTED_PACKAGE in carry + chunk:
                    encrypted = True
                    break
                carry = chunk[-len(_ENCRYPTED_PACKAGE):]
            if encrypted:
                raise IngestError(
                    f"{path.name} is password-protected; open it in Excel, remove the password "
                    "(File > Info > Protect Workbook) and save it again.",
                    path=path, code="encrypted",
                )
            raise IngestError(
                f"{path.name} is an old-format Excel workbook (.xls) with an {path.suffix} name; "
                "open it in Excel and save it as .xlsx or CSV.",
                path=path, code="xls",
            )
        if not magic.startswith(b"PK"):
            raise IngestError(
                f"{path.name} is not an Excel workbook (it is not a zip package); if it is a CSV file, "
                "give it a .csv name.",
                path=path, code="not_workbook",
            )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            start_dir = zf.start_dir
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise IngestError(f"{path.name} is damaged or not an Excel workbook ({_short(exc, 80)}).", path=path,
                          code="not_workbook") from None
    if len(infos) > _MAX_ZIP_ENTRIES:
        raise IngestError(f"{path.name} has {len(infos):,} parts, far more than a workbook has; it is not imported.",
                          path=path, code="zip_bomb")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_decompressed_bytes:
        raise IngestError(
            f"{path.name} would expand to {_mb(declared)} when unpacked, over the limit of "
            f"{_mb(limits.max_decompressed_bytes)}; it may be a zip bomb, or it is too large to import.",
            path=path, code="zip_bomb",
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise IngestError(
                f"{path.name} is password-protected; remove the password in Excel and save it again.",
                path=path, code="encrypted",
            )
        if info.file_size >= _RATIO_MIN_BYTES and (
            info.compress_size == 0 or info.file_size / info.compress_size > limits.max_compression_ratio
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise IngestError(
                f"{path.name} contains a part ({_short(info.filename)}) compressed {ratio:,.0f} times, beyond "
                f"the limit of {limits.max_compression_ratio}; it looks like a zip bomb and is not imported.",
                path=path, code="zip_bomb",
            )
    _check_overlap(path, infos, start_dir)
    return {i.filename: i.file_size for i in infos}


def _check_overlap(path: Path, infos: list[zipfile.ZipInfo], start_dir: int) -> None:
    spans: list[tuple[int, int]] = []
    with open(path, "rb") as fh:
        for info in infos:
            fh.seek(info.header_offset)
            local = fh.read(30)
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise IngestError(f"{path.name} is damaged (a part's header is missing); it is not imported.",
                                  path=path, code="not_workbook")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            end = info.header_offset + 30 + name_len + extra_len + info.compress_size
            spans.append((info.header_offset, end))
    spans.sort()
    for (_, prev_end), (start, _) in itertools.pairwise(spans):
        if start < prev_end:
            raise IngestError(
                f"{path.name} has overlapping parts, a trick used by zip bombs; it is not imported.",
                path=path, code="zip_bomb",
            )
    if spans and spans[-1][1] > start_dir:
        raise IngestError(f"{path.name} has overlapping parts, a trick used by zip bombs; it is not imported.",
                          path=path, code="zip_bomb")


@contextlib.contextmanager
def _open_workbook(path: Path, limits: Limits, should_stop: StopFn,
                   on_member_bytes: Callable[[str, int], None]) -> Iterator[Any]:
    try:
        import defusedxml  # noqa: F401 - openpyxl guards XML bombs only when this is importable
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise IngestError("Excel import is disabled: the defusedxml package is missing from this installation.",
                          path=path, code="unsupported") from exc
    from openpyxl.reader.excel import ExcelReader

    _inspect_workbook(path, limits)
    archive = _BudgetZipFile(path, budget=limits.max_decompressed_bytes, path=path, should_stop=should_stop,
                             on_member_bytes=on_member_bytes)
    try:
        # openpyxl's own load_workbook is ExcelReader(...).read(); we hand it our counting archive.
        # read_only streams rows; data_only gives the values Excel computed (formulas never run);
        # keep_vba=False: macros of .xlsm files are never even loaded.
        reader = ExcelReader(str(path), read_only=True, keep_vba=False, data_only=True, keep_links=False)
        reader.archive.close()
        reader.archive = archive
        reader.valid_files = archive.namelist()
        try:
            _read_workbook_lazily(reader)
        except IngestError:
            raise
        except Exception as exc:
            raise _workbook_error(path, exc) from None
        yield reader.wb
    finally:
        with contextlib.suppress(Exception):
            archive.close()


def _read_workbook_lazily(reader: Any) -> None:
    """Do what ``ExcelReader.read()`` does in read-only mode, minus parsing every sheet up front.

    openpyxl's ``ReadOnlyWorksheet`` looks for each sheet's ``<dimension>`` element when the
    workbook opens; a sheet without one (hostile, or from a sloppy writer) is parsed to its end
    right there — 77 s for three million rows, for every sheet — before a single row is counted
    against the limit. We read rows with reset dimensions anyway, so the sheets are created without
    that scan. Written against openpyxl 3.1.5 (pinned); tests cover it.
    """
    from openpyxl.reader.excel import ReadOnlyWorksheet
    from openpyxl.styles.stylesheet import apply_stylesheet

    class _LazyReadOnlyWorksheet(ReadOnlyWorksheet):
        def _get_size(self) -> None:
            return None

    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)  # number formats: tells dates from numbers
    for sheet, rel in reader.parser.find_sheets():
        if rel.target not in reader.valid_files or "chartsheet" in rel.Type:
            continue
        ws = _LazyReadOnlyWorksheet(reader.wb, sheet.name, rel.target, reader.shared_strings)
        ws.sheet_state = sheet.state
        reader.wb._sheets.append(ws)


def _workbook_error(path: Path, exc: Exception) -> IngestError:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    names = " ".join(type(e).__name__ for e in chain)
    if "Defused" in names or "EntitiesForbidden" in names or "DTDForbidden" in names:
        return IngestError(
            f"{path.name} contains XML entity declarations, which Excel never writes (a possible XML bomb); "
            "it is not imported.",
            path=path, code="xml_bomb",
        )
    return IngestError(f"{path.name} could not be read as an Excel workbook ({_short(exc, 80)}).", path=path,
                       code="not_workbook")


def list_sheets(path: str | os.PathLike[str], *, limits: Limits | None = None) -> list[str]:
    """Return the names of the worksheets of a workbook, in workbook order ([] for a text file).

    Parameters
    ----------
    path
        A ``.csv/.tsv/.txt/.xlsx/.xlsm`` file.
    limits
        Import limits (default: the user's settings).

    Raises
    ------
    IngestError
        If the file cannot be opened (missing, not a workbook, encrypted, a zip bomb...).
    """
    p = Path(path)
    lim = _resolve_limits(limits)
    fmt, _ = _check_path(p, lim)
    if fmt == "csv":
        return []
    with _open_workbook(p, lim, _never_stop, lambda _n, _b: None) as wb:
        return _worksheet_names(wb)


def _worksheet_names(wb: Any) -> list[str]:
    return [ws.title for ws in wb.worksheets]


def _read_excel(path: Path, size: int, limits: Limits, progress: ProgressFn, should_stop: StopFn,
                sheet: str | None) -> TableRead:
    member_total: dict[str, int] = {}
    member_read: dict[str, int] = {}
    current: list[str] = []

    def on_bytes(name: str, n: int) -> None:
        member_read[name] = member_read.get(name, 0) + n
        if current and name == current[0] and member_total.get(name):
            progress(0.05 + 0.9 * min(member_read[name] / member_total[name], 1.0))

    member_total.update(_inspect_workbook(path, limits))
    with _open_workbook(path, limits, should_stop, on_bytes) as wb:
        sheets = _worksheet_names(wb)
        if not sheets:
            raise IngestError(f"{path.name} has no worksheets.", path=path, code="no_sheet")
        if sheet is None:
            # The first sheet a user sees in Excel: hidden helper sheets often come first.
            visible = [ws.title for ws in wb.worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
            chosen = visible[0] if visible else sheets[0]
        elif sheet in sheets:
            chosen = sheet
        else:
            raise IngestError(
                f"{path.name} has no worksheet named {_short(sheet)!r}; its sheets are: "
                f"{', '.join(repr(s) for s in sheets)}.",
                path=path, value=sheet, code="no_sheet",
            )
        ws = wb[chosen]
        with contextlib.suppress(Exception):
            current.append(ws._worksheet_path)  # for progress: the member being streamed
        # The dimension record can lie (or span all 16,384 columns when whole columns are
        # formatted); without it openpyxl yields each row's real cells and we pad ourselves.
        ws.reset_dimensions()
        progress(0.05)
        try:
            _header, blocks = _excel_rows(path, ws, limits, chosen)
        except IngestError:
            raise
        except Exception as exc:
            raise _workbook_error(path, exc) from None
    if len(blocks) > 1:
        with warnings.catch_warnings():
            # A block whose column is all empty is typed object; pandas warns that concat will one
            # day keep that. infer_objects() below types the joined column as one frame would.
            warnings.simplefilter("ignore", FutureWarning)
            frame = pd.concat(blocks, ignore_index=True)
    else:
        frame = blocks[0]
    del blocks
    frame = frame.infer_objects()
    _check_cells(path, frame, limits)
    frame = _na_placeholders(frame)
    sha = _sha256_file(path)
    progress(1.0)
    return TableRead(frame=frame, encoding=None, delimiter=None, sheet=chosen, sheets=sheets, file_format="excel",
                     size_bytes=size, sha256=sha, notes=[])


def _excel_header_name(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_EXCEL_BLOCK_ROWS = 50_000
"""Rows held as Python objects before they become a DataFrame block (a cell as an object costs ~4x)."""


def _excel_rows(path: Path, ws: Any, limits: Limits, sheet: str) -> tuple[list[str], list[pd.DataFrame]]:
    """Stream a worksheet's rows into DataFrame blocks, checking the limits row by row."""
    header: list[str] | None = None
    blocks: list[pd.DataFrame] = []
    n_rows = 0
    width = 0
    rows: list[list[Any]] = []
    where = f"sheet {sheet!r} of {path.name}"
    for row_no, row in enumerate(ws.iter_rows(values_only=True), start=1):
        if header is None:
            if row is None or all(v is None for v in row):
                continue
            values = list(row)
            while values and values[-1] is None:
                values.pop()
            if len(values) > limits.max_columns:
                raise IngestError(
                    f"{where} has {len(values):,} columns, over the limit of {limits.max_columns:,}; "
                    "remove columns you do not need (the limit can be changed in Settings).",
                    path=path, line=row_no, code="too_many_columns",
                )
            header = [_excel_header_name(v) for v in values]
            width = len(header)
            _check_header(path, header, limits, where)
            continue
        if not row or all(v is None for v in row):
            continue
        if len(row) > width and any(v is not None for v in row[width:]):
            extra = next(i for i, v in enumerate(row[width:], start=width + 1) if v is not None)
            raise IngestError(
                f"Row {row_no:,} of {where} has a value in column {extra}, which has no name in the header "
                "row; give every column a name.",
                path=path, line=row_no, column=extra, code="blank_header",
            )
        values = list(row[:width])
        if len(values) < width:
            values.extend([None] * (width - len(values)))
        for i, v in enumerate(values):
            if isinstance(v, str) and len(v) > limits.max_cell_chars:
                raise IngestError(
                    f"A value in column {_short(header[i])!r} of {where} (row {row_no:,}) is {len(v):,} "
                    f"characters long, over the limit of {limits.max_cell_chars:,} characters per cell.",
                    path=path, line=row_no, column=header[i], value=_short(v), code="cell_too_long",
                )
        rows.append(values)
        n_rows += 1
        if len(rows) >= _EXCEL_BLOCK_ROWS:
            blocks.append(pd.DataFrame(rows, columns=pd.Index(header, dtype=object)))
            rows = []
        if n_rows > limits.max_rows:
            raise IngestError(
                f"{where} has more than {limits.max_rows:,} data rows (the limit); use a sample "
                "(the limit can be changed in Settings).",
                path=path, code="too_many_rows",
            )
    if header is None:
        raise IngestError(f"{where} is empty.", path=path, code="empty")
    if not n_rows:
        raise IngestError(f"{where} has a header row but no data rows.", path=path, code="header_only")
    if rows or not blocks:
        blocks.append(pd.DataFrame(rows, columns=pd.Index(header, dtype=object)))
    return header, blocks


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- public API


def read_table(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> TableRead:
    """Read a CSV/TSV/TXT or Excel file into a DataFrame, within the import limits.

    Parameters
    ----------
    path
        The file to read.
    sheet
        For a workbook, the worksheet to read (default: the first one). Ignored for text files.
    limits
        Import limits (default: the user's settings, DESIGN §9).
    progress
        Called with the fraction done (0–1) while reading, from the calling thread.
    should_stop
        Polled while reading; when it returns true, `IngestCancelled` is raised.
    encoding, delimiter
        Force how a text file is decoded and split (used to re-read a stored upload exactly as it
        was read at import); detected when None.

    Returns
    -------
    TableRead
        The frame and how it was read.

    Raises
    ------
    IngestError
        If the file cannot be imported; ``str(exc)`` is one sentence naming the file and, where it
        applies, the line, column and value.
    """
    p = Path(path)
    lim = _resolve_limits(limits)
    report = progress or _noop_progress
    stop = should_stop or _never_stop
    fmt, size = _check_path(p, lim)
    try:
        if fmt == "excel":
            return _read_excel(p, size, lim, report, stop, sheet)
        return _read_csv(p, size, lim, report, stop, encoding=encoding, delimiter=delimiter)
    except IngestError:
        raise
    except PermissionError:
        raise IngestError(f"PredictML is not allowed to read {p}.", path=p, code="unreadable") from None
    except FileNotFoundError:
        raise IngestError(f"The file {p} disappeared while it was being read.", path=p, code="not_found") from None
    except MemoryError:
        raise IngestError(f"{p.name} is too large to read into memory on this computer.", path=p,
                          code="too_large") from None
    except OSError as exc:
        raise IngestError(f"Could not read {p}: {exc.strerror or exc}.", path=p, code="unreadable") from None


def store_dataset(
    store: Store,
    path: str | os.PathLike[str],
    table: TableRead,
    profile: Profile,
    *,
    target: str | None = None,
    problem_type: str | None = None,
    excluded_columns: list[str] | None = None,
    name: str | None = None,
) -> Dataset:
    """Copy an accepted file to ``uploads/`` and add its Dataset record, all or nothing.

    Parameters
    ----------
    store
        The data home's record store.
    path
        The file that was read into ``table``.
    table, profile
        What `read_table` and `core.profile.profile_frame` returned for it.
    target
        The confirmed target column (None: not chosen yet; ``suggestedTarget`` is recorded anyway).
    problem_type
        ``classification`` or ``regression`` (default: the profile's, for ``target`` or the suggestion).
    excluded_columns
        Columns left out of the features (default: the profile's ID-like, constant and empty columns).
    name
        The dataset's display name (default: the file name without extension).

    Returns
    -------
    Dataset
        The stored record.

    Raises
    ------
    IngestError
        If the file changed since it was read, the target is not a column, or the copy fails.
        Nothing is stored then: no record, no file under ``uploads/``.
    """
    src = Path(path)
    columns = [str(c) for c in table.frame.columns]
    if target is not None and target not in columns:
        raise IngestError(
            f"{_short(target)!r} is not a column of {src.name}; its columns are: "
            f"{', '.join(repr(_short(c, 30)) for c in columns[:20])}{'…' if len(columns) > 20 else ''}.",
            path=src, column=target, code="no_target",
        )
    if problem_type is not None and problem_type not in {"classification", "regression"}:
        raise IngestError(f"The problem type must be classification or regression, not {problem_type!r}.",
                          path=src, code="problem_type")
    chosen = target or profile.suggested_target
    if chosen is not None and chosen != profile.target:
        # The profile was made for another target: the problem type and the target's warnings
        # (leakage, class balance) must be those of the chosen one.
        from predictml_desktop.core.profile import profile_frame

        profile = profile_frame(table.frame, target=chosen)
    detected, detected_reason = profile.problem_type, profile.problem_type_reason
    if problem_type is None or problem_type == detected:
        problem_type, reason = detected, detected_reason
    else:
        reason = f"Chosen by the user (detected: {detected}; {detected_reason[:1].lower()}{detected_reason[1:]})"
    excluded = list(profile.excluded_columns if excluded_columns is None else excluded_columns)
    if chosen in excluded:
        excluded.remove(chosen)
    unknown = [c for c in excluded if c not in columns]
    if unknown:
        raise IngestError(f"{_short(unknown[0])!r} is not a column of {src.name}, so it cannot be excluded.",
                          path=src, column=unknown[0], code="no_column")
    warnings = profile.warnings

    ext = src.suffix.lower()
    paths = store.paths
    dest: Path | None = None
    try:
        with store.transaction() as tx:
            from predictml_desktop.core.store import sweep_temp_files

            # Under the store lock every writer of uploads/ is alive, so a temp file seen now was
            # left by a killed import.
            sweep_temp_files(paths.uploads)
            dataset_id = tx.datasets.new_id()
            dest = paths.uploads / f"{dataset_id}{ext}"
            _copy_verified(src, dest, table.sha256)
            record = Dataset(
                id=dataset_id,
                name=name or src.stem,
                file_name=src.name,
                file_path=paths.relative(dest),
                sha256=table.sha256,
                size_bytes=table.size_bytes,
                file_format=table.file_format,
                encoding=table.encoding,
                delimiter=table.delimiter,
                sheet=table.sheet,
                rows=len(table.frame),
                columns=profile.columns,
                warnings=warnings,
                suggested_target=profile.suggested_target,
                target_candidates=profile.target_candidates,
                target_column=target,
                problem_type=problem_type if chosen else None,
                problem_type_reason=reason if chosen else "",
                excluded_columns=excluded,
                notes=list(table.notes),
            )
            tx.datasets.add(record)
    except BaseException:
        if dest is not None:
            with contextlib.suppress(OSError):
                dest.unlink()
        raise
    return record


def _copy_verified(src: Path, dest: Path, sha256: str) -> None:
    """Copy ``src`` to ``dest`` atomically (temp + rename), checking it is the file that was read."""
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    digest = hashlib.sha256()
    try:
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            while chunk := fin.read(_COPY_CHUNK):
                digest.update(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        if digest.hexdigest() != sha256:
            raise IngestError(f"{src.name} changed while it was being imported; import it again.", path=src,
                              code="changed")
        os.replace(tmp, dest)
    except OSError as exc:
        raise IngestError(f"Could not copy {src.name} into the data folder: {exc.strerror or exc}.", path=src,
                          code="copy_failed") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def import_dataset(
    store: Store,
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    target: str | None = None,
    name: str | None = None,
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    problem_type: str | None = None,
) -> Dataset:
    """Read, profile and store a file in one call (the CLI and ``predictml train FILE`` use it).

    Parameters
    ----------
    store
        The data home's record store.
    path
        The file to import.
    sheet
        For a workbook, the worksheet to read.
    target
        The target column; None records only the suggestion.
    name
        Display name of the dataset.
    limits
        Import limits (default: the user's settings).
    progress, should_stop
        As for `read_table` (profiling and storing are reported as the last few percent).
    problem_type
        Override of the detected problem type.

    Returns
    -------
    Dataset
        The stored record.

    Raises
    ------
    IngestError
        If the file is refused; nothing is stored then.
    """
    from predictml_desktop.core.profile import profile_frame

    report = progress or _noop_progress
    lim = limits if limits is not None else load_settings(store.paths).limits
    table = read_table(path, sheet=sheet, limits=lim, progress=lambda f: report(0.9 * f), should_stop=should_stop)
    if target is not None and target not in table.frame.columns:
        columns = [str(c) for c in table.frame.columns]
        raise IngestError(
            f"{_short(target)!r} is not a column of {Path(path).name}; its columns are: "
            f"{', '.join(repr(_short(c, 30)) for c in columns[:20])}{'…' if len(columns) > 20 else ''}.",
            path=Path(path), column=target, code="no_target",
        )
    profile = profile_frame(table.frame, target=target)
    report(0.95)
    dataset = store_dataset(store, path, table, profile, target=target, problem_type=problem_type, name=name)
    report(1.0)
    return dataset


def load_dataset_frame(paths: Paths, dataset: Dataset) -> pd.DataFrame:
    """Re-read a stored upload exactly as it was read at import.

    Parameters
    ----------
    paths
        The data home layout.
    dataset
        The dataset record (its encoding, delimiter and sheet are reused).

    Returns
    -------
    pandas.DataFrame
        The same frame `read_table` returned at import.

    Raises
    ------
    IngestError
        If the stored file is missing or its SHA-256 no longer matches the record.
    """
    try:
        file = paths.resolve(dataset.file_path)
    except ValueError as exc:
        raise IngestError(str(exc), code="not_found") from None
    if not file.is_file():
        raise IngestError(f"The stored file of dataset {dataset.id} ({dataset.file_path}) is missing.", path=file,
                          code="not_found")
    if dataset.sha256 and _sha256_file(file) != dataset.sha256:
        raise IngestError(
            f"The stored file of dataset {dataset.id} ({dataset.file_path}) has changed since it was imported "
            "(its SHA-256 does not match); import the data again.",
            path=file, code="changed",
        )
    # The file was accepted under the limits of its day; re-reading it must not depend on today's.
    relaxed = Limits(
        max_file_bytes=max(dataset.size_bytes, 1) * 2 + (1 << 20),
        max_rows=max(dataset.rows, 1) * 2 + 1,
        max_columns=max(len(dataset.columns), 1) * 2 + 1,
        max_cell_chars=1 << 30,
    )
    if dataset.file_format == "excel":
        return read_table(file, sheet=dataset.sheet, limits=relaxed).frame
    return read_table(file, limits=relaxed, encoding=dataset.encoding, delimiter=dataset.delimiter).frame
