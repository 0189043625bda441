"""The training engine: from a table and a target to a saved, evaluated model, within a time budget.

It runs in the worker process (never in the GUI), in stages, each a module of its own:

1. **Fitting processes** (`pool.FitPool`) are spawned first, so they load the model libraries while
   this process sets up; every fit of the run happens in them.
2. **Preparation** (`dataprep.prepare`): column roles, dates, the target checked; the ranking
   metric chosen (`metrics.choose_ranking_metric`: AUC for yes/no targets, log loss for several
   classes, R² for quantities).
3. **Set-up** with PyCaret (`core.modeling.experiment`): a stratified 20 % holdout no search step
   sees, and the preprocessing.
4. **Search** (`search.run_search`): every candidate screened on a few folds (on growing samples of
   large tables), the leaders and their variants cross-validated on all folds.
5. **Choice** (`choice.choose`): a weighted ensemble of the leaders selected on their out-of-fold
   predictions, and a yes/no model's decision threshold.
6. **Final fits** (`finalize`): on the training rows (scored on the holdout, with plots) and on every
   row (saved); `outputs` writes the artifacts.

The budget caps the whole job, set-up and final fits included. Stopped by the user (``should_stop``)
or out of time, the engine keeps the best model finished so far: it is fitted, saved and
reviewable like any other, marked as stopped early.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from predictml_desktop.core.artifacts import (
    ENVIRONMENT_FILE,
    LEADERBOARD_FILE,
    MODEL_FILE,
    RESULT_FILE,
    SCHEMA_FILE,
    current_environment,
    sha256_file,
    write_json,
)
from predictml_desktop.core.modeling.experiment import WARM_MODULES, Experiment, SetupError, setup_experiment
from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.candidates import Candidate, plain
from predictml_desktop.core.training.catalog import BASELINE_ID, models_for
from predictml_desktop.core.training.choice import FinalChoice, choose
from predictml_desktop.core.training.cluster import ClusterLost
from predictml_desktop.core.training.context import Clock, Emit, Reporter, Run, StopRequested, TrainingRequest
from predictml_desktop.core.training.dataprep import PreparedData, prepare
from predictml_desktop.core.training.events import DASHBOARD_PREFIX, Stage
from predictml_desktop.core.training.finalize import (
    Fitted,
    baseline_scores,
    collect,
    estimate_seconds,
    fit_final,
    holdout_predictions,
    label_codes,
)
from predictml_desktop.core.training.jobs import TrainingError
from predictml_desktop.core.training.outputs import draw_plots, ensemble_document, finite, leaderboard
from predictml_desktop.core.training.pool import Executor, FitPool
from predictml_desktop.core.training.schema import build_schema, python_value
from predictml_desktop.core.training.search import run_search
from predictml_desktop.core.training.state import CANDIDATES_DIR, Checkpoint, SearchState

__all__ = ["TrainingCancelled", "TrainingRequest", "run_training"]

HOLDOUT_SHARE: Final = 0.2
REFIT_MAX_ROWS: Final = 200_000
"""From this many training rows on, the model fitted on them is saved without a second fit on every row."""
SETUP_SHARE_S: Final = 900.0


class TrainingCancelled(Exception):
    """The training was stopped before any model finished: there is nothing to keep."""


def run_training(request: TrainingRequest, emit: Emit, should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train, evaluate and save a model for ``request``; return the result document.

    Parameters
    ----------
    request
        The data, target and options.
    emit
        Receives every progress, log and candidate event (the worker prints them).
    should_stop
        Polled throughout; once it returns True the search stops and the best model finished so
        far is fitted and saved (`TrainingCancelled` if there is none).

    Returns
    -------
    dict
        The result document (also written as ``result.json``): the seed's ``success``,
        ``model_name``, ``problem_type``, ``metrics``, ``model_path`` plus the job's extras.

    Raises
    ------
    TrainingError
        With one sentence for the user when the data cannot be trained on.
    TrainingCancelled
        When stopped before any model finished.
    """
    options = request.options.validate()
    cores = max(1, min(options.n_jobs or (os.cpu_count() or 1), os.cpu_count() or 1))
    report = Reporter(emit)
    work = request.work_dir or Path(tempfile.mkdtemp(prefix="predictml-fit-"))
    pool: Executor
    if options.cluster:
        pool, cores = _cluster(options.cluster, options.n_jobs, report)
    else:
        # Spawned before anything heavy is loaded here, and never forked from later (see pool.py).
        pool = FitPool(cores, warm_modules=WARM_MODULES, share_dir=work / "shared")
    try:
        run = _set_up(request, report, pool, cores, should_stop or (lambda: False))
        return _search_and_save(run)
    finally:
        pool.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(work / "shared", ignore_errors=True)
        if request.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _cluster(address: str, n_jobs: int | None, report: Reporter) -> tuple[Executor, int]:
    """Connect to the Dask cluster at ``address``; return it and the threads a big fit may use there."""
    # Imported here only: the default path never loads Dask.
    from predictml_desktop.core.training.cluster import ClusterPool

    report.log(f"Connecting to the Dask cluster at {address}…")
    pool = ClusterPool(address, warm_modules=WARM_MODULES)
    report.log(f"The models are fitted on {pool.description}; the versions of its workers' libraries match this "
               "computer's.")
    if pool.dashboard:
        report.log(f"{DASHBOARD_PREFIX}{pool.dashboard}")
    return pool, max(1, min(n_jobs or pool.threads_per_worker, pool.threads_per_worker))


