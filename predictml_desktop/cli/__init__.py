"""The command line of DESIGN §8 (``predictml``), on top of the core.

Each command group lives in its own module with a ``register(subparsers)`` function. Handlers
return an exit code or raise; `main` turns every expected failure into one line on stderr and the
exit codes of DESIGN §8: 0 success, 1 failure, 2 usage error, 3 not found / not deployed. An
unexpected exception is logged with its traceback to ``logs/cli.log`` and reported in one line —
never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from predictml_desktop import __version__
from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE, CliError
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import NotFoundError, StoreError

_COMMAND_MODULES = (
    "predictml_desktop.cli.datasets",
    "predictml_desktop.cli.doctor",
    "predictml_desktop.cli.training",
    "predictml_desktop.cli.admin",
    "predictml_desktop.cli.oversight",
    "predictml_desktop.cli.predict",
    "predictml_desktop.cli.drift",
    "predictml_desktop.cli.serve",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every ``predictml`` command."""
    parser = _Parser(
        prog="predictml",
        description="PredictML Desktop: offline AutoML. Without a command, the app's window opens.",
    )
    parser.add_argument("--version", action="version", version=f"PredictML {__version__}")
    parser.add_argument("--self-test", action="store_true", help="run the headless smoke test and exit")
    parser.add_argument("--self-test-out", metavar="DIR", type=Path,
                        help="with --self-test: also write summary.json and a window screenshot here")
    parser.add_argument("--verbose", "-v", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _log_unexpected(exc: BaseException) -> str:
    try:
        paths = Paths.default().ensure()
        log_file = paths.logs / "cli.log"
        with open(log_file, "a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(exc)))
        return f" (details in {log_file})"
    except OSError:
        return ""


def main(
    argv: Sequence[str] | None = None,
    *,
    run_app: Callable[[], int] | None = None,
    run_self_test: Callable[[Path | None], int] | None = None,
) -> int:
    """Run ``predictml`` with ``argv`` and return its exit code.

    Parameters
    ----------
    argv
        The arguments (``sys.argv[1:]`` if None).
    run_app, run_self_test
        Open the window / run the self-test (both need Qt). The entry point (``__main__``) passes
        them, so this package never imports Qt; without them, those two uses are a usage error.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--worker"]:
        # Child roles never build the parser: they must start fast and never touch Qt.
        from predictml_desktop.worker import dispatch

        return dispatch(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    _configure_logging(args.verbose)
    try:
        if args.self_test:
            if run_self_test is None:
                raise CliError("The self-test is run by the app itself: predictml --self-test.", EXIT_USAGE)
            return run_self_test(args.self_test_out)
        if args.command is None:
            if run_app is None:
                raise CliError("The window is opened by the app itself: predictml (without a command).", EXIT_USAGE)
            return run_app()
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"predictml: {exc}", file=sys.stderr)
        return exc.code
    except NotFoundError as exc:
        print(f"predictml: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except (StoreError, OSError) as exc:
        print(f"predictml: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("predictml: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort of the command line: one line on stderr, the traceback in logs/cli.log
        where = _log_unexpected(exc)
        print(f"predictml: unexpected error: {exc}{where}", file=sys.stderr)
        return EXIT_FAILURE
