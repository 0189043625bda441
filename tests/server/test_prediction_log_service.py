"""The prediction log through a real uvicorn on 127.0.0.1: off writes nothing; on logs each request, and
drift of the logged inputs beyond "act" is flagged in ``/models`` (an optional field)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from predictml_desktop.core.drift.prediction_log import log_files, read_entries
from predictml_desktop.core.settings import load_settings, save_settings
from tests.server.conftest import deploy_copy, live_server
from tests.trained_models import TrainedTemplate, valid_rows

CONTRACT_FIELDS = {"datasetId", "deploymentId", "trainingJobId", "modelName", "endpoint", "deployedAt", "status",
                   "fastPath", "fastPathReason"}


def test_log_off_then_on_and_drift_flag_in_models(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    clf = trained_template.jobs["classification"]
    rows = valid_rows(clf, 150, seed=4)
    with live_server(paths) as url, httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post(f"/predict/{clf.dataset_id}", json={"inputData": rows[:5]})
        assert answer.status_code == 200, answer.text
        time.sleep(1.2)
        assert log_files(paths) == []  # off by default: nothing written

        settings = load_settings(paths)
        settings.prediction_log = True
        save_settings(paths, settings)
        time.sleep(1.1)  # the service re-reads the setting at most once a second
        shifted = [{**row, "visits": int(row["visits"]) + 15} for row in rows]
        answer = client.post(f"/predict/{clf.dataset_id}", json={"inputData": shifted})
        assert answer.status_code == 200, answer.text
        one = client.post(f"/predict/{clf.dataset_id}", json={"inputData": rows[0]})
        assert one.status_code == 200

        deadline = time.monotonic() + 60
        entry = None
        while time.monotonic() < deadline:
            listed = client.get("/models").json()["models"]
            entry = next(m for m in listed if m["datasetId"] == clf.dataset_id)
            if "drift" in entry:
                break
            time.sleep(0.2)
        assert entry is not None and "drift" in entry
        assert CONTRACT_FIELDS <= set(entry)
        assert entry["drift"]["flagged"] is True and entry["drift"]["level"] == "act"
        assert entry["drift"]["columns"] == ["visits"] and entry["drift"]["rows"] >= 150
        other = next(m for m in listed if m["datasetId"] != clf.dataset_id)
        assert "drift" not in other  # nothing logged for it yet

    logged = list(read_entries(paths, dataset_id=clf.dataset_id))
    assert [len(e["inputs"]) for e in logged] == [150, 1]
    assert logged[0]["inputs"][0]["visits"] == shifted[0]["visits"]
    assert len(logged[0]["predictions"]) == 150 and logged[0]["modelName"]
    assert all(e["latencyMs"] > 0 for e in logged)