def _set_up(request: TrainingRequest, report: Reporter, pool: Executor, cores: int,
            should_stop: Callable[[], bool]) -> Run:
    options = request.options
    for unit, reason in request.stopped_units.items():
        # Steps of this process that cannot be skipped: a resumed run would only hang again there.
        if unit == "setup" or unit.startswith("folds:") or unit == "prepare:training":
            raise TrainingError(f"Training stopped: the step '{unit}' {reason.removeprefix('stopped: ')}.")
    report.stage(Stage.DETECT)
    data = prepare(request.frame, request.target, problem_type=request.problem_type, columns=request.columns,
                   excluded_columns=request.excluded_columns, user_excluded=options.excluded_columns,
                   problem_type_reason=request.problem_type_reason)
    for note in data.notes:
        report.log(note)
    try:
        metric, reason = M.choose_ranking_metric(data.problem_type, data.class_counts, options.ranking_metric)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    report.log(f"Problem type: {data.problem_type} ({data.problem_type_reason}).")
    report.log(f"Candidates are ranked by {M.METRIC_LABELS[metric]}: {reason}")
    report.stage(Stage.DETECT, problemType=data.problem_type, rankingMetric=metric)
    report.unit("setup", SETUP_SHARE_S, Stage.SETUP, "set-up")
    exp = _experiment(data, options.session_id)
    report.unit_done("setup")
    report.log(f"Set up: {len(exp.X_train):,} training rows, {len(exp.X_test):,} holdout rows (never seen by the "
               f"search), {len(data.features)} features ({len(data.numeric)} numeric, {len(data.categorical)} "
               f"categorical, {len(data.dates)} dates); {pool.description}.")
    state = SearchState(warnings=list(data.warnings))
    run = Run(request=request, options=options, spec=options.spec, data=data, exp=exp, pool=pool, metric=metric,
              metric_reason=reason, infos={}, clock=Clock(request.started_at, options.effective_budget_s),
              report=report, state=state,
              checkpoint=Checkpoint(request.model_dir / CANDIDATES_DIR, fresh=not request.resume),
              should_stop=should_stop, cores=cores)
    run.infos = {m.id: m for m in models_for(data.problem_type)}
    return run


def _experiment(data: PreparedData, seed: int) -> Experiment:
    try:
        return setup_experiment(data.frame, data.target, classification=data.problem_type == "classification",
                                numeric=data.numeric, categorical=data.categorical, dates=data.dates,
                                holdout_share=HOLDOUT_SHARE, seed=seed)
    except SetupError as exc:
        raise TrainingError(f"The data could not be prepared for training: {exc}") from None


def _candidates(run: Run) -> list[Candidate]:
    wanted = run.options.models
    out: list[Candidate] = []
    for info in run.infos.values():
        if not run.exp.available(info.id):
            run.report.log(f"{info.name} is not available in this installation; skipped.")
            continue
        if wanted is None or info.id in wanted or info.id == BASELINE_ID:
            out.append(plain(info))
    if wanted is not None:
        missing = [m for m in wanted if m not in {c.model_id for c in out}]
        if missing:
            raise TrainingError(f"Unknown {run.data.problem_type} model(s): {', '.join(missing)}.")
    return out


