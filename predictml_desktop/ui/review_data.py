"""What the review shows of a job, read off the GUI thread: the job list, the details, the model card as PDF.

`load_details` gathers everything in one go on a worker thread (the job, its dataset, the policy
gates, champion and challenger, the model card with its images decoded, and the decisions the core
allows), so showing a job costs the GUI thread only the layout.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predictml_desktop.core.governance import GateOutcome, GateResult, Governance, ModelSummary
from predictml_desktop.core.records import Dataset, Deployment, TrainingJob
from predictml_desktop.core.status import Decision, JobStatus
from predictml_desktop.ui.formatting import (
    format_number,
    format_timestamp,
    metric_label,
    metric_value,
    ordered_metrics,
    status_label,
)


def load_review_list(store: Any) -> tuple[list[TrainingJob], dict[str, Dataset]]:
    """Read the finished jobs (newest first) and the datasets by id (runs off the GUI thread)."""
    # The leaderboard sorts with the engine's metric table: import it here, not on the GUI thread
    # (~0.1 s, and the main window's warm-up may not have run yet).
    import predictml_desktop.core.training.metrics  # noqa: F401

    snapshot = store.read()
    jobs = [j for j in snapshot.jobs.list() if j.status != JobStatus.TRAINING]
    jobs.sort(key=lambda j: j.finished_at or j.started_at or "", reverse=True)
    return jobs, {d.id: d for d in snapshot.datasets.list()}


@dataclass
class ReviewDetails:
    """Everything the review shows of one job, read in one go off the GUI thread."""

    job: TrainingJob
    dataset: Dataset | None
    gates: list[GateResult]
    challenger: ModelSummary
    champion: ModelSummary | None
    """The model the dataset's active local deployment serves (None if nothing is deployed)."""
    card_html: str
    deployments: list[Deployment] = field(default_factory=list)
    card_images: dict[str, Any] = field(default_factory=dict)
    """The card's embedded plot images, decoded on the worker (``QImage`` by resource name)."""
    card_body: str = ""
    """The card's HTML with each embedded image replaced by its resource name."""
    allowed: frozenset[Decision] = frozenset()
    """The decisions the core allows on this job (`Governance.allowed_decisions`)."""

    @property
    def blocked(self) -> list[GateResult]:
        """The gates that block approval."""
        return [g for g in self.gates if g.outcome == GateOutcome.BLOCK]

    @property
    def warned(self) -> list[GateResult]:
        """The gates that warn (an approval over them is recorded as an override)."""
        return [g for g in self.gates if g.outcome == GateOutcome.WARN]


def load_details(governance: Governance, job_id: str) -> ReviewDetails:
    """Read a job, its dataset, gates, champion and model card (runs off the GUI thread)."""
    from predictml_desktop.core.model_card import render_model_card

    snapshot = governance.store.read()
    job = snapshot.jobs.get(job_id)
    dataset = snapshot.datasets.find(job.dataset_id)
    gates = governance.evaluate_gates(job)
    champion = governance.champion(job.dataset_id)
    html = render_model_card(job, dataset, model_dir=governance.paths.model_dir(job.id), gates=gates)
    deployments = [d for d in snapshot.deployments.list() if d.training_job_id == job.id]
    body, images = split_card_images(html)
    return ReviewDetails(job, dataset, gates, governance.challenger(job_id), champion, html, deployments,
                         card_images=images, card_body=body, allowed=governance.allowed_decisions(job, gates))


_DATA_IMAGE = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def split_card_images(html_text: str) -> tuple[str, dict[str, Any]]:
    """Decode the card's embedded PNGs (on the worker); return the HTML naming them, and the images.

    Decoding the plots while the GUI thread lays out the card made showing it take ~50 ms; with
    the images decoded here (QImage is reentrant) it takes ~20 ms.
    """
    from PySide6.QtGui import QImage

    images: dict[str, Any] = {}

    def replace(match: re.Match[str]) -> str:
        image = QImage.fromData(base64.b64decode(match.group(1)))  # the format is read from the data
        if image.isNull():
            return match.group(0)  # leave it to the text engine, which will show it as broken
        name = f"card-image-{len(images)}.png"
        images[name] = image
        return f'src="{name}"'

    return _DATA_IMAGE.sub(replace, html_text), images


def export_pdf(html: str, path: Path) -> Path:
    """Print an HTML model card to a PDF file with Qt's text engine (runs off the GUI thread).

    QTextDocument and QPdfWriter are reentrant: each call uses its own objects, so a worker thread
    may print while the GUI thread paints.
    """
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    writer = QPdfWriter(str(tmp))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setResolution(150)
    writer.setTitle("PredictML model card")
    document = QTextDocument()
    document.setHtml(html)
    document.print_(writer)
    del writer  # the PDF is completed when the writer is destroyed
    tmp.replace(path)
    return path



def comparison_rows(champion: ModelSummary, challenger: ModelSummary,
                    problem_type: str | None) -> list[tuple[str, str, str]]:
    """Return ``(what, champion, challenger)`` rows: model, metrics, holdout size, dates."""
    rows = [
        ("Model", champion.model_name or "", challenger.model_name or ""),
        ("Job", champion.job_id, challenger.job_id),
        ("Status", status_label(champion.status), status_label(challenger.status)),
    ]
    keys = [k for k, _ in ordered_metrics(challenger.metrics, problem_type, challenger.primary_metric)]
    for k, _ in ordered_metrics(champion.metrics, problem_type, champion.primary_metric):
        if k not in keys:
            keys.append(k)
    for key in keys:
        rows.append((metric_label(key), format_number(metric_value(champion.metrics, key)),
                     format_number(metric_value(challenger.metrics, key))))
    rows += [
        ("Holdout rows", format_number(champion.holdout_rows) if champion.holdout_rows is not None else "",
         format_number(challenger.holdout_rows) if challenger.holdout_rows is not None else ""),
        ("Trained", format_timestamp(champion.trained_at), format_timestamp(challenger.trained_at)),
        ("Deployed since", format_timestamp(champion.deployed_at), "—"),
    ]
    return rows
