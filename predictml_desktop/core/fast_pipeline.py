"""A compiled fast path for fitted PyCaret pipelines (issue 6's latency targets).

A fitted PyCaret 3.3.2 pipeline costs 30-55 ms per call even for one row, nearly all of it in its
preprocessing wrappers (``TransformerWrapper`` rebuilds and merges DataFrames at every step, and
category_encoders' transforms are pandas-heavy); a linear or boosted estimator takes about a
millisecond. `compile_pipeline` reads the fitted state of each step (by class name and attributes,
without importing PyCaret) and rebuilds it as a few numpy operations on one array per column:

- ``ExtractDateTimeFeatures``: year/month/day (and other ``Series.dt`` fields) of each date column;
- ``SimpleImputer`` (numeric and categorical): the fitted statistic where sklearn sees a missing value;
- category_encoders ``OrdinalEncoder``, ``OneHotEncoder`` and ``TargetEncoder``: category → ordinal
  code → encoded value(s), each table read from the fitted encoder, with its ``handle_unknown`` and
  ``handle_missing`` behaviour;
- sklearn's ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler`` and ``RobustScaler``: the same
  arithmetic in the same order;
- column cleaning, feature selection and column dropping steps;
- resampling and outlier removal (``_train_only`` steps) are skipped, as PyCaret's pipeline skips
  them at prediction time;
- the estimator is called with a DataFrame holding the exact fitted column names and order, and the
  label-encoding step's ``inverse_transform`` decodes its predictions.

Any step it does not know makes `compile_pipeline` give up (the normal pipeline is used). At
prediction time a batch the fast path cannot reproduce exactly (a missing date, a value of a type
the encoders would treat differently, a step that would raise) raises `FastPathUnsupported`, and
the caller runs the normal pipeline for that batch. The prediction path (`core.prediction`) uses a
compiled pipeline only after checking it against the real one on generated rows (`probe_rows`,
`compare_predictions`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import FeatureSpec, InputSchema

PROBABILITY_TOLERANCE = 1e-9
"""Largest difference allowed between the fast path's and the pipeline's probabilities (and, relative
to the value where it exceeds 1, regression values)."""

Columns = dict[str, np.ndarray]


class FastPathUnsupported(Exception):
    """A batch that needs the full pipeline: the fast path cannot reproduce it exactly."""


class _CannotCompile(Exception):
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


def _input_columns(features: ColumnBatch | pd.DataFrame, names: list[str]) -> Columns:
    if isinstance(features, ColumnBatch):
        return {name: features.columns[name] for name in names}
    return {name: features[name].to_numpy() for name in names}


# --------------------------------------------------------------------------- steps


class _Kernel:
    """One preprocessing step: reads its input columns by name, writes its output columns."""

    include: list[str]
    outputs: list[str]
    """The step's output columns, in the order its transformer returns them."""

    def apply(self, cols: Columns) -> None:
        raise NotImplementedError


class _DateParts(_Kernel):
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


class _Impute(_Kernel):
    """sklearn's ``SimpleImputer``: the fitted statistic where sklearn's own mask sees a missing value."""

    def __init__(self, include: list[str], imputer: Any) -> None:
        if not _is_nan(imputer.missing_values) or getattr(imputer, "add_indicator", False):
            raise _CannotCompile("a SimpleImputer with a custom missing value or an indicator")
        statistics = list(imputer.statistics_)
        if len(statistics) != len(include) or any(_is_nan(s) for s in statistics):
            # sklearn drops a column whose statistic is missing: the column names would shift.
            raise _CannotCompile("a SimpleImputer with a column it cannot impute")
        kind = np.dtype(imputer._fit_dtype).kind
        if kind not in "Ofiu":
            raise _CannotCompile(f"a SimpleImputer fitted on {imputer._fit_dtype} data")
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
            raise _CannotCompile("categories of mixed types")
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


class _Encode(_Kernel):
    """category_encoders' ordinal, one-hot and target encoders, from their fitted tables."""

    def __init__(self, include: list[str], encoder: Any) -> None:
        kind = type(encoder).__name__
        if getattr(encoder, "drop_invariant", False) or getattr(encoder, "hierarchy", None) is not None:
            raise _CannotCompile(f"a {kind} with drop_invariant or a hierarchy")
        if list(encoder.feature_names_in_) != include:
            raise _CannotCompile(f"a {kind} fitted on other columns than its wrapper passes")
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
            raise _CannotCompile(f"the category encoder {kind}")

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


