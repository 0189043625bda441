"""``predictml predict DATASET_ID (--input FILE [-o OUT] | --json '{...}')``: predictions from the shell.

The same prediction path as the app and the HTTP service (`core.prediction`): the dataset's active
deployment, signature and hash checked before the model is loaded. ``--json`` takes one row, a list
of rows, or ``{"inputData": ...}`` and prints the seed's response. ``--input`` streams the file (any
length, in bounded memory) to CSV, XLSX or Parquet. Exit code 3 when the dataset has no
deployed model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE, CliError, print_json


def register(sub: Any) -> None:
    """Add the ``predict`` command."""
    p = sub.add_parser("predict", help="predict with a dataset's deployed model (a file or JSON rows)")
    p.add_argument("dataset_id", metavar="DATASET_ID", help="a dataset id with an active deployment")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="FILE", type=Path, help="a .csv/.tsv/.txt/.xlsx/.xlsm/.parquet file of rows")
    src.add_argument("--json", dest="json_input", metavar="JSON",
                     help="one row {...}, a list [...] or {\"inputData\": ...}")
    p.add_argument("-o", "--output", metavar="OUT", type=Path,
                   help="where to write the file's predictions (.csv, .tsv, .txt, .xlsx or .parquet; default: "
                        "FILE.predictions.csv); the file is read, predicted and written a chunk at a time")
    p.add_argument("--explain", action="store_true",
                   help="explain each prediction: --json adds \"explanations\" (each column's contribution); a file "
                        "gets reason_1..3 columns and the contributions (a second sheet, or OUT.contributions.*)")
    p.add_argument("--allow-version-drift", action="store_true",
                   help="use a model trained with other library versions")
    p.set_defaults(handler=_predict)


def _error(exc: Exception) -> CliError:
    from predictml_desktop.core.prediction import ModelNotDeployedError

    code = EXIT_NOT_FOUND if isinstance(exc, ModelNotDeployedError) else EXIT_FAILURE
    message = str(exc)
    if isinstance(exc, ModelNotDeployedError):
        message = "Model not deployed: approve a model of this dataset first (predictml approve JOB --to local)."
    return CliError(message, code)


def _predict(args: argparse.Namespace) -> int:
    from predictml_desktop.core.prediction import ModelRegistry, PredictionError, predict_file, predict_rows

    registry = ModelRegistry(allow_version_drift=args.allow_version_drift)
    if args.json_input is not None:
        try:
            doc = json.loads(args.json_input)
        except json.JSONDecodeError as exc:
            raise CliError(f"--json is not valid JSON: {exc.msg} at column {exc.colno}.", EXIT_USAGE) from None
        rows = doc.get("inputData") if isinstance(doc, dict) and "inputData" in doc else doc
        if not isinstance(rows, (dict, list)):
            raise CliError("--json must be an object (one row), a list of objects, or {\"inputData\": ...}.",
                           EXIT_USAGE)
        try:
            model = registry.get(args.dataset_id)
            result = predict_rows(model, rows)
            response = result.to_response()
            if args.explain:
                from predictml_desktop.core.prediction.explaining import explain_input

                response["explanations"] = explain_input(model, rows)
        except PredictionError as exc:
            raise _error(exc) from None
        print_json(response)
        return 0
    source: Path = args.input
    output: Path = args.output or source.with_name(source.stem + ".predictions.csv")
    progress = None
    if sys.stderr.isatty():
        def progress(fraction: float, message: str) -> None:
            print(f"\r{message} ({fraction:.0%})", end="", file=sys.stderr, flush=True)
    try:
        written = predict_file(registry, args.dataset_id, source, output, progress=progress, explain=args.explain)
    except PredictionError as exc:
        raise _error(exc) from None
    if progress is not None:
        print(file=sys.stderr)
    print(f"Wrote predictions to {written.path}.")
    if written.contributions is not None:
        where = "its Contributions sheet" if written.contributions == written.path else written.contributions
        print(f"Wrote each row's contributions to {where}.")
    from predictml_desktop.cli.drift import print_file_drift

    print_file_drift(args.dataset_id, source, written.path)
    if written.report is not None:
        # The good rows are predicted; the refused ones are listed by row and column.
        print(f"{written.refused:,} of {written.rows:,} rows were not predicted (a bad cell); "
              f"see {written.report}.", file=sys.stderr)
    return 0
