"""Benchmark: ingest + profile against a bare ``pandas.read_csv`` of the same file, in the same run.

Two generated files: 100,000 rows x 100 mixed-type columns, and 1,000,000 rows x 20 columns.
Each measurement runs in its own fresh process (so one run's memory does not pollute the next),
repeated and interleaved (the machine is shared; the median is reported).

Targets (issue 2): ingest + profile takes at most 2x read_csv's time, and its peak memory is at
most 3x the loaded DataFrame's size.

Run:  nice -n 10 .venv/bin/python bench/ingest.py [--repeat 3] [--quick]
Exit code 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIME_TARGET = 2.0
MEMORY_TARGET = 3.0


def make_mixed(n_rows: int, n_cols: int, seed: int = 0):
    """A mixed-type table: floats, integers, categories, missing values, flags, dates and short text."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"])
    words = np.array(["good", "bad", "late", "fast", "broken", "fine", "again", "never", "ok", "very"])
    cols = {}
    for i in range(n_cols - 1):
        kind = i % 7
        if kind == 0:
            cols[f"num_{i}"] = np.round(rng.normal(0, 1, n_rows), 4)
        elif kind == 1:
            cols[f"int_{i}"] = rng.integers(0, 1000, n_rows)
        elif kind == 2:
            cols[f"cat_{i}"] = cats[rng.integers(0, len(cats), n_rows)]
        elif kind == 3:
            values = np.round(rng.lognormal(3, 1, n_rows), 2)
            cols[f"miss_{i}"] = np.where(rng.random(n_rows) < 0.05, np.nan, values)
        elif kind == 4:
            cols[f"flag_{i}"] = rng.integers(0, 2, n_rows)
        elif kind == 5:
            days = rng.integers(0, 3000, n_rows).astype("timedelta64[D]")
            cols[f"date_{i}"] = pd.Series(np.datetime64("2015-01-01") + days).dt.strftime("%Y-%m-%d").to_numpy()
        else:
            a, b = words[rng.integers(0, 10, n_rows)], words[rng.integers(0, 10, n_rows)]
            cols[f"text_{i}"] = np.char.add(np.char.add(a, " "), b)
    cols["target"] = rng.integers(0, 2, n_rows)
    return pd.DataFrame(cols)


def _child(mode: str, path: str) -> None:
    # Imports first, then the baseline: only the work itself counts towards the peak.
    import pandas as pd

    from predictml_desktop.core.ingest import read_table
    from predictml_desktop.core.profile import profile_frame
    from predictml_desktop.core.settings import Limits

    before = _reset_peak()
    start = time.perf_counter()
    if mode == "read_csv":
        frame = pd.read_csv(path)
    else:
        frame = read_table(path, limits=Limits()).frame
        profile_frame(frame)
    seconds = time.perf_counter() - start
    peak = _peak_kb() - before
    df_bytes = int(frame.memory_usage(deep=True).sum())
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "df_mb": df_bytes / 2**20, "shape": frame.shape}))


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> int:
    """Reset the peak-RSS counter where Linux allows it and return the current RSS in KiB.

    Imports leave a peak of their own; writing 5 to /proc/self/clear_refs (Linux >= 4.0) resets
    VmHWM, so the peak measured afterwards is the work's alone. Elsewhere ru_maxrss is used.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return _status_kb("VmRSS") or 0


def _peak_kb() -> int:
    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows (to try the script)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return 0

    scale = 10 if args.quick else 1
    cases = [("100k x 100 mixed", 100_000 // scale, 100), ("1M x 20", 1_000_000 // scale, 20)]
    ok = True
    with tempfile.TemporaryDirectory(prefix="predictml-bench-") as tmp:
        print(f"{'case':18} {'file MB':>8} {'read_csv s':>10} {'ingest s':>9} {'time x':>7} "
              f"{'df MB':>7} {'read_csv peak MB':>16} {'ingest peak MB':>14} {'peak/df':>8}")
        for label, rows, cols in cases:
            path = Path(tmp) / f"bench_{rows}x{cols}.csv"
            make_mixed(rows, cols).to_csv(path, index=False)
            base: list[dict[str, float]] = []
            ours: list[dict[str, float]] = []
            for _ in range(args.repeat):  # interleaved, so load changes hit both alike
                base.append(_run("read_csv", path))
                ours.append(_run("ingest", path))
            t_base = statistics.median(r["seconds"] for r in base)
            t_ours = statistics.median(r["seconds"] for r in ours)
            m_base = statistics.median(r["peak_mb"] for r in base)
            m_ours = statistics.median(r["peak_mb"] for r in ours)
            df_mb = ours[0]["df_mb"]
            time_ratio, mem_ratio = t_ours / t_base, m_ours / df_mb
            ok &= time_ratio <= TIME_TARGET and mem_ratio <= MEMORY_TARGET
            print(f"{label:18} {path.stat().st_size / 2**20:8.1f} {t_base:10.2f} {t_ours:9.2f} {time_ratio:7.2f} "
                  f"{df_mb:7.1f} {m_base:16.1f} {m_ours:14.1f} {mem_ratio:8.2f}")
    print(f"targets: time x <= {TIME_TARGET}, peak/df <= {MEMORY_TARGET} -> {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
