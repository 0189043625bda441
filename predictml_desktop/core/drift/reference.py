"""The training side of drift: per feature, decile edges and bin shares, category shares, missing share.

Computed once from the dataset's stored upload (the file the model was trained from) and cached as
``cache/drift/<datasetId>.json``, written atomically (`core.files.atomic_write_bytes`). The cache
carries the upload's SHA-256, the feature list and `REFERENCE_VERSION`; a mismatch on any of them
recomputes it, so an old or foreign cache is never used. Dataset records are left as they were:
older records need nothing new.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predictml_desktop.core.drift.stats import bin_shares, category_counts, numeric_values, quantile_edges
from predictml_desktop.core.files import atomic_write_bytes
from predictml_desktop.core.paths import Paths, safe_name
from predictml_desktop.core.records import Dataset, now_iso

log = logging.getLogger(__name__)

REFERENCE_VERSION = 1
MAX_CATEGORIES = 200
"""Categories kept one by one; rarer ones share an "other" bin (an ID-like column would otherwise bloat the cache)."""

NUMERIC = "numeric"
CATEGORICAL = "categorical"
COMPARED_KINDS = {"numeric": NUMERIC, "categorical": CATEGORICAL, "integer_categorical": CATEGORICAL,
                  "boolean": CATEGORICAL}
"""Profile and schema kinds that are compared, and how. Dates and free text are not: a date moves
on by nature, and free text has no stable distribution."""


@dataclass
class ColumnReference:
    """What training looked like for one column."""

    name: str
    kind: str
    """``numeric``, ``categorical``, or the original kind when the column is not compared."""
    rows: int
    missing_share: float
    edges: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    """Numeric: share of present values in each bin (len(edges) + 1 bins)."""
    categories: dict[str, float] = field(default_factory=dict)
    """Categorical: share of present values per category, most frequent first."""
    other_share: float = 0.0

    @property
    def compared(self) -> bool:
        """True for numeric and categorical columns."""
        return self.kind in (NUMERIC, CATEGORICAL)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"name": self.name, "kind": self.kind, "rows": self.rows, "missingShare": self.missing_share,
                "edges": self.edges, "shares": self.shares, "categories": self.categories,
                "otherShare": self.other_share}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ColumnReference:
        """Build from `to_dict`'s form."""
        return cls(str(doc["name"]), str(doc["kind"]), int(doc["rows"]), float(doc["missingShare"]),
                   [float(x) for x in doc.get("edges", [])], [float(x) for x in doc.get("shares", [])],
                   {str(k): float(v) for k, v in doc.get("categories", {}).items()}, float(doc.get("otherShare", 0.0)))


