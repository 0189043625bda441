"""Benchmark: the same training on this computer and on a 2-worker Dask `LocalCluster` (issue 16, item 2).

On a 2-core machine a cluster cannot be faster: its two worker processes share the same cores as the
two fitting processes of a local run. What this measures is the cluster's overhead (connecting, the
versions check, scattering the prepared folds, task round trips through the scheduler), as the ratio
of the job's wall time on the cluster to the local one. Target: ≤ 1.5×, with the same chosen model and
the same holdout score.

The job: ``run_training`` (the training worker's engine, in this process) of a synthetic table —
``--rows`` rows, 8 numeric and 3 text columns, a yes/no target with real signal — with the ``fast``
preset and every model, the way ``predictml train`` runs it. The cluster is started once, before the
first run (a team's cluster is already running when a job starts); its worker processes are spawned
with one thread each. Runs alternate local / cluster ``--repeat`` times; medians.

Run:  nice -n 10 .venv/bin/python bench/cluster.py [--rows 5000] [--repeat 3] [--preset fast] [--json FILE]
Exit code 0 when the target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.5


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """A mixed table with signal in some numeric and text columns."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, 8))
    region = rng.choice(["north", "south", "east", "west"], rows)
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    channel = rng.choice(["web", "shop", "phone"], rows)
    logit = (1.2 * numeric[:, 0] - 0.8 * numeric[:, 1] + 0.5 * numeric[:, 2] * numeric[:, 3]
             + (plan == "pro") * 0.9 - (region == "south") * 0.6)
    y = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(numeric.round(4), columns=[f"n{i}" for i in range(8)])
    frame["region"], frame["plan"], frame["channel"], frame["y"] = region, plan, channel, y
    return frame


def train(frame: pd.DataFrame, preset: str, cluster: str | None) -> tuple[float, dict[str, Any]]:
    from predictml_desktop.core.training import TrainingOptions
    from predictml_desktop.core.training.engine import TrainingRequest, run_training

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        home = Path(tmp)
        request = TrainingRequest(frame=frame, target="y", problem_type=None,
                                  options=TrainingOptions(preset=preset, cluster=cluster), job_id="training_1",
                                  model_dir=home / "models" / "training_1", home=home, started_at=time.time())
        started = time.perf_counter()
        result = run_training(request, lambda _event: None)
        return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from distributed import LocalCluster

    frame = make_table(args.rows)
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    print(f"LocalCluster of 2 worker processes started in {time.perf_counter() - t:.1f} s "
          f"({cluster.scheduler_address}); table {args.rows:,} rows × {frame.shape[1] - 1} columns, "
          f"preset {args.preset}.", flush=True)
    runs: dict[str, list[tuple[float, dict[str, Any]]]] = {"local": [], "cluster": []}
    try:
        for i in range(args.repeat):
            for where, address in (("local", None), ("cluster", cluster.scheduler_address)):
                seconds, result = train(frame, args.preset, address)
                runs[where].append((seconds, result))
                print(f"  run {i + 1} {where:7s}: {seconds:6.1f} s  model {result['modelId']:<12s} "
                      f"holdout AUC {result['metrics'].get('auc'):.4f}", flush=True)
    finally:
        cluster.close()

    local_s = statistics.median(s for s, _ in runs["local"])
    cluster_s = statistics.median(s for s, _ in runs["cluster"])
    ratio = cluster_s / local_s
    models = {where: sorted({r["modelId"] for _, r in rs}) for where, rs in runs.items()}
    scores = {where: sorted({round(float(r["metrics"]["auc"]), 6) for _, r in rs}) for where, rs in runs.items()}
    same = models["local"] == models["cluster"] and scores["local"] == scores["cluster"]
    ok = ratio <= TARGET_RATIO and same
    print(f"median local {local_s:.1f} s, cluster {cluster_s:.1f} s: ratio {ratio:.2f}× (target ≤ {TARGET_RATIO}×); "
          f"models {models['local']} vs {models['cluster']}, holdout AUC {scores['local']} vs {scores['cluster']}: "
          f"{'same' if same else 'DIFFERENT'} → {'PASS' if ok else 'FAIL'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "rows": args.rows, "preset": args.preset, "repeat": args.repeat,
            "localS": [round(s, 2) for s, _ in runs["local"]], "clusterS": [round(s, 2) for s, _ in runs["cluster"]],
            "ratio": round(ratio, 3), "models": models, "auc": scores, "pass": ok,
        }, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
