"""Child-process roles started as ``predictml --worker ROLE ...`` (frozen: ``PredictML --worker ...``).

Nothing here imports Qt; each role imports only what it needs, so a child starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def dispatch(argv: Sequence[str]) -> int:
    """Run the worker role named by ``argv[0]`` with the remaining arguments; return its exit code."""
    role, *rest = list(argv) or [""]
    if role == "train":
        from predictml_desktop.worker.train import main

        return main(rest)
    print(f"predictml: unknown worker role {role!r}", file=sys.stderr)
    return 2
