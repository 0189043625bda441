"""The upload wizard's calls into the core, run on the thread pool (reading, profiling, storing, catalogues).

They import the core lazily, so the window starts fast (the training catalogue and metric table are
imported only when the target step is filled).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_and_profile(path: Path, sheet: str | None, limits: Any, progress: Any, should_stop: Any) -> tuple[Any, Any]:
    """Read ``path`` within ``limits`` and profile it (runs off the GUI thread)."""
    from predictml_desktop.core.ingest import read_table
    from predictml_desktop.core.profile import profile_frame

    table = read_table(path, sheet=sheet, limits=limits, progress=progress, should_stop=should_stop)
    progress(0.95, "Profiling the columns…")
    return table, profile_frame(table.frame)


def reprofile(frame: Any, target: str) -> Any:
    """Profile ``frame`` again with ``target`` chosen (problem type, leakage, class balance)."""
    from predictml_desktop.core.profile import profile_frame

    return profile_frame(frame, target=target)


def store_and_create_job(
    context_store: Any,
    path: Path,
    table: Any,
    profile: Any,
    *,
    name: str,
    target: str,
    problem_type: str,
    excluded_columns: list[str],
    options: dict[str, Any],
) -> Any:
    """Store the dataset, then create its training job; return the job (runs off the GUI thread)."""
    from predictml_desktop.core.ingest import store_dataset
    from predictml_desktop.core.training import TrainingOptions, create_job

    dataset = store_dataset(
        context_store,
        path,
        table,
        profile,
        target=target,
        problem_type=problem_type,
        excluded_columns=excluded_columns,
        name=name,
    )
    # The dataset records every exclusion (the engine leaves those out, labelled by the profile's
    # reason); the options carry only the user's own additions, which the engine logs as such.
    added = [c for c in excluded_columns if c not in profile.excluded_columns]
    from predictml_desktop.core.settings import compute_cluster

    # Settings → Compute: where this job's models are fitted (stored with the job, so a retry goes there too).
    options = {"cluster": compute_cluster(context_store.paths), **options}
    training_options = TrainingOptions(excluded_columns=added, **options)
    # The table in memory spares reading the file again for the job's own leakage check.
    return create_job(context_store, dataset.id, target, training_options, problem_type=problem_type,
                      frame=table.frame)


def model_choices(problem_type: str) -> list[tuple[str, str]]:
    """Return ``(id, name)`` of the candidate models the user may choose for ``problem_type``.

    The dummy baseline is left out: the engine always trains it, to compare every model against.
    """
    from predictml_desktop.core.training.catalog import BASELINE_ID, models_for

    return [(m.id, m.name) for m in models_for(problem_type) if m.id != BASELINE_ID]


def ranking_choices(problem_type: str) -> list[tuple[str, str]]:
    """Return ``(key, label)`` of the metrics that can rank candidates for ``problem_type``."""
    from predictml_desktop.core.training.metrics import METRIC_LABELS, metrics_for

    return [(key, METRIC_LABELS.get(key, key)) for key in metrics_for(problem_type)]
