"""Drift against the training data (issue 15 item 2): is new data still like what a model learnt from.

- `stats`: PSI over bins or categories with Evidently's empty-bin epsilon, the watch/act
  `Thresholds` of the policy (0.1 / 0.25 by default), `DriftLevel`.
- `reference`: the training side per feature (deciles, category shares, missing share), cached in
  ``cache/drift/`` of the data home.
- `report`: `compare` a table with a reference → `DriftReport` (text rows, JSON, small HTML page).
- `service`: the same for a dataset id (its deployed model's features) and for a batch file.
- `prediction_log`: the opt-in log of served requests and the windows the Monitoring view reads.

No Qt here; numpy and pandas only.
"""

from __future__ import annotations

from predictml_desktop.core.drift.reference import ColumnReference, Reference, build_reference, load_reference
from predictml_desktop.core.drift.report import ColumnDrift, DriftReport, compare, distribution_shift
from predictml_desktop.core.drift.service import (
    DriftContext,
    DriftError,
    context_for,
    drift_of_file,
    drift_of_frame,
    report_path,
    thresholds_for,
    write_html_report,
)
from predictml_desktop.core.drift.stats import EPSILON, MIN_ROWS, DriftLevel, Thresholds, psi

__all__ = [
    "EPSILON",
    "MIN_ROWS",
    "ColumnDrift",
    "ColumnReference",
    "DriftContext",
    "DriftError",
    "DriftLevel",
    "DriftReport",
    "Reference",
    "Thresholds",
    "build_reference",
    "compare",
    "context_for",
    "distribution_shift",
    "drift_of_file",
    "drift_of_frame",
    "load_reference",
    "psi",
    "report_path",
    "thresholds_for",
    "write_html_report",
]
