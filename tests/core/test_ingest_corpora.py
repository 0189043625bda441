"""Public corpora: csv-spectrum reads to exactly its expected rows; BLNS strings survive unchanged.

The corpora are copied into tests/data/ (csv-spectrum: BSD-2-Clause, see its SOURCE.md; BLNS: MIT,
see its LICENSE) so that a clone of the repository alone runs these tests.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from predictml_desktop.core.ingest import load_dataset_frame, read_table
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.store import Store

DATA = Path(__file__).parents[1] / "data"
SPECTRUM = DATA / "csv-spectrum"
BLNS_FILE = DATA / "naughty-strings" / "blns.json"


# Characters an XML 1.0 document (and so an .xlsx file) cannot contain.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _as_text(value: Any) -> str:
    """The text form of a read value: a missing cell is "", a whole float is written without ".0"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


SPECTRUM_CASES = sorted(p.stem for p in (SPECTRUM / "csvs").glob("*.csv"))


def test_the_spectrum_corpus_is_complete() -> None:
    assert len(SPECTRUM_CASES) == 12


@pytest.mark.parametrize("case", SPECTRUM_CASES)
def test_csv_spectrum_reads_to_exactly_the_expected_rows(case: str) -> None:
    expected: list[dict[str, str]] = json.loads((SPECTRUM / "json" / f"{case}.json").read_text("utf-8"))
    table = read_table(SPECTRUM / "csvs" / f"{case}.csv")
    frame = table.frame
    assert list(frame.columns) == list(expected[0].keys())
    got = [{col: _as_text(v) for col, v in zip(frame.columns, row, strict=True)}
           for row in frame.itertuples(index=False, name=None)]
    assert got == expected


def test_leading_zero_codes_stay_text() -> None:
    table = read_table(SPECTRUM / "csvs" / "comma_in_quotes.csv")
    assert table.frame["zip"].tolist() == ["08123"]


@pytest.fixture(scope="module")
def blns() -> list[str]:
    strings = json.loads(BLNS_FILE.read_text("utf-8"))
    assert len(strings) > 500
    return strings


def _unique_names(strings: list[str]) -> list[str]:
    # "" cannot be a column name (a blank header is refused on purpose); repeats would be duplicates.
    return list(dict.fromkeys(s for s in strings if s != ""))


def test_blns_as_column_names_survive_csv(tmp_path: Path, blns: list[str]) -> None:
    names = _unique_names(blns)
    for start in range(0, len(names), 100):
        chunk = names[start : start + 100]
        path = tmp_path / f"names_{start}.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
            writer.writerow(chunk)
            writer.writerow([str(i) for i in range(len(chunk))])
        frame = read_table(path).frame
        assert list(frame.columns) == chunk


def test_blns_as_values_survive_csv_and_the_stored_round_trip(tmp_path: Path, predictml_home: Path,
                                                               blns: list[str]) -> None:
    values = [s for s in blns if s != ""]  # an empty cell is a missing value by design
    path = tmp_path / "values.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow(["n", "value"])
        writer.writerows([str(i), s] for i, s in enumerate(values))
    frame = read_table(path).frame
    assert frame["value"].tolist() == values
    assert frame["n"].tolist() == list(range(len(values)))

    from predictml_desktop.core.ingest import import_dataset

    store = Store(Paths(predictml_home))
    ds = import_dataset(store, path, target="n")
    assert load_dataset_frame(store.paths, ds)["value"].tolist() == values


def test_blns_as_names_and_values_survive_xlsx(tmp_path: Path, blns: list[str]) -> None:
    # A workbook is XML, which cannot hold control characters or U+FFFE/U+FFFF at all; every other
    # string must come back unchanged.
    storable = [s for s in blns if s != "" and not _NOT_XML.search(s)]
    names = list(dict.fromkeys(storable))[:400]
    path = tmp_path / "blns.xlsx"
    header = pd.DataFrame([list(range(len(names)))], columns=names)
    values = pd.DataFrame({"n": range(len(storable)), "value": storable})
    with pd.ExcelWriter(path) as writer:
        header.to_excel(writer, sheet_name="names", index=False)
        values.to_excel(writer, sheet_name="values", index=False)
    assert list(read_table(path, sheet="names").frame.columns) == names
    got = read_table(path, sheet="values").frame
    assert got["value"].tolist() == storable
