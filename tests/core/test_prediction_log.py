"""The prediction log: off by default (nothing written), on through the settings, rotated by size."""

from __future__ import annotations

import json

from predictml_desktop.core.drift.prediction_log import (
    KEEP_ROTATED,
    PredictionLog,
    load_window,
    log_files,
    log_folder,
    read_entries,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.settings import load_settings, save_settings


def _record(log: PredictionLog, i: int = 0) -> bool:
    return log.record(dataset_id="dataset_1", deployment_id="deployment_1", job_id="training_1", model_name="lr",
                      rows=[{"age": 30 + i, "region": "North"}], predictions=[i % 2], latency_ms=1.25)


def test_nothing_is_written_until_the_setting_is_on() -> None:
    paths = Paths.default().ensure()
    log = PredictionLog(paths)
    assert not log.enabled and not _record(log)
    log.flush()
    assert not log_folder(paths).exists() and log_files(paths) == []

    settings = load_settings(paths)
    settings.prediction_log = True
    save_settings(paths, settings)
    on = PredictionLog(paths)  # a new service reads the setting at start
    assert _record(on, 1)
    on.close()
    (entry,) = list(read_entries(paths))
    assert entry["datasetId"] == "dataset_1" and entry["modelName"] == "lr" and entry["latencyMs"] == 1.25
    assert entry["inputs"] == [{"age": 31, "region": "North"}] and entry["predictions"] == [1]
    assert entry["time"].endswith("Z")
    window = load_window(paths, "dataset_1")
    assert len(window.requests) == 1 and list(window.inputs.columns) == ["age", "region"]


def test_log_rotates_by_size_and_keeps_five_files() -> None:
    paths = Paths.default().ensure()
    log = PredictionLog(paths, enabled=True, max_bytes=2_000)
    for i in range(400):
        _record(log, i)
        if i % 50 == 0:
            log.flush()
    log.close()
    files = log_files(paths)
    assert [f.name for f in files] == [f"predictions.{i}.jsonl" for i in range(KEEP_ROTATED, 0, -1)] + \
        ["predictions.jsonl"]
    assert all(f.stat().st_size <= 2_000 + 300 for f in files[:-1])
    entries = list(read_entries(paths))
    # The oldest were dropped with the sixth rotation; what is kept is in order and complete.
    ages = [e["inputs"][0]["age"] for e in entries]
    assert ages == sorted(ages) and ages[-1] == 30 + 399 and len(ages) < 400
    assert ages == list(range(ages[0], 430))
    # A partial last line (a crash mid-write) is skipped, not fatal.
    with open(files[-1], "ab") as fh:
        fh.write(b'{"time": "2026-')
    assert len(list(read_entries(paths))) == len(entries)
    assert json.loads(files[-1].read_text("utf-8").splitlines()[0])["datasetId"] == "dataset_1"
