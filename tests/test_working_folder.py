"""Nothing is written outside the data home: every entry point, run from a folder, leaves that folder empty.

Each entry point is started as the user starts it (a fresh ``python -m predictml_desktop`` process)
with its current folder set to an empty temporary folder: every command of the command line, the
training worker, the prediction service and the window. PyCaret, for one, writes ``logs.log`` into the
current folder when its modules are imported, which unpickling a model does; CatBoost writes
``catboost_info/`` when it trains.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from predictml_desktop.core.paths import Paths
from tests.server.conftest import deploy_copy
from tests.trained_models import ADMIN_PASSWORD, TrainedTemplate, purchase_table, valid_rows

pytestmark = pytest.mark.slow

APP = [sys.executable, "-m", "predictml_desktop"]


def _env(paths: Paths, **extra: str) -> dict[str, str]:
    return {**os.environ, "PREDICTML_HOME": str(paths.home), "PREDICTML_CONFIG_HOME": str(paths.config), **extra}


def _assert_empty(folder: Path, after: str) -> None:
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert left == [], f"{after} left {left} in its working folder"


def _run(args: list[str], cwd: Path, env: dict[str, str], *, ok: bool = True, stdin: str | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*APP, *args], cwd=cwd, env=env, capture_output=True, text=True, input=stdin,
                          timeout=timeout)
    if ok:
        assert done.returncode == 0, (args, done.stderr[-2000:])
    _assert_empty(cwd, "predictml " + " ".join(args[:2]))
    return done


def test_every_command_leaves_the_working_folder_empty(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path / "data")
    cwd, inputs, outputs = tmp_path / "cwd", tmp_path / "inputs", tmp_path / "outputs"
    for folder in (cwd, inputs, outputs):
        folder.mkdir()
    env = _env(paths, PREDICTML_ADMIN_PASSWORD=ADMIN_PASSWORD)
    clf = trained_template.jobs["classification"]
    table = inputs / "customers.csv"
    purchase_table().head(200).drop(columns=["basket_value"]).to_csv(table, index=False)
    rows = valid_rows(clf, 3, seed=5)
    batch = inputs / "rows.csv"
    with open(batch, "w", encoding="utf-8") as fh:
        fh.write(",".join(rows[0]) + "\n")
        for i, row in enumerate(rows):
            cells = ["old" if (i == 1 and k == "age") else ("" if v is None else str(v)) for k, v in row.items()]
            fh.write(",".join(cells) + "\n")

    _run(["--version"], cwd, env)
    _run(["--help"], cwd, env)
    _run(["datasets", "list", "--json"], cwd, env)
    added = json.loads(_run(["datasets", "add", str(table), "--target", "purchased", "--json"], cwd, env).stdout)
    dataset_id = added["datasetId"]
    _run(["datasets", "show", dataset_id, "--json"], cwd, env)
    trained = json.loads(_run(["train", "--dataset", dataset_id, "--target", "purchased", "--models", "lr",
                               "--preset", "fast", "--json", "--quiet"], cwd, env).stdout)
    job_id = trained["jobId"]
    _run(["jobs", "list", "--json"], cwd, env)
    _run(["jobs", "show", job_id, "--json"], cwd, env)
    _run(["jobs", "cancel", job_id], cwd, env, ok=False)  # finished: refused, and still nothing written here
    _run(["admin", "status", "--json"], cwd, env)
    _run(["admin", "audit", "--json"], cwd, env)
    _run(["reject", job_id, "--reason", "a working-folder test"], cwd, env)
    _run(["approve", clf.job_id, "--to", "azure", "--out", str(outputs / "bundle"), "--override"], cwd, env)
    answer = json.loads(_run(["predict", clf.dataset_id, "--json", json.dumps(rows[0])], cwd, env).stdout)
    assert answer["success"] is True
    done = _run(["predict", clf.dataset_id, "--input", str(batch), "-o", str(outputs / "scored.csv")], cwd, env)
    assert "1 of 3 rows were not predicted" in done.stderr and (outputs / "scored.errors.csv").is_file()
    _run(["doctor", "--json"], cwd, env)
    _run(["admin", "set-password"], cwd, {**env, "PREDICTML_ADMIN_PASSWORD_NEW": "a new and longer admin passphrase"})
    assert (outputs / "bundle" / "code" / "score.py").is_file() and (outputs / "scored.csv").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_service_leaves_the_working_folder_empty(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path / "data")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    port = _free_port()
    proc = subprocess.Popen([*APP, "serve", "--port", str(port)], cwd=cwd, env=_env(paths),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        clf = trained_template.jobs["classification"]
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
            answer = client.post(f"/predict/{clf.dataset_id}", json={"inputData": valid_rows(clf, 2)})
            assert answer.status_code == 200, answer.text  # the model was unpickled in the service
    finally:
        proc.send_signal(signal.SIGINT if sys.platform != "win32" else signal.CTRL_BREAK_EVENT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _assert_empty(cwd, "predictml serve")


def test_the_worker_leaves_the_working_folder_empty(tmp_path: Path) -> None:
    from predictml_desktop.core.ingest import import_dataset
    from predictml_desktop.core.store import Store
    from predictml_desktop.core.training import TrainingOptions, create_job

    paths = Paths(tmp_path / "data" / "home", tmp_path / "data" / "config").ensure()
    store = Store(paths)
    table = tmp_path / "customers.csv"
    purchase_table().head(200).drop(columns=["basket_value"]).to_csv(table, index=False)
    dataset = import_dataset(store, table, target="purchased", problem_type="classification")
    # CatBoost writes catboost_info/ into the current folder when it trains: include it.
    job = create_job(store, dataset.id, "purchased", TrainingOptions(preset="fast", models=["lr", "catboost"]),
                     problem_type="classification")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = subprocess.run([*APP, "--worker", "train", job.id], cwd=cwd, env=_env(paths), capture_output=True,
                          text=True, timeout=900)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and events[-1]["type"] == "result", done.stderr[-2000:]
    _assert_empty(cwd, "the training worker")


GUI = r"""
import sys
from PySide6.QtWidgets import QApplication
from predictml_desktop.core.paths import Paths
from predictml_desktop.ui.main_window import MainWindow
from predictml_desktop.ui.tasks import wait_for_background_jobs

app = QApplication(sys.argv[:1])
window = MainWindow(Paths.default())
window.show()
reports = []
window.startup_finished.connect(reports.append)
while not reports:
    app.processEvents()
for key in window.view_keys():
    window.show_view(key)
    app.processEvents()
window.show_view("predict")
predict = window.view("predict")
while predict.model is None:  # the deployed model is unpickled in this process
    app.processEvents()
    if predict.banner.kind == "error" and predict.banner.isVisible():
        raise SystemExit(predict.banner.text)
assert wait_for_background_jobs(60_000)
app.processEvents()
window.close()
print("closed")
"""


def test_the_window_leaves_the_working_folder_empty(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path / "data")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env: dict[str, Any] = _env(paths, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", GUI], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "closed" in done.stdout, done.stderr[-2000:]
    _assert_empty(cwd, "the window")
