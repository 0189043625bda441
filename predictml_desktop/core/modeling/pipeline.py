"""PyCaret's fitted pipelines as the prediction path uses them: loaded, recognised and called.

With `core.modeling.fast_path` (which reads the fitted steps), this is the one place outside the
engine's experiment set-up that knows PyCaret 3.3.2's pipeline internals; a PyCaret upgrade is
checked here, not in `core.prediction`.

- `load_pipeline`: the package's one ``joblib.load`` (a pickle can run code: callers verify the file's
  hash first). Unpickling imports PyCaret, whose logging module opens ``logs.log`` in the current
  folder at import; it is imported first with that log pointed at the null device, so loading a model
  writes nothing into the user's folder.
- `predict`: the labels and the class probabilities from one preprocessing pass. PyCaret's
  ``Pipeline.predict`` and ``Pipeline.predict_proba`` each run the whole preprocessing (about 25 ms a
  row); sharing it halves a classifier's latency.
- `transform`: the rows as the final estimator receives them.
- `has_probabilities`, `fitted_class_labels`: what the probability columns are.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PIPELINE_MODULE = "pycaret.internal.pipeline"
"""Where PyCaret 3.3.2 defines the ``Pipeline`` the engine saves."""
_LOGGING_MODULE = "pycaret.internal.logging"
_LOG_PATH_VARIABLE = "PYCARET_CUSTOM_LOGGING_PATH"
"""The one setting PyCaret's import-time logger reads for its file (else ``logs.log`` in the current folder)."""

_import_lock = threading.Lock()


def _import_pycaret_logging_quietly() -> None:
    """Import PyCaret's logging module with its log file on the null device (once per process)."""
    if _LOGGING_MODULE in sys.modules:
        return
    with _import_lock:
        if _LOGGING_MODULE in sys.modules:
            return
        # Set only for the import and restored after it: a training worker started later by this
        # process keeps PyCaret's default (its own working folder, inside the data home).
        before = os.environ.get(_LOG_PATH_VARIABLE)
        os.environ[_LOG_PATH_VARIABLE] = os.devnull
        try:
            importlib.import_module(_LOGGING_MODULE)
        finally:
            if before is None:
                os.environ.pop(_LOG_PATH_VARIABLE, None)
            else:
                os.environ[_LOG_PATH_VARIABLE] = before


def load_pipeline(path: Path, *, drift_allowed: bool) -> Any:
    """Unpickle a verified model file (the one ``joblib.load`` in the package).

    Parameters
    ----------
    path
        ``model.pkl``, whose hash the caller has checked (`core.artifacts.verify_model_file`).
    drift_allowed
        Accept a pickle made with another scikit-learn version; otherwise its
        ``InconsistentVersionWarning`` is raised as an error.

    Raises
    ------
    Exception
        Whatever unpickling raises (the caller reports it as one sentence).
    """
    import joblib

    with contextlib.suppress(ImportError):  # a build without PyCaret can still load plain pipelines
        _import_pycaret_logging_quietly()
    with warnings.catch_warnings():
        if not drift_allowed:
            # scikit-learn warns (InconsistentVersionWarning) when a pickle comes from another version;
            # a model that silently changes behaviour must not be served.
            with contextlib.suppress(ImportError):
                from sklearn.exceptions import InconsistentVersionWarning

                warnings.simplefilter("error", InconsistentVersionWarning)
        return joblib.load(path)


def is_pycaret_pipeline(pipeline: Any) -> bool:
    """Return True for PyCaret 3.3.2's fitted ``Pipeline`` (recognised by name, without importing PyCaret)."""
    kind = type(pipeline)
    return kind.__module__ == PIPELINE_MODULE and kind.__name__ == "Pipeline"


def _shares_transform(pipeline: Any) -> bool:
    return (type(pipeline).__module__ == PIPELINE_MODULE
            and callable(getattr(pipeline, "_memory_full_transform", None))
            and callable(getattr(pipeline, "inverse_transform", None))
            and bool(getattr(pipeline, "steps", None)))


def has_probabilities(pipeline: Any) -> bool:
    """Return True if the pipeline's estimator answers class probabilities (``predict_proba``)."""
    return hasattr(pipeline, "predict_proba")


def transform(pipeline: Any, frame: pd.DataFrame) -> Any:
    """Return ``frame`` as the pipeline's final estimator receives it (every preprocessing step applied).

    Parameters
    ----------
    pipeline
        A fitted PyCaret (or scikit-learn) pipeline.
    frame
        The feature columns, as `core.prediction.rows_to_frame` builds them.
    """
    if _shares_transform(pipeline):
        # PyCaret 3.3.2's Pipeline.predict runs exactly this (internal/pipeline.py), with the same
        # caching wrapper, before calling the final estimator.
        transformed, _ = pipeline._memory_full_transform(pipeline, frame, None, with_final=False)
        return transformed
    return pipeline[:-1].transform(frame)


def predict(pipeline: Any, frame: pd.DataFrame, *, probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the pipeline's predictions, and its class probabilities when asked.

    Exactly what ``pipeline.predict(frame)`` and ``pipeline.predict_proba(frame)`` answer (a test checks
    it), with the preprocessing run once for both.

    Parameters
    ----------
    pipeline
        A fitted pipeline.
    frame
        The feature columns.
    probabilities
        Also compute ``predict_proba`` (classifiers).

    Raises
    ------
    Exception
        Whatever the pipeline raises on these rows.
    """
    if probabilities and _shares_transform(pipeline):
        transformed = transform(pipeline, frame)
        final = pipeline.steps[-1][-1]
        # Pipeline.predict's body (pycaret 3.3.2): the estimator's answer, decoded by the label step.
        predictions = np.asarray(pipeline.inverse_transform(final.predict(transformed)))
        return predictions, np.asarray(final.predict_proba(transformed))
    predictions = np.asarray(pipeline.predict(frame))
    return predictions, (np.asarray(pipeline.predict_proba(frame)) if probabilities else None)


def fitted_class_labels(pipeline: Any, n_columns: int) -> list[Any] | None:
    """Return the original labels of the ``n_columns`` probability columns, as the pipeline fitted them.

    PyCaret encodes the target; the pipeline's ``inverse_transform`` gives the labels back. None when
    the pipeline does not say (no ``classes_`` of that length).
    """
    fitted = getattr(pipeline, "classes_", None)
    if fitted is None or len(fitted) != n_columns:
        return None
    try:
        return list(pipeline.inverse_transform(np.asarray(fitted)))
    except Exception:  # noqa: BLE001 - no decoder, or one that refuses: the fitted labels are the answer
        return list(fitted)
