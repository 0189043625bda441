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
