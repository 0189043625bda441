"""Reading Excel workbooks (.xlsx/.xlsm) in openpyxl's read-only mode, with a zip-bomb guard.

Before openpyxl opens a workbook, its zip directory is inspected (`_inspect_workbook`): too many
members, overlapping members (CPython's zipfile lacks the gh-109858 check), or a compression ratio
and total size beyond the limits refuse it, and reading is metered as it goes (`_BudgetZipFile`).
Encrypted and old-format (.xls) files are named as such.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from predictml_desktop.core.ingest.common import (
    _COPY_CHUNK,
    _ENCRYPTED_PACKAGE,
    _MAX_ZIP_ENTRIES,
    _OLE2_MAGIC,
    _RATIO_MIN_BYTES,
    IngestCancelled,
    IngestError,
    ProgressFn,
    StopFn,
    TableRead,
    _check_cells,
    _check_header,
    _check_path,
    _mb,
    _na_placeholders,
    _never_stop,
    _resolve_limits,
    _sha256_file,
    _short,
)
from predictml_desktop.core.settings import Limits


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
        except Exception as exc:  # noqa: BLE001 - openpyxl raises anything on a damaged workbook: one sentence naming the file
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
        except Exception as exc:  # noqa: BLE001 - openpyxl raises anything on a damaged sheet: one sentence naming the file
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
    """Read a worksheet's rows into DataFrame blocks, checking the limits row by row."""
    blocks = list(_iter_excel_blocks(path, ws, limits, sheet))
    return [str(c) for c in blocks[0].columns], blocks


def _iter_excel_blocks(path: Path, ws: Any, limits: Limits, sheet: str,
                       block_rows: int = _EXCEL_BLOCK_ROWS) -> Iterator[pd.DataFrame]:
    """Stream a worksheet's rows as DataFrame blocks of ``block_rows`` rows, checking the limits row by row."""
    header: list[str] | None = None
    emitted = False
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
        if n_rows > limits.max_rows:
            raise IngestError(
                f"{where} has more than {limits.max_rows:,} data rows (the limit); use a sample "
                "(the limit can be changed in Settings).",
                path=path, code="too_many_rows",
            )
        if len(rows) >= block_rows:
            yield pd.DataFrame(rows, columns=pd.Index(header, dtype=object))
            emitted = True
            rows = []
    if header is None:
        raise IngestError(f"{where} is empty.", path=path, code="empty")
    if not n_rows:
        raise IngestError(f"{where} has a header row but no data rows.", path=path, code="header_only")
    if rows or not emitted:
        yield pd.DataFrame(rows, columns=pd.Index(header, dtype=object))
