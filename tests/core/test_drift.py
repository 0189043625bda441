"""Drift measures against worked examples, and on the sample data: shifted columns flagged, none otherwise."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictml_desktop.core.drift import (
    EPSILON,
    DriftLevel,
    Thresholds,
    build_reference,
    compare,
    context_for,
    drift_of_file,
    psi,
)
from predictml_desktop.core.drift.reference import cache_path
from predictml_desktop.core.drift.stats import bin_shares, category_psi, quantile_edges
from predictml_desktop.core.ingest import import_dataset
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.sampledata import make_purchase_table
from predictml_desktop.core.store import Store


def test_psi_two_bins_by_hand() -> None:
    # (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5) = 0.17329 + 0.10137
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_empty_bin_counts_as_epsilon() -> None:
    # Bin 1 is empty now: its share counts as 0.0001, so the index stays finite.
    expected = (EPSILON - 0.25) * math.log(EPSILON / 0.25) + (0.75 - 0.25) * math.log(0.75 / 0.25) \
        + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert psi([0.25, 0.25, 0.5], [0.0, 0.75, 0.25]) == pytest.approx(expected, rel=1e-9)
    # 0.2499·7.824 + 0.5·ln 3 + 0.25·ln 2 = 1.9553 + 0.5493 + 0.1733
    assert expected == pytest.approx(2.6778, abs=1e-3)


def test_numeric_bins_are_right_closed_on_training_quantiles() -> None:
    edges = np.array([10.0, 20.0])
    shares, n = bin_shares(np.array([5, 10, 15, 20, 25, 25, 25, 25, np.nan]), edges)
    assert n == 8
    assert shares.tolist() == [2 / 8, 2 / 8, 4 / 8]
    # Against training shares 0.25/0.5/0.25: (0.25−0.25)·0 + (0.25−0.5)·ln(0.5) + (0.5−0.25)·ln(2)
    assert psi([0.25, 0.5, 0.25], shares) == pytest.approx(0.25 * math.log(2) * 2, abs=1e-12)
    # Deciles of 1..100 are 10.9, 20.8, ...; repeated quantiles of few distinct values merge.
    assert quantile_edges(np.arange(1.0, 101.0)).size == 9
    assert quantile_edges(np.array([0.0] * 50 + [1.0] * 50)).tolist() == [0.0, 0.5, 1.0]


def test_category_psi_counts_unseen_values() -> None:
    value, unseen_share, unseen = category_psi({"a": 0.5, "b": 0.5}, 0.0, {"a": 40, "b": 40, "new": 20})
    expected = (0.4 - 0.5) * math.log(0.8) * 2 + (0.2 - EPSILON) * math.log(0.2 / EPSILON)
    assert value == pytest.approx(expected, rel=1e-9)
    assert (unseen_share, unseen) == (0.2, 20)


def test_thresholds_from_policy_and_levels() -> None:
    t = Thresholds.from_policy({"watch": 0.2, "act": 0.4, "missingWatch": 0.1, "missingAct": "x"})
    assert (t.psi_watch, t.psi_act, t.missing_watch, t.missing_act) == (0.2, 0.4, 0.1, 0.15)
    assert t.psi_level(0.19) == DriftLevel.OK and t.psi_level(0.2) == DriftLevel.WATCH
    assert t.psi_level(0.4) == DriftLevel.ACT
    assert Thresholds().psi_level(0.1) == DriftLevel.WATCH and Thresholds().psi_level(0.25) == DriftLevel.ACT
    assert not Thresholds.from_policy({"mode": "off"}).enabled


SHIFTED = {"income", "device", "time_on_site_min", "region"}


def _shift(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["income"] = out["income"] * 1.6  # a raise for everyone: every decile moves
    out["device"] = out["device"].replace({"desktop": "mobile"})  # desktops gone
    rng = np.random.default_rng(7)
    out.loc[rng.random(len(out)) < 0.3, "time_on_site_min"] = np.nan  # a tracking outage
    out.loc[rng.random(len(out)) < 0.15, "region"] = "Overseas"  # a region training never saw
    return out


@pytest.fixture
def sample_dataset(tmp_path: Path) -> tuple[Paths, str]:
    paths = Paths.default().ensure()
    csv = tmp_path / "train.csv"
    make_purchase_table(3000).to_csv(csv, index=False)
    dataset = import_dataset(Store(paths), csv, target="purchased")
    return paths, dataset.id


def test_sample_data_flags_exactly_the_shifted_columns(sample_dataset: tuple[Paths, str], tmp_path: Path) -> None:
    paths, dataset_id = sample_dataset
    ctx = context_for(paths, dataset_id)
    compared = {c.name for c in ctx.reference.columns if c.compared}
    assert SHIFTED <= compared and "customer_id" not in compared and "purchased" not in compared

    fresh = make_purchase_table(3000, seed=11)  # new rows from the same process
    same = compare(ctx.reference, fresh, ctx.thresholds)
    assert same.flagged == [], [c.to_dict() for c in same.flagged]
    assert same.level == DriftLevel.OK

    shifted = _shift(fresh)
    path = tmp_path / "new.csv"
    shifted.to_csv(path, index=False)
    report = drift_of_file(paths, dataset_id, path)
    assert {c.name for c in report.flagged} == SHIFTED
    assert all(c.level == DriftLevel.ACT for c in report.flagged)
    by_name = {c.name: c for c in report.columns}
    assert by_name["region"].unseen_share == pytest.approx(0.15, abs=0.03)
    assert by_name["time_on_site_min"].missing_change == pytest.approx(0.3, abs=0.04)
    assert by_name["income"].reason.startswith("Distribution moved (PSI ")
    assert report.acting and "income" in report.summary()
    page = report.to_html()
    assert "<table>" in page and "Overseas" not in page and "income" in page


def test_reference_is_cached_and_recomputed_when_stale(sample_dataset: tuple[Paths, str]) -> None:
    paths, dataset_id = sample_dataset
    first = context_for(paths, dataset_id).reference
    cached = cache_path(paths, dataset_id)
    doc = json.loads(cached.read_text("utf-8"))
    assert doc["schemaVersion"] == 1 and doc["datasetSha256"]
    # A cache for another file's content is never used.
    doc["datasetSha256"] = "0" * 64
    doc["columns"] = []
    cached.write_text(json.dumps(doc), "utf-8")
    again = context_for(paths, dataset_id).reference
    assert [c.name for c in again.columns] == [c.name for c in first.columns]
    cached.write_text("{not json", "utf-8")
    assert context_for(paths, dataset_id).reference.columns


def test_few_rows_are_not_judged_and_missing_column_is() -> None:
    train = pd.DataFrame({"x": np.arange(1000.0), "c": ["a", "b"] * 500})
    ref = build_reference(train, {"x": "numeric", "c": "categorical"})
    small = compare(ref, pd.DataFrame({"x": [1.0e6] * 10, "c": ["z"] * 10}))
    assert {c.level for c in small.columns} == {DriftLevel.FEW_ROWS}
    assert small.flagged == [] and "too few" in small.summary()
    gone = compare(ref, pd.DataFrame({"x": np.arange(500.0)}))
    assert {c.name: c.level for c in gone.columns}["c"] == DriftLevel.ACT


def test_thresholds_come_from_the_admin_policy(sample_dataset: tuple[Paths, str]) -> None:
    from predictml_desktop.core.drift import thresholds_for
    from predictml_desktop.core.governance import Governance, GovernanceError, cheap_hasher_for_tests

    paths, dataset_id = sample_dataset
    assert (thresholds_for(paths).psi_watch, thresholds_for(paths).psi_act) == (0.1, 0.25)
    gov = Governance(paths, hasher=cheap_hasher_for_tests())
    session = gov.create_admin("ada@example.org", "correct horse battery staple 42")
    gov.set_policy(session, {"drift": {"watch": 0.5, "act": 5.0}})
    assert (thresholds_for(paths).psi_watch, thresholds_for(paths).psi_act) == (0.5, 5.0)
    shifted = _shift(make_purchase_table(3000, seed=11))
    report = compare(context_for(paths, dataset_id).reference, shifted, thresholds_for(paths))
    # income's PSI (~1.4) is under the raised "act"; the unseen region and the missing share still act.
    assert {c.name: str(c.level) for c in report.flagged}["income"] == "watch"
    gov.set_policy(session, {"drift": {"mode": "off"}})
    assert not compare(context_for(paths, dataset_id).reference, shifted, thresholds_for(paths)).acting
    with pytest.raises(GovernanceError):
        gov.set_policy(session, {"drift": {"mode": "block"}})


def test_a_file_read_in_chunks_gives_the_same_drift_as_whole(sample_dataset: tuple[Paths, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from predictml_desktop.core.drift import service

    paths, dataset_id = sample_dataset
    shifted = _shift(make_purchase_table(3000, seed=11))
    whole = compare(context_for(paths, dataset_id).reference, shifted)
    path = tmp_path / "shifted.csv"
    shifted.to_csv(path, index=False)
    monkeypatch.setattr(service, "DRIFT_CHUNK_ROWS", 700)  # five chunks, the last one short
    chunked = drift_of_file(paths, dataset_id, path)
    assert chunked.rows == whole.rows == 3000
    for a, b in zip(chunked.columns, whole.columns, strict=True):
        assert (a.name, a.level, a.unseen_count, a.rows) == (b.name, b.level, b.unseen_count, b.rows)
        assert a.psi == pytest.approx(b.psi, abs=1e-12) if b.psi is not None else a.psi is None
