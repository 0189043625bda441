"""Small tables written for the GUI tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

FAKE_TRAINER = Path(__file__).with_name("fake_trainer.py")
"""A stand-in worker for supervision tests (see fake_trainer.py); real training is tested elsewhere."""


def fake_worker(scenario: str) -> list[str]:
    """Return the worker command line of a fake-trainer scenario (success, fail, crash, hang)."""
    return [sys.executable, str(FAKE_TRAINER), scenario]


def customers(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """A customer table whose ``purchased`` depends on income and visits (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 75, rows)
    income = rng.normal(55_000, 15_000, rows).round(0)
    visits = rng.poisson(4, rows)
    region = rng.choice(["North", "South", "East", "West"], rows)
    gender = rng.choice(["Female", "Male"], rows)
    score = (income - 55_000) / 15_000 + (visits - 4) / 2 + rng.normal(0, 0.7, rows)
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(rows)],
        "age": age,
        "income": income,
        "gender": gender,
        "region": region,
        "visits": visits,
        "purchased": (score > 0).astype(int),
    })


def write_customers_csv(path: Path, rows: int = 300) -> Path:
    customers(rows).to_csv(path, index=False)
    return path
