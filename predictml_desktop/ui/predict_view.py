"""The Predict view (seed phase 6): one row through a generated form, or a whole file, with a deployed model.

Form, batch file and the HTTP service share the core's one prediction path (`core.prediction`):
this view only gathers input, calls it off the GUI thread, and shows what it answers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.paths import Paths
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.formatting import format_timestamp, headline_metric
from predictml_desktop.ui.prediction_form import PredictionForm, ResultCard
from predictml_desktop.ui.table_models import DataFrameModel
from predictml_desktop.ui.tasks import CancellableTask, Tasks
from predictml_desktop.ui.why_panel import WhyPanel
from predictml_desktop.ui.widgets import TABLE_FILE_FILTER, Banner, Card, button, heading, table_view

PREVIEW_ROWS = 200
SAVE_FILTER = "CSV (*.csv);;Excel workbook (*.xlsx);;Parquet (*.parquet)"


@dataclass
class DeployedModel:
    """One active local deployment as the picker lists it."""

    dataset_id: str
    dataset_name: str
    model_name: str
    job_id: str
    deployed_at: str
    problem_type: str | None
    metrics: dict[str, Any]
    error: str | None = None

    @property
    def title(self) -> str:
        """The picker's text."""
        if self.error:
            return f"{self.dataset_name} — unavailable"
        return f"{self.dataset_name} — {self.model_name} ({self.job_id}, deployed {format_timestamp(self.deployed_at)})"


def make_registry(paths: Paths, allow_version_drift: bool = False) -> Any:
    """Return the core's model registry (imported lazily: it pulls in pandas and joblib)."""
    from predictml_desktop.core.prediction import ModelRegistry

    return ModelRegistry(paths, allow_version_drift=allow_version_drift)


def list_deployed(registry: Any, store: Any) -> list[DeployedModel]:
    """Return the active local deployments with their dataset and job (runs off the GUI thread)."""
    snapshot = store.read()
    datasets = {d.id: d for d in snapshot.datasets.list()}
    jobs = {j.id: j for j in snapshot.jobs.list()}
    out = []
    for entry in registry.deployed():
        dataset = datasets.get(entry["datasetId"])
        job = jobs.get(entry.get("trainingJobId", ""))
        out.append(DeployedModel(
            dataset_id=entry["datasetId"],
            dataset_name=(dataset.name if dataset and dataset.name else entry["datasetId"]),
            model_name=entry.get("modelName") or (job.model_name if job else "") or "model",
            job_id=entry.get("trainingJobId", ""),
            deployed_at=entry.get("deployedAt", ""),
            problem_type=job.problem_type if job else None,
            metrics=dict(job.metrics) if job and job.metrics else {},
            error=entry.get("error") if entry.get("status") == "refused" else None,
        ))
    return out


def predict_one(model: Any, row: dict[str, Any]) -> Any:
    """Predict one row through the core's shared prediction path (runs off the GUI thread)."""
    from predictml_desktop.core.prediction import predict_rows

    return predict_rows(model, row)


def score_file_streamed(model: Any, path: Path, output: Path, progress: Any, should_stop: Any,
                        explain: bool = False) -> Any:
    """Score every valid row of ``path`` into ``output`` a chunk at a time (runs off the GUI thread).

    Returns the core's `WrittenBatch` (its first rows included for the preview); memory stays that of
    one chunk whatever the file's length.
    """
    from predictml_desktop.core.prediction import stream_predictions

    progress(0.0, f"Reading {path.name}…")
    return stream_predictions(model, path, output, progress=progress, should_stop=should_stop, explain=explain)


