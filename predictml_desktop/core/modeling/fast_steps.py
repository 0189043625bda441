"""The fast path's steps: each fitted preprocessing step of a PyCaret 3.3.2 pipeline as numpy operations.

Each kernel reads its input columns by name and writes its output columns, reproducing one fitted
transformer exactly (see `core.modeling.fast_path` for the list and for how a pipeline is compiled).
A kernel that meets rows it cannot reproduce exactly raises `FastPathUnsupported`; `kernel_for`
raises `CannotCompile` for a transformer it has no equivalent for. The transformers are recognised by
class and module name: nothing here imports PyCaret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

Columns = dict[str, np.ndarray]


class FastPathUnsupported(Exception):
    """A batch that needs the full pipeline: the fast path cannot reproduce it exactly."""


class CannotCompile(Exception):
    """The pipeline holds something the fast path has no exact equivalent for."""


@dataclass(frozen=True)
class ColumnBatch:
    """Feature columns as numpy arrays (what the fast path reads), in the model's feature order.

    ``len()`` is the number of rows; `to_frame` builds the DataFrame the full pipeline takes.
    """

    columns: dict[str, np.ndarray]
    names: list[str]

    def __len__(self) -> int:
        return len(self.columns[self.names[0]]) if self.names else 0

    def to_frame(self) -> pd.DataFrame:
        """Return the columns as a DataFrame in feature order."""
        return pd.DataFrame(self.columns, columns=self.names)


def input_columns(features: ColumnBatch | pd.DataFrame, names: list[str]) -> Columns:
    """Return the named feature columns as numpy arrays (a fresh dict the kernels may change)."""
    if isinstance(features, ColumnBatch):
        return {name: features.columns[name] for name in names}
    return {name: features[name].to_numpy() for name in names}


# --------------------------------------------------------------------------- steps


class Kernel:
    """One preprocessing step: reads its input columns by name, writes its output columns."""

    include: list[str]
    outputs: list[str]
    """The step's output columns, in the order its transformer returns them."""

    def apply(self, cols: Columns) -> None:
        """Replace the step's input columns in ``cols`` by its output columns."""
        raise NotImplementedError


class _DateParts(Kernel):
    """PyCaret's ``ExtractDateTimeFeatures``: one column per date field, the date column dropped."""

    def __init__(self, include: list[str], fields: Sequence[str]) -> None:
        self.include = include
        self.fields = list(fields)
        order = list(include)
        for col in include:
            # The transformer inserts each field right after its date column, so they come out reversed.
            at = order.index(col) + 1
            for fx in self.fields:
                order.insert(at, f"{col}_{fx}")
            order.remove(col)
        self.outputs = order

    def apply(self, cols: Columns) -> None:
        for col in self.include:
            values = cols.pop(col)
            if values.dtype.kind != "M":
                raise FastPathUnsupported(f"{col} is not a datetime column")
            if np.isnat(values).any():
                # PyCaret drops a field whose batch has over 10% missing dates: left to the real pipeline.
                raise FastPathUnsupported(f"{col} has missing dates")
            for fx in self.fields:
                cols[f"{col}_{fx}"] = _date_field(values, fx)


def _date_field(values: np.ndarray, fx: str) -> np.ndarray:
    if fx == "year":
        return values.astype("datetime64[Y]").astype(np.int64) + 1970.0
    if fx == "month":
        return values.astype("datetime64[M]").astype(np.int64) % 12 + 1.0
    if fx == "day":
        months = values.astype("datetime64[M]").astype("datetime64[D]")
        return (values.astype("datetime64[D]") - months).astype(np.int64) + 1.0
    return np.asarray(getattr(pd.DatetimeIndex(values), fx), dtype="float64")


