"""What every reader shares: the refusal (`IngestError`), the result (`TableRead`), limits and checks.

The checks here apply to text files and workbooks alike: the header (blank, duplicate, too long),
the cells (too long), and missing-value placeholders in otherwise numeric columns.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.paths import Paths
from predictml_desktop.core.settings import Limits, load_settings

ProgressFn = Callable[[float], None]


StopFn = Callable[[], bool]


CSV_EXTENSIONS = (".csv", ".tsv", ".txt")


EXCEL_EXTENSIONS = (".xlsx", ".xlsm")


PARQUET_EXTENSIONS = (".parquet",)


ACCEPTED_EXTENSIONS = CSV_EXTENSIONS + EXCEL_EXTENSIONS + PARQUET_EXTENSIONS


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
        ``"csv"``, ``"excel"`` or ``"parquet"``.
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
    if ext in PARQUET_EXTENSIONS:
        return "parquet"
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


_LEADING_ZERO = re.compile(r"^\s*[+-]?0\d+\s*$")


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


def _object_columns(frame: pd.DataFrame) -> list[Any]:
    return [col for col, dtype in zip(frame.columns, frame.dtypes, strict=True) if dtype.kind == "O"]


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


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
