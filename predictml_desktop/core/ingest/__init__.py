"""Read a user's CSV/TSV/TXT, Excel or Parquet file within limits, and store an accepted dataset.

The parsing itself is pandas' C parser (CSV), openpyxl in read-only mode (Excel) or pyarrow (Parquet);
this package adds what they do not do: encoding detection, delimiter sniffing, the checks for what pandas accepts
silently (NUL bytes, duplicate or blank headers, a ``;`` file read as one column, short rows), the
size/row/column/cell limits of DESIGN §9 checked while streaming, a zip-bomb guard for workbooks
(this CPython's ``zipfile`` lacks the gh-109858 overlap check), and one clear sentence for every
refusal (`IngestError`).

By seam: `common` (errors, `TableRead`, shared checks), `encoding`, `sniffing`, `text_files` and
`text_checks` (CSV/TSV/TXT), `excel` (workbooks and the bomb guard), `parquet`, `reading` (`read_table`),
`chunks` (the same, a chunk of rows at a time), `datasets` (storing and loading datasets).

Public entry points: `list_sheets`, `read_table`, `iter_table_chunks`, `count_rows`, `store_dataset`,
`import_dataset`, `load_dataset_frame`.
"""

from __future__ import annotations

from predictml_desktop.core.ingest.chunks import CHUNK_ROWS, count_rows, iter_table_chunks
from predictml_desktop.core.ingest.common import (
    ACCEPTED_EXTENSIONS,
    CSV_EXTENSIONS,
    DELIMITERS,
    EXCEL_EXTENSIONS,
    PARQUET_EXTENSIONS,
    IngestCancelled,
    IngestError,
    ProgressFn,
    StopFn,
    TableRead,
)
from predictml_desktop.core.ingest.datasets import import_dataset, load_dataset_frame, store_dataset
from predictml_desktop.core.ingest.excel import list_sheets
from predictml_desktop.core.ingest.reading import read_table

__all__ = [
    "ACCEPTED_EXTENSIONS",
    "CHUNK_ROWS",
    "CSV_EXTENSIONS",
    "DELIMITERS",
    "EXCEL_EXTENSIONS",
    "PARQUET_EXTENSIONS",
    "IngestCancelled",
    "IngestError",
    "ProgressFn",
    "StopFn",
    "TableRead",
    "count_rows",
    "import_dataset",
    "iter_table_chunks",
    "list_sheets",
    "load_dataset_frame",
    "read_table",
    "store_dataset",
]
