"""Run a governance call on a worker thread and bring back its result or its refusal, typed.

The admin screens must react differently to a wrong password, a lockout, an expired session or a
step-up request, so the refusal travels back as the exception object itself (not only as its
sentence, which is what `Tasks.start`'s ``on_error`` gives).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from predictml_desktop.core.governance import GovernanceError


@dataclass
class Outcome:
    """What a governance call gave: its value, or the `GovernanceError` that refused it."""

    value: Any = None
    error: GovernanceError | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None


def attempt(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Call ``func(*args, **kwargs)`` and return its `Outcome` (runs on a worker thread).

    Only the core's refusals (`GovernanceError` and its subclasses) are caught; anything else is a
    bug or an environment problem and reaches the task's ``on_error`` (logged, one sentence shown).
    """
    try:
        return Outcome(value=func(*args, **kwargs))
    except GovernanceError as exc:
        return Outcome(error=exc)
