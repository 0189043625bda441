"""What the opt-in prediction log adds to a served request (issue 15: at most 1 ms at p50).

Trains and approves the same model as ``serve_latency.py``, starts the service as the app does (a
child process), and measures single-row HTTP requests on one keep-alive connection with the log off
and on, in alternating rounds in the same run (the box is shared; alternating spreads its noise over
both). Also times `PredictionLog.record` itself in process: the only work the log puts on a request.

Run: ``nice -n 10 .venv/bin/python bench/prediction_log_latency.py [--samples 400] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serve_latency import http_sequential, percentile, train  # noqa: E402

TARGET_MS = 1.0


def set_log(paths: object, on: bool) -> None:
    from predictml_desktop.core.settings import load_settings, save_settings

    settings = load_settings(paths)  # type: ignore[arg-type]
    settings.prediction_log = on
    save_settings(paths, settings)  # type: ignore[arg-type]
    time.sleep(1.2)  # the service re-reads the setting at most once a second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="off/on round pairs")
    parser.add_argument("--models", default="lr")
    args = parser.parse_args(argv)

    from predictml_desktop.core.drift.prediction_log import PredictionLog, log_files
    from predictml_desktop.core.service import ServiceProcess, find_free_port

    with tempfile.TemporaryDirectory(prefix="predictml-bench-") as tmp:
        paths, dataset_id, rows = train(Path(tmp), args.models.split(","))
        service = ServiceProcess(paths, port=find_free_port(18100) or 18100)
        service.start(timeout=180)
        off: list[float] = []
        on: list[float] = []
        try:
            path = f"/predict/{dataset_id}"
            bodies = [{"inputData": rows[i % len(rows)]} for i in range(args.samples)]
            http_sequential(service.url, path, bodies[:50])  # load the model, warm up
            for _ in range(args.rounds):
                set_log(paths, False)
                off += http_sequential(service.url, path, bodies)
                set_log(paths, True)
                on += http_sequential(service.url, path, bodies)
        finally:
            service.stop()
        logged = sum(1 for f in log_files(paths) for _ in open(f, "rb"))

        log = PredictionLog(paths, enabled=True)
        record = []
        for i in range(5000):
            t = time.perf_counter()
            log.record(dataset_id=dataset_id, deployment_id="d", job_id="j", model_name="m",
                       rows=[rows[i % len(rows)]], predictions=[0], latency_ms=1.0)
            record.append((time.perf_counter() - t) * 1e6)
        log.close()

    off50, on50 = percentile(off, 50), percentile(on, 50)
    print(f"HTTP single row, log off  p50 {off50:6.2f} ms  p99 {percentile(off, 99):6.2f} ms  ({len(off)} requests)")
    print(f"HTTP single row, log on   p50 {on50:6.2f} ms  p99 {percentile(on, 99):6.2f} ms  ({len(on)} requests, "
          f"{logged} lines logged)")
    print(f"added by the log          p50 {on50 - off50:+.3f} ms")
    print(f"PredictionLog.record      p50 {percentile(record, 50):.1f} µs  p99 {percentile(record, 99):.1f} µs")
    print(f"[{'PASS' if on50 - off50 <= TARGET_MS else 'FAIL'}] the log adds <= {TARGET_MS:g} ms at p50")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
