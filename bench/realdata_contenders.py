"""The peers of the real-data benchmark, and the scorer, each run by `realdata.py` in a process of its own.

``fit`` commands do what a user would time: start Python, import, read the train split, fit, save
the model. `realdata.py` measures each command's wall time from outside, then runs ``score``
(untimed) in another process, which loads the saved model and scores the 25 % holdout from the true
labels.

    python bench/realdata_contenders.py fit pycaret|lightgbm|flaml SPLIT_DIR MODEL_DIR [--budget S]
    python bench/realdata_contenders.py score pycaret|lightgbm|flaml|engine SPLIT_DIR MODEL_PATH OUT.json

``SPLIT_DIR`` holds ``train.csv``, ``test.csv`` and ``meta.json`` (target, problem type, date columns).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

SEED = 0
"""PyCaret's session_id (the split's seed too)."""


def read_meta(split_dir: Path) -> dict[str, Any]:
    return json.loads((split_dir / "meta.json").read_text(encoding="utf-8"))


def read_split(split_dir: Path, which: str, meta: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Return (features, target) of ``train`` or ``test``, date columns parsed as dates."""
    import pandas as pd

    meta = meta or read_meta(split_dir)
    frame = pd.read_csv(split_dir / f"{which}.csv", parse_dates=meta["date_columns"] or False, low_memory=False)
    return frame.drop(columns=[meta["target"]]), frame[meta["target"]]


# --------------------------------------------------------------------------- PyCaret's default


def fit_pycaret(split_dir: Path, model_dir: Path) -> dict[str, Any]:
    """``setup`` + ``compare_models`` + ``finalize_model`` + ``save_model``, every choice at its default.

    Only ``session_id`` (a fixed seed), ``verbose`` and ``html`` (printing) are set: none changes the
    model that comes out.
    """
    import pandas as pd

    meta = read_meta(split_dir)
    if meta["problem"] == "regression":
        from pycaret.regression import compare_models, finalize_model, save_model, setup
    else:
        from pycaret.classification import compare_models, finalize_model, save_model, setup
    train = pd.read_csv(split_dir / "train.csv", parse_dates=meta["date_columns"] or False, low_memory=False)
    setup(train, target=meta["target"], session_id=SEED, verbose=False, html=False)
    best = compare_models(verbose=False)
    final = finalize_model(best)
    save_model(final, str(model_dir / "model"), verbose=False)
    return {"model": type(final.steps[-1][1]).__name__}


# --------------------------------------------------------------------------- a default LightGBM


