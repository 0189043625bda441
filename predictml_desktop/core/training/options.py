"""What the user chooses for a training (`TrainingOptions`) and what each preset means (`PresetSpec`).

`TrainingOptions` is stored in the job record (``TrainingJob.options``) as camelCase JSON, so a retry
trains with exactly the same choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

PRESETS: Final = ("fast", "balanced", "thorough")
DEFAULT_PRESET: Final = "balanced"
THRESHOLD_OBJECTIVES: Final = ("f1_macro", "balanced_accuracy", "cost")
MIN_BUDGET_S: Final = 5.0
MAX_BUDGET_S: Final = 24 * 3600.0
DEFAULT_SESSION_ID: Final = 123
"""The fixed seed of every split, fold and model: the same data and options give the same model."""


class OptionsError(ValueError):
    """Options that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class PresetSpec:
    """How much searching a preset does (see `core.training.search` for the stages).

    Attributes
    ----------
    name
        ``fast``, ``balanced`` or ``thorough``.
    budget_s
        The time budget when the user gives none: a cap on the whole job, set-up and final fits
        included (small tables finish far sooner).
    screen_rows
        Screening starts on a sample of at most this many training rows; on a larger table the
        survivors move on to samples four times larger at each rung (successive halving).
    screen_folds
        Folds of the K-fold split each screening rung fits (two: one round on two cores).
    cv_rows
        The leaders' full cross-validation uses at most this many training rows.
    cv_folds
        K of the leaders' cross-validation.
    leaders
        How many screened candidates get the full cross-validation (and may join the ensemble).
    repeat_below, repeats
        On tables of fewer training rows than ``repeat_below``, the K-fold split is drawn
        ``repeats`` times: folds of small tables are cheap and noisy, and more of them steady the
        choice.
    variants
        Also cross-validate the leaders' variants (`candidates.VARIANTS`).
    ensemble
        Select a weighted ensemble of the leaders (`ensemble.select`).
    boosting_rounds
        Trees of CatBoost (its default of 1,000 costs minutes on two cores for a small gain); None
        keeps the library default.
    """

    name: str
    budget_s: float
    screen_rows: int
    screen_folds: int
    cv_rows: int
    cv_folds: int
    leaders: int
    repeat_below: int
    repeats: int
    variants: bool
    ensemble: bool
    boosting_rounds: int | None


PRESET_SPECS: Final[dict[str, PresetSpec]] = {
    "fast": PresetSpec("fast", budget_s=60.0, screen_rows=2_000, screen_folds=2, cv_rows=20_000, cv_folds=4,
                       leaders=3, repeat_below=0, repeats=1, variants=False, ensemble=True, boosting_rounds=200),
    "balanced": PresetSpec("balanced", budget_s=300.0, screen_rows=2_000, screen_folds=2, cv_rows=50_000,
                           cv_folds=5, leaders=6, repeat_below=1_000, repeats=2, variants=True, ensemble=True,
                           boosting_rounds=200),
    "thorough": PresetSpec("thorough", budget_s=1_800.0, screen_rows=10_000, screen_folds=3, cv_rows=200_000,
                           cv_folds=10, leaders=10, repeat_below=5_000, repeats=3, variants=True, ensemble=True,
                           boosting_rounds=None),
}