def _search_and_save(run: Run) -> dict[str, Any]:
    run.report.stage(Stage.TRAIN)
    cv = None
    try:
        cv = run_search(run, _candidates(run))
    except StopRequested:
        run.state.stopped_early = True
        run.report.log("Stopped: the search ends here and the best model finished so far is kept.")
    if not any(e.ok and e.model != BASELINE_ID for e in run.state.history):
        if run.state.stopped_early:
            raise TrainingCancelled("The training was stopped before any model finished.")
    run.report.stage(Stage.EVALUATE)
    choice = choose(run, cv)
    for note in choice.notes:
        run.report.log(note)
    return _final(run, choice)


def _final(run: Run, choice: FinalChoice) -> dict[str, Any]:
    exp = run.exp
    t = time.monotonic()
    run.request.model_dir.mkdir(parents=True, exist_ok=True)
    on_training = fit_final(run, choice, exp.X_train, exp.y_train, tag="training")
    on_all = None
    rows = len(exp.X_train) + len(exp.X_test)
    # Both fits run side by side: the one on every row must end within what is left of the budget.
    needed = estimate_seconds(run, choice, len(exp.X_train)) + estimate_seconds(run, choice, rows)
    if "prepare:all" in run.request.stopped_units:
        run.report.log("The fit on every row hung before; the model fitted on the training rows is kept.")
    elif len(exp.X_train) >= REFIT_MAX_ROWS:
        run.report.log(f"The model fitted on the {len(exp.X_train):,} training rows is the one saved: the "
                       f"{len(exp.X_test):,} holdout rows would add little to so many, for a second fit as long.")
    elif not run.state.stopped_early and needed > run.clock.left():
        run.state.budget_hit = True
        run.report.log(f"Fitting the chosen model on every row would take about {needed:.0f} s, more than the "
                       f"{max(0.0, run.clock.left()):.0f} s left of the budget: the fit on the training rows is kept.")
    elif not run.state.stopped_early:
        # Fitted here while the pool fits the members on the training rows.
        on_all = fit_final(run, choice, pd.concat([exp.X_train, exp.X_test]),
                           pd.concat([exp.y_train, exp.y_test]), tag="all")
    holdout_model = collect(run, on_training, tag="training")
    for dropped in holdout_model.dropped:
        run.report.log(f"Left out of the final model: {dropped}.")
    classes = exp.pipeline_classes(holdout_model.pipeline, run.n_classes) if run.classification else []
    threshold = choice.threshold.value if choice.threshold is not None else None
    pred, proba = holdout_predictions(run, holdout_model, threshold)
    y_true = label_codes(classes, exp.y_test) if run.classification else np.asarray(exp.y_test, dtype=float)
    if run.classification:
        holdout = M.classification_scores(y_true, pred, run.n_classes, proba=proba)
    else:
        holdout = M.regression_scores(y_true, pred)
    baseline = baseline_scores(run, classes)
    drawing: dict[str, list[str]] = {}
    drawer = threading.Thread(target=lambda: drawing.update(names=draw_plots(run, holdout_model, y_true, proba, pred,
                                                                              classes)), name="plots")
    drawer.start()
    final, on_all_rows = _final_model(run, holdout_model, on_all)
    drawer.join()
    digest = _save(final.pipeline, run.request.model_dir / MODEL_FILE)
    return _write_result(run, choice, final, holdout, baseline, classes, drawing.get("names", []), digest,
                         on_all_rows, time.monotonic() - t)


def _final_model(run: Run, holdout_model: Fitted, on_all: Any) -> tuple[Fitted, bool]:
    """Return the model fitted on every row, or the holdout model when that fit was stopped, skipped or failed."""
    if on_all is None:
        if len(run.exp.X_train) >= REFIT_MAX_ROWS and not run.state.stopped_early:
            run.state.warn("not_refitted", f"The model is saved as fitted on the {len(run.exp.X_train):,} training "
                                           "rows (80 %): on a table this large the other 20 % would add little.")
        elif run.state.stopped_early:
            run.state.warn("stopped_early", "The training was stopped before the search finished. The best model "
                                            "finished by then was kept, fitted on the training rows only (80 %).",
                           level="warning")
        else:
            run.state.warn("not_refitted", "The chosen model is saved as fitted on the training rows (80 %): there "
                                           "was no time left in the budget to fit it on every row.", level="warning")
        return holdout_model, False
    try:
        return collect(run, on_all, tag="all", stoppable=True), True
    except StopRequested:
        run.pool.stop()
        run.state.stopped_early = True
        run.report.log("Stopped during the final fit: the model fitted on the training rows is kept.")
    except ClusterLost:
        raise
    except TrainingError as exc:
        run.report.log(f"{exc} The model fitted on the training rows is kept.")
    run.state.warn("not_refitted", "The chosen model is saved as fitted on the training rows (80 %): its fit on "
                                   "every row did not finish.", level="warning")
    return holdout_model, False


