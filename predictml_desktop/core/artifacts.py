"""The files a training job leaves in ``models/<jobId>/`` and how they are written and checked.

This module is the contract between the training engine (which writes a job's artifacts) and the
prediction path, the review screen and the Azure export (which read them). It never imports
PyCaret: the model file is written and read as bytes here; unpickling it is the prediction path's
job, and only after `verify_model_file` has passed.

Layout of ``models/<jobId>/``::

    model.pkl          the fitted pipeline (preprocessing + estimator), joblib format
    schema.json        the input schema: one entry per feature (see `FeatureSpec`), classes
    environment.json   library versions the model was trained with (`current_environment`)
    leaderboard.json   every candidate, including skipped ones
    result.json        the seed's result document plus holdout metrics
    plots/<name>.json  plot data; plots/<name>.png the same drawn
    report.html        the model card (written at review time)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import sys
from pathlib import Path
from typing import Any

# The schema types live in a standard-library-only module (it is copied into the Azure bundle);
# they are re-exported here, where the rest of a model's artifacts are described.
from predictml_desktop.core.input_schema import FeatureSpec as FeatureSpec
from predictml_desktop.core.input_schema import InputSchema as InputSchema
from predictml_desktop.core.input_schema import SchemaError as SchemaError
from predictml_desktop.core.store import atomic_write_bytes, encode_document

MODEL_FILE = "model.pkl"
SCHEMA_FILE = "schema.json"
ENVIRONMENT_FILE = "environment.json"
LEADERBOARD_FILE = "leaderboard.json"
RESULT_FILE = "result.json"
PLOTS_DIR = "plots"
REPORT_FILE = "report.html"

TRACKED_LIBRARIES: dict[str, str | tuple[str, ...]] = {
    "pycaret": "pycaret",
    "scikit-learn": "scikit-learn",
    "numpy": "numpy",
    "pandas": "pandas",
    "joblib": "joblib",
    "lightgbm": "lightgbm",
    "xgboost": ("xgboost-cpu", "xgboost"),
    "catboost": "catboost",
}
"""Libraries whose version decides whether a pickled pipeline loads and behaves the same."""


class ArtifactError(Exception):
    """A model artifact is missing, altered or unreadable; the message says which and what to do."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _version(dist: str | tuple[str, ...]) -> str | None:
    for name in (dist,) if isinstance(dist, str) else dist:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def current_environment() -> dict[str, Any]:
    """Return the versions of Python and of the libraries in `TRACKED_LIBRARIES` running now."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
    }
    for key, dist in TRACKED_LIBRARIES.items():
        env[key] = _version(dist)
    return env


def environment_differences(recorded: dict[str, Any], running: dict[str, Any] | None = None) -> list[str]:
    """Return one sentence per library whose running version differs from the recorded one.

    Only the major.minor of Python matters for pickles; every tracked library must match exactly.
    """
    running = running or current_environment()
    problems = []
    rec_py, run_py = str(recorded.get("python", "")), str(running.get("python", ""))
    if rec_py.split(".")[:2] != run_py.split(".")[:2]:
        problems.append(f"Python {rec_py} (running {run_py})")
    for key in TRACKED_LIBRARIES:
        if recorded.get(key) != running.get(key) and recorded.get(key) is not None:
            problems.append(f"{key} {recorded.get(key)} (running {running.get(key) or 'not installed'})")
    return problems


def write_json(path: Path, doc: Any) -> None:
    """Write a JSON artifact atomically."""
    atomic_write_bytes(path, encode_document(doc), keep_backup=False)


def read_json(path: Path) -> Any:
    """Read a JSON artifact.

    Raises
    ------
    ArtifactError
        If it is missing or does not parse.
    """
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ArtifactError(f"The model file {path.name} is missing from {path.parent}.") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"The model file {path.name} in {path.parent} is unreadable ({exc}).") from None


def verify_model_file(path: Path, expected_sha256: str | None, models_root: Path) -> None:
    """Check that ``path`` is a regular file inside ``models_root`` whose hash is ``expected_sha256``.

    Call before every unpickling: a pickle can run code, so only the files this app wrote, unchanged,
    may be loaded.

    Raises
    ------
    ArtifactError
        If the path leaves the models folder, is a symlink, is missing, or its hash differs.
    """
    if not expected_sha256:
        raise ArtifactError("The model has no recorded checksum, so it cannot be trusted; retrain it.")
    root = models_root.resolve()
    if path.is_symlink():
        raise ArtifactError(f"The model file {path} is a symbolic link; only files PredictML wrote are loaded.")
    resolved = path.resolve()
    if resolved.parent == resolved or root not in resolved.parents:
        raise ArtifactError(f"The model file {path} is outside the models folder {root}.")
    if not resolved.is_file():
        raise ArtifactError(f"The model file {path} is missing; retrain the model or restore the data folder.")
    actual = sha256_file(resolved)
    if actual != expected_sha256:
        raise ArtifactError(
            f"Integrity check failed for {path}: the file changed after training "
            "(its checksum differs from the record). Retrain the model or restore the file."
        )
