"""Storing an accepted dataset: its file copied to ``uploads/`` (hash-checked) and its record added.

`import_dataset` reads, profiles and stores a file in one call (the command line, tests);
`load_dataset_frame` reads a stored dataset back as training sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from predictml_desktop.core.ingest.common import (
    _COPY_CHUNK,
    IngestError,
    ProgressFn,
    StopFn,
    TableRead,
    _noop_progress,
    _sha256_file,
    _short,
)
from predictml_desktop.core.ingest.reading import read_table
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset
from predictml_desktop.core.settings import Limits, load_settings

if TYPE_CHECKING:
    from predictml_desktop.core.profile import Profile
    from predictml_desktop.core.store import Store


def store_dataset(
    store: Store,
    path: str | os.PathLike[str],
    table: TableRead,
    profile: Profile,
    *,
    target: str | None = None,
    problem_type: str | None = None,
    excluded_columns: list[str] | None = None,
    name: str | None = None,
) -> Dataset:
    """Copy an accepted file to ``uploads/`` and add its Dataset record, all or nothing.

    Parameters
    ----------
    store
        The data home's record store.
    path
        The file that was read into ``table``.
    table, profile
        What `read_table` and `core.profile.profile_frame` returned for it.
    target
        The confirmed target column (None: not chosen yet; ``suggestedTarget`` is recorded anyway).
    problem_type
        ``classification`` or ``regression`` (default: the profile's, for ``target`` or the suggestion).
    excluded_columns
        Columns left out of the features (default: the profile's ID-like, constant and empty columns).
    name
        The dataset's display name (default: the file name without extension).

    Returns
    -------
    Dataset
        The stored record.

    Raises
    ------
    IngestError
        If the file changed since it was read, the target is not a column, or the copy fails.
        Nothing is stored then: no record, no file under ``uploads/``.
    """
    src = Path(path)
    profile, chosen, problem_type, reason, excluded = _checked_choice(
        src, table, profile, target, problem_type, excluded_columns)

    ext = src.suffix.lower()
    paths = store.paths
    dest: Path | None = None
    try:
        with store.transaction() as tx:
            from predictml_desktop.core.store import sweep_temp_files

            # Under the store lock every writer of uploads/ is alive, so a temp file seen now was
            # left by a killed import.
            sweep_temp_files(paths.uploads)
            dataset_id = tx.datasets.new_id()
            dest = paths.uploads / f"{dataset_id}{ext}"
            _copy_verified(src, dest, table.sha256)
            record = _record(dataset_id, name or src.stem, src, paths.relative(dest), table, profile,
                             target, problem_type if chosen else None, reason if chosen else "", excluded)
            tx.datasets.add(record)
    except BaseException:
        if dest is not None:
            with contextlib.suppress(OSError):
                dest.unlink()
        raise
    return record


def _record(
    dataset_id: str, name: str, src: Path, file_path: str, table: TableRead, profile: Profile,
    target: str | None, problem_type: str | None, reason: str, excluded: list[str],
) -> Dataset:
    return Dataset(
        id=dataset_id,
        name=name,
        file_name=src.name,
        file_path=file_path,
        sha256=table.sha256,
        size_bytes=table.size_bytes,
        file_format=table.file_format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        sheet=table.sheet,
        rows=len(table.frame),
        columns=profile.columns,
        warnings=profile.warnings,
        suggested_target=profile.suggested_target,
        target_candidates=profile.target_candidates,
        target_column=target,
        problem_type=problem_type,
        problem_type_reason=reason,
        excluded_columns=excluded,
        notes=list(table.notes),
    )


def _checked_choice(
    src: Path, table: TableRead, profile: Profile, target: str | None, problem_type: str | None,
    excluded_columns: list[str] | None,
) -> tuple[Profile, str | None, str | None, str, list[str]]:
    """Check the user's choices against the file.

    Returns the profile for the chosen target, the target, the problem type and its reason, and the
    excluded columns.
    """
    columns = [str(c) for c in table.frame.columns]
    if target is not None and target not in columns:
        raise IngestError(
            f"{_short(target)!r} is not a column of {src.name}; its columns are: "
            f"{', '.join(repr(_short(c, 30)) for c in columns[:20])}{'…' if len(columns) > 20 else ''}.",
            path=src, column=target, code="no_target",
        )
    if problem_type is not None and problem_type not in {"classification", "regression"}:
        raise IngestError(f"The problem type must be classification or regression, not {problem_type!r}.",
                          path=src, code="problem_type")
    chosen = target or profile.suggested_target
    if chosen is not None and chosen != profile.target:
        # The profile was made for another target: the problem type and the target's warnings
        # (leakage, class balance) must be those of the chosen one.
        from predictml_desktop.core.profile import profile_frame

        profile = profile_frame(table.frame, target=chosen)
    detected, detected_reason = profile.problem_type, profile.problem_type_reason
    if problem_type is None or problem_type == detected:
        problem_type, reason = detected, detected_reason
    else:
        reason = f"Chosen by the user (detected: {detected}; {detected_reason[:1].lower()}{detected_reason[1:]})"
    excluded = list(profile.excluded_columns if excluded_columns is None else excluded_columns)
    if chosen in excluded:
        excluded.remove(chosen)
    unknown = [c for c in excluded if c not in columns]
    if unknown:
        raise IngestError(f"{_short(unknown[0])!r} is not a column of {src.name}, so it cannot be excluded.",
                          path=src, column=unknown[0], code="no_column")
    return profile, chosen, problem_type, reason, excluded


def _copy_verified(src: Path, dest: Path, sha256: str) -> None:
    """Copy ``src`` to ``dest`` atomically (temp + rename), checking it is the file that was read."""
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    digest = hashlib.sha256()
    try:
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            while chunk := fin.read(_COPY_CHUNK):
                digest.update(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        if digest.hexdigest() != sha256:
            raise IngestError(f"{src.name} changed while it was being imported; import it again.", path=src,
                              code="changed")
        os.replace(tmp, dest)
    except OSError as exc:
        raise IngestError(f"Could not copy {src.name} into the data folder: {exc.strerror or exc}.", path=src,
                          code="copy_failed") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def import_dataset(
    store: Store,
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    target: str | None = None,
    name: str | None = None,
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    problem_type: str | None = None,
) -> Dataset:
    """Read, profile and store a file in one call (the CLI and ``predictml train FILE`` use it).

    Parameters
    ----------
    store
        The data home's record store.
    path
        The file to import.
    sheet
        For a workbook, the worksheet to read.
    target
        The target column; None records only the suggestion.
    name
        Display name of the dataset.
    limits
        Import limits (default: the user's settings).
    progress, should_stop
        As for `read_table` (profiling and storing are reported as the last few percent).
    problem_type
        Override of the detected problem type.

    Returns
    -------
    Dataset
        The stored record.

    Raises
    ------
    IngestError
        If the file is refused; nothing is stored then.
    """
    from predictml_desktop.core.profile import profile_frame

    report = progress or _noop_progress
    lim = limits if limits is not None else load_settings(store.paths).limits
    table = read_table(path, sheet=sheet, limits=lim, progress=lambda f: report(0.9 * f), should_stop=should_stop)
    if target is not None and target not in table.frame.columns:
        columns = [str(c) for c in table.frame.columns]
        raise IngestError(
            f"{_short(target)!r} is not a column of {Path(path).name}; its columns are: "
            f"{', '.join(repr(_short(c, 30)) for c in columns[:20])}{'…' if len(columns) > 20 else ''}.",
            path=Path(path), column=target, code="no_target",
        )
    profile = profile_frame(table.frame, target=target)
    report(0.95)
    dataset = store_dataset(store, path, table, profile, target=target, problem_type=problem_type, name=name)
    report(1.0)
    return dataset


def load_dataset_frame(paths: Paths, dataset: Dataset) -> pd.DataFrame:
    """Re-read a stored upload exactly as it was read at import.

    Parameters
    ----------
    paths
        The data home layout.
    dataset
        The dataset record (its encoding, delimiter and sheet are reused).

    Returns
    -------
    pandas.DataFrame
        The same frame `read_table` returned at import.

    Raises
    ------
    IngestError
        If the stored file is missing or its SHA-256 no longer matches the record.
    """
    try:
        file = paths.resolve(dataset.file_path)
    except ValueError as exc:
        raise IngestError(str(exc), code="not_found") from None
    if not file.is_file():
        raise IngestError(f"The stored file of dataset {dataset.id} ({dataset.file_path}) is missing.", path=file,
                          code="not_found")
    if dataset.sha256 and _sha256_file(file) != dataset.sha256:
        raise IngestError(
            f"The stored file of dataset {dataset.id} ({dataset.file_path}) has changed since it was imported "
            "(its SHA-256 does not match); import the data again.",
            path=file, code="changed",
        )
    # The file was accepted under the limits of its day; re-reading it must not depend on today's.
    relaxed = Limits(
        max_file_bytes=max(dataset.size_bytes, 1) * 2 + (1 << 20),
        max_rows=max(dataset.rows, 1) * 2 + 1,
        max_columns=max(len(dataset.columns), 1) * 2 + 1,
        max_cell_chars=1 << 30,
    )
    if dataset.file_format == "excel":
        return read_table(file, sheet=dataset.sheet, limits=relaxed).frame
    return read_table(file, limits=relaxed, encoding=dataset.encoding, delimiter=dataset.delimiter).frame
