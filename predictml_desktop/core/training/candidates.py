"""What the search evaluates: `Candidate` (a model and its settings) and how it becomes an estimator.

A candidate is one of the catalog's models (`catalog.models_for`) with PyCaret's default settings, or a
*variant*: the same model with settings known to do well where the defaults are too coarse (a
slower-learning gradient boosting with more trees). Variants take the place of a random tuning search:
on small tables a search over many settings mostly finds the setting that was lucky on these folds
(the winner's curse), while a few well-chosen portfolios hold up on new rows (the approach of
AutoGluon's and auto-sklearn's zero-shot portfolios).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from predictml_desktop.core.modeling.experiment import Experiment
from predictml_desktop.core.training.catalog import BASELINE_ID, ModelInfo

_BOOSTING_SLOW: Final = {"n_estimators": 400, "learning_rate": 0.03, "subsample": 0.8, "colsample_bytree": 0.7}
VARIANTS: Final[dict[str, tuple[tuple[str, dict[str, Any]], ...]]] = {
    "lightgbm": (
        ("slow learner", {**_BOOSTING_SLOW, "num_leaves": 15, "min_child_samples": 10, "subsample_freq": 1}),
        # Many small steps: where the signal is smooth (lagged series, prices) this wins by a margin.
        ("many trees", {"n_estimators": 1000, "learning_rate": 0.02, "num_leaves": 31, "min_child_samples": 10,
                        "subsample": 0.7, "subsample_freq": 1, "colsample_bytree": 0.7}),
        # Randomised splits on half the columns: another kind of error, for the ensemble.
        ("extra trees", {"n_estimators": 300, "learning_rate": 0.05, "extra_trees": True, "colsample_bytree": 0.5,
                         "min_child_samples": 10}),
    ),
    "xgboost": (
        ("slow learner", {**_BOOSTING_SLOW, "max_depth": 4}),
    ),
}
"""Settings tried for a model that reached the full cross-validation (label, parameters)."""

CLASSIFIER_VARIANTS: Final[dict[str, tuple[tuple[str, dict[str, Any]], ...]]] = {
    # scikit-learn's LogisticRegression; the regressor of the same id (LinearRegression) has no C.
    "lr": (
        ("strong regularisation", {"C": 0.1}),
    ),
}

LARGE_VARIANTS: Final[dict[str, tuple[tuple[str, dict[str, Any]], ...]]] = {
    "lightgbm": (
        ("large trees", {"n_estimators": 400, "learning_rate": 0.05, "num_leaves": 63, "min_child_samples": 40,
                         "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.7}),
    ),
}
"""Settings tried on tables of `LARGE_ROWS` rows and more, where trees need more leaves."""
LARGE_ROWS: Final = 50_000


@dataclass(frozen=True)
class Candidate:
    """One model configuration the search can cross-validate.

    Attributes
    ----------
    key
        Its id on the leaderboard (``lightgbm``, ``lightgbm:slow-learner``).
    info
        The catalog's knowledge of the model.
    params
        Settings on top of PyCaret's defaults (empty for the plain model).
    variant
        The variant's label, or None for the plain model.
    """

    key: str
    info: ModelInfo
    params: Mapping[str, Any] = field(default_factory=dict)
    variant: str | None = None

    @property
    def model_id(self) -> str:
        """The catalog's model id."""
        return self.info.id

    @property
    def name(self) -> str:
        """Its name as shown to the user."""
        return self.info.name + (f" ({self.variant})" if self.variant else "")

    @property
    def is_baseline(self) -> bool:
        """Whether it is the always-the-same-answer baseline."""
        return self.info.id == BASELINE_ID


def plain(info: ModelInfo) -> Candidate:
    """Return the model with PyCaret's default settings."""
    return Candidate(info.id, info)


def variants_of(candidate: Candidate, rows: int, *, classification: bool) -> list[Candidate]:
    """Return the variants worth trying for a plain candidate that reached the full cross-validation."""
    table = dict(LARGE_VARIANTS if rows >= LARGE_ROWS else VARIANTS)
    if classification:
        table.update(CLASSIFIER_VARIANTS)
    out = []
    for label, params in table.get(candidate.model_id, ()):
        slug = label.replace(" ", "-")
        out.append(Candidate(f"{candidate.model_id}:{slug}", candidate.info, dict(params), label))
    return out


def build_estimator(exp: Experiment, candidate: Candidate, *, threads: int = 1,
                    boosting_rounds: int | None = None) -> Any:
    """Return the unfitted estimator of ``candidate``.

    A classifier that gives no probabilities (a linear SVM, a ridge classifier) is wrapped in
    Platt scaling (three internal folds), in every fold as in the final model: the search then
    scores exactly what would be deployed, and every candidate can join a probability ensemble.
    """
    estimator = exp.make_estimator(candidate.model_id, threads=threads, threads_param=candidate.info.threads_param,
                                   params=dict(candidate.params), boosting_rounds=boosting_rounds)
    if exp.classification and not candidate.info.probabilities:
        from sklearn.calibration import CalibratedClassifierCV

        estimator = CalibratedClassifierCV(estimator, method="sigmoid", cv=3)
    return estimator
