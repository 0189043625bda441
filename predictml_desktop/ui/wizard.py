"""The upload wizard (seed phase 1): choose a file, review it, pick the target and options, train.

Every step that touches the file (reading, profiling, storing) runs off the GUI thread through the
core's ingestion API (`wizard_calls`); the wizard only shows what the core found and passes the
user's choices on.

Over 600 lines on purpose: the four steps share one state (the file, its table and profile, the
target and options being chosen) and one object drives them (the main window, the tests and the
screenshots reach its widgets by name). What stands apart already does: the core calls
(`wizard_calls`) and the first step's drop area (`drop_zone`); each step's layout is built by its
own method.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from predictml_desktop.core.resources import sample_dataset_path
from predictml_desktop.core.settings import load_settings
from predictml_desktop.ui.context import AppContext
from predictml_desktop.ui.drop_zone import DropZone
from predictml_desktop.ui.page_bar import PageBar
from predictml_desktop.ui.resources import icon
from predictml_desktop.ui.table_models import Column, PagedFrameModel, RecordTableModel
from predictml_desktop.ui.tasks import CancellableTask, Tasks
from predictml_desktop.ui.widgets import Banner, button, heading, table_view
from predictml_desktop.ui.wizard_calls import (
    model_choices,
    ranking_choices,
    read_and_profile,
    reprofile,
    store_and_create_job,
)

if TYPE_CHECKING:
    from predictml_desktop.core.ingest import TableRead
    from predictml_desktop.core.profile import Profile

PREVIEW_ROWS = 200
"""Rows per page of the preview; the whole table is profiled and can be paged through."""

STEP_CHOOSE, STEP_LOADING, STEP_REVIEW, STEP_TARGET = range(4)
PRESETS = (("fast", "Fast"), ("balanced", "Balanced"), ("thorough", "Thorough"))


def _percent(value: Any) -> str:
    try:
        return f"{float(value) * 100:.1f} %"
    except (TypeError, ValueError):
        return ""


def _kind_label(kind: str) -> str:
    from predictml_desktop.core.profile import KIND_LABELS

    return KIND_LABELS.get(kind, kind)


_EXCLUSION_WORDS = {"id_like": "identifier", "constant": "same value everywhere", "empty_column": "empty",
                    "leakage": "suspected leak of the target"}


def exclusion_reasons(warnings: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Return, per column the profile leaves out, a few words and the warning's sentence (why it is ticked)."""
    out: dict[str, tuple[str, str]] = {}
    for warning in warnings:
        words = _EXCLUSION_WORDS.get(str(warning.get("code")))
        column = warning.get("column")
        if words and column and column not in out:
            out[str(column)] = (words, str(warning.get("message", "")))
    return out


def summary_text(summary: Any) -> str:
    """Return a column's profile summary in one line (range, top categories, date span...)."""
    from predictml_desktop.ui.formatting import format_number

    if not isinstance(summary, dict) or not summary:
        return ""
    if isinstance(summary.get("top"), list) and summary["top"]:
        return " · ".join(f"{t.get('value')} {float(t.get('share', 0)) * 100:.0f} %" for t in summary["top"])
    if "median" in summary:
        return " · ".join(f"{k} {format_number(summary[k], 2)}" for k in ("min", "median", "max") if k in summary)
    if "min" in summary and "max" in summary:
        return f"{summary['min']} – {summary['max']}"
    if "meanLength" in summary:
        return f"mean length {summary['meanLength']} characters"
    if "examples" in summary:
        return "e.g. " + ", ".join(str(e) for e in summary["examples"])
    return ", ".join(f"{k} {v}" for k, v in summary.items())


