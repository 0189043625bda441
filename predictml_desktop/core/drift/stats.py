"""The drift measures: population stability index (PSI) over bins or categories, and their levels.

PSI = Σ (cᵢ − rᵢ)·ln(cᵢ / rᵢ) over bins, with rᵢ the reference (training) share of bin i and cᵢ
the current one. An empty bin would make the logarithm infinite, so a zero share is replaced by
`EPSILON` (0.0001), as Evidently's ``psi`` test does. Numeric bins are the training deciles (at most
ten bins; repeated quantiles of a column with few distinct values merge). Categories are their own
bins, plus one bin for values never seen in training (reference share 0, so it counts fully). The
missing share is compared apart: PSI is computed over the present values only.

Levels follow the field's reading of PSI (Evidently, NannyML, Azure ML's population stability
index): below 0.1 no real change, 0.1-0.25 worth watching, 0.25 and more act. Thresholds come from
the approval policy (``drift`` entry of `core.governance.gates.DEFAULT_POLICY`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

EPSILON = 1e-4
"""The share an empty bin counts as (Evidently's value), so that PSI stays finite."""

QUANTILE_BINS = 10
MIN_ROWS = 100
"""Below this many present values a column gets no level: PSI's sampling noise alone is about
(bins − 1)·(1/n + 1/N), 0.09 for ten bins at 100 rows, close to the watch threshold."""


class DriftLevel(StrEnum):
    """How much a column moved from training."""

    OK = "ok"
    WATCH = "watch"
    ACT = "act"
    FEW_ROWS = "few_rows"
    """Too few values to judge."""
    NOT_COMPARED = "not_compared"
    """A kind that is not compared (dates, free text)."""


LEVEL_ORDER = {DriftLevel.NOT_COMPARED: 0, DriftLevel.FEW_ROWS: 0, DriftLevel.OK: 1, DriftLevel.WATCH: 2,
               DriftLevel.ACT: 3}


@dataclass(frozen=True)
class Thresholds:
    """Where watching and acting start, for PSI and for the change in missing share."""

    psi_watch: float = 0.1
    psi_act: float = 0.25
    missing_watch: float = 0.05
    """Absolute change of the missing share (0.05 = five points)."""
    missing_act: float = 0.15
    enabled: bool = True
    """False when the policy turns drift flags off (levels are still computed, nothing is flagged)."""

    @classmethod
    def from_policy(cls, policy_entry: dict[str, Any] | None) -> Thresholds:
        """Return the thresholds of the policy's ``drift`` entry (defaults for missing or bad values)."""
        entry = policy_entry or {}
        default = cls()

        def number(key: str, fallback: float) -> float:
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                return fallback
            return float(value)

        watch = number("watch", default.psi_watch)
        act = max(watch, number("act", default.psi_act))
        m_watch = number("missingWatch", default.missing_watch)
        m_act = max(m_watch, number("missingAct", default.missing_act))
        return cls(watch, act, m_watch, m_act, entry.get("mode", "warn") != "off")

    def psi_level(self, value: float) -> DriftLevel:
        """Return the level of a PSI value."""
        if value >= self.psi_act:
            return DriftLevel.ACT
        return DriftLevel.WATCH if value >= self.psi_watch else DriftLevel.OK

    def missing_level(self, change: float) -> DriftLevel:
        """Return the level of an absolute change in missing share."""
        if abs(change) >= self.missing_act:
            return DriftLevel.ACT
        return DriftLevel.WATCH if abs(change) >= self.missing_watch else DriftLevel.OK


def psi(reference: np.ndarray | list[float], current: np.ndarray | list[float], *, epsilon: float = EPSILON) -> float:
    """Return the population stability index of two distributions over the same bins.

    Parameters
    ----------
    reference, current
        Shares per bin (each sums to 1, or to 0 when there are no values). Zero shares count as ``epsilon``.

    Returns
    -------
    float
        Σ (c − r)·ln(c / r); 0 when the two are equal.
    """
    r = np.maximum(np.asarray(reference, dtype=np.float64), epsilon)
    c = np.maximum(np.asarray(current, dtype=np.float64), epsilon)
    if r.shape != c.shape:
        raise ValueError(f"The distributions have {r.size} and {c.size} bins.")
    return float(np.sum((c - r) * np.log(c / r)))


def quantile_edges(values: np.ndarray, bins: int = QUANTILE_BINS) -> np.ndarray:
    """Return the inner bin edges of ``values``: its quantiles at 1/bins … (bins−1)/bins, repeats merged."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return np.empty(0)
    edges = np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(edges)


def bin_shares(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Return the share of finite ``values`` in each right-closed bin (−∞, e₁], (e₁, e₂] … (eₖ, ∞), and their count."""
    v = values[np.isfinite(values)]
    counts = np.bincount(np.searchsorted(edges, v, side="left"), minlength=edges.size + 1).astype(np.float64)
    n = int(v.size)
    return (counts / n if n else counts), n


def numeric_values(series: pd.Series) -> np.ndarray:
    """Return a column as floats; text that is not a number becomes NaN (counted as missing)."""
    if series.dtype.kind in "biuf":
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def category_key(value: Any) -> str | None:
    """Return how a category is compared: whole numbers without a fraction (``1.0`` and ``1`` alike), text stripped.

    None for a missing value.
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if value is pd.NaT:
        return None
    text = str(value).strip()
    return text or None


def category_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Return the count of each category of a column and the number of missing values."""
    keys = series.map(category_key)
    missing = int(keys.isna().sum())
    counts = keys.dropna().value_counts()
    return {str(k): int(v) for k, v in counts.items()}, missing


def category_psi(reference: dict[str, float], other_share: float, counts: dict[str, int]) -> tuple[float, float, int]:
    """Return PSI over categories, the share of values unseen in training, and their count.

    Parameters
    ----------
    reference
        Training share of each category kept (over present values).
    other_share
        Training share of the rare categories not kept one by one (their own bin; 0 when all are kept).
    counts
        Current count of each category.
    """
    n = sum(counts.values())
    unseen = 0 if other_share > 0 else sum(c for k, c in counts.items() if k not in reference)
    names = list(reference)
    ref = [reference[k] for k in names]
    cur = [counts.get(k, 0) for k in names]
    rest = sum(c for k, c in counts.items() if k not in reference)
    # The last bin is "other" (rare training categories) or "unseen" (reference share 0).
    ref.append(other_share)
    cur.append(rest)
    shares = np.asarray(cur, dtype=np.float64) / n if n else np.zeros(len(cur))
    return psi(np.asarray(ref), shares), (unseen / n if n else 0.0), unseen