class _Impute(Kernel):
    """sklearn's ``SimpleImputer``: the fitted statistic where sklearn's own mask sees a missing value."""

    def __init__(self, include: list[str], imputer: Any) -> None:
        if not _is_nan(imputer.missing_values) or getattr(imputer, "add_indicator", False):
            raise CannotCompile("a SimpleImputer with a custom missing value or an indicator")
        statistics = list(imputer.statistics_)
        if len(statistics) != len(include) or any(_is_nan(s) for s in statistics):
            # sklearn drops a column whose statistic is missing: the column names would shift.
            raise CannotCompile("a SimpleImputer with a column it cannot impute")
        kind = np.dtype(imputer._fit_dtype).kind
        if kind not in "Ofiu":
            raise CannotCompile(f"a SimpleImputer fitted on {imputer._fit_dtype} data")
        self.as_object = kind == "O"
        self.include = include
        self.outputs = list(include)
        self.fill = dict(zip(include, statistics, strict=True))

    def apply(self, cols: Columns) -> None:
        for col in self.include:
            values = cols[col]
            if self.as_object:
                values = values.astype(object)  # a copy, as sklearn converts to the fitted object dtype
                missing = values != values  # sklearn's own NaN mask for object arrays
            else:
                if values.dtype.kind not in "fiub":
                    raise FastPathUnsupported(f"{col} is not numeric")
                values = values.astype("float64")
                missing = np.isnan(values)
            if missing.any():
                values[missing] = self.fill[col]
            cols[col] = values


class _Codes:
    """category_encoders' ordinal step for one column: category → code, with its unknown/missing rules."""

    def __init__(self, mapping: pd.Series, handle_unknown: str, handle_missing: str) -> None:
        keys = [k for k in mapping.index if not _is_nan(k)]
        self.numeric = self.boolean = False
        if all(isinstance(k, (bool, np.bool_)) for k in keys):
            # True/False columns (core.training.dataprep keeps them as objects): only booleans may
            # look them up, since 1 and 1.0 hash like True.
            self.boolean = True
        elif all(isinstance(k, (int, float, np.integer, np.floating)) and not isinstance(k, (bool, np.bool_))
                 for k in keys):
            self.numeric = True
        elif not all(isinstance(k, str) for k in keys):
            raise CannotCompile("categories of mixed types")
        self.codes = {k: float(v) for k, v in mapping.items() if not _is_nan(k)}
        nan_codes = [float(v) for k, v in mapping.items() if _is_nan(k)]
        self.nan_code = nan_codes[0] if nan_codes else math.nan
        self.handle_unknown = handle_unknown
        self.missing_to_nan = handle_missing == "return_nan"

    def __call__(self, col: str, values: np.ndarray) -> np.ndarray:
        missing = pd.isna(values)
        codes = np.empty(len(values), dtype="float64")
        get = self.codes.get
        for i, value in enumerate(values.tolist()):
            if missing[i]:
                codes[i] = self.nan_code
                continue
            if self.numeric and isinstance(value, bool):
                raise FastPathUnsupported(f"{col} holds a boolean where numeric categories were fitted")
            if self.boolean and not isinstance(value, bool):
                raise FastPathUnsupported(f"{col} holds a non-boolean where True/False were fitted")
            try:
                codes[i] = get(value, math.nan)
            except TypeError:  # an unhashable value: let the real encoder decide
                raise FastPathUnsupported(f"{col} holds an unhashable value") from None
        unknown = np.isnan(codes)
        if unknown.any():
            if self.handle_unknown == "value":
                codes[unknown] = -1.0
            elif self.handle_unknown == "error":
                raise FastPathUnsupported(f"{col} holds an unknown category")
        if self.missing_to_nan:
            codes[codes == -2.0] = math.nan
        return codes


