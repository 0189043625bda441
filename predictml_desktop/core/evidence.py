"""What an approval relied on, pinned by hash: the model, its input schema, its environment and its model card.

An approval records the SHA-256 of each of these files of ``models/<jobId>/`` (in the job's review,
the audit line and the signed deployment record). Loading a deployed model checks every one before
unpickling (`core.prediction.loading`), so a schema, an environment or a model card changed — or
deleted — after the approval stops the model from being served, as a changed model file always did.

The model card of an approval is kept as ``cards/approval-<time>-<target>.html`` beside the latest
``report.html``: the latest card may be written again (a rejection, a later export), the one an
approval pinned never is.
"""

from __future__ import annotations

import time
from pathlib import Path

from predictml_desktop.core.artifacts import ENVIRONMENT_FILE, MODEL_FILE, SCHEMA_FILE, ArtifactError, sha256_file
from predictml_desktop.core.paths import Paths

CARDS_DIR = "cards"
PINNED_FILES = (MODEL_FILE, SCHEMA_FILE, ENVIRONMENT_FILE)
"""Files every approval pins (the model card is pinned under its own name in `CARDS_DIR`)."""

_LABELS = {MODEL_FILE: "the model file", SCHEMA_FILE: "its input schema", ENVIRONMENT_FILE: "its environment record"}


def label(relative: str) -> str:
    """Return how a pinned file is named to people ("its input schema")."""
    if relative.startswith(CARDS_DIR + "/"):
        return "its model card as approved"
    return _LABELS.get(relative, relative)


def card_name(target: str) -> str:
    """Return a new file name (relative to the job's folder) for the model card an approval pins."""
    return f"{CARDS_DIR}/approval-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{time.time_ns() % 10**6:06d}-" \
           f"{target}.html"


def _inside(model_dir: Path, relative: str) -> Path:
    path = (model_dir / relative).resolve()
    root = model_dir.resolve()
    if root not in path.parents:
        raise ArtifactError(f"The pinned file {relative!r} is outside the model's folder.")
    return path


def collect(paths: Paths, job_id: str, card: str | None) -> dict[str, str]:
    """Return ``{relative path: SHA-256}`` of the files an approval of ``job_id`` pins.

    Parameters
    ----------
    paths
        The data home.
    job_id
        The job being approved.
    card
        The model card written for this approval (relative to the job's folder), if any.

    Raises
    ------
    ArtifactError
        If one of them is missing (an approval never pins an absent file).
    """
    model_dir = paths.model_dir(job_id)
    pinned: dict[str, str] = {}
    for relative in (*PINNED_FILES, *([card] if card else [])):
        path = _inside(model_dir, relative)
        if not path.is_file() or path.is_symlink():
            raise ArtifactError(f"{label(relative)[:1].upper()}{label(relative)[1:]} ({relative}) is missing from "
                                f"{model_dir}; the model cannot be approved without it (retrain it).")
        pinned[relative] = sha256_file(path)
    return pinned


def problems(paths: Paths, job_id: str, pinned: dict[str, str]) -> list[str]:
    """Return one sentence per pinned file that is missing or changed since the approval (empty when all match)."""
    model_dir = paths.model_dir(job_id)
    out: list[str] = []
    for relative, expected in sorted(pinned.items()):
        try:
            path = _inside(model_dir, relative)
        except ArtifactError as exc:
            out.append(str(exc))
            continue
        if not path.is_file() or path.is_symlink():
            out.append(f"{label(relative)} ({relative}) was deleted after the approval")
        elif sha256_file(path) != expected:
            out.append(f"{label(relative)} ({relative}) changed after the approval")
    return out
