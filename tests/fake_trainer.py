"""A stand-in for the training worker, for testing the runner and the GUI's training thread.

Run as ``python tests/fake_trainer.py --mode MODE [--children N] [--step S] JOB_ID --started-at T
[--resume] [--stopped JSON]`` (the runner appends everything from JOB_ID on, exactly as it does for
the real worker). It speaks the same JSON-lines protocol, follows its parent like the real worker
(its process group dies with the app) and ends its group on ``cancel``. Modes:

- ``success``: every stage, two candidates, a model file and a result (hash included).
- ``garbage``: like success, with non-JSON lines, torn JSON and unknown event types mixed in.
- ``error``: an ``error`` event ("Target column 'target' not found"), exit 1.
- ``crash``: a traceback on stderr and exit code 3, no error event.
- ``sigkill``: kills itself with SIGKILL after the set-up stage.
- ``slow``: starts ``--children`` helper processes (like joblib's), then trains slowly until cancelled.
- ``stubborn``: like slow, but ignores ``cancel`` and SIGTERM (the runner must kill it).
- ``hang_unit``: announces candidate ``screen:slowmodel`` with a 1 s share and hangs; resumed with
  that unit in ``--stopped``, it records the candidate as stopped and finishes.
- ``chatty``: prints 120 log lines, then succeeds (the record keeps only the last 50).
- ``idle_unit``: announces the step ``prepare:all`` with a long time share and sleeps (alive but using
  no CPU: a deadlock); resumed with it in ``--stopped``, it finishes.
- ``keeps``: like slow, with one candidate finished; on ``stop`` it acknowledges, saves that model
  and succeeds as stopped early (the real worker's "keep the best model so far").

Like the real worker, ``stop`` on stdin with nothing finished ends the process group (the job is
cancelled); ``stubborn`` ignores it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictml_desktop.core.processes import follow_parent  # noqa: E402

_lock = threading.Lock()


def emit(doc: dict) -> None:
    with _lock:
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()


def raw(text: str) -> None:
    with _lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def die_group() -> None:
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


STOP = threading.Event()


def watch_stdin(ignore: bool, keeps: bool) -> None:
    for line in iter(sys.stdin.buffer.readline, b""):
        command = line.strip()
        if ignore:
            continue
        if command == b"cancel":
            die_group()
        elif command == b"stop":
            if not keeps:
                die_group()
            emit({"type": "progress", "progress": 0, "stage": "Stopping", "stopping": True})
            STOP.set()


def start_children(n: int) -> list[subprocess.Popen]:
    code = "import time\nwhile True: time.sleep(0.2)"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def model_result(job_id: str, name: str = "Fake Model") -> dict:
    home = Path(os.environ["PREDICTML_HOME"])
    folder = home / "models" / job_id
    folder.mkdir(parents=True, exist_ok=True)
    data = f"fake model of {job_id}".encode()
    (folder / "model.pkl").write_bytes(data)
    return {
        "success": True, "jobId": job_id, "model_name": name, "problem_type": "classification",
        "metrics": {"auc": 0.91, "accuracy": 0.88}, "cv": {"auc": 0.9}, "baseline": {"auc": 0.5},
        "holdoutRows": 20, "model_path": f"models/{job_id}/model.pkl",
        "modelSha256": hashlib.sha256(data).hexdigest(), "samples": 100, "features": 3,
        "rankingMetric": "auc", "rankingMetricReason": "fake", "beatsBaseline": True,
        "warnings": [], "environment": {"python": "fake"}, "leaderboard": [
            {"model": "lr", "name": "Logistic Regression", "stage": "cross-validation", "status": "done",
             "scores": {"auc": 0.9}, "chosen": True}],
    }


def stages(step: float) -> None:
    for pct, stage in ((5, "Loading data"), (15, "Detecting problem type"), (25, "Setting up"),
                       (40, "Training models")):
        emit({"type": "progress", "progress": pct, "stage": stage})
        time.sleep(step)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="success")
    parser.add_argument("--children", type=int, default=0)
    parser.add_argument("--step", type=float, default=0.02)
    parser.add_argument("job_id")
    parser.add_argument("--started-at", type=float)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stopped", default="{}")
    args = parser.parse_args()
    mode = args.mode
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        follow_parent(kill_group_on_sigterm=True, poll_s=0.2)
    threading.Thread(target=watch_stdin, args=(mode == "stubborn", mode == "keeps"), daemon=True).start()
    job_id = args.job_id

    if mode == "error":
        emit({"type": "progress", "progress": 5, "stage": "Loading data"})
        emit({"type": "error", "message": "Target column 'target' not found"})
        return 1
    if mode == "crash":
        emit({"type": "progress", "progress": 5, "stage": "Loading data"})
        print("Traceback (most recent call last):\nRuntimeError: boom", file=sys.stderr, flush=True)
        os._exit(3)
    stages(args.step)
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "keeps":
        emit({"type": "candidate", "model": "lr", "name": "Logistic Regression", "unit": "screen:lr",
              "stage": "screening", "status": "done", "scores": {"auc": 0.9}, "fitSeconds": 0.02})
        emit({"type": "log", "message": "started 0 helper processes"})
        while not STOP.wait(0.1):
            emit({"type": "progress", "progress": 50, "stage": "Training models"})
        result = model_result(job_id)
        result["stoppedEarly"] = True
        emit({"type": "result", **result})
        return 0
    if mode in ("slow", "stubborn"):
        children = start_children(args.children)
        emit({"type": "log", "message": f"started {len(children)} helper processes"})
        for i in range(10_000):
            emit({"type": "progress", "progress": 40 + i % 40, "stage": "Training models"})
            time.sleep(0.1)
        return 0
    if mode == "idle_unit":
        stopped = json.loads(args.stopped)
        if "prepare:all" not in stopped:
            emit({"type": "progress", "progress": 80, "stage": "Evaluating", "running": {"prepare:all": 600}})
            time.sleep(3600)
        emit({"type": "log", "message": f"resumed without: {stopped.get('prepare:all')}"})
    if mode == "hang_unit":
        stopped = json.loads(args.stopped)
        if "screen:slowmodel" not in stopped:
            emit({"type": "progress", "progress": 42, "stage": "Training models", "unit": "screen:slowmodel",
                  "timeoutS": 1})
            time.sleep(3600)
        emit({"type": "candidate", "model": "slowmodel", "unit": "screen:slowmodel", "stage": "screening",
              "status": "stopped", "reason": stopped.get("screen:slowmodel"), "scores": {}})
    if mode == "garbage":
        raw("this is not json")
        raw('{"type": "progress", "progress": ')
        raw('{"type": "unknown", "x": 1}')
        raw('{"type": "progress", "progress": "NaN"}')
        raw("[1, 2, 3]")
    if mode == "chatty":
        for i in range(120):
            emit({"type": "log", "message": f"line {i}"})
    emit({"type": "candidate", "model": "dummy", "name": "Dummy", "stage": "screening", "status": "done",
          "scores": {"auc": 0.5}, "fitSeconds": 0.01})
    emit({"type": "candidate", "model": "lr", "name": "Logistic Regression", "stage": "screening",
          "status": "done", "scores": {"auc": 0.9}, "fitSeconds": 0.02})
    emit({"type": "progress", "progress": 80, "stage": "Evaluating"})
    result = model_result(job_id)
    emit({"type": "progress", "progress": 100, "stage": "Saved"})
    emit({"type": "result", **result})
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Like the real worker: skip interpreter shutdown, which aborts while the stdin reader blocks.
    os._exit(code)
