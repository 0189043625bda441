"""Which delimiter and decimal mark a text file uses, found from its first megabyte.

Candidates are ``,`` ``;`` tab and ``|``; the one giving the most consistent number of fields wins,
and a ``;`` file whose numbers use a decimal comma is read with ``decimal=","``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from predictml_desktop.core.ingest.common import _LEADING_ZERO, DELIMITERS, IngestError


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
