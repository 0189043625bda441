"""Real-data benchmark: the app's `train` command against PyCaret's default, a default LightGBM and FLAML.

Issue 12 item 4. On each public table of `realdata_tables` (24 tables that ship inside PyPI
packages; nothing is downloaded), with a fixed 75/25 split (stratified for classification, seed 0):

- **engine**: ``predictml train TRAIN.csv --target T --problem-type P --json`` with a fresh
  ``PREDICTML_HOME``, default preset and budget; then the saved model (``model_path`` in the JSON)
  is loaded and scored on the holdout;
- **pycaret**: PyCaret's default, ``setup`` + ``compare_models`` + ``finalize_model`` + ``save_model``;
- **lightgbm**: a default ``LGBMClassifier``/``LGBMRegressor`` (text columns as categories, dates as
  numbers);
- **flaml**: ``flaml.AutoML`` with ``time_budget`` = the engine's wall time on that table (until the
  engine has been measured: the time the engine is allowed, 0.2 × PyCaret's, 0.1 × over 10,000 rows).

Every contender is timed as the user waits (process start, imports, reading the file, fitting,
saving) in a process of its own, with a hard timeout: a contender still running then is ended with
its whole process tree and recorded as hung, and the run goes on. Scoring happens afterwards in
another process, untimed: AUC for binary targets, accuracy and macro F1 for multiclass, R² for
regression.

Results are cached per table in ``bench/results/realdata/<table>.json`` (with the split's hash, the
commit and the load average at the start of each measurement), so a later run can redo only the
engine against the cached peers and say so. Run under ``nice``; the splits and work folders go to
``bench/.cache/`` (not committed)::

    nice -n 19 .venv/bin/python bench/realdata.py --only pycaret,lightgbm,flaml      # the peers, cached
    nice -n 19 .venv/bin/python bench/realdata.py --only pycaret,lightgbm,flaml --resume  # go on after a stop
    nice -n 10 .venv/bin/python bench/realdata.py --only engine --write-readme       # the engine against them
    nice -n 10 .venv/bin/python bench/realdata.py --only engine,flaml --write-readme # FLAML given its time too
    nice -n 10 .venv/bin/python bench/realdata.py --fresh --write-readme             # everything, one run
    .venv/bin/python bench/realdata.py --tables wine,hmda --only engine              # a few tables
    .venv/bin/python bench/realdata.py --report [--write-readme]                     # print the cached table

Needs the ``bench`` extra: ``.venv/bin/pip install -c constraints.txt -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from realdata_tables import BY_NAME, CACHE_DIR, TABLES, Table  # noqa: E402

CONTENDERS = ("pycaret", "lightgbm", "engine", "flaml")
"""In the order they run on a table: FLAML's budget needs the engine's time (or PyCaret's)."""
PEERS = ("pycaret", "lightgbm", "flaml")
LABELS = {"engine": "engine", "pycaret": "PyCaret default", "lightgbm": "LightGBM", "flaml": "FLAML"}
SEED = 0
TEST_SHARE = 0.25
BIG_ROWS = 10_000
"""Over this many rows the time target is 0.1 × PyCaret's, else 0.2 ×."""
RESULTS_DIR = HERE / "results" / "realdata"
SPLITS_DIR = CACHE_DIR / "splits"
WORK_DIR = CACHE_DIR / "work"
USER_HOME = CACHE_DIR / "home"
"""HOME of every contender: their caches (matplotlib's font list, numba) stay warm between runs, as on
a user's machine, and the real home is never written."""
CONTRIBUTOR_SCRIPT = HERE / "realdata_contenders.py"
README = HERE / "README.md"
BEGIN = "<!-- realdata:begin -->"
END = "<!-- realdata:end -->"
FLAML_TOLERANCE = (2.0, 0.10)
"""FLAML's cached result stands while its budget is within 2 s or 10 % of the engine's time."""
SCORE_TIMEOUT_S = 1_800.0


# --------------------------------------------------------------------------- splits


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare(table: Table) -> tuple[Path, dict[str, Any]]:
    """Write the table's fixed 75/25 split (once) and return its folder and ``meta.json``."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    folder = SPLITS_DIR / table.name
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if (folder / "train.csv").exists() and _sha256(folder / "train.csv") == meta["train_sha256"]:
            meta.update(package=table.package, description=table.description)  # words, not data: may change
            return folder, meta
    frame, target, problem = table.load()
    stratify = frame[target] if problem == "classification" else None
    train, test = train_test_split(frame, test_size=TEST_SHARE, random_state=SEED, stratify=stratify)
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    features = frame.drop(columns=[target])
    meta: dict[str, Any] = {
        "table": table.name, "package": table.package, "description": table.description,
        "target": target, "problem": problem, "rows": len(frame), "features": features.shape[1],
        "train_rows": len(train), "test_rows": len(test),
        "date_columns": [c for c in features.columns if pd.api.types.is_datetime64_any_dtype(features[c].dtype)],
        "categorical_columns": int(sum(features[c].dtype == object or pd.api.types.is_bool_dtype(features[c].dtype)
                                       for c in features.columns)),
        "missing_share": float(features.isna().to_numpy().mean()),
    }
    if problem == "classification":
        counts = frame[target].value_counts()
        meta["classes"] = sorted(counts.index.tolist())
        meta["n_classes"] = len(counts)
        meta["minority_share"] = float(counts.min() / counts.sum())
    else:
        meta["n_classes"] = 0
    meta["train_sha256"] = _sha256(folder / "train.csv")
    meta["test_sha256"] = _sha256(folder / "test.csv")
    meta_path.write_text(json.dumps(meta, indent=2, default=_jsonable), encoding="utf-8")
    return folder, meta


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def metric_of(meta: dict[str, Any]) -> str:
    """The headline metric: ``auc``, ``accuracy`` (macro F1 shown beside it) or ``r2``."""
    if meta["problem"] == "regression":
        return "r2"
    return "auc" if meta["n_classes"] == 2 else "accuracy"


# --------------------------------------------------------------------------- running one contender


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "predictml_desktop"], cwd=HERE.parent,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _end_tree(proc: subprocess.Popen[bytes]) -> None:
    """End the process and every descendant (the app's worker runs in a process group of its own)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.Error:
        family = []
    for p in family:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(family, timeout=10)
    with contextlib.suppress(OSError, ProcessLookupError):
        os.killpg(proc.pid, 9)
    proc.wait()


def _timed(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float, log_name: str) -> dict[str, Any]:
    """Run ``cmd``, timing it from start to exit; end it (and its children) at ``timeout``."""
    load = os.getloadavg()[0]
    with open(cwd / f"{log_name}.stdout", "wb") as out, open(cwd / f"{log_name}.stderr", "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
            _end_tree(proc)
        seconds = time.perf_counter() - started
    return {"code": code, "seconds": seconds, "load1": load}


def _tail(path: Path, lines: int = 6) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return "\n".join(text[-lines:])


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    USER_HOME.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(USER_HOME), "MPLBACKEND": "Agg"}
    env.update(extra or {})
    return env


def run_contender(name: str, split_dir: Path, meta: dict[str, Any], *, timeout: float,
                  budget: float | None = None) -> dict[str, Any]:
    """Fit one contender as the user waits, then score its saved model; return the result record."""
    work = WORK_DIR / meta["table"] / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model_dir = work / "model"
    env = _env()
    if name == "engine":
        home = work / "home"
        env = _env({"PREDICTML_HOME": str(home), "PREDICTML_CONFIG_HOME": str(work / "config")})
        cmd = [sys.executable, "-m", "predictml_desktop", "train", str(split_dir / "train.csv"),
               "--target", meta["target"], "--problem-type", meta["problem"], "--json"]
    else:
        cmd = [sys.executable, str(CONTRIBUTOR_SCRIPT), "fit", name, str(split_dir), str(model_dir)]
        if budget is not None:
            cmd += ["--budget", f"{budget:.1f}"]
    run = _timed(cmd, cwd=work, env=env, timeout=timeout, log_name="fit")
    record: dict[str, Any] = {
        "seconds": round(run["seconds"], 2), "load1": round(run["load1"], 2), "timeout": timeout,
        "measured_at": time.strftime("%Y-%m-%d %H:%M"), "commit": _commit(), "nice": os.nice(0),
    }
    if budget is not None:
        record["budget"] = round(budget, 1)
    if run["code"] is None:
        record.update(status="timeout", error=f"still running after {timeout:.0f} s (hung or too slow); ended")
        return record
    if name == "engine":
        try:
            doc = json.loads((work / "fit.stdout").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        model_path = home / doc["model_path"] if doc.get("model_path") else None
        record["model"] = doc.get("model_name")
        record["engine_duration"] = doc.get("durationS")
    else:
        model_path = model_dir / "model.pkl"
        with contextlib.suppress(OSError, ValueError):
            record["model"] = json.loads((model_dir / "info.json").read_text(encoding="utf-8")).get("model")
    if run["code"] != 0 or model_path is None or not model_path.exists():
        record.update(status="failed", error=f"exit code {run['code']}: {_tail(work / 'fit.stderr')}")
        return record
    scored = _timed([sys.executable, str(CONTRIBUTOR_SCRIPT), "score", name, str(split_dir), str(model_path),
                     str(work / "score.json")], cwd=work, env=env, timeout=SCORE_TIMEOUT_S, log_name="score")
    if scored["code"] != 0:
        record.update(status="failed", error=f"scoring failed: {_tail(work / 'score.stderr')}")
        return record
    record.update(status="ok", scores=json.loads((work / "score.json").read_text(encoding="utf-8"))["scores"])
    return record


# --------------------------------------------------------------------------- the results cache


def load_results(table: str) -> dict[str, Any]:
    path = RESULTS_DIR / f"{table}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def save_results(table: str, doc: dict[str, Any]) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{table}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def flaml_budget(meta: dict[str, Any], contenders: dict[str, Any]) -> tuple[float, str]:
    """FLAML's time budget: the engine's wall time, else the time the engine is allowed."""
    engine = contenders.get("engine")
    if engine and engine.get("status") == "ok":
        return float(engine["seconds"]), "engine's time"
    pycaret = contenders.get("pycaret")
    share = 0.1 if meta["rows"] > BIG_ROWS else 0.2
    if pycaret and pycaret.get("seconds"):
        return max(share * float(pycaret["seconds"]), 5.0), f"{share:g} × PyCaret's time (engine not measured)"
    return 60.0, "60 s (neither engine nor PyCaret measured)"


def flaml_stale(record: dict[str, Any] | None, budget: float) -> bool:
    if not record or "budget" not in record:
        return True
    absolute, relative = FLAML_TOLERANCE
    return abs(float(record["budget"]) - budget) > max(absolute, relative * budget)


def bench_table(table: Table, selected: tuple[str, ...], forced: bool, timeouts: dict[str, float],
                resume: bool = False) -> dict[str, Any]:
    split_dir, meta = prepare(table)
    doc = load_results(table.name)
    if doc.get("train_sha256") != meta["train_sha256"]:
        if doc:
            print(f"[{table.name}] the split changed: cached results dropped", file=sys.stderr)
        doc = {}
    doc.update({k: meta[k] for k in ("table", "package", "description", "target", "problem", "rows", "features",
                                     "n_classes", "train_sha256", "date_columns", "categorical_columns",
                                     "missing_share")})
    if "minority_share" in meta:
        doc["minority_share"] = meta["minority_share"]
    doc.setdefault("contenders", {})
    results = doc["contenders"]
    for name in CONTENDERS:
        if name not in selected:
            continue
        budget = None
        if resume and name in results:
            print(f"[{table.name}] {name}: cached ({results[name].get('status')})", file=sys.stderr)
            continue
        if name == "flaml":
            budget, source = flaml_budget(meta, results)
            if not forced and not flaml_stale(results.get(name), budget) and results[name].get("status") == "ok":
                print(f"[{table.name}] flaml: cached (budget {results[name]['budget']} s)", file=sys.stderr)
                continue
        elif not forced and name in results:
            print(f"[{table.name}] {name}: cached ({results[name].get('status')})", file=sys.stderr)
            continue
        timeout = timeouts[name] if budget is None else budget + max(300.0, budget)
        print(f"[{table.name}] {name} ..." + (f" (budget {budget:.1f} s: {source})" if budget else ""),
              file=sys.stderr, flush=True)
        record = run_contender(name, split_dir, meta, timeout=timeout, budget=budget)
        if budget is not None:
            record["budget_source"] = source
        results[name] = record
        save_results(table.name, doc)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in (record.get("scores") or {}).items())
        print(f"[{table.name}] {name}: {record['status']} {record['seconds']:.1f} s {record.get('model') or ''} "
              f"{shown} {record.get('error') or ''}", file=sys.stderr, flush=True)
    return doc


# --------------------------------------------------------------------------- the report


def _headline(doc: dict[str, Any], record: dict[str, Any] | None, metric: str) -> float | None:
    if not record or record.get("status") != "ok":
        return None
    return (record.get("scores") or {}).get(metric)


def _fmt_time(record: dict[str, Any] | None) -> str:
    if not record:
        return "–"
    if record.get("status") == "timeout":
        return f"ended > {record['timeout']:.0f}"
    if record.get("status") == "failed":
        return f"failed ({record['seconds']:.0f})"
    return f"{record['seconds']:.1f}"


def _fmt_score(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _cell(doc: dict[str, Any], record: dict[str, Any] | None, metric: str) -> str:
    """The headline score, with macro F1 in brackets for multiclass."""
    value = _headline(doc, record, metric)
    text = _fmt_score(value)
    if metric == "accuracy" and value is not None and record is not None:
        text += f" ({record['scores']['f1_macro']:.4f})"
    return text


def summarize(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-table rows and the summary against issue 12's targets."""
    rows = []
    for doc in docs:
        c = doc.get("contenders", {})
        metric = metric_of(doc)
        peer_scores = {p: _headline(doc, c.get(p), metric) for p in PEERS}
        known = {p: s for p, s in peer_scores.items() if s is not None}
        best_peer = max(known.items(), key=lambda kv: kv[1]) if known else None
        engine = _headline(doc, c.get("engine"), metric)
        row = {"doc": doc, "metric": metric, "peer_scores": peer_scores, "best_peer": best_peer, "engine": engine,
               "diff": None, "ratio": None, "f1_diff": None}
        if engine is not None and best_peer is not None:
            row["diff"] = engine - best_peer[1]
        if metric == "accuracy":
            f1 = {p: _headline(doc, c.get(p), "f1_macro") for p in PEERS}
            f1_known = [s for s in f1.values() if s is not None]
            engine_f1 = _headline(doc, c.get("engine"), "f1_macro")
            if engine_f1 is not None and f1_known:
                row["f1_diff"] = engine_f1 - max(f1_known)
        eng, pyc = c.get("engine"), c.get("pycaret")
        if eng and eng.get("status") == "ok" and pyc and pyc.get("seconds"):
            row["ratio"] = eng["seconds"] / pyc["seconds"]
            row["ratio_bound"] = pyc.get("status") == "timeout"  # PyCaret's true time is longer still
        rows.append(row)
    return {"rows": rows}


def report(docs: list[dict[str, Any]]) -> str:
    s = summarize(docs)
    rows = s["rows"]
    lines = [
        "| table | rows × cols | metric | PyCaret s | PyCaret | LightGBM s | LightGBM | FLAML s (budget) | FLAML | "
        "engine s | engine | engine ÷ PyCaret time | engine − best peer |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d = r["doc"]
        c = d.get("contenders", {})
        metric = r["metric"]
        label = {"auc": "AUC", "accuracy": "accuracy (F1 macro)", "r2": "R²"}[metric]

        fl = c.get("flaml")
        fl_time = _fmt_time(fl) + (f" ({fl['budget']:.0f})" if fl and "budget" in fl else "")
        ratio = "–" if r["ratio"] is None else ("≤ " if r.get("ratio_bound") else "") + f"{r['ratio']:.3f}"
        diff = "–" if r["diff"] is None else f"{r['diff']:+.4f}"
        if r["f1_diff"] is not None:
            diff += f" (F1 {r['f1_diff']:+.4f})"
        cells = [d["table"], f"{d['rows']:,} × {d['features']}", label,
                 _fmt_time(c.get("pycaret")), _cell(d, c.get("pycaret"), metric),
                 _fmt_time(c.get("lightgbm")), _cell(d, c.get("lightgbm"), metric),
                 fl_time, _cell(d, fl, metric),
                 _fmt_time(c.get("engine")), _cell(d, c.get("engine"), metric), ratio, diff]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *summary_lines(rows), "", *provenance_lines(docs)]
    return "\n".join(lines)


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for name in CONTENDERS:
        records = [r["doc"].get("contenders", {}).get(name) for r in rows]
        measured = [x for x in records if x]
        bad = [f"{r['doc']['table']} ({x['status']})" for r, x in zip(rows, records, strict=True)
               if x and x.get("status") != "ok"]
        out.append(f"- {LABELS[name]}: measured on {len(measured)} of {len(rows)} tables; "
                   f"{'no hang or failure' if not bad else 'hangs/failures: ' + ', '.join(bad)}.")
    diffs = [r for r in rows if r["diff"] is not None]
    if not diffs:
        out.append("- Engine against the best peer: not measured yet (peers only).")
        return out
    mean = float(np.mean([r["diff"] for r in diffs]))
    worst = min(diffs, key=lambda r: r["diff"])
    below = [r["doc"]["table"] for r in diffs if r["diff"] < -0.01]
    out.append(f"- Mean holdout score, engine − best peer, over {len(diffs)} tables: {mean:+.4f} "
               f"(target ≥ 0: {'met' if mean >= 0 else 'NOT met'}).")
    out.append(f"- Worst: {worst['diff']:+.4f} ({worst['doc']['table']}); more than 0.01 below the best peer on "
               f"{len(below)} table(s){': ' + ', '.join(below) if below else ''} "
               f"(target none: {'met' if not below else 'NOT met'}).")
    f1 = [r for r in rows if r["f1_diff"] is not None]
    if f1:
        out.append(f"- Multiclass macro F1, engine − best peer: mean {np.mean([r['f1_diff'] for r in f1]):+.4f}, "
                   f"worst {min(r['f1_diff'] for r in f1):+.4f}.")
    timed = [r for r in rows if r["ratio"] is not None]
    over = [f"{r['doc']['table']} ({r['ratio']:.2f})" for r in timed
            if r["ratio"] > (0.1 if r["doc"]["rows"] > BIG_ROWS else 0.2)]
    out.append(f"- Time, engine ÷ PyCaret default: ≤ 0.2 on every table and ≤ 0.1 over {BIG_ROWS:,} rows: "
               f"{'met' if not over else 'NOT met on ' + ', '.join(over)} ({len(timed)} tables timed).")
    return out


def provenance_lines(docs: list[dict[str, Any]]) -> list[str]:
    by: dict[str, set[str]] = {}
    loads: dict[str, list[float]] = {}
    for d in docs:
        for name, rec in d.get("contenders", {}).items():
            # The commit says which engine ran; the peers' code is the pinned libraries and this folder.
            when = rec.get("measured_at", "?")[:10] + (f" at {rec.get('commit', '?')}" if name == "engine" else "")
            by.setdefault(name, set()).add(when)
            loads.setdefault(name, []).append(float(rec.get("load1", 0.0)))
    out = []
    for name in CONTENDERS:
        if name in by:
            out.append(f"- {LABELS[name]} measured {', '.join(sorted(by[name]))}; mean 1-minute load at its starts "
                       f"{np.mean(loads[name]):.1f}.")
    fl_sources = {rec.get("budget_source") for d in docs for n, rec in d.get("contenders", {}).items()
                  if n == "flaml" and rec.get("budget_source")}
    if fl_sources:
        out.append(f"- FLAML's budget: {'; '.join(sorted(s for s in fl_sources if s))}.")
    stale = [d["table"] for d in docs
             if (e := d.get("contenders", {}).get("engine")) and e.get("status") == "ok"
             and flaml_stale(d["contenders"].get("flaml"), float(e["seconds"]))]
    if stale:
        out.append(f"- FLAML's budget differs from the engine's time on {', '.join(stale)}: rerun "
                   "`--only flaml` (a run without `--only` does it by itself).")
    out.append(f"- Python {platform.python_version()}, {os.cpu_count()} cores; each contender in its own process, "
               "one after the other; the machine may have been shared (see the load).")
    return out


def tables_markdown(metas: list[dict[str, Any]]) -> str:
    lines = ["| table | package | rows × cols | type | minority share | categorical / date columns | missing | what |",
             "|---|---|---|---|---:|---|---:|---|"]
    for m in metas:
        kind = ("regression" if m["problem"] == "regression"
                else "binary" if m["n_classes"] == 2 else f"multiclass ({m['n_classes']})")
        minority = f"{100 * m['minority_share']:.1f} %" if "minority_share" in m else "–"
        lines.append(f"| {m['table']} | {m['package']} | {m['rows']:,} × {m['features']} | {kind} | {minority} | "
                     f"{m['categorical_columns']} / {len(m['date_columns'])} | {100 * m['missing_share']:.1f} % | "
                     f"{m['description']} |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    block = f"{BEGIN}\n{text}\n{END}"
    content = README.read_text(encoding="utf-8")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(head + block + tail, encoding="utf-8")


# --------------------------------------------------------------------------- command line


def _names(value: str | None, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    if not value:
        return list(allowed)
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", help="comma-separated tables (default: all 24, smallest first)")
    parser.add_argument("--only", help="measure only these contenders now (pycaret,lightgbm,flaml,engine), "
                        "again even if cached; the others come from the cache")
    parser.add_argument("--fresh", action="store_true", help="measure every selected contender again")
    parser.add_argument("--resume", action="store_true", help="with --only: skip the contenders a table already "
                        "has a result of (to go on with an interrupted run)")
    parser.add_argument("--report", action="store_true", help="measure nothing: print the cached results")
    parser.add_argument("--list", action="store_true", help="print the tables (writes their splits)")
    parser.add_argument("--write-readme", action="store_true", help="put the tables and results into README.md")
    parser.add_argument("--pycaret-timeout", type=float, default=3_600.0)
    parser.add_argument("--engine-timeout", type=float, default=1_200.0)
    parser.add_argument("--lightgbm-timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    tables = [BY_NAME[n] for n in _names(args.tables, [t.name for t in TABLES], "table")]
    only = tuple(_names(args.only, CONTENDERS, "contender")) if args.only else CONTENDERS
    timeouts = {"pycaret": args.pycaret_timeout, "engine": args.engine_timeout, "lightgbm": args.lightgbm_timeout}
    metas = [prepare(t)[1] for t in tables]
    if args.list:
        print(tables_markdown(metas))
        return 0
    if not args.report:
        for table in tables:
            bench_table(table, only, forced=args.fresh or (bool(args.only) and not args.resume), timeouts=timeouts,
                        resume=args.resume)
    docs = [d for t in tables if (d := load_results(t.name))]
    text = report(docs)
    print(text)
    if args.write_readme:
        all_metas = [prepare(t)[1] for t in TABLES]
        all_docs = [d for t in TABLES if (d := load_results(t.name))]
        write_readme("### The tables\n\n" + tables_markdown(all_metas) + "\n\n### Results\n\n" + report(all_docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
