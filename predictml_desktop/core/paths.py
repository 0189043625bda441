"""Where PredictML keeps its data: the one place that knows the data home's layout (DESIGN §2)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from predictml_desktop import APP_NAME

HOME_ENV = "PREDICTML_HOME"
"""Overrides the per-user data directory (tests point it at a temporary folder)."""

CONFIG_ENV = "PREDICTML_CONFIG_HOME"
"""Overrides the per-user configuration directory, which holds secrets kept outside the data home."""


def data_home() -> Path:
    """Return the data home: ``$PREDICTML_HOME`` if set, else the per-user data directory."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    # appauthor=False: on Windows the default would repeat the name (PredictML\PredictML).
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)).resolve()


def config_home() -> Path:
    """Return the configuration directory, deliberately separate from the data home.

    Secrets that guard the data home's integrity (the key that signs approvals) live here, so a copy
    or a hand edit of the data home alone cannot forge them.
    """
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser().resolve()
    if os.environ.get(HOME_ENV):
        # A relocated data home (tests, portable installs) gets its config beside it, never in the
        # user's real profile.
        return data_home().parent / (data_home().name + "-config")
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)).resolve()


@dataclass(frozen=True)
class Paths:
    """The layout of one data home.

    Parameters
    ----------
    home
        The data home directory. Everything PredictML writes lives below it, except `config`.
    config
        Where secrets kept outside the data home live (see `config_home`).
    """

    home: Path
    config: Path = field(default=Path())

    def __post_init__(self) -> None:
        if self.config == Path():
            # An explicit home without a config folder keeps its secrets beside it, never in the
            # user's real profile.
            object.__setattr__(self, "config", self.home.parent / (self.home.name + "-config"))

    @classmethod
    def default(cls) -> Paths:
        """Return the layout of the current data home (see `data_home` and `config_home`)."""
        return cls(data_home(), config_home())

    # Record files (DESIGN §3).
    @property
    def datasets_file(self) -> Path:
        """The dataset records."""
        return self.home / "datasets-metadata.json"

    @property
    def jobs_file(self) -> Path:
        """The training job records."""
        return self.home / "training-jobs.json"

    @property
    def deployments_file(self) -> Path:
        """The deployment records."""
        return self.home / "deployments.json"

    # Governance (DESIGN §6).
    @property
    def audit_file(self) -> Path:
        """Append-only log of admin decisions, one JSON object per line."""
        return self.home / "audit.jsonl"

    @property
    def admin_file(self) -> Path:
        """The admin account (argon2id hash) and its lockout state."""
        return self.home / "admin.json"

    @property
    def settings_file(self) -> Path:
        """User-changeable limits and options (DESIGN §9)."""
        return self.home / "settings.json"

    @property
    def lock_file(self) -> Path:
        """The cross-process lock that serialises every change to the record files."""
        return self.home / ".store.lock"

    # Folders.
    @property
    def uploads(self) -> Path:
        """Uploaded files, one per dataset, as ``<datasetId>.<ext>``."""
        return self.home / "uploads"

    @property
    def models(self) -> Path:
        """One folder per training job with the model and its artifacts."""
        return self.home / "models"

    @property
    def logs(self) -> Path:
        """Full logs: one per training job, plus the service's request log."""
        return self.home / "logs"

    @property
    def exports(self) -> Path:
        """Exported bundles (Azure ML) and reports."""
        return self.home / "exports"

    @property
    def work(self) -> Path:
        """Scratch folder used as the current directory of worker processes.

        PyCaret writes ``logs.log`` and CatBoost writes ``catboost_info/`` into the current directory;
        a desktop app started from a menu may have a read-only or arbitrary one.
        """
        return self.home / "work"

    @property
    def cache(self) -> Path:
        """Disposable caches (matplotlib's font cache)."""
        return self.home / "cache"

    def model_dir(self, job_id: str) -> Path:
        """Return the artifact folder of a training job."""
        return self.models / safe_name(job_id)

    def job_log(self, job_id: str) -> Path:
        """Return the full log file of a training job."""
        return self.logs / f"{safe_name(job_id)}.log"

    def azure_export_dir(self, job_id: str) -> Path:
        """Return the default folder of a job's Azure ML bundle."""
        return self.exports / safe_name(job_id) / "azure"

    def relative(self, path: Path) -> str:
        """Return ``path`` relative to the home, with forward slashes, as stored in records."""
        return path.resolve().relative_to(self.home).as_posix()

    def resolve(self, relative: str) -> Path:
        """Turn a path stored in a record back into an absolute path inside the home.

        Raises
        ------
        ValueError
            If the stored path would point outside the data home (a hand-edited record).
        """
        candidate = (self.home / relative).resolve()
        if os.path.commonpath([candidate, self.home]) != str(self.home):
            raise ValueError(f"The stored path {relative!r} points outside the data folder {self.home}.")
        return candidate

    def ensure(self) -> Paths:
        """Create the home and its folders if missing, and return self."""
        for folder in (self.home, self.uploads, self.models, self.logs, self.exports, self.work, self.cache):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def safe_name(identifier: str) -> str:
    """Return ``identifier`` if it is safe as a single path component, else raise ``ValueError``.

    Record ids become folder names; an id such as ``../x`` from a hand-edited file or an HTTP path
    must never reach the file system.
    """
    if (
        not identifier
        or len(identifier) > 128
        or identifier in {".", ".."}
        or any(ch in identifier for ch in '/\\:\0*?"<>|')
        or identifier != identifier.strip()
    ):
        raise ValueError(f"{identifier!r} is not a valid identifier.")
    return identifier