@dataclass
class TrainingOptions:
    """The user's choices for one training.

    Parameters
    ----------
    preset
        ``fast``, ``balanced`` (default) or ``thorough`` (see `PRESET_SPECS`).
    budget_s
        Time budget in seconds; None uses the preset's. At the budget the search stops and the best
        model finished so far is kept.
    models
        PyCaret model ids to consider (``["lr", "rf"]``); None means every model suited to the data.
        The dummy baseline is always trained as well, to compare against.
    excluded_columns
        Columns left out of the features, on top of the ones the profile excludes (IDs, constants).
    ranking_metric
        The metric that ranks candidates (``auc``, ``f1_macro``, ``r2``...); None chooses one suited
        to the data and records why.
    n_jobs
        Cores to use (None: all, at most the machine's): the fitting processes. One level of
        parallelism only.
    threshold_objective
        How a yes/no model's decision threshold is chosen on out-of-fold predictions:
        ``f1_macro`` (default: both classes' F1 weigh the same), ``balanced_accuracy``, or ``cost``
        (the lowest total cost of ``false_positive_cost`` and ``false_negative_cost``).
    false_positive_cost, false_negative_cost
        What a wrong "yes" and a wrong "no" cost (any unit), for ``threshold_objective="cost"``.
    session_id
        Seed of every split and model.
    cluster
        The address of a Dask scheduler (``tcp://host:8786``) whose workers fit the models; None fits
        them on this computer (Settings → Compute).
    """

    preset: str = DEFAULT_PRESET
    budget_s: float | None = None
    models: list[str] | None = None
    excluded_columns: list[str] = field(default_factory=list)
    ranking_metric: str | None = None
    n_jobs: int | None = None
    threshold_objective: str = "f1_macro"
    false_positive_cost: float = 1.0
    false_negative_cost: float = 1.0
    session_id: int = DEFAULT_SESSION_ID
    cluster: str | None = None

    @property
    def spec(self) -> PresetSpec:
        """The preset's search settings."""
        return PRESET_SPECS[self.preset]

    @property
    def effective_budget_s(self) -> float:
        """The budget in seconds: the user's, else the preset's."""
        return float(self.budget_s) if self.budget_s is not None else self.spec.budget_s

    def validate(self) -> TrainingOptions:
        """Check the options and return self.

        Raises
        ------
        OptionsError
            If a value is out of range or of the wrong kind.
        """
        if self.preset not in PRESETS:
            raise OptionsError(f"Unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}.")
        if self.budget_s is not None:
            if isinstance(self.budget_s, bool) or not isinstance(self.budget_s, (int, float)):
                raise OptionsError(f"The time budget must be a number of seconds, not {self.budget_s!r}.")
            if not MIN_BUDGET_S <= float(self.budget_s) <= MAX_BUDGET_S:
                raise OptionsError(
                    f"The time budget must be between {MIN_BUDGET_S:g} and {MAX_BUDGET_S:g} seconds "
                    f"(got {self.budget_s:g})."
                )
        if self.models is not None:
            if not isinstance(self.models, list) or not all(isinstance(m, str) and m for m in self.models):
                raise OptionsError("The model list must be a list of model ids such as ['lr', 'rf'].")
            if not self.models:
                raise OptionsError("The model list is empty; give at least one model id or leave it unset.")
        if not isinstance(self.excluded_columns, list) or not all(isinstance(c, str) for c in self.excluded_columns):
            raise OptionsError("Excluded columns must be a list of column names.")
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int)
                                        or self.n_jobs < 1):
            raise OptionsError(f"n_jobs must be a whole number of cores (1 or more), not {self.n_jobs!r}.")
        if self.threshold_objective not in THRESHOLD_OBJECTIVES:
            raise OptionsError(f"Unknown threshold objective {self.threshold_objective!r}; choose one of "
                               f"{', '.join(THRESHOLD_OBJECTIVES)}.")
        for label, cost in (("false positive", self.false_positive_cost), ("false negative", self.false_negative_cost)):
            if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= float(cost) < float("inf"):
                raise OptionsError(f"The cost of a {label} must be a number of 0 or more, not {cost!r}.")
        if isinstance(self.session_id, bool) or not isinstance(self.session_id, int):
            raise OptionsError(f"The session id must be a whole number, not {self.session_id!r}.")
        if self.cluster is not None:
            self.cluster = check_cluster_address(self.cluster)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object stored in ``TrainingJob.options``."""
        return {
            "preset": self.preset,
            "budgetS": self.budget_s,
            "models": list(self.models) if self.models is not None else None,
            "excludedColumns": list(self.excluded_columns),
            "rankingMetric": self.ranking_metric,
            "nJobs": self.n_jobs,
            "thresholdObjective": self.threshold_objective,
            "falsePositiveCost": self.false_positive_cost,
            "falseNegativeCost": self.false_negative_cost,
            "sessionId": self.session_id,
            "cluster": self.cluster,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainingOptions:
        """Build options from a stored ``TrainingJob.options`` (missing keys take their defaults).

        Raises
        ------
        OptionsError
            If the stored options are invalid.
        """
        data = data or {}
        if not isinstance(data, dict):
            raise OptionsError("The stored training options are not a JSON object.")
        models = data.get("models")
        options = cls(
            preset=data.get("preset") or DEFAULT_PRESET,
            budget_s=data.get("budgetS", data.get("budget_s")),
            models=list(models) if isinstance(models, list) else models,
            excluded_columns=list(data.get("excludedColumns") or data.get("excluded_columns") or []),
            ranking_metric=data.get("rankingMetric", data.get("ranking_metric")),
            n_jobs=data.get("nJobs", data.get("n_jobs")),
            threshold_objective=data.get("thresholdObjective") or "f1_macro",
            false_positive_cost=data.get("falsePositiveCost", 1.0),
            false_negative_cost=data.get("falseNegativeCost", 1.0),
            session_id=data.get("sessionId", DEFAULT_SESSION_ID),
            cluster=data.get("cluster") or None,
        )
        return options.validate()


def check_cluster_address(address: object) -> str:
    """Return a Dask scheduler's address, ``tcp://host:port`` (a bare ``host:port`` gets ``tcp://``).

    Raises
    ------
    OptionsError
        If it is not such an address.
    """
    import re

    text = address.strip() if isinstance(address, str) else ""
    if text and "://" not in text:
        text = f"tcp://{text}"
    if not re.fullmatch(r"(tcp|tls)://[A-Za-z0-9.\-\[\]:]+:\d{1,5}", text):
        raise OptionsError(f"{address!r} is not a Dask scheduler address; write it as tcp://host:8786.")
    return text
