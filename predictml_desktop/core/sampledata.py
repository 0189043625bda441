"""A realistic customer-purchase table: the bundled sample dataset and the benchmarks' data.

The table has a known structure: whether a customer ``purchased`` depends on their visits, time on
site, previous purchases, email opt-in, discount, device and income through a logistic model,
plus noise; ``customer_id`` is an identifier, ``country`` is constant, and a few columns have
missing values, so the profile's warnings and the target suggestion have something to find.

Regenerate the shipped sample (``resources/sample_data/customer_purchases.csv``) with::

    python -m predictml_desktop.core.sampledata resources/sample_data/customer_purchases.csv

A test checks that the shipped file equals this generator's output.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SAMPLE_ROWS = 3_000
SAMPLE_SEED = 20_240_917
SAMPLE_FILE_NAME = "customer_purchases.csv"

_REGIONS = ("North", "South", "East", "West", "Central")
_DEVICES = ("mobile", "desktop", "tablet")
_CHANNELS = ("organic", "paid search", "social", "email", "referral")


def _purchase_logit(rng: np.random.Generator, visits: Any, time_on_site: Any, previous: Any, recency: Any,
                    email_opt_in: Any, discount: Any, device: Any, channel: Any, income: Any, tickets: Any) -> Any:
    """Return the log-odds of a purchase: the signal the model should find, plus noise (drawn last)."""
    return (
        -3.0
        + 0.22 * visits
        + 0.09 * time_on_site
        + 0.45 * previous
        - 0.012 * recency
        + 0.55 * email_opt_in
        + 0.7 * discount
        + np.where(device == "desktop", 0.35, np.where(device == "tablet", 0.1, 0.0))
        + np.where(channel == "email", 0.4, np.where(channel == "referral", 0.3, 0.0))
        + 0.5 * (np.log(income) - 10.6)
        - 0.25 * tickets
        + rng.normal(0, 0.6, len(visits))  # what the columns cannot explain
    )


def make_purchase_table(n_rows: int, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """Generate a customer-purchase table with real signal, noise and some missing values.

    Parameters
    ----------
    n_rows
        Number of customers (rows).
    seed
        Seed of the random generator; the same ``(n_rows, seed)`` always gives the same table.

    Returns
    -------
    pandas.DataFrame
        Columns: ``customer_id, age, gender, region, country, income, signup_date, device,
        acquisition_channel, visits, time_on_site_min, pages_per_visit, previous_purchases,
        days_since_last_visit, email_opt_in, discount_offered, support_tickets, purchased`` (0/1).
    """
    if n_rows < 1:
        raise ValueError("n_rows must be at least 1")
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(41, 13, n_rows).round(), 18, 85).astype(np.int64)
    gender = rng.choice(np.array(["Female", "Male", "Other"]), n_rows, p=[0.49, 0.48, 0.03])
    region = rng.choice(np.array(_REGIONS), n_rows, p=[0.22, 0.2, 0.2, 0.23, 0.15])
    # Income grows with age until the late fifties, and differs by region.
    region_factor = pd.Series(region).map({"North": 1.05, "South": 0.9, "East": 1.0, "West": 1.15,
                                           "Central": 0.95}).to_numpy()
    peak = 1 - ((age - 57) / 45.0) ** 2
    income = np.round(rng.lognormal(10.6, 0.35, n_rows) * region_factor * (0.6 + 0.5 * peak), 2)
    start = np.datetime64("2019-01-01")
    signup = start + rng.integers(0, 5 * 365, n_rows).astype("timedelta64[D]")
    tenure_days = (np.datetime64("2024-01-01") - signup).astype(np.int64)
    device = rng.choice(np.array(_DEVICES), n_rows, p=[0.55, 0.35, 0.10])
    channel = rng.choice(np.array(_CHANNELS), n_rows, p=[0.35, 0.25, 0.2, 0.12, 0.08])
    visits = rng.poisson(3 + tenure_days / 600.0, n_rows).astype(np.int64)
    time_on_site = np.round(rng.lognormal(1.9, 0.6, n_rows) * np.where(device == "desktop", 1.3, 1.0), 1)
    pages = np.round(np.clip(rng.normal(4.5, 1.8, n_rows), 1, None), 1)
    previous = rng.poisson(0.4 + visits / 6.0, n_rows).astype(np.int64)
    recency = rng.integers(0, 120, n_rows).astype(np.int64)
    email_opt_in = rng.random(n_rows) < 0.45
    discount = rng.random(n_rows) < 0.3
    tickets = rng.poisson(0.4, n_rows).astype(np.int64)

    logit = _purchase_logit(rng, visits, time_on_site, previous, recency, email_opt_in, discount, device, channel,
                            income, tickets)
    purchased = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100_000 + i}" for i in range(n_rows)],
            "age": age,
            "gender": gender,
            "region": region,
            "country": "Freedonia",
            "income": income,
            "signup_date": pd.Series(signup).dt.strftime("%Y-%m-%d").to_numpy(),
            "device": device,
            "acquisition_channel": channel,
            "visits": visits,
            "time_on_site_min": time_on_site,
            "pages_per_visit": pages,
            "previous_purchases": previous,
            "days_since_last_visit": recency,
            "email_opt_in": np.where(email_opt_in, "yes", "no"),
            "discount_offered": discount.astype(np.int64),
            "support_tickets": tickets,
            "purchased": purchased,
        }
    )
    # Missing values as real exports have them: income not disclosed, a tracking gap, unknown device.
    for column, share in (("income", 0.06), ("time_on_site_min", 0.03), ("device", 0.02), ("gender", 0.01)):
        mask = rng.random(n_rows) < share
        frame[column] = frame[column].where(~mask)
    return frame


def purchase_csv_bytes(n_rows: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED) -> bytes:
    """Return the CSV file of `make_purchase_table` exactly as it is shipped (UTF-8, LF newlines)."""
    frame = make_purchase_table(n_rows, seed)
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Write the sample CSV: ``python -m predictml_desktop.core.sampledata OUT [--rows N] [--seed S]``."""
    parser = argparse.ArgumentParser(description="Write the customer-purchase sample dataset as CSV.")
    parser.add_argument("out", type=Path, help="the CSV file to write")
    parser.add_argument("--rows", type=int, default=SAMPLE_ROWS)
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(purchase_csv_bytes(args.rows, args.seed))
    print(f"wrote {args.rows:,} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
