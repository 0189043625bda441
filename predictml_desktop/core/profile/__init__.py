"""Profile a table: column kinds, data warnings, target suggestion and problem type.

Everything here works on the loaded DataFrame with vectorised pandas/numpy operations, sampling
where an exact figure is not needed (the leakage check, date detection), so that profiling stays a
fraction of the time it took to read the file.

By seam: `kinds` (column kinds and summaries), `targets` (problem type, target candidates),
`data_warnings` (duplicates, leakage, target balance), `profiling` (`profile_frame`, `Profile`).

Public entry points: `profile_frame`, `problem_type_for`, `ColumnKind`.
"""

from __future__ import annotations

from predictml_desktop.core.profile.data_warnings import feature_warnings
from predictml_desktop.core.profile.kinds import (
    CLASSIFICATION_MAX_CLASSES,
    HIGH_MISSING_SHARE,
    INTEGER_CATEGORY_MAX,
    KIND_LABELS,
    LEAKAGE_SAMPLE_ROWS,
    MINORITY_SHARE,
    QUANTILE_SAMPLE_ROWS,
    SMALL_CLASS_ROWS,
    TOP_VALUES,
    UNSUITABLE_TARGET_KINDS,
    ColumnKind,
    ProfileError,
)
from predictml_desktop.core.profile.profiling import Profile, profile_frame
from predictml_desktop.core.profile.targets import problem_type_for

__all__ = [
    "CLASSIFICATION_MAX_CLASSES",
    "HIGH_MISSING_SHARE",
    "INTEGER_CATEGORY_MAX",
    "KIND_LABELS",
    "LEAKAGE_SAMPLE_ROWS",
    "MINORITY_SHARE",
    "QUANTILE_SAMPLE_ROWS",
    "SMALL_CLASS_ROWS",
    "TOP_VALUES",
    "UNSUITABLE_TARGET_KINDS",
    "ColumnKind",
    "Profile",
    "ProfileError",
    "feature_warnings",
    "problem_type_for",
    "profile_frame",
]
