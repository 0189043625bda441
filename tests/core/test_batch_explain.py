"""Batch files with explanations: three reason columns, the contribution matrix as a second sheet or file."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from predictml_desktop.core.prediction import ModelRegistry, predict_file
from predictml_desktop.core.prediction.batch_explain import REASON_COLUMNS, contributions_path
from tests.trained_models import DeployedHome


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_batch_file_with_reasons_and_contributions(deployed_home: DeployedHome, tmp_path, suffix: str) -> None:
    job = deployed_home.clf
    frame = job.frame.head(30).astype({"age": object})
    frame.loc[3, "age"] = "forty"  # a refused row keeps empty reasons
    src = tmp_path / "rows.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / f"scored{suffix}"
    written = predict_file(ModelRegistry(deployed_home.paths), job.dataset_id, src, out, explain=True)
    assert written.refused == 1
    if suffix == ".xlsx":
        scored = pd.read_excel(out, sheet_name="Predictions")
        matrix = pd.read_excel(out, sheet_name="Contributions")
        assert written.contributions == out
    elif suffix == ".parquet":
        scored, matrix = pd.read_parquet(out), pd.read_parquet(contributions_path(out))
    else:
        scored, matrix = pd.read_csv(out), pd.read_csv(contributions_path(out))
        assert written.contributions == tmp_path / "scored.contributions.csv"
    assert REASON_COLUMNS == ["reason_1", "reason_2", "reason_3"]
    assert list(scored.columns[-3:]) == REASON_COLUMNS
    reasons = scored[REASON_COLUMNS].fillna("")
    assert (reasons.loc[3] == "").all()
    good = [i for i in range(30) if i != 3]
    assert all(" the chance of " in text for text in reasons.loc[good, "reason_1"])
    assert list(matrix["row"]) == [i + 1 for i in good]
    features = list(job.frame.columns)
    assert set(features) <= set(matrix.columns)
    for _, row in matrix.iterrows():
        total = row["base_value"] + math.fsum(float(row[c]) for c in features)
        assert abs(total - row["output"]) < 1e-6
    probability = scored.loc[good, f"probability_{matrix['explained_class'].iloc[0]}"].to_numpy(dtype=float)
    assert max(abs(probability - matrix["output"].to_numpy(dtype=float))) < 1e-9


def test_without_the_option_no_reason_columns_and_no_second_file(deployed_home: DeployedHome, tmp_path) -> None:
    job = deployed_home.reg
    src = tmp_path / "rows.csv"
    job.frame.head(5).to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    written = predict_file(ModelRegistry(deployed_home.paths), job.dataset_id, src, out)
    assert written.contributions is None and not contributions_path(out).exists()
    assert "reason_1" not in pd.read_csv(out).columns
