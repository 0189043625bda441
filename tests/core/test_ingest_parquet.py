"""Parquet import: types read as the rest of the app expects, limits from the footer, progress, cancel, storing."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from predictml_desktop.core.ingest import IngestCancelled, import_dataset, load_dataset_frame, read_table
from predictml_desktop.core.ingest import parquet as parquet_reader
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.profile import profile_frame
from predictml_desktop.core.settings import Limits
from predictml_desktop.core.store import Store


@pytest.fixture
def store(predictml_home: Path) -> Store:
    s = Store(Paths(predictml_home))
    s.startup()
    return s


def test_types_come_back_as_the_csv_reader_gives_them(tmp_path: Path) -> None:
    table = pa.table({
        "price": pa.array([1.5, None, 3.25], pa.float64()),
        "count": pa.array([1, 2, None], pa.int64()),
        "small": pa.array([1, 2, 3], pa.int8()),
        "city": pa.array(["Zoë", None, "日本"]).dictionary_encode(),
        "note": pa.array(['say "hi"', "a,b", "line1\nline2"]),
        "flag": pa.array([True, False, None]),
        "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 2, 29), None], pa.date32()),
        "at": pa.array([dt.datetime(2024, 1, 1, 12), None, dt.datetime(2024, 3, 1)], pa.timestamp("us", tz="UTC")),
        "amount": pa.array([decimal.Decimal("1.10"), decimal.Decimal("2.25"), None], pa.decimal128(10, 2)),
        "clock": pa.array([dt.time(8, 30), dt.time(17, 0), None], pa.time64("us")),
    })
    path = tmp_path / "types.parquet"
    pq.write_table(table, path)
    read = read_table(path)
    frame = read.frame
    assert read.file_format == "parquet" and read.encoding is None and read.sheet is None
    assert read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert read.size_bytes == path.stat().st_size
    assert isinstance(frame.index, pd.RangeIndex) and list(frame.columns) == table.column_names
    assert frame["price"].dtype == np.float64 and np.isnan(frame["price"][1])
    assert frame["count"].tolist()[:2] == [1, 2] and np.isnan(frame["count"][2])
    assert frame["small"].dtype.kind == "i"
    # Dictionary-encoded text is plain text (object), as from a CSV, not a pandas Categorical.
    assert frame["city"].dtype == object and frame["city"].tolist() == ["Zoë", None, "日本"]
    assert frame["note"].tolist() == ['say "hi"', "a,b", "line1\nline2"]
    assert frame["flag"].tolist() == [True, False, None]
    assert pd.api.types.is_datetime64_any_dtype(frame["day"]) and frame["day"][1] == pd.Timestamp("2024-02-29")
    assert str(frame["at"].dtype) == "datetime64[ns, UTC]"
    assert frame["amount"].dtype == np.float64 and frame["amount"].tolist()[:2] == [1.1, 2.25]
    assert frame["clock"].tolist()[:2] == ["08:30:00.000000", "17:00:00.000000"]  # times of day as text
    profile = profile_frame(frame)
    assert profile.kinds["day"] == "datetime" and profile.kinds["city"] == "categorical"


def test_a_pandas_index_is_not_read_as_a_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30])
    path = tmp_path / "indexed.parquet"
    frame.to_parquet(path)  # stores the index as __index_level_0__
    assert "__index_level_0__" in pq.ParquetFile(path).schema_arrow.names
    read = read_table(path).frame
    assert list(read.columns) == ["a", "b"]
    pd.testing.assert_frame_equal(read, frame.reset_index(drop=True))


def test_the_same_table_profiles_alike_from_csv_and_parquet(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 2_000
    frame = pd.DataFrame({
        "x": rng.normal(size=n).round(4),
        "k": rng.integers(0, 9, n),
        "c": rng.choice(["red", "green", "blue"], n),
        "id": np.arange(n),
        "y": rng.choice(["yes", "no"], n),
    })
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    from_csv = read_table(tmp_path / "t.csv").frame
    from_parquet = read_table(tmp_path / "t.parquet").frame
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    a, b = profile_frame(from_csv), profile_frame(from_parquet)
    assert a.columns == b.columns and a.warnings == b.warnings and a.suggested_target == b.suggested_target == "y"


def test_progress_streams_within_one_row_group_and_cancel_stops_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet_reader, "BATCH_ROWS", 1_000)
    path = tmp_path / "one_group.parquet"
    pq.write_table(pa.table({"a": np.arange(20_000), "b": np.arange(20_000) * 0.5}), path, row_group_size=20_000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    seen: list[float] = []
    frame = read_table(path, progress=seen.append).frame
    assert len(frame) == 20_000 and frame["a"].iloc[-1] == 19_999
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 20  # one report per batch of 1,000 rows

    batches = []

    def stop() -> bool:
        batches.append(1)
        return len(batches) > 5

    with pytest.raises(IngestCancelled, match=r"^Reading one_group\.parquet was cancelled\.$"):
        read_table(path, should_stop=stop)
    assert len(batches) == 6  # stopped at the sixth batch, not at the end of the file


def test_the_row_limit_is_checked_before_any_data_is_decoded(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"a": np.arange(50)}), path)

    def no_decoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("data was decoded")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", no_decoding)
    with pytest.raises(Exception, match=r"^rows\.parquet has 50 data rows, over the limit of 10;"):
        read_table(path, limits=Limits(max_rows=10))


def test_import_stores_the_parquet_file_and_reloads_it_identically(store: Store, tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [31, 45, 27, 52] * 10, "plan": ["a", "b", "a", "c"] * 10,
                          "churn": ["yes", "no", "no", "yes"] * 10})
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path, index=False)
    ds = import_dataset(store, path, target="churn")
    assert ds.file_format == "parquet" and ds.file_path.endswith(".parquet") and ds.rows == 40
    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    stored = store.paths.resolve(ds.file_path)
    assert stored.read_bytes() == path.read_bytes()
    pd.testing.assert_frame_equal(load_dataset_frame(store.paths, ds), read_table(path).frame)
