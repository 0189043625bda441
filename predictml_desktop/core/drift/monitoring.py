"""What Admin → Monitoring shows for one deployed dataset over a window of logged requests.

Requests and rows per day, latency per day (median and 95th percentile), the predicted-class
distribution against the training one (for a regressor: predictions over the training target's
deciles), and drift per column (`report.compare` on the logged inputs). Each chart is returned as
a plot document that `ui.plots.draw_plot` draws (kinds ``bars`` and ``lines``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from predictml_desktop.core.drift.prediction_log import load_window, write_drift_status
from predictml_desktop.core.drift.report import DriftReport, compare, distribution_shift
from predictml_desktop.core.drift.service import context_for
from predictml_desktop.core.paths import Paths

WINDOWS_DAYS = (1, 7, 30, 90)


@dataclass
class MonitoringSummary:
    """One dataset's served traffic over a window."""

    dataset_id: str
    days: float
    requests: int
    rows: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    drift: DriftReport | None
    prediction_psi: float | None
    plots: list[dict[str, Any]] = field(default_factory=list)
    """Plot documents: ``requests_per_day``, ``latency``, ``predictions_vs_training``, ``drift_per_column``."""

    def summary(self) -> str:
        """Return one or two sentences for the view's header."""
        if not self.requests:
            return (f"No logged requests in the last {self.days:g} days. Turn on the prediction log in the Server "
                    "view (or Settings) to monitor served traffic.")
        latency = f"; median latency {self.latency_p50_ms:.1f} ms (95th percentile {self.latency_p95_ms:.1f} ms)" \
            if self.latency_p50_ms is not None and self.latency_p95_ms is not None else ""
        drift = f" {self.drift.summary()}" if self.drift is not None else ""
        return f"{self.requests:,} requests ({self.rows:,} rows) in the last {self.days:g} days{latency}.{drift}"


def monitoring_summary(paths: Paths, dataset_id: str, *, days: float = 7, now: datetime | None = None,
                       update_status: bool = True) -> MonitoringSummary:
    """Read the prediction log of ``dataset_id`` over the last ``days`` days and summarise it.

    Parameters
    ----------
    paths
        The data home.
    dataset_id
        A dataset with (or that had) a local deployment.
    days
        The window.
    now
        The window's end (default: now).
    update_status
        Also refresh the served drift status that ``/models`` and the deployments show (over the same window).

    Raises
    ------
    DriftError
        If the dataset or its training data cannot be read.
    """
    window = load_window(paths, dataset_id, days=days, now=now or datetime.now(UTC))
    ctx = context_for(paths, dataset_id)
    requests = window.requests
    out = MonitoringSummary(dataset_id, days, len(requests), int(requests["rows"].sum()) if len(requests) else 0,
                            None, None, None, None)
    if not len(requests):
        if update_status:
            write_drift_status(paths, dataset_id, compare(ctx.reference, window.inputs, ctx.thresholds), days)
        return out
    latency = requests["latencyMs"].astype(float)
    out.latency_p50_ms = float(np.nanpercentile(latency, 50))
    out.latency_p95_ms = float(np.nanpercentile(latency, 95))
    by_day = requests.assign(day=requests["time"].dt.strftime("%Y-%m-%d")).groupby("day")
    days_list = sorted(by_day.groups)
    counts = by_day.size().reindex(days_list).tolist()
    p50 = by_day["latencyMs"].quantile(0.5).reindex(days_list).tolist()
    p95 = by_day["latencyMs"].quantile(0.95).reindex(days_list).tolist()
    out.plots.append({"name": "requests_per_day", "kind": "bars", "title": "Requests per day", "labels": days_list,
                      "series": [{"label": "Requests", "values": [int(c) for c in counts]}],
                      "xLabel": "Day (UTC)", "yLabel": "Requests"})
    out.plots.append({"name": "latency", "kind": "lines", "title": "Latency per day", "labels": days_list,
                      "series": [{"label": "Median", "values": [float(v) for v in p50]},
                                 {"label": "95th percentile", "values": [float(v) for v in p95]}],
                      "xLabel": "Day (UTC)", "yLabel": "Milliseconds"})
    target = ctx.reference.target
    if target is not None and target.compared and len(window.predictions):
        value, training, served = distribution_shift(target, window.predictions)
        out.prediction_psi = value
        labels = list(dict.fromkeys([*training, *served]))[:30]
        out.plots.append({"name": "predictions_vs_training", "kind": "bars",
                          "title": f"Predictions against training (PSI {value:.3f})", "labels": labels,
                          "series": [{"label": "Training", "values": [training.get(k, 0.0) for k in labels]},
                                     {"label": "Served", "values": [served.get(k, 0.0) for k in labels]}],
                          "xLabel": "Class" if target.kind == "categorical" else "Value", "yLabel": "Share"})
    report = compare(ctx.reference, window.inputs, ctx.thresholds, source=f"requests of the last {days:g} days")
    out.drift = report
    judged = [c for c in report.columns if c.psi is not None]
    judged.sort(key=lambda c: -(c.psi or 0.0))
    out.plots.append({"name": "drift_per_column", "kind": "bars", "horizontal": True,
                      "title": "Drift per column (PSI)", "labels": [c.name for c in judged][:25],
                      "series": [{"label": "PSI", "values": [float(c.psi or 0.0) for c in judged][:25]}],
                      "thresholds": [ctx.thresholds.psi_watch, ctx.thresholds.psi_act],
                      "xLabel": "PSI", "yLabel": ""})
    if update_status:
        write_drift_status(paths, dataset_id, report, days)
    return out
