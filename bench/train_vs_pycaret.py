"""Benchmark: this app's training engine (default preset) against PyCaret's plain default.

For each dataset — scikit-learn's breast_cancer, wine, digits and diabetes, and the generated
25,821-row purchase table (`core.sampledata.make_purchase_table`) — one run of this script:

1. splits the data 80/20 (stratified for classification) into a train split and an outer holdout;
2. runs PyCaret's plain default on the train split: ``setup(train, target)`` +
   ``compare_models()`` + ``finalize_model(best)``, every argument at its default (only
   ``session_id``, ``verbose`` and ``html`` set, which change no result);
3. runs this app's engine (``run_training``, default ``balanced`` preset) on the same train split,
   in the same process (so neither pays for importing PyCaret), including everything it does:
   set-up, search, holdout evaluation of its own, plots, refit on all rows and saving;
4. scores both final models on the same outer holdout: AUC for binary targets, accuracy for
   multiclass, R² for regression.

It prints both wall times, their ratio (engine / PyCaret, target ≤ 0.2) and both holdout scores
(target: on average at least PyCaret's, and never lower by more than 0.01), and with
``--write-readme`` puts the table into ``bench/README.md``.

Run it under ``nice`` on an otherwise idle machine; PyCaret's default alone takes 10+ minutes::

    nice -n 10 .venv/bin/python bench/train_vs_pycaret.py --write-readme
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

# The same thread settings the app's training worker uses (set before the numeric libraries load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "purchase")
PURCHASE_ROWS = 25_821
SEED = 0
README = Path(__file__).with_name("README.md")
BEGIN = "<!-- train_vs_pycaret:begin -->"
END = "<!-- train_vs_pycaret:end -->"


def load(name: str) -> tuple[pd.DataFrame, str, str]:
    """Return (frame, target, problem type)."""
    from sklearn import datasets

    if name == "purchase":
        from predictml_desktop.core.sampledata import make_purchase_table

        frame = make_purchase_table(PURCHASE_ROWS, seed=SEED)
        # An identifier is not a feature (the app's profile excludes it; PyCaret is spared it too),
        # and the sign-up date is given to PyCaret as a date, which its default set-up expands.
        frame = frame.drop(columns=["customer_id"])
        frame["signup_date"] = pd.to_datetime(frame["signup_date"])
        return frame, "purchased", "classification"
    loader = getattr(datasets, f"load_{name}")
    frame = loader(as_frame=True).frame
    return frame, "target", "regression" if name == "diabetes" else "classification"


def score(problem: str, n_classes: int, y_true: pd.Series, model: Any, X: pd.DataFrame) -> float:
    """AUC (binary), accuracy (multiclass) or R² (regression) of a fitted pipeline on X.

    A classifier without probabilities (PyCaret's default may pick a ridge classifier) is scored
    for AUC on its decision function, which ranks the rows just as well.
    """
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if problem == "regression":
            return float(r2_score(y_true, model.predict(X)))
        if n_classes == 2:
            if hasattr(model, "predict_proba"):
                ranking = np.asarray(model.predict_proba(X))[:, 1]
            else:
                ranking = np.asarray(model.decision_function(X)).ravel()
            return float(roc_auc_score(y_true, ranking))
        return float(accuracy_score(y_true, np.asarray(model.predict(X)).ravel()))


def metric_name(problem: str, n_classes: int) -> str:
    return "R²" if problem == "regression" else ("AUC" if n_classes == 2 else "accuracy")


def run_pycaret(train: pd.DataFrame, target: str, problem: str) -> tuple[float, Any, str]:
    if problem == "regression":
        from pycaret.regression import RegressionExperiment as Experiment
    else:
        from pycaret.classification import ClassificationExperiment as Experiment
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = Experiment()
        exp.setup(train, target=target, session_id=SEED, verbose=False, html=False)
        best = exp.compare_models(verbose=False)
        final = exp.finalize_model(best)
    seconds = time.perf_counter() - start
    estimator = final.steps[-1][1]
    return seconds, final, type(estimator).__name__


def run_engine(train: pd.DataFrame, target: str, problem: str, home: Path, preset: str) -> tuple[float, Any, dict]:
    import joblib

    from predictml_desktop.core.profile import profile_frame
    from predictml_desktop.core.training.engine import TrainingRequest, run_training
    from predictml_desktop.core.training.options import TrainingOptions

    model_dir = home / "models" / "bench"
    profile = profile_frame(train, target=target)
    start = time.perf_counter()
    request = TrainingRequest(
        frame=train, target=target, problem_type=problem, options=TrainingOptions(preset=preset),
        columns=profile.columns, excluded_columns=profile.excluded_columns, job_id="bench",
        model_dir=model_dir, home=home, started_at=time.time(),
    )
    result = run_training(request, lambda _event: None)
    seconds = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = joblib.load(model_dir / "model.pkl")
    return seconds, pipeline, result


def engine_frame(X: pd.DataFrame, home: Path) -> pd.DataFrame:
    """The holdout as the app's prediction path would give it: the schema's columns and dtypes."""
    schema = json.loads((home / "models" / "bench" / "schema.json").read_text())
    out = {}
    for f in schema["features"]:
        col = X[f["name"]]
        out[f["name"]] = pd.to_datetime(col) if f["kind"] == "datetime" else col
    return pd.DataFrame(out)


def bench_one(name: str, preset: str, baseline_cache: dict[str, Any] | None) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    frame, target, problem = load(name)
    stratify = frame[target] if problem == "classification" else None
    train, holdout = train_test_split(frame, test_size=0.2, random_state=SEED, stratify=stratify)
    X_hold, y_hold = holdout.drop(columns=[target]), holdout[target]
    n_classes = int(frame[target].nunique()) if problem == "classification" else 0
    row: dict[str, Any] = {"dataset": name, "rows": len(frame), "columns": frame.shape[1] - 1, "problem": problem,
                           "metric": metric_name(problem, n_classes)}
    cached = (baseline_cache or {}).get(name)
    if cached:
        row.update(cached)
        print(f"[{name}] PyCaret default (cached): {row['pycaretSeconds']:.1f} s", file=sys.stderr)
    else:
        print(f"[{name}] PyCaret default ...", file=sys.stderr, flush=True)
        seconds, final, model = run_pycaret(train, target, problem)
        row["pycaretSeconds"] = seconds
        row["pycaretModel"] = model
        print(f"[{name}] PyCaret default: {seconds:.1f} s, {model}", file=sys.stderr, flush=True)
        row["pycaretScore"] = score(problem, n_classes, y_hold, final, X_hold)
        if baseline_cache is not None:
            baseline_cache[name] = {k: row[k] for k in ("pycaretSeconds", "pycaretModel", "pycaretScore")}
    print(f"[{name}] engine ({preset}) ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        seconds, pipeline, result = run_engine(train, target, problem, home, preset)
        X_eng = engine_frame(X_hold, home)
        row["engineSeconds"] = seconds
        row["engineModel"] = result["model_name"]
        row["engineScore"] = score(problem, n_classes, y_hold, pipeline, X_eng)
    row["ratio"] = row["engineSeconds"] / row["pycaretSeconds"]
    row["diff"] = row["engineScore"] - row["pycaretScore"]
    print(f"[{name}] PyCaret {row['pycaretSeconds']:.1f} s {row['pycaretScore']:.4f} | engine "
          f"{row['engineSeconds']:.1f} s {row['engineScore']:.4f} | ratio {row['ratio']:.3f}", file=sys.stderr)
    return row


def table(rows: list[dict[str, Any]], preset: str) -> str:
    lines = [
        f"| dataset | rows × features | metric | PyCaret default (s) | engine {preset} (s) | ratio | "
        "PyCaret holdout | engine holdout | difference | PyCaret's model | engine's model |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['rows']:,} × {r['columns']} | {r['metric']} | {r['pycaretSeconds']:.1f} | "
            f"{r['engineSeconds']:.1f} | {r['ratio']:.3f} | {r['pycaretScore']:.4f} | {r['engineScore']:.4f} | "
            f"{r['diff']:+.4f} | {r['pycaretModel']} | {r['engineModel']} |"
        )
    mean_diff = float(np.mean([r["diff"] for r in rows]))
    worst = min(rows, key=lambda r: r["diff"])
    max_ratio = max(rows, key=lambda r: r["ratio"])
    lines += [
        "",
        f"- Worst time ratio: {max_ratio['ratio']:.3f} ({max_ratio['dataset']}); target ≤ 0.2 on every dataset: "
        f"{'met' if max_ratio['ratio'] <= 0.2 else 'NOT met'}.",
        f"- Mean holdout difference (engine − PyCaret): {mean_diff:+.4f}; target ≥ 0: "
        f"{'met' if mean_diff >= 0 else 'NOT met'}.",
        f"- Worst holdout difference: {worst['diff']:+.4f} ({worst['dataset']}); target ≥ −0.01: "
        f"{'met' if worst['diff'] >= -0.01 else 'NOT met'}.",
    ]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    block = f"{BEGIN}\n{text}\n{END}"
    content = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    if BEGIN in content and END in content:
        head, rest = content.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        content = head + block + tail
    else:
        content = content.rstrip() + "\n\n## Training: engine vs PyCaret's default\n\n" + block + "\n"
    README.write_text(content, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=DATASETS, help="run only these datasets")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--baseline-cache", type=Path,
                        help="JSON file that keeps PyCaret's results between runs (for engine development only)")
    parser.add_argument("--write-readme", action="store_true", help="put the table into bench/README.md")
    parser.add_argument("--json", type=Path, help="also write the raw rows to this JSON file")
    parser.add_argument("--from-json", type=Path, help="print (and with --write-readme, record) the rows of an "
                        "earlier run saved with --json, without running anything")
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        text = table(saved["rows"], saved["preset"])
        print(text)
        print(saved["environment"])
        if args.write_readme:
            write_readme(text + "\n\n" + saved["environment"])
        return 0
    cache: dict[str, Any] | None = None
    if args.baseline_cache:
        cache = json.loads(args.baseline_cache.read_text()) if args.baseline_cache.exists() else {}
    rows = []
    with tempfile.TemporaryDirectory() as work, contextlib.chdir(work):
        # PyCaret and CatBoost write logs.log and catboost_info/ into the current folder.
        for name in args.only or DATASETS:
            rows.append(bench_one(name, args.preset, cache))
            if args.baseline_cache and cache is not None:
                args.baseline_cache.write_text(json.dumps(cache, indent=2))
    text = table(rows, args.preset)
    env = (f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, Python {platform.python_version()}; "
           f"both runs in one process, one after the other, per dataset.")
    print(text)
    print(env)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "preset": args.preset, "environment": env,
                                         "cachedBaseline": bool(args.baseline_cache)}, indent=2))
    if args.write_readme:
        if args.baseline_cache:
            print("not writing bench/README.md from cached PyCaret results", file=sys.stderr)
        else:
            write_readme(text + "\n\n" + env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