class _Encode(Kernel):
    """category_encoders' ordinal, one-hot and target encoders, from their fitted tables."""

    def __init__(self, include: list[str], encoder: Any) -> None:
        kind = type(encoder).__name__
        if getattr(encoder, "drop_invariant", False) or getattr(encoder, "hierarchy", None) is not None:
            raise CannotCompile(f"a {kind} with drop_invariant or a hierarchy")
        if list(encoder.feature_names_in_) != include:
            raise CannotCompile(f"a {kind} fitted on other columns than its wrapper passes")
        self.include = include
        self.outputs = [str(c) for c in encoder.get_feature_names_out()]
        self.check_missing = encoder.handle_missing == "error"
        self.columns: list[tuple[str, _Codes, Callable[[np.ndarray], Columns]]] = []
        if kind == "OrdinalEncoder":
            for switch in encoder.mapping:
                col = switch["col"]
                codes = _Codes(pd.Series(switch["mapping"]), encoder.handle_unknown, encoder.handle_missing)
                self.columns.append((col, codes, _identity_output(col)))
            return
        inner = encoder.ordinal_encoder
        ordinal = {s["col"]: _Codes(pd.Series(s["mapping"]), inner.handle_unknown, inner.handle_missing)
                   for s in inner.mapping}
        unknown_error = encoder.handle_unknown == "error"
        if kind == "OneHotEncoder":
            for switch in encoder.mapping:
                col = switch["col"]
                self.columns.append((col, ordinal[col], _one_hot_output(switch["mapping"], unknown_error)))
        elif kind == "TargetEncoder":
            for col in encoder.cols:
                self.columns.append((col, ordinal[col], _target_output(col, encoder.mapping[col], unknown_error)))
        else:
            raise CannotCompile(f"the category encoder {kind}")

    def apply(self, cols: Columns) -> None:
        if self.check_missing and any(pd.isna(cols[c]).any() for c in self.include):
            raise FastPathUnsupported("a missing value the encoder refuses")
        produced: Columns = {}
        for col, codes, output in self.columns:
            produced.update(output(codes(col, cols[col])))
        for col in self.include:
            if col not in self.outputs:  # replaced by its encoded columns (one-hot)
                del cols[col]
        for name in self.outputs:
            if name in produced:
                cols[name] = produced[name]


def _identity_output(col: str) -> Callable[[np.ndarray], Columns]:
    return lambda codes: {col: codes}


def _one_hot_output(table: pd.DataFrame, unknown_error: bool) -> Callable[[np.ndarray], Columns]:
    names = [str(c) for c in table.columns]
    rows = {float(code): np.asarray(row, dtype="float64") for code, row in zip(table.index, table.to_numpy(),
                                                                               strict=True)}
    absent = np.full(len(names), math.nan)  # reindex() gives NaN for a code the table lacks

    def output(codes: np.ndarray) -> Columns:
        if unknown_error and (codes == -1.0).any():
            raise FastPathUnsupported("an unknown category the encoder refuses")
        codes = np.where(np.isnan(codes), -2.0, codes)  # get_dummies looks missing codes up as -2
        matrix = np.array([rows.get(c, absent) for c in codes.tolist()], dtype="float64").reshape(len(codes), -1)
        return {name: matrix[:, j] for j, name in enumerate(names)}

    return output


def _target_output(col: str, series: pd.Series, unknown_error: bool) -> Callable[[np.ndarray], Columns]:
    values = {float(code): float(v) for code, v in series.items() if not _is_nan(code)}

    def output(codes: np.ndarray) -> Columns:
        if unknown_error and (codes == -1.0).any():
            raise FastPathUnsupported("an unknown category the encoder refuses")
        return {col: np.array([values.get(c, math.nan) for c in codes.tolist()], dtype="float64")}

    return output


class _Scale(Kernel):
    """sklearn's scalers: the same in-place arithmetic, in the same order, on the same columns."""

    def __init__(self, include: list[str], scaler: Any) -> None:
        kind = type(scaler).__name__
        ops: list[tuple[str, Any]] = []
        if kind == "StandardScaler":
            if scaler.with_mean:
                ops.append(("sub", scaler.mean_))
            if scaler.with_std:
                ops.append(("div", scaler.scale_))
        elif kind == "RobustScaler":
            if scaler.with_centering:
                ops.append(("sub", scaler.center_))
            if scaler.with_scaling:
                ops.append(("div", scaler.scale_))
        elif kind == "MaxAbsScaler":
            ops.append(("div", scaler.scale_))
        elif kind == "MinMaxScaler":
            ops += [("mul", scaler.scale_), ("add", scaler.min_)]
            if scaler.clip:
                ops.append(("clip", scaler.feature_range))
        else:
            raise CannotCompile(f"the scaler {kind}")
        names = getattr(scaler, "feature_names_in_", None)
        if names is not None and list(names) != include:
            raise CannotCompile(f"a {kind} fitted on other columns than its wrapper passes")
        self.include = include
        self.outputs = list(include)
        self.ops = [(op, arg if op == "clip" else np.asarray(arg, dtype="float64")) for op, arg in ops]

    def apply(self, cols: Columns) -> None:
        matrix = stack_columns(cols, self.include)
        for op, arg in self.ops:
            if op == "sub":
                matrix -= arg
            elif op == "div":
                matrix /= arg
            elif op == "mul":
                matrix *= arg
            elif op == "add":
                matrix += arg
            else:
                np.clip(matrix, arg[0], arg[1], out=matrix)
        for j, col in enumerate(self.include):
            cols[col] = matrix[:, j]


