"""Turn a dataset's frame and profile into what the engine trains on (pandas only, no PyCaret).

Decides each column's role from the profile (ID-like, constant and empty columns and free text are
ignored, each with its reason), converts date columns to real dates, drops rows without a target,
and checks the target can be learned, with one clear sentence when it cannot.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.training.jobs import TrainingError

MIN_ROWS: Final = 20
"""Fewer rows with a target than this cannot give a model and an honest holdout score."""
MIN_CLASS_ROWS: Final = 2
"""A class needs at least this many rows: one to learn from and one to test on."""

_IGNORED_KINDS: Final = {
    "id": "an identifier (every value different) carries no signal",
    "constant": "it has the same value in every row",
    "empty": "it has no values",
    "text": "free text is not used as a feature by this version",
}
_CATEGORICAL_KINDS: Final = frozenset({"categorical", "integer_categorical", "boolean"})


@dataclass
class PreparedData:
    """The table the engine trains on and the role of every column.

    Attributes
    ----------
    frame
        Feature columns plus the target, rows without a target dropped, dates converted.
    target
        The target column.
    problem_type, problem_type_reason
        ``classification``/``regression`` and why.
    numeric, categorical, dates
        Feature columns by role (together: every feature, in the frame's order).
    ignored
        Column → why it is not a feature.
    filled_dates
        Date column → the middle date its missing values were filled with (prediction does the same).
    class_counts
        Rows per class (classification), most frequent first.
    warnings
        Dicts with ``code`` and ``message``.
    notes
        Log lines saying what was done.
    """

    frame: pd.DataFrame
    target: str
    problem_type: str
    problem_type_reason: str
    numeric: list[str]
    categorical: list[str]
    dates: list[str]
    ignored: dict[str, str]
    filled_dates: dict[str, pd.Timestamp] = field(default_factory=dict)
    class_counts: dict[Any, int] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        """Every feature column, in the frame's order."""
        return [c for c in self.frame.columns if c != self.target]


def _kind_from_dtype(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    return "categorical"


def _to_dates(series: pd.Series) -> pd.Series | None:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        converted = series
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                converted = pd.to_datetime(series, errors="coerce", format="mixed")
            except (TypeError, ValueError):
                return None
    present = series.notna().sum()
    if present and converted.notna().sum() < 0.9 * present:
        return None  # mostly not dates after all: keep it as a category
    tz = getattr(converted.dt, "tz", None)
    if tz is not None:
        converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
    return converted.astype("datetime64[ns]")


def _clean_labels(y: pd.Series) -> pd.Series:
    # A whole-number target read as float (because of missing values) keeps whole-number labels.
    if pd.api.types.is_float_dtype(y.dtype) and len(y) and np.all(np.mod(y.to_numpy(), 1) == 0):
        return y.astype("int64")
    if isinstance(y.dtype, pd.CategoricalDtype):
        return y.astype(object)
    return y


def prepare(
    frame: pd.DataFrame,
    target: str,
    *,
    problem_type: str | None = None,
    columns: list[dict[str, Any]] | None = None,
    excluded_columns: list[str] | None = None,
    user_excluded: list[str] | None = None,
    problem_type_reason: str | None = None,
) -> PreparedData:
    """Decide the role of every column and check the target.

    Parameters
    ----------
    frame
        The dataset as read (`core.ingest.load_dataset_frame`).
    target
        The column to predict.
    problem_type
        ``classification`` or ``regression``; None detects it (`core.profile.problem_type_for`).
    columns
        The dataset's column profiles (``name``, ``kind``...); kinds missing here come from dtypes.
    excluded_columns
        Columns the profile excludes (IDs, constants, empties).
    user_excluded
        Columns the user excluded.
    problem_type_reason
        Why ``problem_type`` was chosen (the dataset profile's sentence), if it was given.

    Returns
    -------
    PreparedData
        The training table and its column roles.

    Raises
    ------
    TrainingError
        ``Target column 'x' not found``, ``The target has only one class``, too few rows, a
        non-numeric target for regression, or no usable feature.
    """
    if target not in frame.columns:
        raise TrainingError(f"Target column '{target}' not found")
    kinds = {str(c.get("name")): str(c.get("kind") or "") for c in (columns or []) if isinstance(c, dict)}
    notes: list[str] = []
    warns: list[dict[str, Any]] = []
    data = _rows_with_target(frame, target, notes)
    problem_type, reason = _problem_type(data, target, problem_type, problem_type_reason)
    data, class_counts = _checked_target(data, target, problem_type, warns)
    ignored = _excluded(data, target, kinds, excluded_columns, user_excluded)
    numeric, categorical, dates, filled_dates = _column_roles(data, target, kinds, ignored, notes)
    features = [c for c in data.columns if c in set(numeric) | set(categorical) | set(dates)]
    if not features:
        raise TrainingError(
            f"No column can be used to predict '{target}': every other column is ignored "
            f"({'; '.join(f'{c}: {r}' for c, r in list(ignored.items())[:5])})."
        )
    for col, why in ignored.items():
        notes.append(f"Column '{col}' ignored: {why}.")
    return PreparedData(
        frame=data[[*features, target]].reset_index(drop=True),
        target=target,
        problem_type=problem_type,
        problem_type_reason=reason,
        numeric=[c for c in features if c in numeric],
        categorical=[c for c in features if c in categorical],
        dates=[c for c in features if c in dates],
        filled_dates={c: v for c, v in filled_dates.items() if c in features},
        ignored=ignored,
        class_counts=class_counts,
        warnings=warns,
        notes=notes,
    )


def _rows_with_target(frame: pd.DataFrame, target: str, notes: list[str]) -> pd.DataFrame:
    y = frame[target]
    keep = y.notna().to_numpy()
    if y.dtype == object:
        keep &= ~y.astype(str).str.strip().eq("").to_numpy()
    dropped = int((~keep).sum())
    data = frame.loc[keep].copy()
    if dropped:
        notes.append(f"{dropped:,} row{'s' if dropped != 1 else ''} without a value of '{target}' left out.")
    if data.empty:
        raise TrainingError(f"The target column '{target}' has no values.")
    return data


def _problem_type(data: pd.DataFrame, target: str, given: str | None, given_reason: str | None) -> tuple[str, str]:
    if given is None:
        from predictml_desktop.core.profile import ProfileError, problem_type_for

        try:
            problem_type, reason = problem_type_for(data, target)
        except ProfileError as exc:
            raise TrainingError(str(exc)) from None
    else:
        problem_type, reason = given, given_reason or "chosen when the training was started"
    if problem_type not in ("classification", "regression"):
        raise TrainingError(f"Unknown problem type {problem_type!r}; choose classification or regression.")
    return problem_type, reason


def _checked_target(
    data: pd.DataFrame, target: str, problem_type: str, warns: list[dict[str, Any]]
) -> tuple[pd.DataFrame, dict[Any, int]]:
    """Keep the rows a model can learn from, clean the target; return them and the class counts."""
    class_counts: dict[Any, int] = {}
    if problem_type == "classification":
        data[target] = _clean_labels(data[target])
        counts = data[target].value_counts()
        if len(counts) < 2:
            raise TrainingError("The target has only one class" + f" ('{target}' is {counts.index[0]!r} in every row).")
        rare = [label for label, n in counts.items() if n < MIN_CLASS_ROWS]
        if rare and len(counts) - len(rare) >= 2:
            data = data[~data[target].isin(rare)]
            shown = ", ".join(repr(r) for r in rare[:5]) + ("…" if len(rare) > 5 else "")
            warns.append({"code": "rare_classes", "message": (
                f"{len(rare)} class{'es' if len(rare) > 1 else ''} of '{target}' ({shown}) had a single row and "
                "were left out: a class needs rows to learn from and to test on.")})
            counts = data[target].value_counts()
        elif rare:
            raise TrainingError("The target has only one class" + f" with more than one row ('{target}').")
        class_counts = {k.item() if hasattr(k, "item") else k: int(v) for k, v in counts.items()}
    else:
        if not pd.api.types.is_numeric_dtype(data[target].dtype) or pd.api.types.is_bool_dtype(data[target].dtype):
            raise TrainingError(
                f"The target '{target}' is not numeric, so it cannot be predicted as a quantity (regression); "
                "train it as a classification instead."
            )
        data[target] = data[target].astype("float64")
        if data[target].nunique() < 2:
            raise TrainingError("The target has only one class" + f" ('{target}' has the same value in every row).")
    if len(data) < MIN_ROWS:
        raise TrainingError(
            f"Only {len(data)} rows have a value of '{target}'; at least {MIN_ROWS} are needed to train and "
            "test a model."
        )
    return data, class_counts


def _excluded(
    data: pd.DataFrame, target: str, kinds: dict[str, str], excluded_columns: list[str] | None,
    user_excluded: list[str] | None,
) -> dict[str, str]:
    ignored: dict[str, str] = {}
    for col in user_excluded or []:
        if col in data.columns and col != target:
            ignored[col] = "excluded by the user"
    for col in excluded_columns or []:
        if col in data.columns and col != target and col not in ignored:
            kind = kinds.get(col, "")
            ignored[col] = _IGNORED_KINDS.get(kind, "excluded by the data profile")
    return ignored


def _filled_dates(data: pd.DataFrame, col: str, converted: pd.Series, notes: list[str]) -> pd.Timestamp | None:
    """Fill a date column's gaps with its middle date, in place; the date used, or None when it had none."""
    missing = int(converted.isna().sum())
    middle = None
    if missing:
        # PyCaret neither imputes dates nor makes features of a date column that is more
        # than 10% missing, so the model would fail on gaps (or lose the column). The
        # middle date fills them here, exactly as prediction fills a missing date.
        middle = converted.dropna().sort_values().iloc[int(converted.notna().sum()) // 2]
        converted = converted.fillna(middle)
        notes.append(f"{missing:,} missing date{'s' if missing != 1 else ''} of '{col}' filled with "
                     f"the middle date {middle.date().isoformat()}.")
    data[col] = converted
    return middle


def _column_roles(
    data: pd.DataFrame, target: str, kinds: dict[str, str], ignored: dict[str, str], notes: list[str]
) -> tuple[list[str], list[str], list[str], dict[str, pd.Timestamp]]:
    """Numeric, categorical and date features (converting columns in ``data`` in place); adds to ``ignored``."""
    numeric: list[str] = []
    categorical: list[str] = []
    dates: list[str] = []
    filled_dates: dict[str, pd.Timestamp] = {}
    for col in data.columns:
        if col == target or col in ignored:
            continue
        series = data[col]
        kind = kinds.get(str(col)) or _kind_from_dtype(series)
        if kind in _IGNORED_KINDS:
            ignored[col] = _IGNORED_KINDS[kind]
            continue
        if series.isna().all():
            ignored[col] = _IGNORED_KINDS["empty"]
            continue
        if kind == "datetime":
            converted = _to_dates(series)
            if converted is not None:
                middle = _filled_dates(data, col, converted, notes)
                if middle is not None:
                    filled_dates[col] = middle
                dates.append(col)
                continue
            kind = "categorical"
        if kind == "integer_categorical" and pd.api.types.is_numeric_dtype(series.dtype) \
                and not pd.api.types.is_bool_dtype(series.dtype):
            # Whole numbers with few values are mostly counts, ratings and levels, whose order
            # carries signal: they stay numbers for the model (as in PyCaret's own default), which
            # also keeps one-hot columns from multiplying the width (digits: 64 → 150 columns).
            kind = "numeric"
        if kind == "numeric" and pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
                series.dtype):
            if str(series.dtype) in ("Int64", "Int32", "Float64", "Float32"):
                data[col] = series.astype("float64")
            numeric.append(col)
        elif kind == "numeric":
            # Profiled as a number but read as text (mixed values): a category is the safe reading.
            categorical.append(col)
        elif kind in _CATEGORICAL_KINDS or kind not in ("numeric",):
            if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series.dtype):
                # scikit-learn's imputer refuses a bool column; as objects, True and False are two
                # categories like any other (and prediction builds them the same way).
                data[col] = series.astype(object)
            categorical.append(col)
        if series.nunique(dropna=True) <= 1:
            ignored[col] = _IGNORED_KINDS["constant"]
            for group in (numeric, categorical):
                if col in group:
                    group.remove(col)
    return numeric, categorical, dates, filled_dates
