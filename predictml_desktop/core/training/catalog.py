"""The candidate models and what the search needs to know of them.

Every PyCaret 3.3.2 model of each task, plus scikit-learn's histogram gradient boosting (both tasks)
and imbalanced-learn's balanced random forest: 20 classifiers and 26 regressors besides the baseline.
Kept free of PyCaret so the GUI and the command line can list and validate model ids without
importing it (which costs seconds). The engine checks at run time that each id can be built
(`core.modeling.experiment.Experiment.make_estimator`, from PyCaret's own model containers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ModelInfo:
    """What the search knows about one model before running it.

    Attributes
    ----------
    id
        PyCaret's model id (``rf``), or ours for a scikit-learn model PyCaret does not list (``hgb``).
    name
        Its display name (``Random Forest Classifier``).
    family
        ``linear``, ``bayes``, ``neighbours``, ``kernel``, ``tree``, ``bagging``, ``boosting``,
        ``network`` or ``baseline``: successive halving keeps the best of the tree ensembles
        (``bagging``, ``boosting``) alive on small samples, where linear models lead but trees win
        on the whole table.
    cost
        Relative fit cost, 1 (a linear model) to 4 (a network, a Gaussian process): screening queues
        the cheapest first, so early results give the references pruning compares with.
    threads_param
        Parameter giving the model its own threads (``n_jobs``, ``thread_count``); None for models
        that compute on one core, whose folds run side by side instead (one level of parallelism).
    max_rows
        Above this many training rows the model is skipped (with that reason): its time or memory
        grows too fast (kernel methods, Gaussian processes).
    max_width
        Above this many model columns (after one-hot encoding and date parts) the model is skipped:
        its time grows with their cube (ARD) or faster (Theil-Sen's subsets).
    cost_exponent
        How its fit time grows with rows (1 for most models, 2 for kernel SVMs, 3 for Gaussian
        processes); used to extrapolate screening times to more rows.
    probabilities
        Whether it gives class probabilities (classification); one without them is wrapped in Platt
        scaling, so every candidate is scored and ensembled on probabilities.
    """

    id: str
    name: str
    family: str = "linear"
    cost: int = 1
    threads_param: str | None = None
    max_rows: int | None = None
    max_width: int | None = None
    cost_exponent: float = 1.0
    probabilities: bool = True


CLASSIFIERS: Final[tuple[ModelInfo, ...]] = (
    ModelInfo("dummy", "Dummy Classifier", "baseline"),
    ModelInfo("lr", "Logistic Regression"),
    ModelInfo("knn", "K Neighbors Classifier", "neighbours", threads_param="n_jobs", max_rows=200_000,
              cost_exponent=1.5),
    ModelInfo("nb", "Naive Bayes", "bayes"),
    ModelInfo("dt", "Decision Tree Classifier", "tree"),
    ModelInfo("svm", "SVM - Linear Kernel", probabilities=False),
    ModelInfo("rbfsvm", "SVM - Radial Kernel", "kernel", 2, max_rows=10_000, cost_exponent=2.0),
    ModelInfo("gpc", "Gaussian Process Classifier", "kernel", 4, max_rows=1_000, cost_exponent=3.0),
    ModelInfo("mlp", "MLP Classifier", "network", 4, max_rows=100_000, cost_exponent=1.2),
    ModelInfo("ridge", "Ridge Classifier", probabilities=False),
    ModelInfo("rf", "Random Forest Classifier", "bagging", 2, threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("qda", "Quadratic Discriminant Analysis", "bayes"),
    ModelInfo("ada", "Ada Boost Classifier", "boosting", 3, cost_exponent=1.1),
    ModelInfo("gbc", "Gradient Boosting Classifier", "boosting", 3, cost_exponent=1.1),
    ModelInfo("lda", "Linear Discriminant Analysis"),
    ModelInfo("et", "Extra Trees Classifier", "bagging", 2, threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("xgboost", "Extreme Gradient Boosting", "boosting", 2, threads_param="n_jobs"),
    ModelInfo("lightgbm", "Light Gradient Boosting Machine", "boosting", 2, threads_param="n_jobs"),
    ModelInfo("catboost", "CatBoost Classifier", "boosting", 3, threads_param="thread_count"),
    # Not in PyCaret 3.3.2's list; scikit-learn's histogram boosting handles missing values natively.
    ModelInfo("hgb", "Histogram Gradient Boosting Classifier", "boosting", 2),
    # imbalanced-learn's forest draws balanced bootstrap samples: a small class weighs in every tree.
    ModelInfo("brf", "Balanced Random Forest Classifier", "bagging", 2, threads_param="n_jobs", cost_exponent=1.1),
)

REGRESSORS: Final[tuple[ModelInfo, ...]] = (
    ModelInfo("dummy", "Dummy Regressor", "baseline"),
    ModelInfo("lr", "Linear Regression"),
    ModelInfo("lasso", "Lasso Regression"),
    ModelInfo("ridge", "Ridge Regression"),
    ModelInfo("en", "Elastic Net"),
    ModelInfo("lar", "Least Angle Regression"),
    ModelInfo("llar", "Lasso Least Angle Regression"),
    ModelInfo("omp", "Orthogonal Matching Pursuit"),
    ModelInfo("br", "Bayesian Ridge"),
    ModelInfo("ard", "Automatic Relevance Determination", cost=2, max_rows=50_000, max_width=100, cost_exponent=1.2),
    ModelInfo("par", "Passive Aggressive Regressor"),
    ModelInfo("ransac", "Random Sample Consensus", cost=2),
    ModelInfo("tr", "TheilSen Regressor", cost=3, max_rows=10_000, max_width=30, cost_exponent=1.5),
    ModelInfo("huber", "Huber Regressor"),
    ModelInfo("kr", "Kernel Ridge", "kernel", 2, max_rows=3_000, cost_exponent=3.0),
    ModelInfo("svm", "Support Vector Regression", "kernel", 2, max_rows=10_000, cost_exponent=2.0),
    ModelInfo("knn", "K Neighbors Regressor", "neighbours", threads_param="n_jobs", max_rows=200_000,
              cost_exponent=1.5),
    ModelInfo("dt", "Decision Tree Regressor", "tree"),
    ModelInfo("rf", "Random Forest Regressor", "bagging", 2, threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("et", "Extra Trees Regressor", "bagging", 2, threads_param="n_jobs", cost_exponent=1.1),
    ModelInfo("ada", "AdaBoost Regressor", "boosting", 3, cost_exponent=1.1),
    ModelInfo("gbr", "Gradient Boosting Regressor", "boosting", 3, cost_exponent=1.1),
    ModelInfo("mlp", "MLP Regressor", "network", 4, max_rows=100_000, cost_exponent=1.2),
    ModelInfo("xgboost", "Extreme Gradient Boosting", "boosting", 2, threads_param="n_jobs"),
    ModelInfo("lightgbm", "Light Gradient Boosting Machine", "boosting", 2, threads_param="n_jobs"),
    ModelInfo("catboost", "CatBoost Regressor", "boosting", 3, threads_param="thread_count"),
    ModelInfo("hgb", "Histogram Gradient Boosting Regressor", "boosting", 2),
)

BASELINE_ID: Final = "dummy"
ENSEMBLE_ID: Final = "ensemble"


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
