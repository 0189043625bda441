"""Qt table models over the data the views show: a DataFrame (whole or a page at a time), and lists of records."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)

if TYPE_CHECKING:
    import pandas as pd

_Index = QModelIndex | QPersistentModelIndex
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def format_value(value: Any) -> str:
    """Return a cell's text: numbers compact, missing values empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    text = str(value)
    # pandas' missing markers (NaT, <NA>) are shown as empty cells, like NaN.
    return "" if text in {"NaT", "<NA>", "nan"} else text


class DataFrameModel(QAbstractTableModel):
    """A read-only view of a pandas DataFrame; cells are read on demand, never copied.

    Parameters
    ----------
    frame
        The table to show (kept by reference).
    parent
        Owner of the model.
    """

    def __init__(self, frame: pd.DataFrame | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._frame: pd.DataFrame | None = None
        self._columns: list[Any] = []
        self.set_frame(frame)

    @property
    def frame(self) -> pd.DataFrame | None:
        """The DataFrame shown."""
        return self._frame

    def set_frame(self, frame: pd.DataFrame | None) -> None:
        """Show another DataFrame."""
        self.beginResetModel()
        self._frame = frame
        # One array per column, taken once: a view of the frame's own data for most dtypes. Reading
        # a cell through DataFrame.iat costs ~80 µs (it boxes a Series), which made sizing a
        # 200-row preview stall the event loop for 0.4 s.
        self._columns = [] if frame is None else [frame.iloc[:, i].to_numpy() for i in range(frame.shape[1])]
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        """Return the number of rows (Qt model API)."""
        return 0 if self._frame is None or parent.isValid() else len(self._frame)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """Return the number of columns (Qt model API)."""
        return 0 if self._frame is None or parent.isValid() else self._frame.shape[1]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return what a cell shows for ``role`` (Qt model API)."""
        if self._frame is None or not index.isValid():
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return format_value(self._columns[index.column()][index.row()])
        if role == Qt.ItemDataRole.TextAlignmentRole:
            value = self._columns[index.column()][index.row()]
            # numpy's scalars register as numbers.Real; numpy's bool does not (nor is bool shown right).
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                return _RIGHT
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return a header's text (Qt model API)."""
        if self._frame is None or role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self._frame.columns[section])
        return str(section + 1)


class PagedFrameModel(DataFrameModel):
    """A read-only view of one page of a pandas DataFrame: the preview of a table of any length.

    Only ``page_size`` rows are ever in the model, so Qt's sizing and painting cost the same for a
    million rows as for a hundred; turning the page takes one slice per column (a view, not a copy).
    Row headers count from the table's first row (page 2 of 200-row pages starts at 201).

    Parameters
    ----------
    page_size
        Rows per page.
    parent
        Owner of the model.
    """

    page_changed = Signal(int)
    """The page shown changed (or the table did); carries the 0-based page."""

    def __init__(self, page_size: int = 200, parent: Any = None) -> None:
        super().__init__(None, parent)
        self._table: pd.DataFrame | None = None
        self._page = 0
        self.page_size = max(1, int(page_size))

    @property
    def table(self) -> pd.DataFrame | None:
        """The whole table being paged through (the model itself holds one page)."""
        return self._table

    @property
    def page(self) -> int:
        """The page shown, counted from 0."""
        return self._page

    @property
    def page_count(self) -> int:
        """How many pages the table has (at least 1)."""
        rows = 0 if self._table is None else len(self._table)
        return max(1, -(-rows // self.page_size))

    @property
    def first_row(self) -> int:
        """The table position of the page's first row (0-based)."""
        return self._page * self.page_size

    def set_table(self, table: pd.DataFrame | None) -> None:
        """Page through another table, from its first page."""
        self._table = table
        self._page = 0
        self._show_page()

    def set_page(self, page: int) -> None:
        """Show ``page`` (0-based; clamped to the table's pages)."""
        page = min(max(0, int(page)), self.page_count - 1)
        if page != self._page:
            self._page = page
            self._show_page()

    def _show_page(self) -> None:
        table = self._table
        if table is None:
            self.set_frame(None)
        else:
            start = self.first_row
            self.set_frame(table.iloc[start:start + self.page_size])
        self.page_changed.emit(self._page)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return a header's text; rows are numbered as in the whole table (Qt model API)."""
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole and self.frame is not None:
            return f"{self.first_row + section + 1:,}"
        return super().headerData(section, orientation, role)


@dataclass(frozen=True)
class Column:
    """One column of a `RecordTableModel`: its heading and how to get a cell's value from a row."""

    header: str
    value: Callable[[Any], Any]
    numeric: bool = False
    tooltip: Callable[[Any], str] | None = None


class RecordTableModel(QAbstractTableModel):
    """A read-only table of arbitrary row objects (records, dicts), one row per object.

    Parameters
    ----------
    columns
        The columns, in order.
    parent
        Owner of the model.
    """

    def __init__(self, columns: Sequence[Column], parent: Any = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[Any] = []

    @property
    def rows(self) -> list[Any]:
        """The row objects shown (do not modify; use `set_rows`)."""
        return self._rows

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (the rows stay)."""
        self.beginResetModel()
        self._columns = list(columns)
        self.endResetModel()

    def set_rows(self, rows: Sequence[Any]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_object(self, row: int) -> Any:
        """Return the object shown in ``row``."""
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """Return the number of rows (Qt model API)."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """Return the number of columns (Qt model API)."""
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return what a cell shows for ``role`` (Qt model API)."""
        if not index.isValid():
            return None
        column = self._columns[index.column()]
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_value(column.value(row))
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tooltip(row) if column.tooltip else format_value(column.value(row))
        if role == Qt.ItemDataRole.UserRole:
            # The raw value, for sorting numbers as numbers.
            value = column.value(row)
            return value if isinstance(value, int | float | str) else format_value(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return _RIGHT
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return a header's text (Qt model API)."""
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._columns[section].header
        return str(section + 1)


class StatusFilter(QSortFilterProxyModel):
    """Shows the rows of a `RecordTableModel` whose record has one status (None: every row)."""

    def __init__(self, parent: QObject, status: str | None = None) -> None:
        super().__init__(parent)
        self.status = status

    def set_status(self, status: str | None) -> None:
        """Show only the rows with ``status`` (None: all of them)."""
        # Qt 6.10+ replaced invalidateRowsFilter() (deprecated, warns) by this begin/end pair.
        self.beginFilterChange()
        self.status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        """Qt's filter hook: keep a row whose record has the chosen status."""
        if self.status is None:
            return True
        model = self.sourceModel()
        assert isinstance(model, RecordTableModel)
        return str(model.row_object(source_row).status) == self.status
