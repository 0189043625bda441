"""Ingestion: good files of every format and encoding read back exactly; stored all-or-nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from predictml_desktop.core.ingest import (
    IngestError,
    import_dataset,
    list_sheets,
    load_dataset_frame,
    read_table,
    store_dataset,
)
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.profile import profile_frame
from predictml_desktop.core.store import Store
from tests.core.ingest_helpers import snapshot

TABLE = pd.DataFrame(
    {
        "name": ["Zoë", "André", "Jürgen", "Ærø", "日本"],
        "price": [1.5, 2.25, -3.0, 4.0, 1e6],
        "count": [1, 2, 3, 4, 5],
        "note": ['say "hi"', "a,b", "line1\nline2", "x;y", "€ 5"],
    }
)


@pytest.fixture
def store(predictml_home: Path) -> Store:
    s = Store(Paths(predictml_home))
    s.startup()
    return s


def _assert_same(frame: pd.DataFrame, expected: pd.DataFrame = TABLE) -> None:
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected, check_dtype=False)


@pytest.mark.parametrize(
    ("encoding", "label"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("utf-16-le", None),
     ("utf-16-be", None), ("utf-32", "utf-32")],
)
def test_unicode_encodings_round_trip(tmp_path: Path, encoding: str, label: str | None) -> None:
    path = tmp_path / "data.csv"
    text = TABLE.to_csv(index=False)
    if label is None:  # the BOM-carrying variants of the explicit-endian codecs
        bom = b"\xff\xfe" if encoding.endswith("le") else b"\xfe\xff"
        path.write_bytes(bom + text.encode(encoding))
        label = "utf-16"
    else:
        path.write_bytes(text.encode(encoding))
    table = read_table(path)
    assert table.encoding == label
    _assert_same(table.frame)
    assert table.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_cp1252_is_read_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    frame = TABLE[TABLE["name"] != "日本"].assign(note=["café €", "naïve", "Straße", "œuvre"])
    path.write_bytes(frame.to_csv(index=False).encode("cp1252"))
    table = read_table(path)
    assert table.encoding == "cp1252"
    assert any("Windows-1252" in n for n in table.notes)
    _assert_same(table.frame, frame.reset_index(drop=True))


def test_latin1_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("a,b\nx\x81y,1\nzé,2\n".encode("latin-1"))
    table = read_table(path)
    assert table.encoding == "latin-1"
    assert table.frame["a"].tolist() == ["x\x81y", "zé"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_delimiters_and_newlines(tmp_path: Path, delimiter: str, newline: str) -> None:
    path = tmp_path / "data.txt"
    frame = TABLE.drop(columns=["note"])
    path.write_bytes(frame.to_csv(index=False, sep=delimiter, lineterminator=newline).encode())
    table = read_table(path)
    assert table.delimiter == delimiter
    _assert_same(table.frame, frame)


def test_quoted_newlines_and_delimiters_inside_values(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(TABLE.to_csv(index=False, lineterminator="\r\n").encode())
    _assert_same(read_table(path).frame)


def test_excel_round_trip_and_sheet_choice(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    other = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    with pd.ExcelWriter(path) as writer:
        TABLE.to_excel(writer, sheet_name="First", index=False)
        other.to_excel(writer, sheet_name="Second", index=False)
    assert list_sheets(path) == ["First", "Second"]
    first = read_table(path)
    assert (first.sheet, first.sheets, first.file_format) == ("First", ["First", "Second"], "excel")
    _assert_same(first.frame)
    _assert_same(read_table(path, sheet="Second").frame, other)
    with pytest.raises(IngestError, match="no worksheet named 'Third'; its sheets are: 'First', 'Second'"):
        read_table(path, sheet="Third")


def test_import_stores_file_and_record_and_reloads_identically(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(TABLE.to_csv(index=False, sep=";").encode("utf-16"))
    ds = import_dataset(store, path, target="price")
    assert ds.file_path == f"uploads/{ds.id}.csv"
    stored = store.paths.resolve(ds.file_path)
    assert stored.read_bytes() == path.read_bytes()
    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (ds.rows, ds.encoding, ds.delimiter, ds.target_column, ds.problem_type) == (
        5, "utf-16", ";", "price", "regression")
    assert [c["name"] for c in ds.columns] == list(TABLE.columns)
    assert store.read().datasets.get(ds.id).sha256 == ds.sha256
    _assert_same(load_dataset_frame(store.paths, ds))


def test_reload_refuses_a_changed_upload(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    TABLE.to_csv(path, index=False)
    ds = import_dataset(store, path)
    stored = store.paths.resolve(ds.file_path)
    stored.write_bytes(stored.read_bytes() + b"extra,1,2,3\n")
    with pytest.raises(IngestError, match="has changed since it was imported"):
        load_dataset_frame(store.paths, ds)


def test_unknown_target_is_refused_and_nothing_stored(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    TABLE.to_csv(path, index=False)
    before = snapshot(store.paths.home)
    with pytest.raises(IngestError, match=r"'nope' is not a column of data\.csv; its columns are: 'name'"):
        import_dataset(store, path, target="nope")
    assert snapshot(store.paths.home) == before


def test_a_file_changed_between_read_and_store_is_not_stored(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    TABLE.to_csv(path, index=False)
    table = read_table(path)
    profile = profile_frame(table.frame)
    path.write_bytes(path.read_bytes() + b"x,1,2,y\n")
    before = snapshot(store.paths.home)
    with pytest.raises(IngestError, match="changed while it was being imported"):
        store_dataset(store, path, table, profile)
    assert snapshot(store.paths.home) == before


def test_non_ascii_path_and_xlsm(tmp_path: Path) -> None:
    folder = tmp_path / "données été"
    folder.mkdir()
    path = folder / "fichier ü.xlsm"
    TABLE.to_excel(path, index=False)
    table = read_table(path)
    assert table.file_format == "excel"
    _assert_same(table.frame)


def test_excel_types_dates_and_formulas(tmp_path: Path) -> None:
    from datetime import datetime

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["when", "amount", "ok", "code"])
    ws.append([datetime(2024, 1, 5), 1.5, True, "007"])
    ws.append([datetime(2024, 2, 6), 2, False, "008"])
    ws.append([None, None, None, None])  # an empty row is skipped, as in a CSV
    ws.append([datetime(2024, 3, 7), "=B2+B3", True, "009"])  # no cached value: read as missing
    path = tmp_path / "types.xlsx"
    wb.save(path)
    frame = read_table(path).frame
    assert str(frame["when"].dtype).startswith("datetime64")
    assert frame["amount"].tolist()[:2] == [1.5, 2.0] and pd.isna(frame["amount"].iloc[2])
    assert frame["ok"].tolist() == [True, False, True]
    assert frame["code"].tolist() == ["007", "008", "009"]


def test_workbook_with_a_thousand_sheets_lists_quickly(tmp_path: Path) -> None:
    import time

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["a", "b"])
    wb.active.append([1, 2])
    for i in range(999):
        wb.create_sheet(f"S{i}").append(["x"])
    path = tmp_path / "many.xlsx"
    wb.save(path)
    started = time.perf_counter()
    assert len(list_sheets(path)) == 1000
    assert read_table(path, sheet="Sheet").frame.shape == (1, 2)
    assert time.perf_counter() - started < 5


def test_decimal_comma_semicolon_file(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_bytes("name;price;qty\nÄpfel;1,25;3\nBirnen;10,5;4\n".encode("cp1252"))
    table = read_table(path)
    assert table.delimiter == ";"
    assert table.frame["price"].tolist() == [1.25, 10.5]
    assert any("decimals with a comma" in n for n in table.notes)


def test_na_placeholders_only_in_numeric_columns(tmp_path: Path) -> None:
    path = tmp_path / "na.csv"
    path.write_bytes(b"x,word\n1.5,NA\nNA,null\nN/A,None\n3,yes\n")
    frame = read_table(path).frame
    assert frame["x"].dtype.kind == "f" and frame["x"].isna().tolist() == [False, True, True, False]
    assert frame["word"].tolist() == ["NA", "null", "None", "yes"]  # text stays as written


def test_a_column_typed_differently_in_different_chunks_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    n = 300_000  # beyond one low-memory parsing chunk
    path.write_bytes(b"code,n\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(n)) + b"A7,1\n007,2\n")
    frame = read_table(path).frame
    assert frame["code"].iloc[-2:].tolist() == ["A7", "007"]
    assert frame["code"].iloc[:2].tolist() == ["0", "1"]
    assert {type(v) for v in frame["code"]} == {str}
    assert frame["n"].dtype.kind == "i"


def test_progress_is_reported_and_reading_can_be_cancelled(tmp_path: Path) -> None:
    from predictml_desktop.core.ingest import IngestCancelled

    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 500_000)
    seen: list[float] = []
    read_table(path, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(IngestCancelled, match=r"^Reading big\.csv was cancelled\.$"):
        read_table(path, should_stop=stop)


def test_excel_reading_can_be_cancelled(tmp_path: Path) -> None:
    from predictml_desktop.core.ingest import IngestCancelled

    path = tmp_path / "book.xlsx"
    pd.DataFrame({"a": range(20_000), "b": ["x"] * 20_000}).to_excel(path, index=False)
    with pytest.raises(IngestCancelled):
        read_table(path, should_stop=lambda: True)


def test_shipped_sample_matches_its_generator() -> None:
    from predictml_desktop.core.sampledata import SAMPLE_FILE_NAME, purchase_csv_bytes

    shipped = Path(__file__).parents[2] / "resources" / "sample_data" / SAMPLE_FILE_NAME
    assert shipped.read_bytes() == purchase_csv_bytes()


def test_sample_table_has_signal_noise_and_missing_values() -> None:
    from predictml_desktop.core.sampledata import make_purchase_table

    frame = make_purchase_table(25_821, seed=1)
    assert len(frame) == 25_821
    assert make_purchase_table(50, seed=3).equals(make_purchase_table(50, seed=3))
    assert 0.2 < frame["purchased"].mean() < 0.5
    assert frame[["income", "time_on_site_min", "device", "gender"]].isna().any().all()
    # Real signal: buyers visit more; noise: far from perfectly.
    by_class = frame.groupby("purchased")["visits"].mean()
    assert by_class[1] > by_class[0] * 1.2
    profile = profile_frame(frame)
    assert profile.suggested_target == "purchased"
    assert not [w for w in profile.warnings if w["code"] == "leakage"]


def test_store_uses_the_chosen_targets_warnings_and_keeps_an_override_reason(store: Store, tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame({"x": rng.normal(size=n), "leak": y * 5 + rng.normal(scale=0.01, size=n),
                          "amount": rng.normal(100, 10, n), "y": y})
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    table = read_table(path)
    profile = profile_frame(table.frame)  # made for the suggested target
    assert profile.target == "y"
    ds = store_dataset(store, path, table, profile, target="amount")
    assert (ds.target_column, ds.problem_type) == ("amount", "regression")
    assert not [w for w in ds.warnings if w["code"] == "leakage"]  # the leak is about y, not amount
    ds2 = store_dataset(store, path, table, profile, target="y", problem_type="regression")
    assert [w["column"] for w in ds2.warnings if w["code"] == "leakage"] == ["leak"]
    assert ds2.problem_type == "regression"
    assert ds2.problem_type_reason.startswith("Chosen by the user (detected: classification; the target has only 2")


@pytest.mark.parametrize("suffix", [".xlsx", ".tsv", ".txt"])
def test_reload_equals_the_import_for_every_format(store: Store, tmp_path: Path, suffix: str) -> None:
    from datetime import datetime

    frame = TABLE.assign(when=[datetime(2024, 1, d) for d in range(1, 6)])
    path = tmp_path / f"data{suffix}"
    if suffix == ".xlsx":
        with pd.ExcelWriter(path) as writer:
            frame.head(2).to_excel(writer, sheet_name="Other", index=False)
            frame.to_excel(writer, sheet_name="Main", index=False)
        ds = import_dataset(store, path, sheet="Main")
    else:
        path.write_bytes(frame.to_csv(index=False, sep="\t" if suffix == ".tsv" else "|").encode("cp1252",
                                                                                                 errors="replace"))
        ds = import_dataset(store, path)
    first = read_table(path, sheet=ds.sheet).frame
    pd.testing.assert_frame_equal(load_dataset_frame(store.paths, ds), first)
    assert ds.file_path.endswith(suffix)


def test_non_utf8_bytes_after_the_first_megabyte(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = b"a,b\n" + b"plain,1\n" * 200_000  # 1.6 MB of ASCII first
    path.write_bytes(body + "café,2\n".encode("cp1252"))
    table = read_table(path)
    assert table.encoding == "cp1252"
    assert table.frame["a"].iloc[-1] == "café"
    assert any("Windows-1252" in n for n in table.notes)
    japanese = tmp_path / "late_sjis.csv"
    japanese.write_bytes(body + "東京大阪京都名古屋,2\n".encode("shift_jis"))
    with pytest.raises(IngestError, match=r"first undecodable byte on line 200,002, position 1\); it looks like "
                                          r"Shift-JIS"):
        read_table(japanese)


def test_long_sheet_is_built_in_blocks_with_the_same_types(tmp_path: Path) -> None:
    from datetime import datetime

    from openpyxl import Workbook

    from predictml_desktop.core.ingest import excel

    n = excel._EXCEL_BLOCK_ROWS + 10
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Data")
    ws.append(["i", "late_number", "when", "label"])
    for i in range(n):
        late = 1.5 if i >= n - 5 else None  # missing in the whole first block
        ws.append([i, late, datetime(2024, 1, 1 + i % 28), "ab"[i % 2]])
    path = tmp_path / "long.xlsx"
    wb.save(path)
    frame = read_table(path).frame
    assert len(frame) == n
    assert frame["i"].dtype.kind == "i" and frame["late_number"].dtype.kind == "f"
    assert str(frame["when"].dtype).startswith("datetime64") and frame["label"].dtype == object
    assert frame["late_number"].notna().sum() == 5


def test_default_sheet_is_the_first_visible_one(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    helper = wb.active
    helper.title = "lookup"
    helper.append(["code", "meaning"])
    helper.append([1, "one"])
    helper.sheet_state = "hidden"
    data = wb.create_sheet("Data")
    data.append(["x", "y"])
    data.append([1, 2])
    path = tmp_path / "hidden.xlsx"
    wb.save(path)
    assert list_sheets(path) == ["lookup", "Data"]
    table = read_table(path)
    assert table.sheet == "Data" and list(table.frame.columns) == ["x", "y"]