class UploadWizard(QWidget):
    """The Data view: from a file to a training job, in four steps.

    Parameters
    ----------
    context
        The app's shared state (store, signals).
    """

    loaded = Signal()
    """The file was read and profiled; the review step shows it."""

    load_failed = Signal(str)
    """Reading or profiling was refused; carries the sentence shown to the user."""

    profile_updated = Signal()
    """The profile was recomputed for a newly chosen target."""

    job_created = Signal(str)
    """The dataset was stored and its training job created; carries the job id."""

    train_failed = Signal(str)
    """Storing the dataset or creating the job failed; carries the sentence shown."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.tasks = Tasks(self)
        self.path: Path | None = None
        self.table: TableRead | None = None
        self.profile: Profile | None = None
        self._load_task: CancellableTask | None = None
        self._profile_generation = 0

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = Banner(name="Upload message")
        layout.addWidget(self.banner)
        self.steps = QStackedWidget()
        layout.addWidget(self.steps, 1)
        self.steps.addWidget(self._build_choose_step())
        self.steps.addWidget(self._build_loading_step())
        self.steps.addWidget(self._build_review_step())
        self.steps.addWidget(self._build_target_step())
        self._add_shortcuts()
        self.steps.setCurrentIndex(STEP_CHOOSE)

    # ------------------------------------------------------------------ steps

    def _build_choose_step(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(heading("Start with your data"))
        intro = QLabel(
            "Choose a table with one row per example and one column holding what you want to predict. "
            "PredictML reads it, profiles each column and suggests the target."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.drop_zone = DropZone()
        limits = load_settings(self.context.paths).limits
        self.drop_zone.limits_label.setText(
            f"CSV, TSV, TXT, XLSX, XLSM or Parquet — up to {limits.max_file_bytes // (1024 * 1024)} MB, "
            f"{limits.max_rows:,} rows and {limits.max_columns:,} columns."
        )
        self.open_button = self.drop_zone.open_button
        self.sample_button = self.drop_zone.sample_button
        self.open_button.clicked.connect(self._on_open_clicked)
        self.sample_button.clicked.connect(self.open_sample)
        layout.addWidget(self.drop_zone, 1)
        return page

    def _build_loading_step(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        self.loading_title = heading("Reading…", 2)
        self.loading_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.loading_title)
        self.loading_bar = QProgressBar()
        self.loading_bar.setAccessibleName("Reading progress")
        self.loading_bar.setRange(0, 0)  # busy until the core reports a fraction
        layout.addWidget(self.loading_bar)
        self.loading_label = QLabel("")
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.loading_label)
        row = QHBoxLayout()
        row.addStretch(1)
        self.cancel_load_button = button("&Cancel", self.cancel_load, name="Cancel reading")
        row.addWidget(self.cancel_load_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        return page

    def _build_review_step(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.review_title = heading("Review the data")
        layout.addWidget(self.review_title)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setAccessibleName("File summary")
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        sheet_row = QHBoxLayout()
        self.sheet_label = QLabel("&Sheet:")
        self.sheet_combo = QComboBox()
        self.sheet_combo.setAccessibleName("Excel sheet")
        self.sheet_label.setBuddy(self.sheet_combo)
        self.sheet_combo.activated.connect(self._on_sheet_activated)
        sheet_row.addWidget(self.sheet_label)
        sheet_row.addWidget(self.sheet_combo)
        sheet_row.addStretch(1)
        layout.addLayout(sheet_row)

        splitter = QSplitter(Qt.Orientation.Vertical)
        self.review_tabs = QTabWidget()
        # The preview pages through the whole table: the model only ever holds one page of it.
        self.preview_model = PagedFrameModel(PREVIEW_ROWS, parent=self)
        self.preview_view = table_view(self.preview_model, "Preview of the table", row_numbers=True)
        self.preview_view.horizontalHeader().setStretchLastSection(False)
        self.preview_pages = PageBar(self.preview_model, "preview")
        preview = QWidget()
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.preview_view, 1)
        preview_layout.addWidget(self.preview_pages)
        self.review_tabs.addTab(preview, "Preview")
        self.columns_model = RecordTableModel(
            [
                Column("Column", lambda c: c["name"]),
                Column("Kind", lambda c: _kind_label(c["kind"])),
                Column("Missing", lambda c: _percent(c.get("missingShare")), numeric=True),
                Column("Unique", lambda c: c.get("unique"), numeric=True),
                Column("Summary", lambda c: summary_text(c.get("summary"))),
            ],
            parent=self,
        )
        self.columns_view = table_view(self.columns_model, "Column profile")
        self.review_tabs.addTab(self.columns_view, "Columns")
        splitter.addWidget(self.review_tabs)
        warnings_box = QWidget()
        warnings_layout = QVBoxLayout(warnings_box)
        warnings_layout.setContentsMargins(0, 0, 0, 0)
        self.warnings_title = heading("Data warnings", 2)
        warnings_layout.addWidget(self.warnings_title)
        self.warnings_list = QListWidget()
        self.warnings_list.setAccessibleName("Data warnings")
        self.warnings_list.setWordWrap(True)
        warnings_layout.addWidget(self.warnings_list)
        splitter.addWidget(warnings_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter, 1)

        nav = QHBoxLayout()
        self.review_back_button = button("&Back", self.restart, name="Back to choosing a file")
        self.review_next_button = button("&Next: choose the target", self.go_to_target)
        nav.addWidget(self.review_back_button)
        nav.addStretch(1)
        nav.addWidget(self.review_next_button)
        layout.addLayout(nav)
        return page

    def _build_target_step(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(heading("What should the model predict?"))
        layout.addLayout(self._build_target_form())

        lists = QHBoxLayout()
        exclude_box = QVBoxLayout()
        exclude_label = QLabel("Columns to &exclude from the features:")
        self.exclude_list = QListWidget()
        self.exclude_list.setAccessibleName("Columns to exclude")
        self.exclude_list.itemChanged.connect(lambda _item: self._update_exclude_note())
        exclude_label.setBuddy(self.exclude_list)
        exclude_hint = QLabel("Identifiers, constant and empty columns and columns suspected of leaking the target "
                              "are ticked, with the reason; untick one to train on it.")
        exclude_hint.setWordWrap(True)
        self.exclude_note = QLabel()
        self.exclude_note.setWordWrap(True)
        self.exclude_note.setAccessibleName("What including a suspected column means")
        self.exclude_note.setStyleSheet("color: #8a5a00;")
        exclude_box.addWidget(exclude_label)
        exclude_box.addWidget(exclude_hint)
        exclude_box.addWidget(self.exclude_list)
        exclude_box.addWidget(self.exclude_note)
        lists.addLayout(exclude_box, 1)

        lists.addLayout(self._build_training_options(), 1)
        layout.addLayout(lists, 1)

        nav = QHBoxLayout()
        self.target_back_button = button(
            "&Back",
            lambda: self.steps.setCurrentIndex(STEP_REVIEW),
            name="Back to the review",
        )
        self.train_button = button("T&rain", self.train, icon_name="training")
        nav.addWidget(self.target_back_button)
        nav.addStretch(1)
        nav.addWidget(self.train_button)
        layout.addLayout(nav)
        return page

    def _build_target_form(self) -> QFormLayout:
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Dataset name")
        form.addRow("Dataset &name:", self.name_edit)
        self.target_combo = QComboBox()
        self.target_combo.setAccessibleName("Target column")
        self.target_combo.currentIndexChanged.connect(self._on_target_changed)
        form.addRow("&Target column:", self.target_combo)
        self.target_reason = QLabel()
        self.target_reason.setWordWrap(True)
        self.target_reason.setAccessibleName("Why this target")
        form.addRow("", self.target_reason)
        self.problem_combo = QComboBox()
        self.problem_combo.setAccessibleName("Problem type")
        self.problem_combo.addItem("Classification (predict a category)", "classification")
        self.problem_combo.addItem("Regression (predict a number)", "regression")
        self.problem_combo.currentIndexChanged.connect(self._on_problem_type_changed)
        form.addRow("&Problem type:", self.problem_combo)
        self.problem_reason = QLabel()
        self.problem_reason.setWordWrap(True)
        self.problem_reason.setAccessibleName("Why this problem type")
        form.addRow("", self.problem_reason)
        return form

    def _build_training_options(self) -> QVBoxLayout:
        options_box = QVBoxLayout()
        options_box.addWidget(QLabel("Search effort:"))
        self.preset_group = QButtonGroup(self)
        self.preset_buttons: dict[str, QRadioButton] = {}
        for key, title in PRESETS:
            radio = QRadioButton(title)
            radio.setAccessibleName(f"Preset {title}")
            self.preset_group.addButton(radio)
            self.preset_buttons[key] = radio
            options_box.addWidget(radio)
        default_preset = load_settings(self.context.paths).default_preset
        self.preset_buttons.get(default_preset, self.preset_buttons["balanced"]).setChecked(True)
        budget_row = QHBoxLayout()
        self.budget_check = QCheckBox("Time &budget instead:")
        self.budget_check.setAccessibleName("Use a time budget")
        self.budget_spin = QSpinBox()
        self.budget_spin.setAccessibleName("Time budget in seconds")
        self.budget_spin.setRange(5, 24 * 3600)
        self.budget_spin.setValue(120)
        self.budget_spin.setSuffix(" s")
        self.budget_spin.setEnabled(False)
        self.budget_check.toggled.connect(self._on_budget_toggled)
        budget_row.addWidget(self.budget_check)
        budget_row.addWidget(self.budget_spin)
        options_box.addLayout(budget_row)
        rank_row = QHBoxLayout()
        rank_label = QLabel("Ran&k models by:")
        self.ranking_combo = QComboBox()
        self.ranking_combo.setAccessibleName("Rank models by")
        rank_label.setBuddy(self.ranking_combo)
        rank_row.addWidget(rank_label)
        rank_row.addWidget(self.ranking_combo, 1)
        options_box.addLayout(rank_row)
        models_label = QLabel("&Models to try:")
        self.models_list = QListWidget()
        self.models_list.setAccessibleName("Models to try")
        models_label.setBuddy(self.models_list)
        options_box.addWidget(models_label)
        options_box.addWidget(self.models_list, 1)
        return options_box

    def _add_shortcuts(self) -> None:
        # Return moves on in every step, so the whole wizard can be done from the keyboard.
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self._on_return_pressed)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self._on_escape_pressed)

    def _on_return_pressed(self) -> None:
        step = self.steps.currentIndex()
        if step == STEP_REVIEW and self.review_next_button.isEnabled():
            self.go_to_target()
        elif step == STEP_TARGET and self.train_button.isEnabled():
            self.train()
        elif step == STEP_CHOOSE:
            focused = self.focusWidget()
            if focused is self.open_button or focused is self.sample_button:
                focused.click()

    def _on_escape_pressed(self) -> None:
        step = self.steps.currentIndex()
        if step == STEP_LOADING:
            self.cancel_load()
        elif step == STEP_TARGET:
            self.steps.setCurrentIndex(STEP_REVIEW)
        elif step == STEP_REVIEW:
            self.restart()

    # ------------------------------------------------------------------ step 1: choose and read

    def _on_open_clicked(self) -> None:
        window = self.window()
        ask = getattr(window, "ask_open_path", None)
        path = ask() if callable(ask) else None
        if path is not None:
            self.open_file(path)

    def open_sample(self) -> None:
        """Open the bundled sample dataset (customer purchases)."""
        path = sample_dataset_path()
        if not path.is_file():
            self._show_load_error(
                f"The sample dataset is missing from this installation ({path}); reinstall PredictML."
            )
            return
        self.open_file(path)

    def open_file(self, path: Path, sheet: str | None = None) -> None:
        """Read and profile ``path`` off the GUI thread; the review step follows."""
        if self._load_task is not None:
            self._load_task.cancel()
        self.banner.clear()
        self.path = Path(path)
        self.loading_title.setText(f"Reading {self.path.name}…")
        self.loading_label.setText("")
        self.loading_bar.setRange(0, 0)
        self.steps.setCurrentIndex(STEP_LOADING)
        self.cancel_load_button.setFocus()
        limits = load_settings(self.context.paths).limits
        self._load_task = self.tasks.start_cancellable(
            read_and_profile,
            self.path,
            sheet,
            limits,
            on_result=self._on_loaded,
            on_error=self._show_load_error,
            on_progress=self._on_load_progress,
        )

    def cancel_load(self) -> None:
        """Stop reading the file and go back to the first step."""
        if self._load_task is not None:
            self._load_task.cancel()
            self._load_task = None
        self.restart()
        self.banner.show_message("info", "Reading the file was cancelled.")

    def _on_load_progress(self, fraction: float, message: str) -> None:
        self.loading_bar.setRange(0, 100)
        self.loading_bar.setValue(int(fraction * 100))
        if message:
            self.loading_label.setText(message)

    def _show_load_error(self, message: str) -> None:
        self._load_task = None
        self.steps.setCurrentIndex(STEP_CHOOSE)
        self.banner.show_message("error", message, [("Dismiss", self.banner.clear)])
        self.open_button.setFocus()
        self.load_failed.emit(message)

    def _on_loaded(self, result: tuple[TableRead, Profile]) -> None:
        self._load_task = None
        self.table, self.profile = result
        self._show_review()
        self.steps.setCurrentIndex(STEP_REVIEW)
        self.review_next_button.setFocus()
        # The rest in a later turn of the event loop: sizing the preview's columns and filling the
        # target step each take tens of milliseconds, and together with the first paint of the
        # review they stalled the loop for over 100 ms.
        QTimer.singleShot(0, lambda table=self.table: self._finish_review(table))

    def _finish_review(self, table: TableRead) -> None:
        if self.table is not table or self.profile is None:
            return  # another file was opened meanwhile, or the user went back
        self.preview_view.resizeColumnsToContents()
        self.columns_model.set_rows(list(self.profile.columns))
        self.columns_view.resizeColumnsToContents()
        self.columns_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self._fill_target_step(self.profile)
        self.loaded.emit()

    # ------------------------------------------------------------------ step 2: review

    def _show_review(self) -> None:
        assert self.table is not None and self.profile is not None and self.path is not None
        table, profile = self.table, self.profile
        frame = table.frame
        details = [f"{len(frame):,} rows × {frame.shape[1]:,} columns"]
        if getattr(table, "file_format", "") == "csv":
            if table.encoding:
                details.append(f"encoding {table.encoding}")
            if table.delimiter:
                details.append(f"separated by {_describe_delimiter(table.delimiter)}")
        elif table.sheet:
            details.append(f"sheet “{table.sheet}”")
        summary = f"<b>{self.path.name}</b> — " + ", ".join(details) + "."
        notes = list(getattr(table, "notes", []) or [])
        if notes:
            summary += "<br>" + "<br>".join(str(n) for n in notes)
        self.summary_label.setText(summary)
        self.review_title.setText(f"Review {self.path.name}")
        sheets = list(getattr(table, "sheets", []) or [])
        self.sheet_combo.clear()
        self.sheet_combo.addItems(sheets)
        if table.sheet is not None and table.sheet in sheets:
            self.sheet_combo.setCurrentText(table.sheet)
        for widget in (self.sheet_label, self.sheet_combo):
            widget.setVisible(len(sheets) > 1)
        self.preview_model.set_table(frame)
        self._show_warnings(profile)

    def _show_warnings(self, profile: Profile) -> None:
        self.warnings_list.clear()
        for warning in profile.warnings:
            item = QListWidgetItem(icon("warning"), str(warning["message"]))
            self.warnings_list.addItem(item)
        count = self.warnings_list.count()
        self.warnings_title.setText(f"Data warnings ({count})" if count else "No data warnings")

    def _on_sheet_activated(self, _index: int) -> None:
        sheet = self.sheet_combo.currentText()
        if self.path is not None and self.table is not None and sheet and sheet != self.table.sheet:
            self.open_file(self.path, sheet=sheet)

    def restart(self) -> None:
        """Go back to the first step, forgetting the file."""
        self.table = self.profile = None
        self.preview_model.set_table(None)
        self.columns_model.set_rows([])
        self.steps.setCurrentIndex(STEP_CHOOSE)
        self.open_button.setFocus()

    # ------------------------------------------------------------------ step 3: target and options

    def go_to_target(self) -> None:
        """Show the target and options step."""
        self.steps.setCurrentIndex(STEP_TARGET)
        self.target_combo.setFocus()

    def _fill_target_step(self, profile: Profile) -> None:
        assert self.path is not None
        self.name_edit.setText(self.path.stem)
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        from predictml_desktop.core.profile import UNSUITABLE_TARGET_KINDS

        # Ranked candidates first (each with the profile's reason), then any other usable column:
        # the suggestion can be overridden, but not with an ID, a constant, free text or a date.
        reasons = {str(c["column"]): str(c.get("reason", "")) for c in profile.target_candidates}
        self._target_reasons = reasons
        eligible = list(reasons) + [
            str(c["name"]) for c in profile.columns
            if str(c["name"]) not in reasons and c["kind"] not in UNSUITABLE_TARGET_KINDS
        ]
        for name in eligible:
            label = f"{name}  (suggested)" if name == profile.suggested_target else name
            self.target_combo.addItem(label, name)
        if profile.suggested_target is not None:
            self.target_combo.setCurrentIndex(self.target_combo.findData(profile.suggested_target))
        self.target_combo.blockSignals(False)
        self._show_target_reason()
        self._fill_excluded(profile)
        self._set_problem_type(profile)

    def _show_target_reason(self) -> None:
        target = self.target
        reason = self._target_reasons.get(target or "", "")
        if self.profile is not None and target == self.profile.suggested_target:
            self.target_reason.setText(f"Suggested: {reason}" if reason else "Suggested by the profile.")
        else:
            self.target_reason.setText(reason or "Your choice.")

    def _fill_excluded(self, profile: Profile) -> None:
        # The profile's warnings are for the chosen target (recomputed when it changes), so a column
        # that leaks one target is ticked only while that target is chosen.
        excluded = set(profile.excluded_columns)
        self._exclusion_reasons = exclusion_reasons(profile.warnings)
        self.exclude_list.blockSignals(True)
        self.exclude_list.clear()
        for column in profile.columns:
            name = str(column["name"])
            if name == self.target:
                continue
            words, why = self._exclusion_reasons.get(name, ("", ""))
            # The kind already says "identifier" or "constant"; a leak is not a kind, so it is said.
            leak = words == _EXCLUSION_WORDS["leakage"]
            text = f"{name}  ({_kind_label(column['kind'])})" + (f" — {words}" if leak else "")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(why)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in excluded else Qt.CheckState.Unchecked)
            self.exclude_list.addItem(item)
        self.exclude_list.blockSignals(False)
        self._update_exclude_note()

    def _update_exclude_note(self) -> None:
        reasons = getattr(self, "_exclusion_reasons", {})
        chosen = set(self.excluded_columns())
        included = [name for name, (words, _why) in reasons.items()
                    if words == _EXCLUSION_WORDS["leakage"] and name not in chosen]
        self.exclude_note.setText(
            f"Training on {', '.join(repr(n) for n in included)} (suspected of leaking the target) blocks the "
            "model's approval while the leakage gate is on; keep it only if its value is known when predicting."
            if included else "")

    def _set_problem_type(self, profile: Profile) -> None:
        if profile.problem_type:
            self.problem_combo.blockSignals(True)
            self.problem_combo.setCurrentIndex(self.problem_combo.findData(profile.problem_type))
            self.problem_combo.blockSignals(False)
        self.problem_reason.setText(profile.problem_type_reason)
        self._fill_models()

    def _fill_models(self) -> None:
        self._fill_ranking()
        previous = {self.models_list.item(i).data(Qt.ItemDataRole.UserRole): self.models_list.item(i).checkState()
                    for i in range(self.models_list.count())}
        self.models_list.clear()
        try:
            choices = model_choices(self.problem_type)
        except Exception as exc:  # noqa: BLE001 - the model list is a convenience: the wizard goes on without it
            self.banner.show_message("warning", f"The list of models is not available: {exc}")
            choices = []
        for model_id, name in choices:
            item = QListWidgetItem(f"{name}  ({model_id})")
            item.setData(Qt.ItemDataRole.UserRole, model_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(previous.get(model_id, Qt.CheckState.Checked))
            self.models_list.addItem(item)

    def _fill_ranking(self) -> None:
        previous = self.ranking_combo.currentData()
        self.ranking_combo.clear()
        self.ranking_combo.addItem("Automatic (suited to the data)", None)
        try:
            for key, label in ranking_choices(self.problem_type):
                self.ranking_combo.addItem(label, key)
        except Exception as exc:  # noqa: BLE001 - the metric list is a convenience: the wizard goes on without it
            self.banner.show_message("warning", f"The list of metrics is not available: {exc}")
        self.ranking_combo.setCurrentIndex(max(0, self.ranking_combo.findData(previous)))

    def _on_target_changed(self, _index: int) -> None:
        self._show_target_reason()
        if self.table is None or self.target is None:
            return
        self.train_button.setEnabled(False)
        self.problem_reason.setText("Checking the new target…")
        self._profile_generation += 1
        generation = self._profile_generation
        self.tasks.start(
            reprofile,
            self.table.frame,
            self.target,
            on_result=lambda profile: self._on_reprofiled(generation, profile),
            on_error=self._on_reprofile_failed,
        )

    def _on_reprofiled(self, generation: int, profile: Profile) -> None:
        # Only the latest target's profile counts; an older one finishing late is dropped.
        if generation != self._profile_generation:
            return
        self.profile = profile
        self._show_warnings(profile)
        self._fill_excluded(profile)
        self._set_problem_type(profile)
        self.train_button.setEnabled(True)
        self.profile_updated.emit()

    def _on_reprofile_failed(self, message: str) -> None:
        self.train_button.setEnabled(True)
        self.problem_reason.setText("")
        self.banner.show_message("error", message)

    def _on_problem_type_changed(self, _index: int) -> None:
        if self.profile is not None and self.problem_type != self.profile.problem_type:
            self.problem_reason.setText("Chosen by you (overrides the profile).")
        self._fill_models()

    def _on_budget_toggled(self, checked: bool) -> None:
        self.budget_spin.setEnabled(checked)
        for radio in self.preset_buttons.values():
            radio.setEnabled(not checked)

    # ------------------------------------------------------------------ the user's choices

    @property
    def target(self) -> str | None:
        """The chosen target column."""
        data = self.target_combo.currentData()
        return str(data) if data is not None else None

    @property
    def problem_type(self) -> str:
        """``classification`` or ``regression``."""
        return str(self.problem_combo.currentData())

    def excluded_columns(self) -> list[str]:
        """Columns the user chose to leave out of the features."""
        return [
            str(self.exclude_list.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.exclude_list.count())
            if self.exclude_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def selected_models(self) -> list[str]:
        """Model ids the user kept checked."""
        return [
            str(self.models_list.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.models_list.count())
            if self.models_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def training_options(self) -> dict[str, Any]:
        """Return the search options as `TrainingOptions` keyword arguments (excluded columns apart)."""
        options: dict[str, Any] = {}
        if self.budget_check.isChecked():
            options["budget_s"] = float(self.budget_spin.value())
        else:
            options["preset"] = next(k for k, b in self.preset_buttons.items() if b.isChecked())
        models = self.selected_models()
        if self.models_list.count() and len(models) < self.models_list.count():
            options["models"] = models
        if self.ranking_combo.currentData():
            options["ranking_metric"] = str(self.ranking_combo.currentData())
        return options

    # ------------------------------------------------------------------ step 4: train

    def train(self) -> None:
        """Store the dataset and create its training job off the GUI thread."""
        if self.table is None or self.profile is None or self.path is None or self.target is None:
            return
        if self.models_list.count() and not self.selected_models():
            self.banner.show_message("error", "Choose at least one model to try.")
            return
        busy = getattr(self.window(), "training_busy_reason", None)
        reason = busy() if callable(busy) else None
        if reason:
            self.banner.show_message("error", reason)
            return
        self.train_button.setEnabled(False)
        self.banner.show_message("info", "Saving the dataset and starting the training…")
        self.tasks.start(
            store_and_create_job,
            self.context.store,
            self.path,
            self.table,
            self.profile,
            name=self.name_edit.text().strip() or self.path.stem,
            target=self.target,
            problem_type=self.problem_type,
            excluded_columns=self.excluded_columns(),
            options=self.training_options(),
            on_result=self._on_job_created,
            on_error=self._on_train_failed,
        )

    def _on_job_created(self, job: Any) -> None:
        self.train_button.setEnabled(True)
        self.banner.clear()
        self.restart()
        self.context.notify_records_changed()
        self.job_created.emit(job.id)
        self.context.training_requested.emit(job.id)

    def _on_train_failed(self, message: str) -> None:
        self.train_button.setEnabled(True)
        self.banner.show_message("error", message)
        self.train_failed.emit(message)

    # ------------------------------------------------------------------ view protocol

    def shutdown(self) -> bool:
        """Stop reading a file, if one is being read."""
        if self._load_task is not None:
            self._load_task.cancel()
        return True


def _describe_delimiter(delimiter: str) -> str:
    return {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}.get(delimiter, repr(delimiter))
