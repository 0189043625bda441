"""The details of the job under review, one tab each: summary, metrics, leaderboard, warnings, plots, model card."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.ui.formatting import (
    format_duration,
    format_number,
    format_timestamp,
    metric_label,
    metric_value,
    status_label,
)
from predictml_desktop.ui.leaderboard import LeaderboardModel
from predictml_desktop.ui.metric_reading import metric_readings
from predictml_desktop.ui.plots import PlotsPanel
from predictml_desktop.ui.review_data import ReviewDetails
from predictml_desktop.ui.table_models import Column, RecordTableModel

WARNINGS_TAB = 3


class ReviewDetailsPanel(QTabWidget):
    """The tabs of one job's details; `show_details` fills them from a `ReviewDetails`.

    The plots tab (`plots`) is filled by the view, which loads the plots separately (they depend only
    on the job's files, so a records change does not redraw them).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Job details")
        self.addTab(self._build_summary_tab(), "Summary")
        self.addTab(self._build_metrics_tab(), "Metrics")
        self.addTab(self._build_board_tab(), "Leaderboard")
        self.addTab(self._build_warnings_tab(), "Data warnings")
        self.plots = PlotsPanel()
        self.addTab(self.plots, "Plots")
        self.addTab(self._build_card_tab(), "Model card")

    # ------------------------------------------------------------------ tabs

    def _build_summary_tab(self) -> QWidget:
        self.summary_area = QScrollArea()
        self.summary_area.setWidgetResizable(True)
        summary = QWidget()
        self.summary_form = QFormLayout(summary)
        self.summary_area.setWidget(summary)
        return self.summary_area

    def _build_metrics_tab(self) -> QWidget:
        self.metrics_model = RecordTableModel([
            Column("Metric", lambda r: r[0]),
            Column("Holdout", lambda r: r[1], numeric=True),
            Column("Cross-validation", lambda r: r[2], numeric=True),
            Column("Baseline", lambda r: r[3], numeric=True),
            Column("What it means", lambda r: r[4], tooltip=lambda r: r[4]),
        ], parent=self)
        self.metrics_view = QTableView()
        self.metrics_view.setAccessibleName("Metrics of the job")
        self.metrics_view.setModel(self.metrics_model)
        self.metrics_view.setWordWrap(True)
        self.metrics_view.verticalHeader().hide()
        self.metrics_view.horizontalHeader().setStretchLastSection(True)
        return self.metrics_view

    def _build_board_tab(self) -> QWidget:
        self.board_model = LeaderboardModel(parent=self)
        self.board_view = QTableView()
        self.board_view.setAccessibleName("Leaderboard of the job")
        self.board_view.setModel(self.board_model)
        self.board_view.verticalHeader().hide()
        return self.board_view

    def _build_warnings_tab(self) -> QWidget:
        self.warnings_model = RecordTableModel([
            Column("Source", lambda w: w[0]),
            Column("Column", lambda w: w[1]),
            Column("Warning", lambda w: w[2], tooltip=lambda w: w[2]),
        ], parent=self)
        self.warnings_view = QTableView()
        self.warnings_view.setAccessibleName("Data warnings")
        self.warnings_view.setModel(self.warnings_model)
        self.warnings_view.verticalHeader().hide()
        self.warnings_view.horizontalHeader().setStretchLastSection(True)
        return self.warnings_view

    def _build_card_tab(self) -> QWidget:
        card = QWidget()
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(0, 0, 0, 0)
        card_buttons = QHBoxLayout()
        self.export_pdf_button = QPushButton("Export as &PDF…")
        self.export_pdf_button.setAccessibleName("Export the model card as PDF")
        card_buttons.addWidget(self.export_pdf_button)
        card_buttons.addStretch(1)
        card_layout.addLayout(card_buttons)
        self.card_browser = QTextBrowser()
        self.card_browser.setAccessibleName("Model card")
        self.card_browser.setOpenExternalLinks(False)
        card_layout.addWidget(self.card_browser, 1)
        return card

    # ------------------------------------------------------------------ contents

    def show_details(self, details: ReviewDetails) -> None:
        """Fill every tab but the plots from ``details``."""
        job, dataset = details.job, details.dataset
        self._show_summary(details)
        cv: dict[str, Any] = job.metrics.get("cv") or {}
        baseline: dict[str, Any] = job.metrics.get("baseline") or {}
        rows = []
        target = job.target_column or "the target"
        for key, label, value, reading in metric_readings(job.metrics, job.problem_type, target=target,
                                                          first=job.ranking_metric):
            rows.append((label, value, format_number(metric_value(cv, key)),
                         format_number(metric_value(baseline, key)), reading))
        self.metrics_model.set_rows(rows)
        self.metrics_view.resizeColumnsToContents()
        self.board_model.metric = None
        self.board_model.set_entries(job.leaderboard)
        warnings = [("Data", str(w.get("column") or ""), str(w.get("message") or w.get("code") or ""))
                    for w in (dataset.warnings if dataset else []) if isinstance(w, dict)]
        warnings += [("Training", "", str(w.get("message") or w.get("code") or ""))
                     for w in job.warnings if isinstance(w, dict)]
        self.warnings_model.set_rows(warnings)
        self.setTabText(WARNINGS_TAB, f"Data warnings ({len(warnings)})")
        self._show_card(details)

    def _show_card(self, details: ReviewDetails) -> None:
        if not details.card_body:
            self.card_browser.setHtml(details.card_html)
            return
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QTextDocument

        # A new document, child of the browser: Qt deletes the previous one (QTextEdit::setDocument).
        document = QTextDocument(self.card_browser)
        for name, image in details.card_images.items():
            document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        document.setHtml(details.card_body)
        self.card_browser.setDocument(document)


    def _show_summary(self, details: ReviewDetails) -> None:
        job, dataset = details.job, details.dataset
        while self.summary_form.rowCount():
            self.summary_form.removeRow(0)
        rows: list[tuple[str, str]] = [
            ("Status", status_label(job.status)),
            ("Model", job.model_name or "—"),
            ("Dataset", f"{dataset.name if dataset else job.dataset_id} ({job.dataset_id})"
             + (f", file {dataset.file_name}" if dataset and dataset.file_name else "")),
            ("Target", f"{job.target_column} ({job.problem_type or 'unknown type'})"),
            ("Samples", f"{format_number(job.samples)} rows" if job.samples is not None else ""),
            ("Holdout rows", format_number(details.challenger.holdout_rows)
             if details.challenger.holdout_rows is not None else ""),
            ("Features", format_number(job.features) if job.features is not None else ""),
            ("Training time", format_duration(job.duration_s)),
            ("Finished", format_timestamp(job.finished_at)),
        ]
        if job.ranking_metric:
            reason = f" — {job.ranking_metric_reason}" if job.ranking_metric_reason else ""
            rows.append(("Ranked by", f"{metric_label(job.ranking_metric)}{reason}"))
        for _key, label, value, reading in metric_readings(job.metrics, job.problem_type,
                                                     target=job.target_column or "the target",
                                                     first=job.ranking_metric)[:3]:
            rows.append((label, f"{value} — {reading}"))
        if details.champion is not None and details.champion.job_id != job.id:
            champ = details.champion
            score = format_number(champ.primary_score) if champ.primary_score is not None else "—"
            rows.append(("Deployed now", f"{champ.model_name} ({champ.job_id}), {metric_label(champ.primary_metric)} "
                                         f"{score}; approving this job for Local replaces it"))
        if job.review:
            review = job.review
            rows.append(("Decision", f"{review.get('decision', '')} by {review.get('by', '')} on "
                                     f"{format_timestamp(review.get('at'))}"
                         + (f": {review['reason']}" if review.get("reason") else "")))
        for dep in details.deployments:
            where = dep.endpoint or dep.bundle_path or ""
            rows.append(("Deployment", f"{dep.id}: {dep.target}, {dep.status} {where}".strip()))
        for label, value in rows:
            value_label = QLabel(value)
            value_label.setWordWrap(True)
            value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value_label.setAccessibleName(label)
            self.summary_form.addRow(f"{label}:", value_label)

    def summary_value(self, label: str) -> str:
        """Return the text of one summary row (``Model``, ``Samples``...), or ``""``."""
        for row in range(self.summary_form.rowCount()):
            item = self.summary_form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QLabel) and widget.accessibleName() == label:
                return widget.text()
        return ""