def _save(pipe: Any, path: Path) -> str:
    """Write the pipeline atomically (temp file, fsync, rename), then hash the file on disk."""
    import joblib

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            joblib.dump(pipe, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return sha256_file(path)


def _write_result(run: Run, choice: FinalChoice, final: Fitted, holdout: dict[str, float | None],
                  baseline: dict[str, float | None], classes: list[Any], plots: list[str], digest: str,
                  on_all_rows: bool, final_seconds: float) -> dict[str, Any]:
    request, data, metric = run.request, run.data, run.metric
    if run.state.budget_hit:
        run.state.warn("budget_reached", f"The time budget of {run.clock.budget_s:.0f} s ran out; the best model "
                                         "finished by then was kept.")
    label = M.METRIC_LABELS[metric]
    run.report.log(f"Holdout {label}: {finite(holdout.get(metric))} (baseline {finite(baseline.get(metric))}).")
    beats = bool(M.improvement(holdout.get(metric), baseline.get(metric), metric) > 1e-9)
    if not beats:
        run.state.warn("no_better_than_baseline", (
            f"The chosen model is no better than the baseline on the holdout rows ({label} "
            f"{finite(holdout.get(metric))} against {finite(baseline.get(metric))} for always predicting the "
            f"{'most frequent class' if run.classification else 'mean'}): the columns may not carry the signal "
            "needed to predict the target. Do not deploy it as it is."), level="warning")
    threshold = choice.threshold
    schema = build_schema(data, classes, threshold.value if threshold is not None else None)
    write_json(request.model_dir / SCHEMA_FILE, schema.to_dict())
    environment = current_environment()
    write_json(request.model_dir / ENVIRONMENT_FILE, environment)
    board = leaderboard(run, choice)
    write_json(request.model_dir / LEADERBOARD_FILE, {"rankingMetric": metric, "leaderboard": board})
    home = request.home or request.model_dir.parent.parent
    model_path = (request.model_dir / MODEL_FILE).resolve().relative_to(home.resolve()).as_posix()
    result: dict[str, Any] = {
        "success": True, "jobId": request.job_id, "datasetId": request.dataset_id, "model_name": choice.name,
        "modelId": choice.key, "estimator": type(final.estimator).__name__, "problem_type": data.problem_type,
        "metrics": M.ordered(holdout, metric), "model_path": model_path, "modelSha256": digest,
        "durationS": round(run.clock.elapsed(), 2), "finalSeconds": round(final_seconds, 2),
        "searchEndedS": round(run.state.search_ended_s, 2) if run.state.search_ended_s is not None else None,
        "rankingMetric": metric, "rankingMetricReason": run.metric_reason,
        "cv": choice.evaluation.scores, "cvStd": choice.evaluation.std, "baseline": M.ordered(baseline, metric),
        "beatsBaseline": beats, "holdoutRows": len(run.exp.X_test), "samples": len(data.frame),
        "features": len(data.features), "classes": [python_value(c) for c in classes], "target": data.target,
        "ignoredColumns": data.ignored, "leaderboard": board, "warnings": run.state.warnings,
        "environment": environment, "plots": plots, "preset": run.options.preset, "budgetS": run.clock.budget_s,
        "ensemble": ensemble_document(run, choice, final),
        "decisionThreshold": threshold.to_dict() if threshold is not None else None,
        "stoppedEarly": run.state.stopped_early, "finalizedOnAllRows": on_all_rows,
        "metricsNote": ("Holdout metrics are those of the chosen model fitted on the training rows and scored on "
                        "the 20% holdout" + (", at the chosen decision threshold" if threshold is not None else "")
                        + ("; the saved model is then refitted on all rows." if on_all_rows else
                           "; the saved model is that same fit (it was not refitted on all rows).")),
    }
    write_json(request.model_dir / RESULT_FILE, result)
    run.report.stage(Stage.SAVED)
    return result
