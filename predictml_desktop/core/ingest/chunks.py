"""Reading a table in chunks of rows, for work that never needs it whole (batch prediction of a big file).

The same readers, checks and limits as `read_table` (encoding, delimiter, header, NUL bytes, ragged
rows, cell lengths, NA placeholders in numeric columns), but only one chunk of rows is in memory at a
time: pandas' chunked CSV parser, openpyxl's streamed rows, pyarrow's record batches. A refusal found
half-way (a ragged row on line 700,000) is raised when its chunk is reached, in the same sentence.

`count_rows` says how many data rows a file has when that can be known without parsing it (a
Parquet footer; a text file without quoted line breaks), so a caller can refuse a file before any work.
"""

from __future__ import annotations

import io
import os
import re
import threading
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from predictml_desktop.core.ingest.common import (
    _COPY_CHUNK,
    IngestError,
    ProgressFn,
    StopFn,
    _check_cells,
    _check_header,
    _check_path,
    _na_placeholders,
    _never_stop,
    _noop_progress,
    _resolve_limits,
)
from predictml_desktop.core.settings import Limits

if TYPE_CHECKING:
    from predictml_desktop.core.ingest.sniffing import _Sniff

CHUNK_ROWS = 50_000
"""Rows per chunk by default: large enough that per-chunk costs vanish, small enough to stay in megabytes."""