class PredictView(QWidget):
    """Pick a deployed model; predict one row with the form or a whole file.

    Parameters
    ----------
    context
        The app's shared state.
    """

    deployments_loaded = Signal()
    """The list of deployed models was read."""

    model_loaded = Signal()
    """The chosen model is loaded and its form built."""

    model_failed = Signal(str)
    """Loading the chosen model was refused; carries the sentence shown."""

    predicted = Signal(object)
    """A form prediction finished: carries the core's `PredictionResult`."""

    prediction_failed = Signal(str)
    """A form prediction was refused; carries the sentence shown."""

    batch_finished = Signal(object)
    """A batch file was scored and its result written: carries the core's `WrittenBatch`."""

    batch_failed = Signal(str)
    """Scoring a batch file failed; carries the sentence shown."""

    saved = Signal(str)
    """The batch result was written; carries the path."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.tasks = Tasks(self)
        self._registry: Any = None
        self._registry_lock = threading.Lock()
        self._allow_drift = False
        self.deployed: list[DeployedModel] = []
        self.model: Any = None
        self.batch_result: Any = None
        self._batch_task: CancellableTask | None = None
        self._load_generation = 0
        self._build()
        context.records_changed.connect(self.reload)
        self.reload()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading("Predict"))
        self.banner = Banner(name="Prediction message")
        layout.addWidget(self.banner)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)

        # Page 0: nothing deployed (the seed's "Model not deployed").
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        self.empty_card = Card("Model not deployed")
        self.empty_card.setAccessibleName("Model not deployed")
        self.empty_text = QLabel(
            "No model answers predictions yet. Train one: open a file (or the sample dataset) in the Data "
            "view and press Train. When it finishes, an administrator reviews it in the Admin view and "
            "approves it for Local; it then appears here."
        )
        self.empty_text.setWordWrap(True)
        self.empty_card.body.addWidget(self.empty_text)
        go = QHBoxLayout()
        self.go_data_button = button(
            "Go to &Data",
            lambda: self.context.navigate_requested.emit("data"),
            name="Go to the Data view",
        )
        self.go_admin_button = button(
            "Go to &Admin",
            lambda: self.context.navigate_requested.emit("admin"),
            name="Go to the Admin view",
        )
        go.addWidget(self.go_data_button)
        go.addWidget(self.go_admin_button)
        go.addStretch(1)
        self.empty_card.body.addLayout(go)
        empty_layout.addWidget(self.empty_card)
        empty_layout.addStretch(1)
        self.pages.addWidget(empty)

        # Page 1: a model to use.
        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        picker = QHBoxLayout()
        picker_label = QLabel("&Model:")
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Deployed model")
        picker_label.setBuddy(self.model_combo)
        self.model_combo.currentIndexChanged.connect(self._on_model_combo_changed)
        picker.addWidget(picker_label)
        picker.addWidget(self.model_combo, 1)
        main_layout.addLayout(picker)
        self.model_status = QLabel()
        self.model_status.setAccessibleName("Model status")
        self.model_status.setWordWrap(True)
        main_layout.addWidget(self.model_status)
        self.load_bar = QProgressBar()
        self.load_bar.setRange(0, 0)
        self.load_bar.setAccessibleName("Loading the model")
        self.load_bar.hide()
        main_layout.addWidget(self.load_bar)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_form_tab(), "One row")
        self.tabs.addTab(self._build_batch_tab(), "A file")
        self.tabs.setEnabled(False)
        main_layout.addWidget(self.tabs, 1)
        self.pages.addWidget(main)

    def _build_form_tab(self) -> QWidget:
        page = QWidget()
        layout = QHBoxLayout(page)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.form = PredictionForm()
        self.form.values_changed.connect(self._on_form_values_changed)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        left_layout.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        self.reset_button = button("&Reset to defaults", self.form.reset)
        self.predict_button = button("&Predict", self.predict)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        buttons.addWidget(self.predict_button)
        left_layout.addLayout(buttons)
        splitter.addWidget(left)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.result_card = ResultCard()
        right_layout.addWidget(self.result_card)
        self.why_panel = WhyPanel()
        right_layout.addWidget(self.why_panel)
        right_layout.addStretch(1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter)
        return page

    def _build_batch_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        intro = QLabel(
            "Score every row of a CSV, Excel or Parquet file that has the model's input columns, into a CSV, "
            "Excel or Parquet file you choose: a prediction column, one probability column per class and a "
            "warnings column are added. Big files are read, scored and written a part at a time."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        row = QHBoxLayout()
        self.batch_button = button("Choose a &file to score…", self._on_batch_clicked)
        self.batch_cancel_button = button("&Cancel", self.cancel_batch, name="Cancel scoring")
        self.batch_cancel_button.hide()
        row.addWidget(self.batch_button)
        row.addWidget(self.batch_cancel_button)
        self.explain_check = QCheckBox("Add the top three &reasons per row (and each column's contribution)")
        self.explain_check.setAccessibleName("Explain each prediction")
        self.explain_check.setToolTip("Adds reason_1 to reason_3 columns; the contributions go to a second sheet "
                                      "(Excel) or a second file beside the output (.contributions.csv/.parquet).")
        row.addWidget(self.explain_check)
        row.addStretch(1)
        layout.addLayout(row)
        self.batch_bar = QProgressBar()
        self.batch_bar.setRange(0, 100)
        self.batch_bar.setAccessibleName("Scoring progress")
        self.batch_bar.hide()
        layout.addWidget(self.batch_bar)
        from predictml_desktop.ui.drift_summary import DriftSummary

        self.drift_summary = DriftSummary(self.context.paths, self)
        layout.addWidget(self.drift_summary)
        self.batch_summary = QLabel()
        self.batch_summary.setAccessibleName("Scoring summary")
        self.batch_summary.setWordWrap(True)
        layout.addWidget(self.batch_summary)
        self.batch_model = DataFrameModel(parent=self)
        self.batch_view = table_view(self.batch_model, "Scored rows", row_numbers=True)
        layout.addWidget(self.batch_view, 1)
        return page

    # ------------------------------------------------------------------ deployments

    @property
    def registry(self) -> Any:
        """The core's model registry (models stay loaded between predictions).

        Built on first use by a background job: importing the prediction path costs too much for the
        GUI thread.
        """
        with self._registry_lock:
            if self._registry is None:
                self._registry = make_registry(self.context.paths, self._allow_drift)
            return self._registry

    def _get_model(self, dataset_id: str) -> Any:
        return self.registry.get(dataset_id)

    def reload(self) -> None:
        """Read the list of deployed models again off the GUI thread."""
        self.tasks.start(
            self._list_deployed,
            on_result=self._on_deployments_listed,
            on_error=self._on_deployments_failed,
        )

    def _list_deployed(self) -> list[DeployedModel]:
        return list_deployed(self.registry, self.context.store)

    def activated(self) -> None:
        """Reload when the view is shown."""
        self.reload()

    def _on_deployments_listed(self, deployed: list[DeployedModel]) -> None:
        current = self.model_combo.currentData()
        self.deployed = deployed
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for item in deployed:
            self.model_combo.addItem(item.title, item.dataset_id)
        index = self.model_combo.findData(current) if current is not None else -1
        self.model_combo.setCurrentIndex(max(index, 0) if deployed else -1)
        self.model_combo.blockSignals(False)
        self.pages.setCurrentIndex(1 if deployed else 0)
        if not deployed:
            self.model = None
        elif self.model_combo.currentData() != getattr(self.model, "dataset_id", None) or index < 0:
            self._load_selected()
        self.deployments_loaded.emit()

    def _on_deployments_failed(self, message: str) -> None:
        self.banner.show_message("error", message, [("Try again", self.reload)])

    def selected(self) -> DeployedModel | None:
        """Return the deployment chosen in the picker."""
        dataset_id = self.model_combo.currentData()
        return next((d for d in self.deployed if d.dataset_id == dataset_id), None)

    def _on_model_combo_changed(self, _index: int) -> None:
        self._load_selected()

    def _load_selected(self) -> None:
        chosen = self.selected()
        self.model = None
        self.tabs.setEnabled(False)
        self.result_card.hide()
        self.why_panel.hide()
        self.banner.clear()
        if chosen is None:
            return
        if chosen.error:
            self._on_model_failed(chosen.error)
            return
        self.model_status.setText(f"Loading {chosen.model_name}…")
        self.load_bar.show()
        self._load_generation += 1
        generation = self._load_generation
        # Unpickling imports PyCaret's modules and can take seconds: never on the GUI thread.
        self.tasks.start(
            self._get_model,
            chosen.dataset_id,
            on_result=lambda model: self._on_model_loaded(generation, model),
            on_error=lambda message: self._on_model_failed(message, generation),
        )

    def _on_model_loaded(self, generation: int, model: Any) -> None:
        if generation != self._load_generation:
            return
        self.model = model
        self.load_bar.hide()
        chosen = self.selected()
        metric = headline_metric(chosen.metrics, model.problem_type) if chosen else None
        quoted = f" · {metric[0]} {metric[1]}" if metric else ""
        self.model_status.setText(
            f"{model.model_name}{quoted} · predicts “{model.schema.target}” ({model.problem_type}) from "
            f"{len(model.schema.features)} inputs."
        )
        if model.version_drift:
            self.banner.show_message(
                "warning",
                "This model was trained with other library versions: " + ", ".join(model.version_drift) + ".",
            )
        self.form.set_schema(model.schema)
        self.tabs.setEnabled(True)
        self.model_loaded.emit()

    def _on_model_failed(self, message: str, generation: int | None = None) -> None:
        if generation is not None and generation != self._load_generation:
            return
        self.load_bar.hide()
        self.model_status.setText("The model cannot be used.")
        actions: list[tuple[str, Any]] = [("Try again", self._load_selected)]
        if "version" in message.lower() and not self._allow_drift:
            actions.insert(0, ("Load it anyway", self._allow_version_drift))
        self.banner.show_message("error", message, actions)
        self.model_failed.emit(message)

    def _allow_version_drift(self) -> None:
        with self._registry_lock:
            self._allow_drift = True
            self._registry = None
        self._load_selected()

    # ------------------------------------------------------------------ one row

    def predict(self) -> None:
        """Validate the form and predict its row off the GUI thread."""
        if self.model is None:
            return
        row, errors = self.form.row()
        if errors:
            message = f"Check {len(errors)} field(s): " + "; ".join(f"{k}: {v}" for k, v in errors.items())
            self.banner.show_message("error", message)
            self.prediction_failed.emit(message)
            return
        self.banner.clear()
        self.predict_button.setEnabled(False)
        model = self.model
        self.tasks.start(
            predict_one,
            model,
            row,
            on_result=lambda result: self._on_predicted(model, result, row),
            on_error=self._on_prediction_failed,
            on_finish=lambda: self.predict_button.setEnabled(True),
        )

    def _on_form_values_changed(self) -> None:
        self.result_card.mark_stale()
        self.why_panel.mark_stale()

    def _on_predicted(self, model: Any, result: Any, row: dict[str, Any] | None = None) -> None:
        chosen = self.selected()
        metric = headline_metric(chosen.metrics, model.problem_type) if chosen else None
        model_text = f"Model: {model.model_name}" + (f" · {metric[0]}: {metric[1]}" if metric else "")
        probabilities = result.probabilities[0] if result.probabilities else None
        self.result_card.show_result(
            target=model.schema.target,
            problem_type=model.problem_type,
            prediction=result.predictions[0],
            probabilities=probabilities,
            model_text=model_text,
            warnings=result.warnings[0] if result.warnings else [],
        )
        if row is not None:
            self.why_panel.explain(model, row)
        self.predicted.emit(result)

    def _on_prediction_failed(self, message: str) -> None:
        # The core names the field first ("age: ..."), so the message goes next to it when it can.
        shown = False
        for name in self.form.fields:
            if name in message:
                shown = self.form.show_error(name, message)
                break
        if not shown:
            self.banner.show_message("error", message)
        self.prediction_failed.emit(message)

    # ------------------------------------------------------------------ batch

    def ask_input_path(self) -> Path | None:
        """Ask for the file to score (a modal dialog; tests replace this method)."""
        name, _ = QFileDialog.getOpenFileName(self, "Choose a file to score", "", TABLE_FILE_FILTER)
        return Path(name) if name else None

    def ask_save_path(self, source: Path) -> Path | None:
        """Ask where to write the scored rows of ``source`` (a modal dialog; tests replace this method)."""
        start = str(source.with_name(source.stem + ".predictions.csv"))
        name, chosen = QFileDialog.getSaveFileName(self, "Write the predictions to", start, SAVE_FILTER)
        if not name:
            return None
        path = Path(name)
        if not path.suffix:
            path = path.with_suffix(".xlsx" if "xlsx" in chosen else ".parquet" if "parquet" in chosen else ".csv")
        return path

    def _on_batch_clicked(self) -> None:
        path = self.ask_input_path()
        if path is not None:
            self.score_file(path)

    def score_file(self, path: Path, output: Path | None = None) -> None:
        """Score every row of ``path`` into ``output`` (asked for when None) off the GUI thread, with progress."""
        if self.model is None:
            return
        # Started first, so its summary is on screen while the user picks where to save.
        self.drift_summary.check(self.model.dataset_id, path)
        if output is None:
            output = self.ask_save_path(path)
            if output is None:
                return
        self.banner.clear()
        self.batch_result = None
        self.batch_model.set_frame(None)
        self.batch_button.setEnabled(False)
        self.batch_cancel_button.show()
        self.batch_bar.setValue(0)
        self.batch_bar.show()
        self.batch_summary.setText(f"Scoring {path.name}…")
        self._batch_path = path
        self._batch_task = self.tasks.start_cancellable(
            score_file_streamed,
            self.model,
            path,
            output,
            explain=self.explain_check.isChecked(),
            on_result=self._on_batch_scored,
            on_error=self._on_batch_failed,
            on_progress=self._on_batch_progress,
            on_finish=self._on_batch_ended,
        )

    def cancel_batch(self) -> None:
        """Stop scoring the file (nothing is written then)."""
        if self._batch_task is not None:
            self._batch_task.cancel()
            self.batch_summary.setText("Scoring cancelled; nothing was written.")

    def _on_batch_progress(self, fraction: float, message: str) -> None:
        if self._batch_task is None or self._batch_task.cancelled:
            return  # a report queued before the cancel must not overwrite "cancelled"
        self.batch_bar.setValue(int(fraction * 100))
        if message:
            self.batch_summary.setText(message)

    def _on_batch_scored(self, written: Any) -> None:
        self.batch_result = written
        preview = written.preview
        if preview is not None:
            # The answers first in the preview; the written file keeps the input columns first.
            added = [c for c in preview.columns if c == "prediction" or str(c).startswith("probability_")]
            added += [c for c in ("error", "warnings") if c in preview.columns]
            self.batch_model.set_frame(preview[added + [c for c in preview.columns if c not in added]])
            self.batch_view.resizeColumnsToContents()
        shown = f" (the first {PREVIEW_ROWS} shown)" if written.rows > PREVIEW_ROWS else ""
        refused = (f" {written.refused:,} row(s) were not predicted because of a bad cell (see the error column and "
                   f"{written.report.name}).") if written.refused and written.report is not None else ""
        count = f"{written.rows - written.refused:,} of {written.rows:,}" if written.refused else f"{written.rows:,}"
        self.batch_summary.setText(
            f"Scored {count} rows of {self._batch_path.name}{shown}; {written.warned:,} row(s) with warnings.{refused}"
        )
        if written.report is not None:
            self.banner.show_message("warning", f"Wrote the predictions to {written.path}; the rows that could not "
                                     f"be predicted are listed in {written.report}.")
        else:
            extra = ""
            if getattr(written, "contributions", None) is not None and written.contributions != written.path:
                extra = f" Each row's contributions: {written.contributions}."
            self.banner.show_message("success", f"Wrote the predictions to {written.path}.{extra}")
        self.drift_summary.write_report(Path(written.path))
        self.batch_finished.emit(written)
        self.saved.emit(str(written.path))

    def _on_batch_failed(self, message: str) -> None:
        self.batch_summary.setText("")
        self.banner.show_message("error", message)
        self.batch_failed.emit(message)

    def _on_batch_ended(self) -> None:
        self._batch_task = None
        self.batch_bar.hide()
        self.batch_cancel_button.hide()
        self.batch_button.setEnabled(True)

    # ------------------------------------------------------------------ view protocol

    def shutdown(self) -> bool:
        """Stop scoring a file, if one is being scored."""
        if self._batch_task is not None:
            self._batch_task.cancel()
        return True
