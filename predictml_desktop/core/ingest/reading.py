"""`read_table`: read a CSV/TSV/TXT file, an Excel worksheet or a Parquet file within the limits, as one `TableRead`."""

from __future__ import annotations

import os
from pathlib import Path

from predictml_desktop.core.ingest.common import (
    IngestError,
    ProgressFn,
    StopFn,
    TableRead,
    _check_path,
    _never_stop,
    _noop_progress,
    _resolve_limits,
)
from predictml_desktop.core.ingest.excel import _read_excel
from predictml_desktop.core.ingest.parquet import _read_parquet
from predictml_desktop.core.ingest.text_files import _read_csv
from predictml_desktop.core.settings import Limits


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
    """Read a CSV/TSV/TXT, Excel or Parquet file into a DataFrame, within the import limits.

    Parameters
    ----------
    path
        The file to read.
    sheet
        For a workbook, the worksheet to read (default: the first one). Ignored for other files.
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
        if fmt == "parquet":
            return _read_parquet(p, size, lim, report, stop)
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
