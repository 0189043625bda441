"""Reading Parquet files (pyarrow), within the limits, with progress and cancel.

A Parquet file states its row count and schema in its footer, so the row, column and header limits
are checked before any data is read. The data is then decoded in batches (progress and cancel
between them; a file written as one huge row group still streams) and converted to pandas once.
Column types that a table of examples cannot hold (lists, structs, maps, raw bytes) are refused with
the column named; dictionary-encoded text becomes plain text and dates become datetimes, as the rest
of the app expects. pyarrow is imported only here, when a Parquet file is actually read.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from predictml_desktop.core.ingest.common import (
    _COPY_CHUNK,
    IngestCancelled,
    IngestError,
    ProgressFn,
    StopFn,
    TableRead,
    _check_cells,
    _check_header,
    _short,
)
from predictml_desktop.core.settings import Limits

PARQUET_MAGIC = b"PAR1"


BATCH_ROWS = 65_536
"""Rows decoded per step: progress and cancel come between steps."""


_INDEX_COLUMN = re.compile(r"^__index_level_\d+__$")


"""pandas stores an unnamed index under this name; it is not data."""


def open_parquet(path: Path) -> Any:
    """Open ``path`` as a ``pyarrow.parquet.ParquetFile``, or refuse it in one sentence.

    Raises
    ------
    IngestError
        If the file is not Parquet, or its footer cannot be read (damaged, truncated, encrypted).
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
        size = fh.seek(0, 2)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if head != PARQUET_MAGIC:
        raise IngestError(
            f"{path.name} is not a Parquet file (it does not start with Parquet's signature); "
            "choose the .parquet file itself, or save the table as CSV.",
            path=path, code="not_parquet",
        )
    if tail != PARQUET_MAGIC:
        raise IngestError(
            f"{path.name} is incomplete or damaged: it does not end with Parquet's signature "
            "(was it still being copied?).",
            path=path, code="damaged",
        )
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, memory_map=False)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise IngestError(f"{path.name} could not be read as a Parquet file: {_first_line(exc)}.", path=path,
                          code="damaged") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return _short(text[0] if text else type(exc).__name__, 160).rstrip(".")


def _describe_type(type_: Any) -> str | None:
    """Return what a column of this Arrow type holds when the app cannot use it, else None."""
    import pyarrow.types as pat

    if pat.is_dictionary(type_):
        return _describe_type(type_.value_type)
    if pat.is_list(type_) or pat.is_large_list(type_) or pat.is_fixed_size_list(type_):
        return f"lists ({type_})"
    if pat.is_struct(type_):
        return f"nested records ({type_})"
    if pat.is_map(type_):
        return f"maps ({type_})"
    if pat.is_union(type_):
        return f"mixed-type unions ({type_})"
    if pat.is_binary(type_) or pat.is_large_binary(type_) or pat.is_fixed_size_binary(type_):
        return "raw bytes (binary)"
    if pat.is_duration(type_) or pat.is_interval(type_):
        return f"durations ({type_})"
    return None


def parquet_columns(path: Path, pf: Any, limits: Limits) -> list[str]:
    """Return the data columns of ``pf`` (index columns left out) after the header and type checks.

    Raises
    ------
    IngestError
        For too many columns, a blank, duplicate or too long name, or a column type the app cannot use.
    """
    schema = pf.schema_arrow
    names = [name for name in schema.names if not _INDEX_COLUMN.match(name)]
    _check_header(path, names, limits)
    for name in names:
        what = _describe_type(schema.field(name).type)
        if what is not None:
            raise IngestError(
                f"Column {_short(name)!r} of {path.name} holds {what}, which PredictML cannot use as a column "
                "of examples; leave it out, or turn it into text or numbers, and save the file again.",
                path=path, column=name, code="column_type",
            )
    return names


def _plain_types(table: Any) -> Any:
    """Cast what pandas would turn into something other than the CSV reader's types.

    Dictionary-encoded text would become a pandas Categorical and decimals Python Decimal objects;
    the rest of the app expects object text and floats, as a CSV gives.
    """
    import pyarrow as pa
    import pyarrow.types as pat

    fields = []
    changed = False
    for field in table.schema:
        type_ = field.type
        if pat.is_dictionary(type_):
            type_ = type_.value_type
        if pat.is_decimal(type_):
            type_ = pa.float64()
        if pat.is_time(type_):
            type_ = pa.string()
        if type_ != field.type:
            changed = True
        fields.append(pa.field(field.name, type_))
    return table.cast(pa.schema(fields)) if changed else table


