"""The candidate models: every PyCaret 3.3.2 model of each task, with what the search needs to know.

Kept free of PyCaret so the GUI and the command line can list and validate model ids without
importing it (which costs seconds). The engine checks at run time that each id is still one of
PyCaret's (`engine` builds the estimators from PyCaret's own model containers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ModelInfo:
    """What the search knows about one PyCaret model before running it.

    Attributes
    ----------
    id
        PyCaret's model id (``rf``).
    name
        PyCaret's display name (``Random Forest Classifier``).
    threads_param
        Parameter giving the model its own threads (``n_jobs``, ``thread_count``); None for models
        that compute on one core, whose folds run in parallel instead (one level of parallelism).
    max_rows
        Above this many training rows the model is skipped (with that reason): its time or memory
        grows too fast (kernel methods, Gaussian processes).
    cost_exponent
        How its fit time grows with rows (1 for most models, 2 for kernel SVMs, 3 for Gaussian
        processes); used to extrapolate screening times to the full cross-validation.
    probabilities
        Whether it gives class probabilities (classification); a model without them is calibrated
        if it wins, because predictions must come with probabilities.
    tunable
        Whether the tuning stage may search its PyCaret tune grid.
    quick_tune
        Cheap to refit, so worth tuning even in the balanced preset (linear models, neighbours,
        naive Bayes, single trees, linear SVMs).
    python_bound
        Its fit is mostly Python code holding the GIL (a network's mini-batches, Theil-Sen's
        subsamples): threads cannot run two folds of it at once, so it fits in the engine's
        process lane where there is one (one fold there, one in the engine), else one fold after
        the other, which also lets a clearly losing model stop after its first fold.
    """

    id: str
    name: str
    threads_param: str | None = None
    max_rows: int | None = None
    cost_exponent: float = 1.0
    probabilities: bool = True
    tunable: bool = True
    python_bound: bool = False
    quick_tune: bool = False


CLASSIFIERS: Final[tuple[ModelInfo, ...]] = (
    ModelInfo("dummy", "Dummy Classifier", tunable=False),
    ModelInfo("lr", "Logistic Regression", quick_tune=True),
    ModelInfo("knn", "K Neighbors Classifier", threads_param="n_jobs", max_rows=200_000, cost_exponent=1.5,
              quick_tune=True),
    ModelInfo("nb", "Naive Bayes", quick_tune=True),
    ModelInfo("dt", "Decision Tree Classifier", quick_tune=True),
    ModelInfo("svm", "SVM - Linear Kernel", probabilities=False, quick_tune=True),
    ModelInfo("rbfsvm", "SVM - Radial Kernel", max_rows=10_000, cost_exponent=2.0),
    ModelInfo("gpc", "Gaussian Process Classifier", max_rows=1_000, cost_exponent=3.0, tunable=False,
              python_bound=True),
    ModelInfo("mlp", "MLP Classifier", max_rows=100_000, cost_exponent=1.2, tunable=False, python_bound=True),
    ModelInfo("ridge", "Ridge Classifier", probabilities=False, quick_tune=True),
    ModelInfo("rf", "Random Forest Classifier", threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("qda", "Quadratic Discriminant Analysis", quick_tune=True),
    ModelInfo("ada", "Ada Boost Classifier", cost_exponent=1.1, python_bound=True),
    ModelInfo("gbc", "Gradient Boosting Classifier", cost_exponent=1.1, python_bound=True),
    ModelInfo("lda", "Linear Discriminant Analysis", quick_tune=True),
    ModelInfo("et", "Extra Trees Classifier", threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("xgboost", "Extreme Gradient Boosting", threads_param="n_jobs"),
    ModelInfo("lightgbm", "Light Gradient Boosting Machine", threads_param="n_jobs"),
    ModelInfo("catboost", "CatBoost Classifier", threads_param="thread_count"),
)

REGRESSORS: Final[tuple[ModelInfo, ...]] = (
    ModelInfo("dummy", "Dummy Regressor", tunable=False),
    ModelInfo("lr", "Linear Regression", quick_tune=True),
    ModelInfo("lasso", "Lasso Regression", quick_tune=True),
    ModelInfo("ridge", "Ridge Regression", quick_tune=True),
    ModelInfo("en", "Elastic Net", quick_tune=True),
    ModelInfo("lar", "Least Angle Regression", quick_tune=True),
    ModelInfo("llar", "Lasso Least Angle Regression", quick_tune=True),
    ModelInfo("omp", "Orthogonal Matching Pursuit", quick_tune=True),
    ModelInfo("br", "Bayesian Ridge", quick_tune=True),
    ModelInfo("ard", "Automatic Relevance Determination", max_rows=50_000, cost_exponent=1.2),
    ModelInfo("par", "Passive Aggressive Regressor", quick_tune=True),
    ModelInfo("ransac", "Random Sample Consensus", python_bound=True),
    ModelInfo("tr", "TheilSen Regressor", max_rows=10_000, cost_exponent=1.5, python_bound=True),
    ModelInfo("huber", "Huber Regressor", quick_tune=True),
    ModelInfo("kr", "Kernel Ridge", max_rows=3_000, cost_exponent=3.0),
    ModelInfo("svm", "Support Vector Regression", max_rows=10_000, cost_exponent=2.0),
    ModelInfo("knn", "K Neighbors Regressor", threads_param="n_jobs", max_rows=200_000, cost_exponent=1.5,
              quick_tune=True),
    ModelInfo("dt", "Decision Tree Regressor", quick_tune=True),
    ModelInfo("rf", "Random Forest Regressor", threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("et", "Extra Trees Regressor", threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("ada", "AdaBoost Regressor", cost_exponent=1.1, python_bound=True),
    ModelInfo("gbr", "Gradient Boosting Regressor", cost_exponent=1.1, python_bound=True),
    ModelInfo("mlp", "MLP Regressor", max_rows=100_000, cost_exponent=1.2, tunable=False, python_bound=True),
    ModelInfo("xgboost", "Extreme Gradient Boosting", threads_param="n_jobs"),
    ModelInfo("lightgbm", "Light Gradient Boosting Machine", threads_param="n_jobs"),
    ModelInfo("catboost", "CatBoost Regressor", threads_param="thread_count"),
)

BASELINE_ID: Final = "dummy"
BLEND_ID: Final = "blend"
TUNED_SUFFIX: Final = "_tuned"


def models_for(problem_type: str) -> tuple[ModelInfo, ...]:
    """Return the candidates of ``classification`` or ``regression``.

    Raises
    ------
    ValueError
        For any other problem type.
    """
    if problem_type == "classification":
        return CLASSIFIERS
    if problem_type == "regression":
        return REGRESSORS
    raise ValueError(f"Unknown problem type {problem_type!r}; expected classification or regression.")


def model_info(problem_type: str, model_id: str) -> ModelInfo:
    """Return the entry of one model id (KeyError if the task has no such model)."""
    for info in models_for(problem_type):
        if info.id == model_id:
            return info
    raise KeyError(model_id)


def check_model_ids(problem_type: str, model_ids: list[str]) -> None:
    """Raise ``ValueError`` naming every id that is not a model of ``problem_type``."""
    known = [m.id for m in models_for(problem_type)]
    unknown = [m for m in model_ids if m not in known]
    if unknown:
        raise ValueError(
            f"Unknown {problem_type} model{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the available ones are {', '.join(known)}."
        )
