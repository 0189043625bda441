"""``predictml --self-test``: the whole product, end to end, headless, in a temporary data home.

Used on the packaged build, where a missing data file or a wrong process start only shows when the
code runs: it opens the main window offscreen, ingests the bundled sample dataset, trains in the
worker process (every model family the app offers, on a short budget), sets a temporary admin
password and approves the job, starts the prediction service on a free loopback port, predicts over
HTTP and checks the answer against an in-process prediction; last, it starts a Dask `LocalCluster` of one
worker process and trains there (Settings → Compute's cluster path, with the versions check). It prints
one JSON summary and exits 0, or exits 1 naming the step that failed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from predictml_desktop import __version__
from predictml_desktop.core.processes import is_frozen

SAMPLE_TARGET = "purchased"
SAMPLE_ROWS = 600
"""Rows of the sample the self-test trains on: few enough that every candidate runs (a Gaussian
process is skipped above 1,000 rows), so a model whose library is missing from the bundle shows."""
TRAIN_BUDGET_S = 90.0


class SelfTestError(Exception):
    """A check of the self-test did not hold."""


def _post_json(url: str, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def run_self_test(out: Path | None = None) -> int:
    """Run every step; print the JSON summary; return 0 if all passed, else 1.

    Parameters
    ----------
    out
        Also write the summary as ``summary.json`` (and the window's screenshot) into this folder.
    """
    home = Path(tempfile.mkdtemp(prefix="predictml-selftest-"))
    # Children (worker, service) inherit the temporary home and configuration folder.
    os.environ["PREDICTML_HOME"] = str(home / "data")
    os.environ["PREDICTML_CONFIG_HOME"] = str(home / "config")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    summary: dict[str, Any] = {"ok": False, "frozen": is_frozen(), "version": __version__, "steps": {}}
    state: dict[str, Any] = {}
    started = time.perf_counter()

    def step(name: str, fn: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        print(f"self-test: {name}...", file=sys.stderr, flush=True)
        result = fn()
        summary["steps"][name] = {"seconds": round(time.perf_counter() - t0, 2), **(result or {})}

    try:
        step("window", lambda: _window(state, out))
        step("ingest", lambda: _ingest(state))
        step("train", lambda: _train(state))
        step("approve", lambda: _approve(state))
        step("serve", lambda: _serve(state))
        step("predict", lambda: _predict(state))
        step("explain", lambda: _explain(state))
        step("drift", lambda: _drift(state))
        step("cluster", lambda: _cluster(state))
        summary["ok"] = True
    except Exception as exc:  # noqa: BLE001 - any failure fails the self-test, named by its step
        failed = next((n for n in ("window", "ingest", "train", "approve", "serve", "predict", "explain", "drift",
                                   "cluster")
                       if n not in summary["steps"]), "cleanup")
        summary["failedStep"] = failed
        summary["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    finally:
        service = state.get("service")
        if service is not None:
            service.stop()
        summary["seconds"] = round(time.perf_counter() - started, 2)
        shutil.rmtree(home, ignore_errors=True)
    text = json.dumps(summary, indent=None, sort_keys=True)
    print(text, flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(text, "utf-8")
    if not summary["ok"]:
        print(f"self-test failed at step {summary['failedStep']!r}: {summary['error']}", file=sys.stderr)
    return 0 if summary["ok"] else 1


def _window(state: dict[str, Any], out: Path | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    from PySide6.QtWidgets import QApplication

    from predictml_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = MainWindow()
    window.show()
    app.processEvents()
    shown_s = time.perf_counter() - t0
    if "pycaret" in sys.modules:
        raise SelfTestError("PyCaret was imported before the window was shown")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(out / "window.png"))
    state["app"], state["window"] = app, window
    return {"windowShownSeconds": round(shown_s, 3)}


def _ingest(state: dict[str, Any]) -> dict[str, Any]:
    from predictml_desktop.core.ingest import import_dataset
    from predictml_desktop.core.resources import sample_dataset_path
    from predictml_desktop.core.store import Store

    store = Store()
    store.startup()
    sample = store.paths.home.parent / "sample.csv"
    with open(sample_dataset_path(), encoding="utf-8") as src:
        sample.write_text("".join(line for _, line in zip(range(SAMPLE_ROWS + 1), src, strict=False)), "utf-8")
    dataset = import_dataset(store, sample, target=SAMPLE_TARGET)
    if dataset.problem_type != "classification" or dataset.target_column != SAMPLE_TARGET:
        raise SelfTestError(f"the sample dataset was profiled as {dataset.problem_type} of {dataset.target_column}")
    state["store"], state["dataset"] = store, dataset
    # Parquet too: its reader is a large native library a packaged build can miss parts of.
    from predictml_desktop.core.ingest import read_table

    parquet = sample.with_suffix(".parquet")
    read_table(sample).frame.to_parquet(parquet)
    table = read_table(parquet)
    if len(table.frame) != dataset.rows:
        raise SelfTestError(f"the sample read back from Parquet has {len(table.frame)} rows, not {dataset.rows}")
    return {"datasetId": dataset.id, "rows": dataset.rows, "parquetRows": len(table.frame)}


def _train(state: dict[str, Any]) -> dict[str, Any]:
    from predictml_desktop.core.training.jobs import create_job
    from predictml_desktop.core.training.options import TrainingOptions
    from predictml_desktop.core.training.runner import TrainingRunner

    store, dataset = state["store"], state["dataset"]
    # Every model family, so that a library or data file missing from the bundle shows here.
    options = TrainingOptions(preset="fast", budget_s=TRAIN_BUDGET_S)
    job = create_job(store, dataset.id, SAMPLE_TARGET, options)
    events: list[str] = []
    final = TrainingRunner(store, job.id).run(lambda event: events.append(str(event.type)))
    if final.status != "pending_review":
        raise SelfTestError(f"training ended {final.status}: {final.error}")
    if "candidate" not in events or "result" not in events:
        raise SelfTestError(f"the worker sent no candidate or result event ({sorted(set(events))})")
    # A candidate that failed, or was stopped before scoring a fold (a hang the pool ended), points at
    # a broken bundle: a missing library, or a fitting process that cannot start in the frozen app.
    # (One stopped after its first fold for trailing far behind did fit: it has scores.)
    failed = [f"{row.get('model')}: {row.get('reason')}" for row in final.leaderboard
              if row.get("status") == "failed" or (row.get("status") == "stopped" and not row.get("scores"))]
    if failed:
        raise SelfTestError(f"{len(failed)} candidate(s) failed or were stopped: {'; '.join(failed)}")
    from predictml_desktop.core.training.catalog import models_for

    fitted = {row.get("model") for row in final.leaderboard if row.get("scores")}
    missing = [m.id for m in models_for("classification") if m.id not in fitted]
    if missing:
        raise SelfTestError(f"these candidates did not fit: {', '.join(missing)}")
    state["job"] = final
    return {"jobId": final.id, "model": final.model_name, "candidates": len(fitted)}


def _cluster(state: dict[str, Any]) -> dict[str, Any]:
    """Train on a Dask cluster: a `LocalCluster` of one worker process, started from this (frozen) app.

    What a team's cluster does, on this machine: the training worker connects to the scheduler, checks
    the workers' versions, and fits the models there.
    """
    from distributed import LocalCluster

    from predictml_desktop.core.training.jobs import create_job
    from predictml_desktop.core.training.options import TrainingOptions
    from predictml_desktop.core.training.runner import TrainingRunner

    store, dataset = state["store"], state["dataset"]
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    try:
        options = TrainingOptions(preset="fast", models=["lr", "dt"], cluster=cluster.scheduler_address)
        job = create_job(store, dataset.id, SAMPLE_TARGET, options)
        final = TrainingRunner(store, job.id).run(lambda _event: None)
    finally:
        cluster.close()
    if final.status != "pending_review":
        raise SelfTestError(f"training on a LocalCluster ended {final.status}: {final.error}")
    if not any("The models are fitted on the Dask cluster" in line for line in final.logs):
        raise SelfTestError("the training on a LocalCluster did not run on the cluster")
    return {"jobId": final.id, "model": final.model_name}


def _approve(state: dict[str, Any]) -> dict[str, Any]:
    from predictml_desktop.core.governance import Governance

    governance = Governance(state["store"].paths)
    # A random password of the policy's minimum length and more; never written anywhere.
    session = governance.create_admin("self-test", secrets.token_urlsafe(24))
    deployment = governance.approve(session, state["job"].id, "local", reason="self-test", override=True)
    if deployment.status != "active":
        raise SelfTestError(f"the deployment is {deployment.status}, not active")
    state["deployment"] = deployment
    return {"deploymentId": deployment.id}


def _serve(state: dict[str, Any]) -> dict[str, Any]:
    from predictml_desktop.core.service import ServiceProcess, find_free_port

    port = find_free_port(18000)
    if port is None:
        raise SelfTestError("no free port on 127.0.0.1")
    service = ServiceProcess(state["store"].paths, port=port)
    state["service"] = service
    snapshot = service.start(timeout=120)
    return {"port": port, "status": str(snapshot.status)}


def _predict(state: dict[str, Any]) -> dict[str, Any]:
    from predictml_desktop.core.prediction import ModelRegistry, predict_rows

    dataset = state["dataset"]
    registry = ModelRegistry(state["store"].paths)
    model = registry.get(dataset.id)
    row = {f.name: f.default for f in model.schema.features}
    local = predict_rows(model, [row]).to_response()
    answer = _post_json(f"{state['service'].url}/predict/{dataset.id}", {"inputData": row})
    if not answer.get("success"):
        raise SelfTestError(f"the service answered {answer}")
    if answer["prediction"] != local["prediction"]:
        raise SelfTestError(f"HTTP predicted {answer['prediction']}, in-process {local['prediction']}")
    if "probability" not in answer:
        raise SelfTestError("a classifier's answer has no probabilities")
    return {"prediction": answer["prediction"], "probability": answer["probability"]}


def _explain(state: dict[str, Any]) -> dict[str, Any]:
    """One explained prediction over HTTP: its contributions must add up to the probability it answers."""
    import math

    from predictml_desktop.core.prediction import ModelRegistry

    dataset = state["dataset"]
    model = ModelRegistry(state["store"].paths).get(dataset.id)
    # Not the typical row: against it every contribution of a linear model would be zero.
    row = {f.name: (f.maximum if f.kind == "numeric" and f.maximum is not None else
                    f.categories[-1] if f.categories else f.default) for f in model.schema.features}
    answer = _post_json(f"{state['service'].url}/predict/{dataset.id}", {"inputData": row, "explain": True})
    if not answer.get("success") or not answer.get("explanations"):
        raise SelfTestError(f"the service answered {answer} to an explained prediction")
    doc = answer["explanations"][0]
    gap = abs(doc["baseValue"] + math.fsum(doc["contributions"].values()) - doc["output"])
    if not gap < 1e-6:
        raise SelfTestError(f"the contributions miss the answer by {gap:g}")
    answered = answer["probability"][0].get(f"class_{doc['explainedClass']}")
    if answered is None or abs(answered - doc["output"]) > 1e-6:
        raise SelfTestError(f"explained {doc['output']}, answered {answered}")
    return {"method": doc["method"], "additivityError": gap}


def _drift(state: dict[str, Any]) -> dict[str, Any]:
    # Drift of the sample against itself, then with one column moved: only that column is flagged.
    from predictml_desktop.core.drift import DriftLevel, drift_of_frame
    from predictml_desktop.core.ingest import load_dataset_frame

    dataset, paths = state["dataset"], state["store"].paths
    frame = load_dataset_frame(paths, dataset)
    same = drift_of_frame(paths, dataset.id, frame)
    frame["visits"] = frame["visits"] + 15
    moved = drift_of_frame(paths, dataset.id, frame)
    flagged = [c.name for c in moved.flagged]
    if same.flagged or flagged != ["visits"] or moved.level != DriftLevel.ACT:
        raise SelfTestError(f"drift flagged {[c.name for c in same.flagged]} unshifted and {flagged} shifted")
    return {"columnsCompared": sum(c.psi is not None for c in moved.columns), "flagged": flagged}
