"""What every command shares: exit codes, the error type, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


class CliError(Exception):
    """A failure reported as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def print_json(doc: Any) -> None:
    """Print one JSON document on stdout (``--json`` output)."""
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=2, allow_nan=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` as an aligned text table; ``columns`` are (key, heading) pairs."""
    if not rows:
        print("(none)")
        return
    cells = [[("" if r.get(k) is None else str(r.get(k))) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    print("  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
