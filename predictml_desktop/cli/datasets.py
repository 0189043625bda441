"""``predictml datasets add|list|show``: import a file as a dataset and inspect stored datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_NOT_FOUND, CliError, print_json, print_table
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset
from predictml_desktop.core.store import NotFoundError, Store


def register(sub: Any) -> None:
    """Add the ``datasets`` command group."""
    p = sub.add_parser("datasets", help="import a CSV/Excel file as a dataset; list and show datasets")
    actions = p.add_subparsers(dest="datasets_action", metavar="ACTION")
    actions.required = True

    add = actions.add_parser("add", help="import a .csv/.tsv/.txt/.xlsx/.xlsm/.parquet file")
    add.add_argument("file", metavar="FILE", help="the file to import")
    add.add_argument("--target", metavar="COL", help="the column to predict (default: only suggest one)")
    add.add_argument("--sheet", metavar="NAME", help="the worksheet of a workbook (default: the first)")
    add.add_argument("--name", metavar="NAME", help="a display name (default: the file name)")
    add.add_argument("--json", action="store_true", help="print one JSON document")
    add.set_defaults(handler=_add)

    lst = actions.add_parser("list", help="list the stored datasets")
    lst.add_argument("--json", action="store_true", help="print one JSON document")
    lst.set_defaults(handler=_list)

    show = actions.add_parser("show", help="show one dataset: columns, warnings, target")
    show.add_argument("dataset_id", metavar="ID", help="a dataset id (see: predictml datasets list)")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    show.set_defaults(handler=_show)


def _document(ds: Dataset) -> dict[str, Any]:
    return {"datasetId": ds.id, **ds.to_dict()}


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return None
    last = [-1]

    def show(fraction: float) -> None:
        pct = int(fraction * 100)
        if pct != last[0]:
            last[0] = pct
            print(f"\rReading… {pct:3d}%", end="", file=sys.stderr, flush=True)
            if pct >= 100:
                print("\r" + " " * 20 + "\r", end="", file=sys.stderr, flush=True)

    return show


def _add(args: argparse.Namespace) -> int:
    from predictml_desktop.core.ingest import IngestError, read_table, store_dataset
    from predictml_desktop.core.profile import profile_frame
    from predictml_desktop.core.settings import load_settings

    try:
        # Read and check the file before the data home is even opened: a refused file leaves the
        # data folder exactly as it was (not even created on a first run).
        table = read_table(args.file, sheet=args.sheet, limits=load_settings(Paths.default()).limits,
                           progress=_progress_printer())
        if args.target is not None and args.target not in table.frame.columns:
            columns = ", ".join(repr(str(c)) for c in table.frame.columns[:20])
            raise CliError(f"{args.target!r} is not a column of {Path(args.file).name}; its columns are: {columns}.")
        profile = profile_frame(table.frame, target=args.target)
        store = Store()
        store.startup()
        ds = store_dataset(store, args.file, table, profile, target=args.target, name=args.name)
    except IngestError as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND if exc.code == "not_found" else EXIT_FAILURE) from None
    if args.json:
        print_json(_document(ds))
    else:
        print(f"Imported {ds.file_name} as {ds.id} ({ds.rows:,} rows, {len(ds.columns)} columns).")
        _print_details(ds)
    return 0


def _list(args: argparse.Namespace) -> int:
    datasets = Store().datasets()
    if args.json:
        print_json({"datasets": [_document(ds) for ds in datasets]})
        return 0
    rows = [
        {
            "id": ds.id,
            "name": ds.name,
            "rows": f"{ds.rows:,}",
            "columns": len(ds.columns),
            "target": ds.target_column or (f"({ds.suggested_target}?)" if ds.suggested_target else ""),
            "type": ds.problem_type or "",
            "status": ds.status,
            "created": ds.created_at[:19].replace("T", " "),
        }
        for ds in datasets
    ]
    print_table(rows, [("id", "ID"), ("name", "NAME"), ("rows", "ROWS"), ("columns", "COLS"),
                       ("target", "TARGET"), ("type", "TYPE"), ("status", "STATUS"), ("created", "CREATED (UTC)")])
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        ds = Store().read().datasets.get(args.dataset_id)
    except NotFoundError:
        raise CliError(f"No dataset with id {args.dataset_id!r} (see: predictml datasets list).",
                       EXIT_NOT_FOUND) from None
    if args.json:
        print_json(_document(ds))
        return 0
    print(f"{ds.id}: {ds.name}  ({ds.file_name}, {ds.rows:,} rows, {len(ds.columns)} columns, {ds.status})")
    _print_details(ds)
    return 0


def _print_details(ds: Dataset) -> None:
    from predictml_desktop.core.profile import KIND_LABELS

    if ds.target_column:
        print(f"Target: {ds.target_column} ({ds.problem_type}: {ds.problem_type_reason})")
    elif ds.suggested_target:
        print(f"Suggested target: {ds.suggested_target} ({ds.problem_type}: {ds.problem_type_reason})")
    else:
        print("No column looks like a target.")
    if ds.target_candidates:
        print("Target candidates:")
        for cand in ds.target_candidates[:5]:
            print(f"  {cand['column']}  (score {cand['score']}) — {cand['reason']}")
    print("Columns:")
    excluded = set(ds.excluded_columns)
    rows = [
        {
            "name": c["name"] + (" (excluded)" if c["name"] in excluded else ""),
            "kind": KIND_LABELS.get(c.get("kind", ""), c.get("kind", "")),
            "missing": f"{c.get('missingShare', 0) * 100:.1f}%",
            "unique": f"{c.get('unique', 0):,}",
        }
        for c in ds.columns
    ]
    print_table(rows, [("name", "NAME"), ("kind", "KIND"), ("missing", "MISSING"), ("unique", "UNIQUE")])
    if ds.warnings:
        print("Warnings:")
        for w in ds.warnings:
            print(f"  - {w['message']}")
    for note in ds.notes:
        print(f"Note: {note}")
