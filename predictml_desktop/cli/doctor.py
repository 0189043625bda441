"""``predictml doctor``: check the data home's record files, and recover a damaged one."""

from __future__ import annotations

import argparse
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, print_json
from predictml_desktop.core.store import SPECS, Store, StoreCorruptError


def register(sub: Any) -> None:
    """Add the ``doctor`` command."""
    p = sub.add_parser("doctor", help="check the data folder; --recover restores a damaged record file")
    p.add_argument("--recover", choices=sorted(SPECS), help="set this damaged file aside and restore its backup")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    store = Store()
    store.startup()
    if args.recover:
        message = store.recover(args.recover)
        print_json({"recovered": args.recover, "message": message}) if args.json else print(message)
        return 0
    problems = store.check()
    if args.json:
        print_json({"home": str(store.paths.home), "problems": [str(p) for p in problems]})
    else:
        print(f"Data folder: {store.paths.home}")
        for problem in problems:
            hint = ""
            if isinstance(problem, StoreCorruptError):
                name = next(n for n in SPECS if store.file_of(n) == problem.path)
                hint = f" Run: predictml doctor --recover {name}"
            print(f"- {problem}{hint}")
        if not problems:
            print("All record files are readable.")
    return EXIT_FAILURE if problems else 0
