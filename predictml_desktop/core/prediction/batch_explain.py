"""Explanations in batch files: the top reasons as text columns, the full contributions beside them.

`BatchExplainer` is used by `batch_files.stream_predictions(..., explain=True)` one chunk at a time:

- ``reason_1``, ``reason_2``, ``reason_3`` are added to the predictions ("Income 40,276 lowered the
  chance of Yes by 12 points"), empty for refused rows;
- the contribution matrix (``row``, ``explained_class``, ``base_value``, one column per input column,
  ``output``, ``method``) goes to a second sheet ``Contributions`` of an .xlsx output, or to a second
  file ``<output>.contributions.<suffix>`` beside a .csv/.tsv/.txt/.parquet output. Both are written
  through the same temporary-file-then-commit outputs as the predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predictml_desktop.core.modeling.fast_path import ColumnBatch
from predictml_desktop.core.prediction.answers import jsonable
from predictml_desktop.core.prediction.explaining import TOP_REASONS, explain_features

if TYPE_CHECKING:
    from predictml_desktop.core.prediction.batch_files import ScoredTable
    from predictml_desktop.core.prediction.batch_outputs import _Output
    from predictml_desktop.core.prediction.loading import LoadedModel

REASON_COLUMNS = [f"reason_{i + 1}" for i in range(TOP_REASONS)]
CONTRIBUTIONS_SHEET = "Contributions"


def contributions_path(output_path: Path) -> Path:
    """Return where the contribution matrix of a .csv/.tsv/.txt/.parquet output goes (a file beside it)."""
    return output_path.with_name(f"{output_path.stem}.contributions{output_path.suffix}")


class BatchExplainer:
    """Explains each chunk's predicted rows and writes the contributions (see the module)."""

    def __init__(self, model: LoadedModel, output: _Output, output_path: Path) -> None:
        from predictml_desktop.core.prediction.batch_outputs import _open_output, _XlsxOutput

        self.model = model
        self.path: Path | None
        self._sheet: Any = None
        self._own: _Output | None = None
        self._xlsx: _XlsxOutput | None = None
        if isinstance(output, _XlsxOutput):
            # A second worksheet of the same write-only workbook (each sheet streams to its own file).
            self._xlsx = output
            self._sheet = output._book.create_sheet(CONTRIBUTIONS_SHEET)
            self.path = output_path
        else:
            self.path = contributions_path(output_path)
            self._own = _open_output(self.path, output_path.name)
        self._header = False
        self.methods: set[str] = set()

    def add(self, scored: ScoredTable, offset: int) -> None:
        """Add the reason columns to ``scored.frame`` and write its predicted rows' contributions."""
        frame = scored.frame
        reasons = [[""] * len(frame) for _ in REASON_COLUMNS]
        features, good = scored.features, scored.good
        rows_out: pd.DataFrame | None = None
        if features is not None and good is not None and len(features):
            batch = ColumnBatch({c: features[c].to_numpy() for c in features.columns}, list(features.columns))
            explanation = explain_features(self.model, batch, features.reset_index(drop=True))
            self.methods.add(explanation.method)
            positions = np.flatnonzero(good)
            for i, row in enumerate(positions.tolist()):
                for j, text in enumerate(explanation.reasons(i)):
                    reasons[j][row] = text
            a = explanation.attribution
            data: dict[str, Any] = {"row": positions + offset + 1}
            if a.explained_class is not None:
                data["explained_class"] = [jsonable(explanation.classes[int(k)]) for k in a.explained_class]
            data["base_value"] = a.base
            for j, column in enumerate(a.columns):
                data[column] = a.values[:, j]
            data["output"] = a.output
            data["method"] = a.method
            rows_out = pd.DataFrame(data)
        for name, texts in zip(REASON_COLUMNS, reasons, strict=True):
            frame[name] = texts
        if rows_out is not None:
            self._write(rows_out)

    def _write(self, frame: pd.DataFrame) -> None:
        if self._own is not None:
            self._own.write(frame)
            return
        from predictml_desktop.core.prediction.batch_outputs import _neutralised, _xlsx_safe

        safe = _neutralised(frame, _xlsx_safe)
        if not self._header:
            self._sheet.append(list(safe.columns))
            self._header = True
        for row in safe.itertuples(index=False, name=None):
            self._sheet.append(list(row))

    def commit(self) -> Path | None:
        """Put the contributions file in place (a sheet is saved with its workbook); return where they are."""
        if self._own is not None:
            if self._own.rows == 0:
                self._own.discard()
                return None
            return self._own.commit()
        return self.path if self._header else None

    def discard(self) -> None:
        """Remove the unfinished contributions file."""
        if self._own is not None:
            self._own.discard()