@dataclass
class Reference:
    """The training data's distributions, per feature, and of the target."""

    dataset_id: str
    dataset_sha256: str
    rows: int
    columns: list[ColumnReference]
    target: ColumnReference | None = None
    """The target's distribution (classes, or decile bins for regression): compared with predictions."""
    created_at: str = field(default_factory=now_iso)

    def column(self, name: str) -> ColumnReference | None:
        """Return one column's reference, or None."""
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return the cached JSON document."""
        return {"schemaVersion": REFERENCE_VERSION, "datasetId": self.dataset_id,
                "datasetSha256": self.dataset_sha256, "rows": self.rows, "createdAt": self.created_at,
                "columns": [c.to_dict() for c in self.columns],
                "target": self.target.to_dict() if self.target else None}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Reference:
        """Build from the cached document (KeyError/TypeError/ValueError if malformed)."""
        target = doc.get("target")
        return cls(str(doc["datasetId"]), str(doc["datasetSha256"]), int(doc["rows"]),
                   [ColumnReference.from_dict(c) for c in doc["columns"]],
                   ColumnReference.from_dict(target) if isinstance(target, dict) else None,
                   str(doc.get("createdAt", "")))


def column_reference(name: str, series: pd.Series, kind: str) -> ColumnReference:
    """Return the reference of one training column (``kind``: a profile or schema kind)."""
    how = COMPARED_KINDS.get(kind, kind)
    rows = len(series)
    if how == NUMERIC:
        values = numeric_values(series)
        edges = quantile_edges(values)
        shares, present = bin_shares(values, edges)
        return ColumnReference(name, NUMERIC, rows, (rows - present) / rows if rows else 0.0,
                               [float(e) for e in edges], [float(s) for s in shares])
    if how == CATEGORICAL:
        counts, missing = category_counts(series)
        present = rows - missing
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = ranked[:MAX_CATEGORIES]
        other = sum(c for _, c in ranked[MAX_CATEGORIES:])
        return ColumnReference(name, CATEGORICAL, rows, missing / rows if rows else 0.0,
                               categories={k: c / present for k, c in kept},
                               other_share=other / present if present else 0.0)
    return ColumnReference(name, kind, rows, float(series.isna().mean()) if rows else 0.0)


def build_reference(frame: pd.DataFrame, features: dict[str, str], *, dataset_id: str = "", sha256: str = "",
                    target: str | None = None, problem_type: str | None = None) -> Reference:
    """Return the reference of ``frame``'s ``features`` (name → kind) and of its target.

    Parameters
    ----------
    frame
        The training table.
    features
        Each feature's kind (``numeric``, ``categorical``, ``integer_categorical``, ``boolean``,
        ``datetime``, ``text``); a feature missing from ``frame`` is skipped.
    target, problem_type
        The target column: its classes (classification) or deciles (regression) are kept too.
    """
    columns = [column_reference(name, frame[name], kind) for name, kind in features.items() if name in frame.columns]
    target_ref = None
    if target is not None and target in frame.columns:
        target_ref = column_reference(target, frame[target],
                                      "numeric" if problem_type == "regression" else "categorical")
    return Reference(dataset_id, sha256, len(frame), columns, target_ref)


def dataset_features(dataset: Dataset, model_features: list[tuple[str, str]] | None = None) -> dict[str, str]:
    """Return the features to compare (name → kind): the model's inputs if known, else the dataset's feature columns."""
    profile_kinds = {str(c.get("name")): str(c.get("kind")) for c in dataset.columns}
    if model_features:
        # The model's own kinds (what it was trained to see); integer codes stay categories.
        return {name: profile_kinds.get(name, kind) if kind == "categorical" else kind
                for name, kind in model_features}
    excluded = set(dataset.excluded_columns or [])
    target = dataset.target_column
    return {name: kind for name, kind in profile_kinds.items() if name != target and name not in excluded}


def cache_path(paths: Paths, dataset_id: str) -> Path:
    """Return where a dataset's reference is cached."""
    return paths.cache / "drift" / f"{safe_name(dataset_id)}.json"


def load_reference(paths: Paths, dataset: Dataset, features: dict[str, str], *, target: str | None = None,
                   problem_type: str | None = None) -> Reference:
    """Return the dataset's reference for ``features``, from the cache or computed (and cached) from its upload.

    Raises
    ------
    IngestError
        If the stored upload is missing or changed since import.
    """
    path = cache_path(paths, dataset.id)
    key = {"features": dict(features), "target": target, "problemType": problem_type}
    try:
        doc = json.loads(path.read_bytes())
        if (isinstance(doc, dict) and doc.get("schemaVersion") == REFERENCE_VERSION
                and doc.get("datasetSha256") == dataset.sha256 and doc.get("key") == key):
            return Reference.from_dict(doc)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("drift reference cache %s is unusable (%s); computing it again", path, exc)
    from predictml_desktop.core.ingest.datasets import load_dataset_frame

    frame = load_dataset_frame(paths, dataset)
    frame.columns = [str(c) for c in frame.columns]
    ref = build_reference(frame, {n: k for n, k in features.items() if n in frame.columns}, dataset_id=dataset.id,
                          sha256=dataset.sha256, target=target, problem_type=problem_type)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({**ref.to_dict(), "key": key}, ensure_ascii=False, allow_nan=False).encode("utf-8")
        atomic_write_bytes(path, data, keep_backup=False)
    except (OSError, ValueError) as exc:
        # A cache that cannot be written only costs the next caller the same computation.
        log.warning("could not cache the drift reference of %s: %s", dataset.id, exc)
    return ref


def frame_shares(values: np.ndarray, ref: ColumnReference) -> tuple[np.ndarray, int]:
    """Return the shares of ``values`` in ``ref``'s numeric bins, and how many values were present."""
    return bin_shares(values, np.asarray(ref.edges, dtype=np.float64))