def lightgbm_features(X: Any, spec: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Text columns as pandas categories (the train split's levels), dates as plain numbers.

    Returns the frame and the spec that turns the test split into the same columns.
    """
    import pandas as pd

    X = X.copy()
    spec = spec or {"categories": {
        c: sorted(X[c].dropna().astype(str).unique()) for c in X.columns
        if X[c].dtype == object or isinstance(X[c].dtype, pd.CategoricalDtype)
    }}
    for col in X.columns:
        if pd.api.types.is_datetime64_any_dtype(X[col].dtype):
            stamp = X.pop(col)
            X[f"{col}_days"] = (stamp - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86_400
            X[f"{col}_month"] = stamp.dt.month
            X[f"{col}_weekday"] = stamp.dt.dayofweek
            X[f"{col}_hour"] = stamp.dt.hour
        elif pd.api.types.is_bool_dtype(X[col].dtype):
            X[col] = X[col].astype("int8")
    for col, levels in spec["categories"].items():
        values = X[col].astype(str).where(X[col].notna())
        X[col] = pd.Categorical(values, categories=levels)
    return X, spec


def fit_lightgbm(split_dir: Path, model_dir: Path) -> dict[str, Any]:
    import joblib
    import lightgbm as lgb

    meta = read_meta(split_dir)
    X, y = read_split(split_dir, "train", meta)
    X, spec = lightgbm_features(X)
    model = lgb.LGBMRegressor(verbose=-1) if meta["problem"] == "regression" else lgb.LGBMClassifier(verbose=-1)
    model.fit(X, y)
    joblib.dump({"model": model, "spec": spec}, model_dir / "model.pkl")
    return {"model": type(model).__name__}


# --------------------------------------------------------------------------- FLAML


def fit_flaml(split_dir: Path, model_dir: Path, budget: float) -> dict[str, Any]:
    from flaml import AutoML

    meta = read_meta(split_dir)
    X, y = read_split(split_dir, "train", meta)
    automl = AutoML()
    automl.fit(X_train=X, y_train=y, task=meta["problem"], time_budget=budget, verbose=0)
    with open(model_dir / "model.pkl", "wb") as f:
        pickle.dump(automl, f)
    return {"model": str(automl.best_estimator)}


FITS = {"pycaret": fit_pycaret, "lightgbm": fit_lightgbm, "flaml": fit_flaml}


# --------------------------------------------------------------------------- scoring


def _labels_like(values: Any, y_true: Any) -> Any:
    """Predicted labels in the holdout's dtype, so 1, 1.0 and "1" compare equal where they mean the same."""
    import numpy as np
    import pandas as pd

    pred = pd.Series(np.asarray(values).ravel())
    if pd.api.types.is_numeric_dtype(y_true.dtype) and pd.api.types.is_numeric_dtype(pred.dtype):
        return pred.astype(y_true.dtype).to_numpy()
    return pred.astype(str).to_numpy()


def _class_order(model: Any, n_columns: int, fallback: list[Any], schema_classes: list[Any] | None) -> list[Any]:
    import numpy as np

    if schema_classes is not None and len(schema_classes) == n_columns:
        return list(schema_classes)
    fitted = getattr(model, "classes_", None)
    if fitted is not None and len(fitted) == n_columns:
        # PyCaret's pipelines hold encoded labels; their inverse transform gives the original ones.
        inverse = getattr(model, "inverse_transform", None)
        if callable(inverse):
            try:
                return list(inverse(np.asarray(fitted)))
            except (AttributeError, KeyError, TypeError, ValueError):  # no label step: the labels are as fitted
                pass
        return list(fitted)
    return fallback


def score_predictions(meta: dict[str, Any], y_true: Any, predicted: Any, ranking: Any) -> dict[str, float]:
    """AUC (binary, from ``ranking``), accuracy and macro F1 (classification), R², RMSE, MAE (regression)."""
    import numpy as np
    from sklearn import metrics

    if meta["problem"] == "regression":
        pred = np.asarray(predicted, dtype="float64").ravel()
        return {"r2": float(metrics.r2_score(y_true, pred)),
                "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, pred))),
                "mae": float(metrics.mean_absolute_error(y_true, pred))}
    pred = _labels_like(predicted, y_true)
    truth = _labels_like(y_true, y_true)
    out = {"accuracy": float(metrics.accuracy_score(truth, pred)),
           "f1_macro": float(metrics.f1_score(truth, pred, average="macro"))}
    if meta["n_classes"] == 2:
        positive = _labels_like([meta["classes"][1]], y_true)[0]
        out["auc"] = float(metrics.roc_auc_score(truth == positive, ranking))
    return out


def _ranking(model: Any, X: Any, meta: dict[str, Any], y_true: Any, schema_classes: list[Any] | None = None) -> Any:
    """The positive class's probability (or decision value, for a model without probabilities)."""
    import numpy as np

    if meta["n_classes"] != 2:
        return None
    if hasattr(model, "predict_proba"):
        try:
            proba = np.asarray(model.predict_proba(X))
        except AttributeError:  # a pipeline whose final estimator has no predict_proba (RidgeClassifier)
            proba = None
        if proba is not None:
            order = _labels_like(_class_order(model, proba.shape[1], meta["classes"], schema_classes), y_true)
            positive = _labels_like([meta["classes"][1]], y_true)[0]
            return proba[:, list(order).index(positive)]
    return np.asarray(model.decision_function(X)).ravel()


def score(contender: str, split_dir: Path, model_path: Path) -> dict[str, Any]:
    import joblib

    meta = read_meta(split_dir)
    X, y = read_split(split_dir, "test", meta)
    schema_classes = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if contender == "lightgbm":
            bundle = joblib.load(model_path)
            model = bundle["model"]
            X, _ = lightgbm_features(X, bundle["spec"])
        elif contender == "flaml":
            with open(model_path, "rb") as f:
                model = pickle.load(f)
        else:
            model = joblib.load(model_path)
            if contender == "engine":
                X, schema_classes = _engine_frame(X, model_path.parent)
        predicted = model.predict(X)
        ranking = _ranking(model, X, meta, y, schema_classes)
    return {"scores": score_predictions(meta, y, predicted, ranking)}


def _engine_frame(X: Any, model_dir: Path) -> tuple[Any, list[Any] | None]:
    """The holdout as the app's prediction path gives it to the pipeline: schema order and dtypes."""
    import pandas as pd

    from predictml_desktop.core.prediction import frame_dtypes, load_schema

    schema = load_schema(model_dir)
    out = {}
    for name, dtype in frame_dtypes(schema).items():
        col = X[name]
        try:
            out[name] = pd.to_datetime(col) if dtype.startswith("datetime") else col.astype(dtype)
        except (TypeError, ValueError):  # a missing value in an integer column: keep what was read
            out[name] = col
    classes = getattr(schema, "classes", None)
    return pd.DataFrame(out, index=X.index), (list(classes) if classes else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit")
    fit.add_argument("contender", choices=sorted(FITS))
    fit.add_argument("split_dir", type=Path)
    fit.add_argument("model_dir", type=Path)
    fit.add_argument("--budget", type=float, help="FLAML's time_budget in seconds")
    sc = sub.add_parser("score")
    sc.add_argument("contender", choices=[*sorted(FITS), "engine"])
    sc.add_argument("split_dir", type=Path)
    sc.add_argument("model_path", type=Path)
    sc.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "fit":
        args.model_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if args.contender == "flaml":
            info = fit_flaml(args.split_dir, args.model_dir, args.budget)
        else:
            info = FITS[args.contender](args.split_dir, args.model_dir)
        info["fitSeconds"] = time.perf_counter() - started
        (args.model_dir / "info.json").write_text(json.dumps(info), encoding="utf-8")
        return 0
    result = score(args.contender, args.split_dir, args.model_path)
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
