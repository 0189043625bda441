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
`compare_predictions`). The steps themselves are in `core.modeling.fast_steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import FeatureSpec, InputSchema
from predictml_desktop.core.modeling.fast_steps import (
    CannotCompile,
    ColumnBatch,
    FastPathUnsupported,
    Kernel,
    input_columns,
    kernel_for,
    plain_name,
    stack_columns,
    wrapper_order,
)
from predictml_desktop.core.modeling.pipeline import is_pycaret_pipeline

__all__ = [
    "PROBABILITY_TOLERANCE",
    "ColumnBatch",
    "FastPathUnsupported",
    "FastPipeline",
    "compare_predictions",
    "compile_pipeline",
    "probe_rows",
    "try_compile",
]

PROBABILITY_TOLERANCE = 1e-9
"""Largest difference allowed between the fast path's and the pipeline's probabilities (and, relative
to the value where it exceeds 1, regression values)."""




@dataclass
class FastPipeline:
    """A fitted pipeline's preprocessing as numpy operations, with its own estimator and label decoding.

    Use `predict` (or `transform` then `predict_transformed`); a batch it cannot reproduce exactly
    raises `FastPathUnsupported`.
    """

    inputs: list[str]
    """The feature columns it reads (the model's schema order)."""
    kernels: list[Kernel]
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
        cols = input_columns(features, self.inputs)
        for kernel in self.kernels:
            kernel.apply(cols)
        try:
            matrix = stack_columns(cols, self.columns)
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



def try_compile(pipeline: Any, schema: InputSchema) -> tuple[FastPipeline | None, str]:
    """Compile a fitted PyCaret pipeline, or say why it cannot be.

    Returns
    -------
    tuple
        (the `FastPipeline`, a description of its steps) or (None, the reason).
    """
    try:
        return _compile(pipeline, schema), ""
    except CannotCompile as exc:
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
    if not is_pycaret_pipeline(pipeline):
        raise CannotCompile(f"{type(pipeline).__name__} is not a PyCaret pipeline")
    steps = list(pipeline.steps)
    if len(steps) < 1:
        raise CannotCompile("the pipeline has no steps")
    estimator = steps[-1][1]
    if not callable(getattr(estimator, "predict", None)):
        raise CannotCompile("the pipeline's last step is not an estimator")
    inputs = [f.name for f in schema.features]
    order = list(inputs)
    kernels: list[Kernel] = []
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
            raise CannotCompile(f"the step {name} ({wrapper}) has no fast equivalent")
        if wrapper == "TransformerWrapperWithInverse":
            if type(inner).__name__ != "LabelEncoder":
                raise CannotCompile(f"the target step {name} ({type(inner).__name__}) has no fast equivalent")
            decoders.insert(0, step)  # a target-only step: nothing to do on X; it decodes predictions
            described.append(f"{name}: label decoding")
            continue
        if wrapper != "TransformerWrapper":
            raise CannotCompile(f"the step {name} ({wrapper}) has no fast equivalent")
        if step._include is None:
            raise CannotCompile(f"the step {name} was never fitted on columns")
        include = list(step._include)
        if not include:
            continue  # the wrapper passes the frame through untouched
        absent = [c for c in include if c not in order]
        if absent:
            raise CannotCompile(f"the step {name} expects columns the rows do not have: {absent[:3]}")
        kernel = kernel_for(name, inner, include)
        kernels.append(kernel)
        order = wrapper_order(order, include, kernel.outputs)
        described.append(f"{name}: {type(inner).__name__}")
    fitted = getattr(estimator, "feature_names_in_", None)
    # LightGBM reports its feature names with special characters replaced ("paid search" →
    # "paid_search") while it is given the frame's names, as here.
    if fitted is not None and [plain_name(c) for c in fitted] != [plain_name(c) for c in order]:
        raise CannotCompile("the estimator was fitted on other columns than the preprocessing gives")
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
