"""``predictml drift DATASET_ID FILE``: how far a file's columns moved from the model's training data.

Prints one line per column (level, PSI, missing share then and now, share of unseen categories)
and a one-sentence summary; ``--json`` prints the report as JSON, ``--html OUT`` also writes the
HTML page. Exit codes (beyond DESIGN §8's 0/1/2/3): 0 when no column reaches the policy's "act"
threshold, 4 when at least one does (so a script can stop a pipeline), 1 when the file cannot be
read, 3 when the dataset does not exist.

`print_file_drift` is what ``predictml predict --input`` calls after writing its predictions.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_NOT_FOUND, CliError, print_json, print_table

EXIT_DRIFT = 4
"""At least one column drifted beyond the policy's "act" threshold."""

log = logging.getLogger(__name__)

_COLUMNS = [("column", "Column"), ("kind", "Kind"), ("level", "Level"), ("psi", "PSI"),
            ("missing", "Missing (training → file)"), ("unseen", "Unseen")]


def register(sub: Any) -> None:
    """Add the ``drift`` command."""
    p = sub.add_parser("drift", help="compare a file's columns with a dataset's training data (PSI per column)",
                       description="Exit code 0: nothing to act on; 4: a column drifted beyond the policy's "
                                   "'act' threshold; 1: the file cannot be read; 3: no such dataset.")
    p.add_argument("dataset_id", metavar="DATASET_ID", help="the dataset whose training data is the reference")
    p.add_argument("file", metavar="FILE", type=Path, help="a .csv/.tsv/.txt/.xlsx/.xlsm/.parquet file of rows")
    p.add_argument("--sheet", metavar="NAME", help="the worksheet of a workbook")
    p.add_argument("--html", metavar="OUT", type=Path, help="also write the report as an HTML page")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_drift)


def _drift(args: argparse.Namespace) -> int:
    from predictml_desktop.core.drift import DriftError, drift_of_file, write_html_report
    from predictml_desktop.core.paths import Paths

    paths = Paths.default()
    try:
        report = drift_of_file(paths, args.dataset_id, args.file, sheet=args.sheet)
    except DriftError as exc:
        code = EXIT_NOT_FOUND if str(exc).startswith("There is no dataset") else EXIT_FAILURE
        raise CliError(str(exc), code) from None
    if args.html is not None:
        write_html_report(report, args.html)
    if args.json:
        print_json(report.to_dict())
    else:
        print_table(report.table_rows(), _COLUMNS)
        print()
        print(report.summary())
        if args.html is not None:
            print(f"Report: {args.html}")
    return EXIT_DRIFT if report.acting else 0


def print_file_drift(dataset_id: str, source: Path, output: Path) -> None:
    """Print the drift summary of a predicted file and write its HTML report beside the output.

    Drift is advice: a failure here is reported on stderr and never fails the prediction.
    """
    from predictml_desktop.core.drift import DriftError, drift_of_file, report_path, write_html_report
    from predictml_desktop.core.files import StoreError
    from predictml_desktop.core.paths import Paths

    try:
        report = drift_of_file(Paths.default(), dataset_id, source)
        html = write_html_report(report, report_path(output))
    except (DriftError, StoreError, OSError) as exc:
        print(f"Drift not computed: {exc}", file=sys.stderr)
        return
    print(report.summary())
    for col in report.flagged[:10]:
        print(f"  {col.name}: {col.level} ({col.reason})")
    print(f"Drift report: {html}")
