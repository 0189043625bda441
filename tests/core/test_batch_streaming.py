"""Batch prediction of a file streamed in chunks: same answers as in memory, every output type, limits, cancel."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from predictml_desktop.core.prediction import (
    InputValidationError,
    ModelRegistry,
    predict_file,
    predict_table,
    read_input_file,
    stream_predictions,
)
from predictml_desktop.core.settings import Limits
from tests.trained_models import DeployedHome

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(deployed_home: DeployedHome) -> ModelRegistry:
    return ModelRegistry(deployed_home.paths)


def _rows(deployed_home: DeployedHome, n: int, *, bad_every: int = 0) -> pd.DataFrame:
    """``n`` rows of the classifier's features (its training rows repeated), with a note column."""
    base = deployed_home.clf.frame
    frame = base.iloc[np.arange(n) % len(base)].reset_index(drop=True)
    frame.insert(0, "note", [f"row {i}" for i in range(n)])
    if bad_every:
        frame["age"] = frame["age"].astype(object)
        frame.loc[frame.index[::bad_every], "age"] = "old"  # refused rows, spread over every chunk
    return frame


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_streamed_output_equals_predicting_the_whole_table(deployed_home: DeployedHome, registry: ModelRegistry,
                                                            tmp_path: Path, suffix: str) -> None:
    frame = _rows(deployed_home, 2_300, bad_every=170)
    source = tmp_path / "input.csv"
    frame.to_csv(source, index=False)
    model = registry.get(deployed_home.clf.dataset_id)
    whole = predict_table(model, read_input_file(source))
    seen: list[tuple[float, str]] = []
    written = predict_file(registry, deployed_home.clf.dataset_id, source, tmp_path / f"out{suffix}",
                           chunk_rows=500, progress=lambda f, m: seen.append((f, m)))
    assert written.rows == 2_300 and written.refused == whole.refused == 14
    assert [m for _, m in seen] == [f"Predicted {n:,} rows of input.csv" for n in (500, 1000, 1500, 2000, 2300)]
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    if suffix == ".csv":
        back = pd.read_csv(written.path, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        back = pd.read_excel(written.path)
    else:
        back = pd.read_parquet(written.path)
    expected = whole.frame
    assert list(back.columns) == list(expected.columns)
    assert back["note"].tolist() == expected["note"].tolist()
    assert back["prediction"].isna().tolist() == expected["prediction"].isna().tolist()
    good = expected["prediction"].notna()
    assert back["prediction"][good].astype(int).tolist() == expected["prediction"][good].astype(int).tolist()
    np.testing.assert_allclose(back["probability_1"][good].astype(float), expected["probability_1"][good].astype(float),
                               rtol=1e-12)
    assert back["error"].fillna("").tolist() == expected["error"].tolist()
    # The error report numbers rows across chunks as the file's data rows.
    report = pd.read_csv(written.report, encoding="utf-8-sig")
    assert report["row"].tolist() == [i + 1 for i in range(0, 2_300, 170)]
    assert written.preview is not None and written.preview["note"].tolist()[:3] == ["row 0", "row 1", "row 2"]
    assert _leftovers(tmp_path) == []


def test_parquet_in_parquet_out_keeps_the_types(deployed_home: DeployedHome, registry: ModelRegistry,
                                                tmp_path: Path) -> None:
    frame = _rows(deployed_home, 1_200)
    source = tmp_path / "input.parquet"
    frame.to_parquet(source, index=False)
    out = tmp_path / "scored.parquet"
    written = predict_file(registry, deployed_home.clf.dataset_id, source, out, chunk_rows=256)
    assert written.rows == 1_200 and written.refused == 0 and written.report is None
    schema = pq.read_schema(out)
    assert str(schema.field("age").type) == str(pq.read_schema(source).field("age").type)
    assert str(schema.field("probability_1").type) == "double"
    back = pd.read_parquet(out)
    pd.testing.assert_frame_equal(back[list(frame.columns)].fillna(-1), frame.fillna(-1), check_dtype=False)
    assert back["prediction"].isin([0, 1]).all() and back["error"].eq("").all()


def test_an_xlsx_output_too_long_for_a_worksheet_is_refused_before_any_work(
        deployed_home: DeployedHome, registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import predictml_desktop.core.prediction.batch_files as batch_files

    def no_work(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model ran")

    monkeypatch.setattr(batch_files, "predict_table", no_work)
    limits = Limits(max_rows=2_000_000, max_file_bytes=1 << 30)
    big = tmp_path / "big.parquet"
    pd.DataFrame({"age": np.zeros(1_048_576, dtype=np.int8)}).to_parquet(big, index=False)
    model = registry.get(deployed_home.clf.dataset_id)
    out = tmp_path / "out.xlsx"
    with pytest.raises(InputValidationError, match=r"^big\.parquet has 1,048,576 rows, more than an Excel worksheet "
                                                   r"holds \(1,048,575 below its header row\); write the predictions "
                                                   r"as \.csv or \.parquet instead\.$"):
        stream_predictions(model, big, out, limits=limits)
    text = tmp_path / "big.csv"
    text.write_bytes(b"age,visits\n" + b"30,2\n" * 1_048_576)
    with pytest.raises(InputValidationError, match=r"^big\.csv has 1,048,576 rows, more than an Excel worksheet"):
        stream_predictions(model, text, out, limits=limits)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_cancel_mid_file_leaves_no_output_and_an_earlier_one_untouched(deployed_home: DeployedHome,
                                                                       registry: ModelRegistry, tmp_path: Path) -> None:
    source = tmp_path / "input.csv"
    _rows(deployed_home, 3_000, bad_every=100).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    out.write_text("an earlier result\n")
    (tmp_path / "out.errors.csv").write_text("an earlier report\n")
    chunks_done: list[int] = []

    def progress(_fraction: float, _message: str) -> None:
        chunks_done.append(1)

    with pytest.raises(InterruptedError):
        predict_file(registry, deployed_home.clf.dataset_id, source, out, chunk_rows=500, progress=progress,
                     should_stop=lambda: len(chunks_done) >= 2)
    assert len(chunks_done) == 2  # stopped after the second of six chunks
    assert out.read_text() == "an earlier result\n"
    assert (tmp_path / "out.errors.csv").read_text() == "an earlier report\n"
    assert _leftovers(tmp_path) == []


def test_a_bad_row_half_way_refuses_the_file_and_writes_nothing(deployed_home: DeployedHome, registry: ModelRegistry,
                                                                tmp_path: Path) -> None:
    frame = _rows(deployed_home, 1_000)
    text = frame.to_csv(index=False).splitlines()
    text[801] += ",surplus"  # line 802 of the file has one value too many
    source = tmp_path / "ragged.csv"
    source.write_text("\n".join(text) + "\n")
    out = tmp_path / "out.parquet"
    with pytest.raises(InputValidationError, match=r"^Line 802 of ragged\.csv has \d+ values but the header has"):
        predict_file(registry, deployed_home.clf.dataset_id, source, out, chunk_rows=200)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_memory_is_bounded_by_the_chunk_not_the_file(deployed_home: DeployedHome, registry: ModelRegistry,
                                                     tmp_path: Path) -> None:
    model = registry.get(deployed_home.clf.dataset_id)

    def streamed_peak(rows: int) -> tuple[int, int]:
        source = tmp_path / f"input_{rows}.csv"
        _rows(deployed_home, rows).to_csv(source, index=False)
        # What holding the table would cost: the input as read, before any answer is added to it.
        whole_table = int(read_input_file(source).memory_usage(deep=True).sum())
        gc.collect()
        tracemalloc.start()
        try:
            written = stream_predictions(model, source, tmp_path / f"out_{rows}.csv", chunk_rows=4_000)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert written.rows == rows
        assert len(pd.read_csv(tmp_path / f"out_{rows}.csv", usecols=["prediction"])) == rows
        return peak, whole_table

    small_peak, _ = streamed_peak(100_000)
    peak, whole_table = streamed_peak(200_000)
    # Twice the rows, the same peak: one chunk of 4,000 rows (and the file scan's fixed buffers)
    # at a time, a fraction of the table itself.
    assert peak < 1.25 * small_peak + 2 * 2**20, (peak, small_peak)
    assert peak < 0.35 * whole_table, (peak, whole_table)
