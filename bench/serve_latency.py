"""Latency and throughput of the local prediction service against in-process prediction (issue 6).

Trains a real model with the engine (``TrainingRunner``, the ``fast`` preset on the sample purchase
table), approves it, starts the service as a child process (``ServiceProcess``, exactly as the app
does) and measures, with keep-alive HTTP clients on 127.0.0.1:

1. single-row requests at concurrency 1: p50 / p99, against the in-process ``predict_rows`` time of
   the same rows measured in the same run (the baseline), itself shown against the same call with
   the compiled fast path off (``ModelRegistry(fast_path=False)``: the fitted pipeline's own
   ``predict``/``predict_proba``);
2. 100-row requests at concurrency 1: p50 / p99, against in-process;
3. throughput: N requests (default 10,000) single-row at concurrency 8, with every non-2xx and
   connection error counted;
4. a body over the 10 MB limit: time to the 413.

Targets (issue 6): single-row p50 <= 10 ms and <= 5 ms above in-process; 100-row p50 <= 50 ms;
>= 200 requests/s; zero errors. The script prints every figure, its ratio to the baseline and
PASS/FAIL per target; it exits 0 either way (figures, not a gate).

Run: ``nice -n 10 .venv/bin/python bench/serve_latency.py [--requests 10000] [--models lr]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SINGLE_P50_MS = 10.0
SINGLE_OVER_INPROCESS_MS = 5.0
BATCH_P50_MS = 50.0
THROUGHPUT_RPS = 200.0


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def train(root: Path, models: list[str]) -> tuple[Any, str, list[dict[str, Any]]]:
    from predictml_desktop.core.governance import Governance, cheap_hasher_for_tests
    from predictml_desktop.core.ingest import import_dataset, load_dataset_frame
    from predictml_desktop.core.paths import Paths
    from predictml_desktop.core.prediction import load_schema
    from predictml_desktop.core.sampledata import make_purchase_table
    from predictml_desktop.core.store import Store
    from predictml_desktop.core.training import TrainingOptions, TrainingRunner, create_job

    paths = Paths(root / "home", root / "config").ensure()
    store = Store(paths)
    csv = root / "customer_purchases.csv"
    make_purchase_table(3000).to_csv(csv, index=False)
    dataset = import_dataset(store, csv, target="purchased")
    job = create_job(store, dataset.id, "purchased", TrainingOptions(preset="fast", models=models))
    job = TrainingRunner(store, job.id).run()
    if job.status != "pending_review":
        raise SystemExit(f"training failed: {job.error}")
    gov = Governance(paths, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("bench", "a passphrase for the benchmark only")
    gov.approve(session, job.id, "local", override=True, reason="benchmark")
    schema = load_schema(paths.model_dir(job.id))
    frame = load_dataset_frame(paths, store.read().datasets.get(dataset.id))[[f.name for f in schema.features]]
    rows: list[dict[str, Any]] = []
    for record in frame.head(1000).to_dict(orient="records"):
        row = {}
        for key, value in record.items():
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float) and value != value:
                value = None
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            row[key] = value
        rows.append(row)
    print(f"trained {job.model_name} ({job.id}) on {len(frame):,} rows; {len(schema.features)} features")
    return paths, dataset.id, rows


def in_process(paths: Any, dataset_id: str, rows: list[dict[str, Any]], n: int,
               fast_path: bool = True) -> tuple[list[float], list[float]]:
    from predictml_desktop.core.prediction import ModelRegistry, predict_rows

    model = ModelRegistry(paths, fast_path=fast_path).get(dataset_id)
    if fast_path:
        print(f"in-process model: fast path {model.fast_path} ({model.fast_path_reason})")
    for row in rows[:20]:
        predict_rows(model, row, strict=True)
    single = []
    for i in range(n):
        t = time.perf_counter()
        predict_rows(model, rows[i % len(rows)], strict=True)
        single.append((time.perf_counter() - t) * 1000)
    batch = []
    for i in range(max(20, n // 10)):
        start = (i * 100) % (len(rows) - 100)
        t = time.perf_counter()
        predict_rows(model, rows[start:start + 100], strict=True)
        batch.append((time.perf_counter() - t) * 1000)
    return single, batch


def http_sequential(url: str, path: str, bodies: list[Any]) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=60) as client:  # one keep-alive connection
        for body in bodies[:20]:
            client.post(path, json=body).raise_for_status()
        for body in bodies:
            t = time.perf_counter()
            r = client.post(path, json=body)
            times.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    return times


def http_load(url: str, path: str, rows: list[dict[str, Any]], total: int, concurrency: int) -> dict[str, Any]:
    counter = iter(range(total))
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    errors: list[str] = []
    latencies: list[float] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t = time.perf_counter()
                try:
                    r = client.post(path, json={"inputData": rows[i % len(rows)]})
                    code = r.status_code
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(repr(exc))
                    continue
                elapsed = (time.perf_counter() - t) * 1000
                with lock:
                    statuses[code] = statuses.get(code, 0) + 1
                    latencies.append(elapsed)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(worker) for _ in range(concurrency)]:
            f.result()
    wall = time.perf_counter() - started
    return {"wall": wall, "statuses": statuses, "errors": errors, "latencies": latencies}


def time_to_413(url: str) -> float:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        t = time.perf_counter()
        sock.sendall(f"POST /predict/x HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 209715200\r\n\r\n".encode())
        head = sock.recv(64)
        elapsed = (time.perf_counter() - t) * 1000
    assert head.startswith(b"HTTP/1.1 413"), head
    return elapsed


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests of the throughput run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--samples", type=int, default=500, help="sequential requests per latency figure")
    parser.add_argument("--models", default="lr", help="model families to train (comma-separated)")
    parser.add_argument("--threads", type=int, default=8, help="the service's prediction threads")
    args = parser.parse_args(argv)

    from predictml_desktop.core.prediction import FAST_PATH_PENDING
    from predictml_desktop.core.service import ServiceProcess, find_free_port

    with tempfile.TemporaryDirectory(prefix="predictml-bench-") as tmp:
        paths, dataset_id, rows = train(Path(tmp), args.models.split(","))
        single_in, batch_in = in_process(paths, dataset_id, rows, args.samples)
        single_full, batch_full = in_process(paths, dataset_id, rows, max(50, args.samples // 5), fast_path=False)
        service = ServiceProcess(paths, port=find_free_port(18000) or 18000,
                                 extra_args=("--threads", str(args.threads)))
        service.start(timeout=180)
        try:
            url = service.url
            path = f"/predict/{dataset_id}"
            with httpx.Client(base_url=url, timeout=60) as client:
                client.post(path, json={"inputData": rows[0]}).raise_for_status()  # loads the model
                deadline = time.monotonic() + 60
                while True:  # the service checks the compiled pipeline in the background
                    listed = client.get("/models").json()["models"]
                    served = next(m for m in listed if m["datasetId"] == dataset_id)
                    if served.get("fastPathReason") != FAST_PATH_PENDING or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            print(f"service model: fast path {served.get('fastPath')} ({served.get('fastPathReason')})")
            single_http = http_sequential(url, path, [{"inputData": rows[i % len(rows)]}
                                                      for i in range(args.samples)])
            batch_http = http_sequential(url, path, [{"inputData": rows[(i * 100) % 900:(i * 100) % 900 + 100]}
                                                     for i in range(max(20, args.samples // 10))])
            load = http_load(url, path, rows, args.requests, args.concurrency)
            refused_ms = time_to_413(url)
        finally:
            service.stop()

    s_in50, s_in99 = percentile(single_in, 50), percentile(single_in, 99)
    s_full50, s_full99 = percentile(single_full, 50), percentile(single_full, 99)
    b_full50, b_full99 = percentile(batch_full, 50), percentile(batch_full, 99)
    s_h50, s_h99 = percentile(single_http, 50), percentile(single_http, 99)
    b_in50, b_in99 = percentile(batch_in, 50), percentile(batch_in, 99)
    b_h50, b_h99 = percentile(batch_http, 50), percentile(batch_http, 99)
    ok_count = sum(v for k, v in load["statuses"].items() if 200 <= k < 300)
    failures = args.requests - ok_count
    rps = ok_count / load["wall"]
    lat = load["latencies"]
    print()
    print(f"in-process single row, full pipeline  p50 {s_full50:7.2f} ms  p99 {s_full99:7.2f} ms")
    print(f"in-process 100 rows, full pipeline    p50 {b_full50:7.2f} ms  p99 {b_full99:7.2f} ms")
    print(f"fast path speed-up in process: single row {s_full50 / s_in50:.1f}x, 100 rows {b_full50 / b_in50:.1f}x")
    print(f"in-process single row   p50 {s_in50:7.2f} ms  p99 {s_in99:7.2f} ms   (baseline)")
    print(f"HTTP single row         p50 {s_h50:7.2f} ms  p99 {s_h99:7.2f} ms   "
          f"overhead p50 {s_h50 - s_in50:+.2f} ms, ratio {s_h50 / s_in50:.2f}x")
    print(f"in-process 100 rows     p50 {b_in50:7.2f} ms  p99 {b_in99:7.2f} ms   (baseline)")
    print(f"HTTP 100 rows           p50 {b_h50:7.2f} ms  p99 {b_h99:7.2f} ms   "
          f"overhead p50 {b_h50 - b_in50:+.2f} ms, ratio {b_h50 / b_in50:.2f}x")
    print(f"throughput              {ok_count:,}/{args.requests:,} ok at concurrency {args.concurrency} in "
          f"{load['wall']:.1f} s = {rps:.0f} req/s (in-process single-thread: {1000 / statistics.mean(single_in):.0f}"
          f" rows/s); p50 {percentile(lat, 50):.1f} ms p99 {percentile(lat, 99):.1f} ms; "
          f"statuses {load['statuses']}, connection errors {len(load['errors'])}")
    print(f"413 for a 200 MB Content-Length: {refused_ms:.1f} ms")
    print()
    print(f"[{verdict(s_h50 <= SINGLE_P50_MS)}] single-row p50 <= {SINGLE_P50_MS:g} ms")
    print(f"[{verdict(s_h50 - s_in50 <= SINGLE_OVER_INPROCESS_MS)}] single-row p50 <= in-process + "
          f"{SINGLE_OVER_INPROCESS_MS:g} ms")
    print(f"[{verdict(b_h50 <= BATCH_P50_MS)}] 100-row p50 <= {BATCH_P50_MS:g} ms")
    print(f"[{verdict(rps >= THROUGHPUT_RPS)}] throughput >= {THROUGHPUT_RPS:g} req/s")
    print(f"[{verdict(failures == 0 and not load['errors'])}] zero errors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