class _Scale(_Kernel):
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
            raise _CannotCompile(f"the scaler {kind}")
        names = getattr(scaler, "feature_names_in_", None)
        if names is not None and list(names) != include:
            raise _CannotCompile(f"a {kind} fitted on other columns than its wrapper passes")
        self.include = include
        self.outputs = list(include)
        self.ops = [(op, arg if op == "clip" else np.asarray(arg, dtype="float64")) for op, arg in ops]

    def apply(self, cols: Columns) -> None:
        matrix = _stack(cols, self.include)
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


class _Keep(_Kernel):
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


def _kernel(name: str, transformer: Any, include: list[str]) -> _Kernel:
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
    raise _CannotCompile(f"the step {name} ({kind}) has no fast equivalent")


def _wrapper_order(order: list[str], include: list[str], out: list[str]) -> list[str]:
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


# --------------------------------------------------------------------------- the compiled pipeline


@dataclass
class FastPipeline:
    """A fitted pipeline's preprocessing as numpy operations, with its own estimator and label decoding.

    Use `predict` (or `transform` then `predict_transformed`); a batch it cannot reproduce exactly
    raises `FastPathUnsupported`.
    """

    inputs: list[str]
    """The feature columns it reads (the model's schema order)."""
    kernels: list[_Kernel]
    columns: list[str]
    """The estimator's input columns, in its fitted order."""
    estimator: Any
    decoders: list[Any] = field(default_factory=list)
    """The pipeline's label-encoding steps (``TransformerWrapperWithInverse``), last step first."""
    steps: list[str] = field(default_factory=list)
    """What each pipeline step became, for logs and tests."""

    def transform(self, features: ColumnBatch | pd.DataFrame) -> pd.DataFrame:
        """Return what the estimator receives for these rows: every preprocessing step applied.

        Raises
        ------
        FastPathUnsupported
            If the rows need the full pipeline.
        """
        cols = _input_columns(features, self.inputs)
        for kernel in self.kernels:
            kernel.apply(cols)
        try:
            matrix = _stack(cols, self.columns)
        except (KeyError, TypeError, ValueError) as exc:
            raise FastPathUnsupported(f"the estimator's input could not be built ({exc})") from None
        return pd.DataFrame(matrix, columns=self.columns, copy=False)

    def predict_transformed(self, X: pd.DataFrame, want_proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (decoded predictions, class probabilities or None) for `transform`'s output."""
        proba = self.estimator.predict_proba(X) if want_proba else None
        labels = _labels_from_proba(self.estimator)
        # Forests and LightGBM compute predict() as the argmax of predict_proba(): once is enough.
        y = np.asarray(labels(proba) if labels is not None and proba is not None else self.estimator.predict(X))
        for decoder in self.decoders:
            # The wrapper's inverse_transform flattens the answer into a Series for its LabelEncoder
            # (CatBoost answers an (n, 1) column); the LabelEncoder alone gives the same labels.
            y = np.asarray(decoder.transformer.inverse_transform(y.flatten() if y.ndim > 1 else y))
        return y, proba

    def predict(self, features: ColumnBatch | pd.DataFrame,
                want_proba: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (predictions, probabilities or None), as the pipeline's ``predict``/``predict_proba`` would.

        Raises
        ------
        FastPathUnsupported
            If the rows need the full pipeline.
        """
        return self.predict_transformed(self.transform(features), want_proba)


def _labels_from_proba(estimator: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """For an estimator whose own ``predict`` is the argmax of its ``predict_proba``: that argmax.

    Only for the exact classes whose code says so (scikit-learn 1.4's ``ForestClassifier.predict``,
    LightGBM 4's ``LGBMClassifier.predict``), so the labels are the ones ``predict`` would give.
    """
    kind, module = type(estimator).__name__, type(estimator).__module__
    if (module == "sklearn.ensemble._forest" and kind in ("RandomForestClassifier", "ExtraTreesClassifier")
            and getattr(estimator, "n_outputs_", 0) == 1):
        return lambda proba: estimator.classes_.take(np.argmax(proba, axis=1), axis=0)
    if module == "lightgbm.sklearn" and kind == "LGBMClassifier" and not callable(getattr(estimator, "_objective", 0)):
        return lambda proba: estimator._le.inverse_transform(np.argmax(proba, axis=1))
    return None


def _stack(cols: Columns, names: list[str]) -> np.ndarray:
    # Column-major like the frames sklearn's transformers hand on, so the estimator sees the same layout.
    n = len(cols[names[0]]) if names else 0
    matrix = np.empty((n, len(names)), dtype="float64", order="F")
    for j, name in enumerate(names):
        matrix[:, j] = cols[name]
    return matrix


def _plain(name: Any) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", str(name))


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _is_pycaret_pipeline(pipeline: Any) -> bool:
    kind = type(pipeline)
    return kind.__module__ == "pycaret.internal.pipeline" and kind.__name__ == "Pipeline"


def try_compile(pipeline: Any, schema: InputSchema) -> tuple[FastPipeline | None, str]:
    """Compile a fitted PyCaret pipeline, or say why it cannot be.

    Returns
    -------
    tuple
        (the `FastPipeline`, a description of its steps) or (None, the reason).
    """
    try:
        return _compile(pipeline, schema), ""
    except _CannotCompile as exc:
        return None, str(exc)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # an unexpected fitted state
        return None, f"the pipeline's fitted state is not as expected ({type(exc).__name__}: {exc})"


def compile_pipeline(pipeline: Any, schema: InputSchema) -> FastPipeline | None:
    """Return a `FastPipeline` equivalent to ``pipeline``, or None if it holds a step with no fast equivalent.

    Parameters
    ----------
    pipeline
        A fitted PyCaret pipeline (as the engine saves it).
    schema
        The model's input schema (its feature columns, in order).
    """
    return try_compile(pipeline, schema)[0]


def _compile(pipeline: Any, schema: InputSchema) -> FastPipeline:
    if not _is_pycaret_pipeline(pipeline):
        raise _CannotCompile(f"{type(pipeline).__name__} is not a PyCaret pipeline")
    steps = list(pipeline.steps)
    if len(steps) < 1:
        raise _CannotCompile("the pipeline has no steps")
    estimator = steps[-1][1]
    if not callable(getattr(estimator, "predict", None)):
        raise _CannotCompile("the pipeline's last step is not an estimator")
    inputs = [f.name for f in schema.features]
    order = list(inputs)
    kernels: list[_Kernel] = []
    decoders: list[Any] = []
    described: list[str] = []
    for name, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        if getattr(step, "_train_only", False):
            described.append(f"{name}: skipped (training only)")
            continue
        wrapper = type(step).__name__
        inner = getattr(step, "transformer", None)
        if not type(step).__module__.startswith("pycaret.") or inner is None:
            raise _CannotCompile(f"the step {name} ({wrapper}) has no fast equivalent")
        if wrapper == "TransformerWrapperWithInverse":
            if type(inner).__name__ != "LabelEncoder":
                raise _CannotCompile(f"the target step {name} ({type(inner).__name__}) has no fast equivalent")
            decoders.insert(0, step)  # a target-only step: nothing to do on X; it decodes predictions
            described.append(f"{name}: label decoding")
            continue
        if wrapper != "TransformerWrapper":
            raise _CannotCompile(f"the step {name} ({wrapper}) has no fast equivalent")
        if step._include is None:
            raise _CannotCompile(f"the step {name} was never fitted on columns")
        include = list(step._include)
        if not include:
            continue  # the wrapper passes the frame through untouched
        absent = [c for c in include if c not in order]
        if absent:
            raise _CannotCompile(f"the step {name} expects columns the rows do not have: {absent[:3]}")
        kernel = _kernel(name, inner, include)
        kernels.append(kernel)
        order = _wrapper_order(order, include, kernel.outputs)
        described.append(f"{name}: {type(inner).__name__}")
    fitted = getattr(estimator, "feature_names_in_", None)
    # LightGBM reports its feature names with special characters replaced ("paid search" →
    # "paid_search") while it is given the frame's names, as here.
    if fitted is not None and [_plain(c) for c in fitted] != [_plain(c) for c in order]:
        raise _CannotCompile("the estimator was fitted on other columns than the preprocessing gives")
    return FastPipeline(inputs=inputs, kernels=kernels, columns=order, estimator=estimator, decoders=decoders,
                        steps=described)


# --------------------------------------------------------------------------- proof of equivalence


def probe_rows(schema: InputSchema, n: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """Generate rows covering a schema, to check a compiled pipeline against the real one.

    Typical values, the training range's ends and values far outside it, missing values where the
    feature is nullable, categories not seen in training, and dates from 1900 to 2100. The values
    are the kind the request validation accepts with ``strict=False`` (dates as ISO strings).
    """
    rng = np.random.default_rng(seed)
    rows = [{f.name: _probe_value(f, rng, mode) for f in schema.features} for mode in ("typical", "missing", "unseen")]
    for _ in range(max(0, n - len(rows))):
        mode = str(rng.choice(["typical", "typical", "typical", "edge", "missing", "unseen"]))
        rows.append({f.name: _probe_value(f, rng, mode if rng.random() < 0.5 else "typical") for f in schema.features})
    return rows


def _probe_value(spec: FeatureSpec, rng: np.random.Generator, mode: str) -> Any:
    if mode == "missing" and spec.nullable:
        return None
    if spec.kind == "numeric":
        lo = spec.minimum if spec.minimum is not None else 0.0
        hi = spec.maximum if spec.maximum is not None else lo + 1.0
        span = max(hi - lo, 1.0)
        if mode in ("edge", "unseen"):
            value = float(rng.choice([lo, hi, lo - 10 * span, hi + 10 * span, 0.0, -1.0, hi * 1000 + 7]))
        else:
            value = float(rng.uniform(lo, hi))
        value = min(max(value, -1e21), 1e21)  # requests refuse numbers beyond ±1e22
        return float(round(value)) if spec.integer else value
    if spec.kind == "datetime":
        if mode in ("edge", "unseen"):
            return str(rng.choice(["1900-01-01", "1969-12-31T23:59:59", "2000-02-29", "2100-12-31"]))
        base = _parse_iso(spec.default) or datetime(2020, 1, 1)
        return (base + timedelta(days=int(rng.integers(-1500, 1500)), hours=int(rng.integers(0, 24)))).isoformat()
    categories = [c for c in (spec.categories or []) if c is not None]
    if spec.kind == "boolean":
        return bool(rng.random() < 0.5)
    if mode == "unseen" or not categories:
        if categories and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in categories):
            return max(categories) + 1000
        return f"never seen {int(rng.integers(0, 1_000_000))}"
    return categories[int(rng.integers(0, len(categories)))]


def _parse_iso(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


Prediction = tuple[np.ndarray, np.ndarray | None]


def compare_predictions(expected: Prediction, got: Prediction, *, regression: bool) -> str | None:
    """Return None if ``got`` matches ``expected``, else one sentence saying where they differ.

    Labels must be identical; probabilities within `PROBABILITY_TOLERANCE`; regression values within
    it too (relative to the value where that exceeds 1).
    """
    want, want_proba = expected
    have, have_proba = got
    if want.shape != have.shape:
        return f"predictions have shape {have.shape} instead of {want.shape}"
    if regression:
        a, b = np.asarray(have, dtype="float64"), np.asarray(want, dtype="float64")
        gap = np.abs(a - b) / np.maximum(1.0, np.abs(b))
        bad = ~(gap <= PROBABILITY_TOLERANCE) & ~(np.isnan(a) & np.isnan(b))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return f"row {i}: value {a[i]!r} instead of {b[i]!r}"
    else:
        for i, (x, y) in enumerate(zip(have.tolist(), want.tolist(), strict=True)):
            if x != y or type(x) is not type(y):
                return f"row {i}: label {x!r} instead of {y!r}"
    if (want_proba is None) != (have_proba is None):
        return "probabilities missing on one side"
    if want_proba is not None and have_proba is not None:
        p, q = np.asarray(have_proba, dtype="float64"), np.asarray(want_proba, dtype="float64")
        if p.shape != q.shape:
            return f"probabilities have shape {p.shape} instead of {q.shape}"
        bad_rows = np.flatnonzero((np.abs(p - q) > PROBABILITY_TOLERANCE).any(axis=1))
        if len(bad_rows):
            i = int(bad_rows[0])
            return f"row {i}: probabilities {p[i].tolist()} instead of {q[i].tolist()}"
    return None
