"""``predictml train`` and ``predictml jobs list|show|cancel``.

``train`` runs the job in the foreground under the same `TrainingRunner` the GUI uses: progress
goes to stderr, and with ``--json`` the seed's result document is printed on stdout. Ctrl-C
cancels the training (the worker's whole process tree ends) and exits with code 130.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_NOT_FOUND, CliError, print_json, print_table
from predictml_desktop.core.records import TrainingJob
from predictml_desktop.core.status import JobStatus
from predictml_desktop.core.store import Store
from predictml_desktop.core.training.events import EventType, TrainingEvent
from predictml_desktop.core.training.options import PRESETS, TrainingOptions

EXIT_INTERRUPTED = 130


def register(sub: Any) -> None:
    """Add the ``train`` and ``jobs`` commands."""
    p = sub.add_parser("train", help="train a model on a file or a stored dataset")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", metavar="FILE",
                        help="a .csv/.tsv/.txt/.xlsx/.xlsm/.parquet file to import and train on")
    source.add_argument("--dataset", metavar="ID", help="a stored dataset (see: predictml datasets list)")
    p.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="time budget (default: the preset's)")
    p.add_argument("--preset", choices=PRESETS, default=None, help="how much to search (default: balanced)")
    p.add_argument("--models", metavar="IDS", help="comma-separated PyCaret model ids, e.g. lr,rf,lightgbm")
    p.add_argument("--metric", metavar="NAME", help="ranking metric, e.g. auc, f1_macro, r2 (default: chosen)")
    p.add_argument("--problem-type", choices=("classification", "regression"), help="override the detected type")
    p.add_argument("--exclude", metavar="COLS", help="comma-separated columns to leave out of the features")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="fit the models on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); "
                        "'local' for this computer (default: Settings → Compute)")
    p.add_argument("--sheet", metavar="NAME", help="worksheet of a workbook FILE")
    p.add_argument("--json", action="store_true", help="print the result document on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=_train)

    jobs = sub.add_parser("jobs", help="list, show or cancel training jobs")
    actions = jobs.add_subparsers(dest="jobs_action", metavar="ACTION")
    actions.required = True
    lst = actions.add_parser("list", help="list training jobs")
    lst.add_argument("--json", action="store_true", help="print one JSON document")
    lst.set_defaults(handler=_list)
    show = actions.add_parser("show", help="show one job: status, metrics, leaderboard, recent log")
    show.add_argument("job_id", metavar="JOB")
    show.add_argument("--json", action="store_true", help="print the job record")
    show.set_defaults(handler=_show)
    cancel = actions.add_parser("cancel", help="cancel a job that is training (in this or another process)")
    cancel.add_argument("job_id", metavar="JOB")
    cancel.set_defaults(handler=_cancel)


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


# --------------------------------------------------------------------------- train


class _Progress:
    """Prints the runner's events on stderr, one readable line each."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.stage = ""

    def __call__(self, event: TrainingEvent) -> None:
        if self.quiet:
            return
        p = event.payload
        if event.type is EventType.PROGRESS:
            stage = str(p.get("stage") or "")
            if stage != self.stage:
                self.stage = stage
                self._print(f"[{int(p.get('progress', 0)):3d}%] {stage}")
        elif event.type is EventType.LOG:
            self._print(f"       {event.message}")
        elif event.type is EventType.ERROR:
            self._print(f"error: {event.message}")

    @staticmethod
    def _print(text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def _result_document(job: TrainingJob) -> dict[str, Any]:
    holdout = {k: v for k, v in (job.metrics or {}).items() if not isinstance(v, dict) and k != "holdoutRows"}
    doc: dict[str, Any] = {
        "success": job.status == JobStatus.PENDING_REVIEW,
        "jobId": job.id,
        "datasetId": job.dataset_id,
        "status": job.status,
        "model_name": job.model_name,
        "problem_type": job.problem_type,
        "metrics": holdout,
        "model_path": job.model_path,
        "durationS": job.duration_s,
    }
    if job.status == JobStatus.PENDING_REVIEW:
        doc.update({
            "modelSha256": job.model_sha256,
            "rankingMetric": job.ranking_metric,
            "beatsBaseline": job.beats_baseline,
            "warnings": job.warnings,
            "stoppedEarly": job.stopped_early,
            "decisionThreshold": job.decision_threshold,
            "ensemble": job.ensemble,
        })
    else:
        doc["error"] = job.error or ("Training was cancelled." if job.status == JobStatus.CANCELLED else None)
    return doc


def _train(args: argparse.Namespace) -> int:
    from predictml_desktop.core.training.jobs import TrainingError, create_job, fail_stale_jobs
    from predictml_desktop.core.training.runner import TrainingRunner

    store = Store()
    store.startup()
    fail_stale_jobs(store)
    progress = _Progress(args.quiet)
    if args.file:
        dataset_id = _import(store, args)
        if not args.quiet:
            print(f"Imported {args.file} as dataset {dataset_id}.", file=sys.stderr)
    else:
        dataset_id = args.dataset
    options = TrainingOptions(
        preset=args.preset or _default_preset(store),
        budget_s=args.budget,
        models=_split(args.models),
        excluded_columns=_split(args.exclude) or [],
        ranking_metric=args.metric,
        cluster=_cluster(store, args.cluster),
    )
    try:
        job = create_job(store, dataset_id, args.target, options, problem_type=args.problem_type)
    except TrainingError as exc:
        raise CliError(str(exc)) from None
    if not args.quiet:
        where = f", on the Dask cluster at {options.cluster}" if options.cluster else ""
        print(f"Training job {job.id} (dataset {dataset_id}, target {args.target!r}, preset {options.preset}{where}).",
              file=sys.stderr)
    runner = TrainingRunner(store, job.id)
    interrupted = [False]

    def on_sigint(_signum: int, _frame: Any) -> None:
        if not interrupted[0]:
            interrupted[0] = True
            print("Cancelling…", file=sys.stderr, flush=True)
            runner.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        final = runner.run(progress)
    finally:
        signal.signal(signal.SIGINT, previous)
    doc = _result_document(final)
    if args.json:
        print_json(doc)
    elif final.status == JobStatus.PENDING_REVIEW:
        _print_summary(final)
    if final.status == JobStatus.PENDING_REVIEW:
        if final.beats_baseline is False:
            print("predictml: warning: the model is no better than the baseline; see the job's warnings before "
                  "approving it.", file=sys.stderr)
        return 0
    if final.status == JobStatus.CANCELLED:
        print("predictml: training cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted[0] else EXIT_FAILURE
    print(f"predictml: training failed: {final.error}", file=sys.stderr)
    return EXIT_FAILURE


def _cluster(store: Store, given: str | None) -> str | None:
    from predictml_desktop.core.settings import compute_cluster
    from predictml_desktop.core.training.options import OptionsError, check_cluster_address

    if given is None:
        return compute_cluster(store.paths)
    if given.strip().lower() in ("local", "this computer", ""):
        return None
    try:
        return check_cluster_address(given)
    except OptionsError as exc:
        raise CliError(str(exc)) from None


def _default_preset(store: Store) -> str:
    with contextlib.suppress(Exception):
        from predictml_desktop.core.settings import load_settings

        preset = load_settings(store.paths).default_preset
        if preset in PRESETS:
            return preset
    return "balanced"


def _import(store: Store, args: argparse.Namespace) -> str:
    from predictml_desktop.core.ingest import IngestError, import_dataset

    try:
        dataset = import_dataset(store, args.file, sheet=args.sheet, target=args.target,
                                 problem_type=args.problem_type)
    except IngestError as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND if exc.code == "not_found" else EXIT_FAILURE) from None
    return dataset.id


def _print_summary(job: TrainingJob) -> None:
    early = " (stopped early: the best model finished by then)" if job.stopped_early else ""
    print(f"Job {job.id}: {job.model_name}{early} — waiting for an administrator's review.")
    metrics = {k: v for k, v in (job.metrics or {}).items() if isinstance(v, (int, float)) and k != "holdoutRows"}
    for key, value in list(metrics.items())[:6]:
        print(f"  holdout {key}: {value:.4f}")
    if job.ranking_metric:
        print(f"  ranked by {job.ranking_metric}: {job.ranking_metric_reason or ''}")
    print(f"  samples {job.samples}, features {job.features}, {job.duration_s:.1f} s; model: {job.model_path}")
    for warning in job.warnings:
        if warning.get("level") == "warning":
            print(f"  warning: {warning.get('message')}")


# --------------------------------------------------------------------------- jobs


def _list(args: argparse.Namespace) -> int:
    from predictml_desktop.core.training.jobs import fail_stale_jobs

    store = Store()
    store.startup()
    fail_stale_jobs(store)
    jobs = store.jobs()
    if args.json:
        print_json({"jobs": [_summary(j) for j in jobs]})
        return 0
    rows = []
    for j in jobs:
        row = _summary(j)
        metric = j.ranking_metric
        value = (j.metrics or {}).get(metric) if metric else None
        row["score"] = f"{metric} {value:.4f}" if isinstance(value, (int, float)) else ""
        row["progress"] = f"{j.progress}%" if j.status == JobStatus.TRAINING else ""
        rows.append(row)
    print_table(rows, [("jobId", "JOB"), ("datasetId", "DATASET"), ("targetColumn", "TARGET"), ("status", "STATUS"),
                       ("progress", "PROGRESS"), ("modelName", "MODEL"), ("score", "HOLDOUT"),
                       ("startedAt", "STARTED")])
    return 0


def _summary(job: TrainingJob) -> dict[str, Any]:
    return {
        "jobId": job.id, "datasetId": job.dataset_id, "targetColumn": job.target_column, "status": job.status,
        "progress": job.progress, "stage": job.stage, "modelName": job.model_name, "startedAt": job.started_at,
        "finishedAt": job.finished_at, "durationS": job.duration_s, "error": job.error,
    }


def _show(args: argparse.Namespace) -> int:
    store = Store()
    job = store.read().jobs.get(args.job_id)
    if args.json:
        print_json({"jobId": job.id, **job.to_dict()})
        return 0
    print(f"Job {job.id}: {job.status} ({job.progress}% — {job.stage})")
    kind = job.problem_type or "problem type not known yet"
    print(f"  dataset {job.dataset_id}, target {job.target_column!r}, {kind}")
    print(f"  options: {job.options}")
    print(f"  started {job.started_at}" + (f", finished {job.finished_at} ({job.duration_s:.1f} s)"
                                           if job.finished_at and job.duration_s is not None else ""))
    if job.error:
        print(f"  error: {job.error}")
    if job.model_name:
        print(f"  model: {job.model_name} ({job.model_path})" + (" — stopped early" if job.stopped_early else ""))
    members = job.ensemble or []
    if len(members) > 1:
        print("  ensemble: " + ", ".join(f"{m.get('model')} {float(m.get('weight') or 0):.0%}" for m in members))
    if job.decision_threshold:
        print(f"  decision threshold: {job.decision_threshold.get('value'):.3f} "
              f"({job.decision_threshold.get('objective')}, chosen on out-of-fold predictions)")
    numeric = {k: v for k, v in (job.metrics or {}).items() if isinstance(v, (int, float))}
    if numeric:
        print("  holdout: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in numeric.items()))
    for warning in job.warnings:
        print(f"  {warning.get('level', 'warning')}: {warning.get('message')}")
    if job.leaderboard:
        rows = []
        metric = job.ranking_metric or next(iter(job.leaderboard[0].get("scores") or {}), "")
        for entry in job.leaderboard[:25]:
            value = (entry.get("scores") or {}).get(metric)
            rows.append({"model": entry.get("model"), "stage": entry.get("stage"), "status": entry.get("status"),
                         "score": f"{value:.4f}" if isinstance(value, (int, float)) else "",
                         "fit": entry.get("fitSeconds") or "", "note": entry.get("reason") or "",
                         "chosen": "*" if entry.get("chosen") else ""})
        print(f"  leaderboard ({metric}):")
        print_table(rows, [("chosen", ""), ("model", "MODEL"), ("stage", "STAGE"), ("status", "STATUS"),
                           ("score", metric.upper() or "SCORE"), ("fit", "FIT S"), ("note", "NOTE")])
    if job.logs:
        print("  recent log:")
        for line in job.logs[-10:]:
            print(f"    {line}")
    print(f"  full log: {store.paths.job_log(job.id)}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from predictml_desktop.core.training.jobs import TrainingError, request_cancel

    store = Store()
    try:
        job = request_cancel(store, args.job_id)
    except TrainingError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    if job.status == JobStatus.CANCELLED:
        print(f"Job {job.id} cancelled.")
        return 0
    if job.status == JobStatus.PENDING_REVIEW and job.stopped_early:
        print(f"Job {job.id} stopped early: {job.model_name}, the best model finished by then, waits for review.")
        return 0
    print(f"Job {job.id} ended before the cancel took effect: {job.status}.")
    return 0