def _to_pandas(path: Path, names: list[str], columns: list[Any], progress: ProgressFn,
               should_stop: StopFn) -> pd.DataFrame:
    """Convert the decoded table to pandas a column and a batch at a time.

    One ``Table.to_pandas()`` call holds the GIL while it creates every text cell's Python string
    (0.8 s for a million rows of ten text columns), which froze the window reading the file on
    another thread. Piece by piece, the GIL changes hands between pieces; each column's Arrow
    buffers are freed once converted, so the peak stays near one copy of the data.
    """
    import pyarrow as pa

    arrays: dict[str, Any] = {}
    try:
        for position, name in enumerate(names):
            if should_stop():
                raise IngestCancelled(f"Reading {path.name} was cancelled.", path=path, code="cancelled")
            column = columns[position]
            columns[position] = None
            arrays[name] = _column_to_numpy(column)
            del column
            progress(0.8 + 0.1 * (position + 1) / len(names))
    except (pa.ArrowInvalid, OverflowError, ValueError) as exc:
        # Typically a timestamp outside pandas' range (years 1677–2262).
        raise IngestError(f"{path.name} holds a value pandas cannot represent: {_first_line(exc)}.", path=path,
                          code="out_of_range") from None
    return pd.DataFrame(arrays, columns=pd.Index(names, dtype=object), copy=False)


def _column_to_numpy(column: Any) -> Any:
    # Dates as datetime64 (not datetime.date objects), in nanoseconds as pandas makes them from text:
    # the profile, the training and the prediction path read them as dates. Text is deduplicated
    # within each piece (repeated categories share one string object).
    import pyarrow.types as pat

    options = {"date_as_object": False, "coerce_temporal_nanoseconds": True, "deduplicate_objects": True}
    if column.num_chunks <= 1 or not (pat.is_string(column.type) or pat.is_large_string(column.type)):
        # Numbers and dates convert without the GIL; only text creates Python objects.
        return column.to_pandas(**options).to_numpy()
    return pd.concat([chunk.to_pandas(**options) for chunk in column.chunks], ignore_index=True).to_numpy()


def _hash_file(path: Path, out: dict[str, str], quit_: threading.Event) -> None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_COPY_CHUNK):
                if quit_.is_set():
                    return
                digest.update(chunk)
    except OSError:
        return
    out["sha"] = digest.hexdigest()


def _read_parquet(path: Path, size: int, limits: Limits, progress: ProgressFn, should_stop: StopFn) -> TableRead:
    import pyarrow as pa

    pf = open_parquet(path)
    rows = pf.metadata.num_rows
    if rows > limits.max_rows:
        raise IngestError(
            f"{path.name} has {rows:,} data rows, over the limit of {limits.max_rows:,}; use a sample "
            "(the limit can be changed in Settings).",
            path=path, code="too_many_rows",
        )
    names = parquet_columns(path, pf, limits)
    if rows == 0:
        raise IngestError(f"{path.name} has column names but no data rows.", path=path, code="header_only")
    # The file's hash (stored with the dataset) is computed beside the decoding: both release the GIL.
    digest: dict[str, str] = {}
    quit_hashing = threading.Event()
    hasher = threading.Thread(target=_hash_file, args=(path, digest, quit_hashing), daemon=True,
                              name="parquet-sha256")
    hasher.start()
    progress(0.02)
    batches = []
    done = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=names, use_threads=True):
            if should_stop():
                raise IngestCancelled(f"Reading {path.name} was cancelled.", path=path, code="cancelled")
            batches.append(batch)
            done += batch.num_rows
            progress(0.02 + 0.78 * done / rows)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(f"{path.name} could not be read as a Parquet file: {_first_line(exc)}.", path=path,
                          code="damaged") from None
    finally:
        if done < rows:
            quit_hashing.set()
    table = _plain_types(pa.Table.from_batches(batches, schema=pf.schema_arrow.empty_table().select(names).schema))
    del batches
    # Only the column list refers to the data now, so each column is freed as it is converted.
    columns = [table.column(i) for i in range(table.num_columns)]
    del table
    frame = _to_pandas(path, names, columns, progress, should_stop)
    _check_cells(path, frame, limits)
    hasher.join()
    if "sha" not in digest:
        raise IngestError(f"Could not read {path} to the end.", path=path, code="unreadable")
    progress(1.0)
    return TableRead(frame=frame, encoding=None, delimiter=None, sheet=None, sheets=[], file_format="parquet",
                     size_bytes=size, sha256=digest["sha"], notes=[])