class _Keep(Kernel):
    """Steps that only drop or rename columns (feature selection, PyCaret's column name cleaning)."""

    def __init__(self, include: list[str], outputs: list[str], renames: Mapping[str, str] | None = None) -> None:
        self.include = include
        self.outputs = outputs
        self.renames = dict(renames or {})

    def apply(self, cols: Columns) -> None:
        taken = {col: cols.pop(col) for col in self.include}
        for col, values in taken.items():
            name = self.renames.get(col, col)
            if name in self.outputs:
                cols[name] = values


def kernel_for(name: str, transformer: Any, include: list[str]) -> Kernel:
    """Return the kernel reproducing one fitted transformer (the step ``name``, on the columns ``include``).

    Raises
    ------
    CannotCompile
        If the transformer has no exact equivalent here.
    """
    kind = type(transformer).__name__
    module = type(transformer).__module__
    if module.startswith("pycaret.") and kind == "ExtractDateTimeFeatures":
        return _DateParts(include, transformer.features)
    if module.startswith("sklearn.impute") and kind == "SimpleImputer":
        return _Impute(include, transformer)
    if module.startswith("category_encoders.") and kind in ("OrdinalEncoder", "OneHotEncoder", "TargetEncoder"):
        return _Encode(include, transformer)
    if module.startswith("sklearn.preprocessing") and kind.endswith("Scaler"):
        return _Scale(include, transformer)
    if module.startswith("pycaret.") and kind == "CleanColumnNames":
        renames = {c: re.sub(transformer.match, "", str(c)) for c in include}
        return _Keep(include, [renames[c] for c in include], renames)
    if module.startswith("pycaret.") and kind == "RemoveMulticollinearity":
        dropped = set(transformer.drop_)
        return _Keep(include, [c for c in include if c not in dropped])
    if module.startswith("sklearn.feature_selection") and callable(getattr(transformer, "get_support", None)):
        support = transformer.get_support()
        return _Keep(include, [c for c, keep in zip(include, support, strict=True) if keep])
    raise CannotCompile(f"the step {name} ({kind}) has no fast equivalent")


def wrapper_order(order: list[str], include: list[str], out: list[str]) -> list[str]:
    """Column order after a PyCaret ``TransformerWrapper`` (its ``_prepare_df``/``_reorder_cols``), by name."""
    if len(include) == len(order):
        return list(out)
    columns: dict[str, None] = {}
    out_set = set(out)
    for col in order:
        if col in out_set or col not in include:
            columns[col] = None
        # Columns derived from one (one-hot, date fields) follow it.
        columns.update((c, None) for c in out if c.startswith(f"{col}_") and c not in order)
    columns.update((c, None) for c in out if c not in columns)
    return list(columns)



def stack_columns(cols: Columns, names: list[str]) -> np.ndarray:
    """Return the named columns as one float64 matrix."""
    # Column-major like the frames sklearn's transformers hand on, so the estimator sees the same layout.
    n = len(cols[names[0]]) if names else 0
    matrix = np.empty((n, len(names)), dtype="float64", order="F")
    for j, name in enumerate(names):
        matrix[:, j] = cols[name]
    return matrix


def plain_name(name: Any) -> str:
    """Return a column name with every character but letters, digits and ``_`` replaced by ``_``."""
    return re.sub(r"[^0-9A-Za-z_]", "_", str(name))


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)