def iter_table_chunks(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    limits: Limits | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Generator[pd.DataFrame, None, None]:
    """Yield a CSV/TSV/TXT, Excel or Parquet file's rows as DataFrames of at most ``chunk_rows`` rows.

    Every chunk has the file's columns in file order and a RangeIndex from 0. Column types are
    inferred per chunk (a column empty in one chunk may be float there and text in the next), as
    each chunk is checked cell by cell by its consumer anyway.

    Parameters
    ----------
    path
        The file to read.
    sheet
        For a workbook, the worksheet (default: the first visible one).
    limits
        Import limits (default: the user's settings).
    chunk_rows
        Rows per chunk.
    progress
        Called with the fraction of the file read (0–1).
    should_stop
        Polled between chunks; when it returns true, `IngestCancelled` is raised.

    Yields
    ------
    pandas.DataFrame
        The next rows.

    Raises
    ------
    IngestError
        If the file is refused, up front or when the chunk holding the problem is reached.
    """
    p = Path(path)
    lim = _resolve_limits(limits)
    report = progress or _noop_progress
    stop = should_stop or _never_stop
    fmt, size = _check_path(p, lim)
    rows = max(1, int(chunk_rows))
    try:
        if fmt == "parquet":
            yield from _parquet_chunks(p, lim, rows, report, stop)
        elif fmt == "excel":
            yield from _excel_chunks(p, size, lim, rows, report, stop, sheet)
        else:
            yield from _csv_chunks(p, size, lim, rows, report, stop)
    except IngestError:
        raise
    except PermissionError:
        raise IngestError(f"PredictML is not allowed to read {p}.", path=p, code="unreadable") from None
    except FileNotFoundError:
        raise IngestError(f"The file {p} disappeared while it was being read.", path=p, code="not_found") from None
    except OSError as exc:
        raise IngestError(f"Could not read {p}: {exc.strerror or exc}.", path=p, code="unreadable") from None


def count_rows(path: str | os.PathLike[str], *, limits: Limits | None = None) -> int | None:
    """Return a file's number of data rows when it is known without parsing the file, else None.

    A Parquet file states it in its footer. A text file without double quotes has one row per
    non-blank line after the header (counted at disk speed). Quoted values may span lines, and a
    workbook's own dimension record can lie, so those give None.

    Raises
    ------
    IngestError
        If the file cannot be read.
    """
    p = Path(path)
    fmt, _size = _check_path(p, _resolve_limits(limits))
    if fmt == "parquet":
        from predictml_desktop.core.ingest.parquet import open_parquet

        return int(open_parquet(p).metadata.num_rows)
    if fmt != "csv":
        return None
    lines = 0
    blank = 0
    last = b""
    with open(p, "rb") as fh:
        while chunk := fh.read(_COPY_CHUNK):
            if b'"' in chunk or (b"\r" in chunk and b"\n" not in chunk):
                return None  # quoted line breaks, or old Mac line ends: only a parse can tell
            lines += chunk.count(b"\n")
            # Empty lines (which the parser skips): a line break right after another one.
            joined = last + chunk
            blank += len(_EMPTY_LINE.findall(joined)) - len(_EMPTY_LINE.findall(last))
            last = chunk[-2:]
    if last and not last.endswith(b"\n"):
        lines += 1  # a last line without its line break
    return max(0, lines - blank - 1)


_EMPTY_LINE = re.compile(rb"\n(?=\r?\n)")


def _csv_layout(path: Path, size: int, limits: Limits) -> tuple[bytes, bool, str, _Sniff]:
    """Read the head of a CSV file: its bytes, whether it was cut, the file's encoding and its dialect."""
    from predictml_desktop.core.ingest.encoding import _decode_head, _fallback_encoding, _first_bad_utf8
    from predictml_desktop.core.ingest.sniffing import _sniff
    from predictml_desktop.core.ingest.text_files import _check_nul_text, _head_and_encoding

    notes: list[str] = []
    head, truncated, encoding = _head_and_encoding(path, size, None, notes)
    if encoding == "utf-8" and truncated:
        # The first megabyte decided UTF-8; a chunked read cannot start over half-way, so the rest is
        # checked now (at disk speed) and a legacy encoding chosen before any row is used.
        bad = _first_bad_utf8(path)
        if bad is not None:
            encoding, _note = _fallback_encoding(path, bad)
    text, head_cut = _decode_head(path, head, encoding, truncated)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise IngestError(f"{path.name} has no data (only blank lines or spaces).", path=path, code="empty")
    sniff = _sniff(path, text, head_cut, None)
    _check_header(path, sniff.header, limits)
    if encoding in {"utf-16", "utf-32"}:
        _check_nul_text(path, encoding, sniff)
    return head, truncated, encoding, sniff


def _checked_chunk(path: Path, chunk: pd.DataFrame, header: list[str], limits: Limits, done: int) -> pd.DataFrame:
    """Check one parsed chunk (its width, the row limit, the cells); the chunk with placeholders as missing."""
    from predictml_desktop.core.ingest.text_files import _check_columns_match

    if not isinstance(chunk.index, pd.RangeIndex):
        raise IngestError(
            f"The data rows of {path.name} have one more value than the header has column names; "
            "add the missing column name or remove the extra delimiter at the end of each line.",
            path=path, line=2, code="ragged_row",
        )
    _check_columns_match(path, chunk, header)
    if done > limits.max_rows:
        raise IngestError(
            f"{path.name} has more than {limits.max_rows:,} data rows (the limit); use a sample "
            "(the limit can be changed in Settings).",
            path=path, code="too_many_rows",
        )
    _check_cells(path, chunk, limits)
    return _na_placeholders(chunk.reset_index(drop=True))


def _csv_chunks(path: Path, size: int, limits: Limits, chunk_rows: int, progress: ProgressFn,
                should_stop: StopFn) -> Iterator[pd.DataFrame]:
    from predictml_desktop.core.ingest.text_checks import _first_ragged_record, _ragged_error
    from predictml_desktop.core.ingest.text_files import _nul_error, _parser_error, _ProgressReader, _read_csv_options

    head, truncated, encoding, sniff = _csv_layout(path, size, limits)
    ascii_compatible = encoding not in {"utf-16", "utf-32"}
    newline = b"\r" if (b"\n" not in head and b"\r" in head) else b"\n"
    # pandas' chunked parser silently drops the extra value of a row that starts a chunk (and fills
    # short rows with missing values), so every record's length is checked by a scan of the file
    # beside the parse (numpy, mostly off the GIL); its verdict is awaited before the last chunk is
    # handed over. UTF-16/32 files are not scanned (the scan reads bytes).
    has_quote = b'"' in head if not truncated else True
    ragged: dict[str, tuple[int, int] | None] = {}
    scan = threading.Thread(target=lambda: ragged.setdefault("first", _first_ragged_record(path, sniff, encoding,
                                                                                             has_quote)),
                            daemon=True, name="csv-record-check")
    scan.start()
    done = 0
    with open(path, "rb") as raw:
        reader = _ProgressReader(raw, size, progress, should_stop, scan_nul=ascii_compatible, path=path,
                                 newline=newline)
        buffered = io.BufferedReader(reader, buffer_size=1 << 18)
        try:
            with warnings.catch_warnings():
                # Each chunk is typed on its own; a column typed differently in two chunks is expected.
                warnings.simplefilter("ignore", pd.errors.DtypeWarning)
                parser = pd.read_csv(buffered, chunksize=chunk_rows, **_read_csv_options(encoding, sniff))
            with parser:
                while True:
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
                            chunk = next(parser)
                    except StopIteration:
                        break
                    if reader.nul_at is not None:
                        raise _nul_error(path, reader.nul_at, sniff)
                    done += len(chunk)
                    chunk = _checked_chunk(path, chunk, sniff.header, limits, done)
                    if reader.offset >= size:  # the last chunk: the record check must have passed
                        _raise_if_ragged(path, scan, ragged, len(sniff.header))
                    yield chunk
        except UnicodeDecodeError:
            raise IngestError(f"{path.name} could not be decoded as {encoding}; save it as UTF-8 and try again.",
                              path=path, code="encoding") from None
        except pd.errors.EmptyDataError:
            raise IngestError(f"{path.name} has no data (only blank lines).", path=path, code="empty") from None
        except pd.errors.ParserError as exc:
            if reader.nul_at is not None:
                raise _nul_error(path, reader.nul_at, sniff) from None
            first = _first_ragged_record(path, sniff, encoding, reader.has_quote)
            if first is not None:
                raise _ragged_error(path, *first, len(sniff.header)) from None
            raise _parser_error(path, exc) from None
    if done == 0:
        raise IngestError(f"{path.name} has a header row but no data rows.", path=path, code="header_only")
    _raise_if_ragged(path, scan, ragged, len(sniff.header))
    progress(1.0)


def _raise_if_ragged(path: Path, scan: threading.Thread, ragged: dict[str, tuple[int, int] | None],
                     width: int) -> None:
    from predictml_desktop.core.ingest.text_checks import _ragged_error

    scan.join()
    if "first" not in ragged:
        raise IngestError(f"Could not read {path} to the end.", path=path, code="unreadable")
    first = ragged["first"]
    if first is not None:
        raise _ragged_error(path, *first, width)


def _excel_chunks(path: Path, size: int, limits: Limits, chunk_rows: int, progress: ProgressFn,
                  should_stop: StopFn, sheet: str | None) -> Iterator[pd.DataFrame]:
    from predictml_desktop.core.ingest.excel import (
        _inspect_workbook,
        _iter_excel_blocks,
        _open_workbook,
        _workbook_error,
        _worksheet_names,
    )

    totals = _inspect_workbook(path, limits)
    current: list[str] = []
    read: dict[str, int] = {}

    def on_bytes(name: str, n: int) -> None:
        read[name] = read.get(name, 0) + n
        if current and name == current[0] and totals.get(name):
            progress(min(read[name] / totals[name], 1.0))

    with _open_workbook(path, limits, should_stop, on_bytes) as wb:
        sheets = _worksheet_names(wb)
        if not sheets:
            raise IngestError(f"{path.name} has no worksheets.", path=path, code="no_sheet")
        if sheet is None:
            visible = [ws.title for ws in wb.worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
            sheet = visible[0] if visible else sheets[0]
        elif sheet not in sheets:
            raise IngestError(f"{path.name} has no worksheet named {sheet!r}; its sheets are: "
                              f"{', '.join(repr(s) for s in sheets)}.", path=path, value=sheet, code="no_sheet")
        ws = wb[sheet]
        current.append(getattr(ws, "_worksheet_path", ""))
        ws.reset_dimensions()
        blocks = _iter_excel_blocks(path, ws, limits, sheet, chunk_rows)
        while True:
            try:
                block = next(blocks)
            except StopIteration:
                break
            except IngestError:
                raise
            except Exception as exc:  # noqa: BLE001 - openpyxl raises anything on a damaged sheet: one sentence
                raise _workbook_error(path, exc) from None
            block = block.infer_objects()
            _check_cells(path, block, limits)
            yield _na_placeholders(block)
    progress(1.0)


def _parquet_chunks(path: Path, limits: Limits, chunk_rows: int, progress: ProgressFn,
                    should_stop: StopFn) -> Iterator[pd.DataFrame]:
    import pyarrow as pa

    from predictml_desktop.core.ingest.common import IngestCancelled
    from predictml_desktop.core.ingest.parquet import (
        _first_line,
        _plain_types,
        _to_pandas,
        open_parquet,
        parquet_columns,
    )

    pf = open_parquet(path)
    rows = int(pf.metadata.num_rows)
    if rows > limits.max_rows:
        raise IngestError(
            f"{path.name} has {rows:,} data rows, over the limit of {limits.max_rows:,}; use a sample "
            "(the limit can be changed in Settings).",
            path=path, code="too_many_rows",
        )
    names = parquet_columns(path, pf, limits)
    if rows == 0:
        raise IngestError(f"{path.name} has column names but no data rows.", path=path, code="header_only")
    done = 0
    batches = pf.iter_batches(batch_size=chunk_rows, columns=names, use_threads=True)
    while True:
        if should_stop():
            raise IngestCancelled(f"Reading {path.name} was cancelled.", path=path, code="cancelled")
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(f"{path.name} could not be read as a Parquet file: {_first_line(exc)}.", path=path,
                              code="damaged") from None
        table = _plain_types(pa.Table.from_batches([batch]))
        del batch
        columns = [table.column(i) for i in range(table.num_columns)]
        del table
        frame = _to_pandas(path, names, columns, _noop_progress, should_stop)
        _check_cells(path, frame, limits)
        done += len(frame)
        progress(done / rows)
        yield frame
