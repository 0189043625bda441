"""A stand-in training worker for the GUI's supervision tests (crash, hang, failure, quick success).

Started by the core `TrainingRunner` as ``python fake_trainer.py SCENARIO JOB_ID --started-at T ...``;
speaks the worker protocol of DESIGN §5 on stdout. Real training is exercised by the end-to-end and
responsiveness tests; this script only makes the edge cases quick and certain.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main() -> None:
    scenario, job_id = sys.argv[1], sys.argv[2]
    home = Path(os.environ["PREDICTML_HOME"])
    emit(type="progress", progress=5, stage="Loading dataset")
    emit(type="log", message=f"fake trainer: {scenario}")
    if scenario == "fail":
        emit(type="error", message="Target column 'target' not found")
        sys.exit(1)
    if scenario == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if scenario == "hang":
        emit(type="progress", progress=40, stage="Training models")
        while True:
            time.sleep(0.2)
    if scenario == "keeps":  # one model done, then on "stop" (as the real worker) it keeps that model
        emit(type="progress", progress=40, stage="Training models")
        emit(type="candidate", model="lr", name="Logistic Regression", unit="screen:lr", stage="screening",
             status="done", reason=None, scores={"auc": 0.81}, fitSeconds=0.1)
        for line in iter(sys.stdin.readline, ""):
            if line.strip() == "stop":
                emit(type="progress", progress=0, stage="Stopping", stopping=True)
                break
            if line.strip() == "cancel":
                os._exit(1)
    emit(type="progress", progress=40, stage="Training models")
    for model, name, auc in (("lr", "Logistic Regression", 0.81), ("rf", "Random Forest Classifier", 0.86)):
        emit(type="candidate", model=model, name=name, unit=model, stage="screen", status="done", reason=None,
             scores={"auc": auc, "accuracy": auc - 0.05}, fitSeconds=0.1)
    emit(type="candidate", model="rf", name="Random Forest Classifier", unit="rf_cv", stage="cv", status="done",
         reason=None, scores={"auc": 0.88, "accuracy": 0.83}, fitSeconds=0.4)
    emit(type="candidate", model="gpc", name="Gaussian Process Classifier", unit="gpc", stage="screen",
         status="skipped", reason="too many rows for this model", scores={})
    emit(type="progress", progress=80, stage="Evaluating best model")
    folder = home / "models" / job_id
    folder.mkdir(parents=True, exist_ok=True)
    data = b"not a real model: the supervision tests never load it"
    (folder / "model.pkl").write_bytes(data)
    emit(type="result", success=True, model_path=f"models/{job_id}/model.pkl",
         modelSha256=hashlib.sha256(data).hexdigest(), model_name="Random Forest Classifier",
         problem_type="classification", metrics={"accuracy": 0.83, "auc": 0.88, "f1": 0.8}, samples=240,
         features=5, rankingMetric="auc", stoppedEarly=scenario == "keeps",
         decisionThreshold={"value": 0.42, "objective": "f1_macro", "score": 0.8, "scoreAtHalf": 0.78},
         ensemble=[{"model": "rf", "name": "Random Forest Classifier", "weight": 0.6},
                   {"model": "lr", "name": "Logistic Regression", "weight": 0.4}])
    emit(type="progress", progress=100, stage="Model saved")


if __name__ == "__main__":
    main()
