"""Per-row signed contributions of each input column to a fitted model's answer (issue 15, item 1).

The explanation is computed on the rows as the final estimator receives them (after the pipeline's
preprocessing) and summed back into the user's columns: every model column is made from exactly
one input column (one-hot columns, date parts, scaled and imputed copies), so the contributions of
``city_Oslo`` and ``city_Lima`` add up to the contribution of ``city``.

What is explained, so that "Income 40,276 lowered the chance of Yes by 12 points" is true:

- regression: the predicted value; contributions add up to ``prediction - base``;
- classification: the **probability** of the explained class (the positive class of a yes/no
  model, the predicted class of a several-class model); contributions add up to
  ``probability - base probability``.

Methods, each stated in `Attribution.method`:

- ``TreeSHAP (exact)``: LightGBM ``pred_contrib``, XGBoost ``pred_contribs``, CatBoost
  ``ShapValues``; their base is the trees' expected margin.
- ``linear (exact)``: ``coef * (x - reference)`` for linear models, against the reference row.
- Both give contributions to a margin (log-odds for classifiers). They are carried into probability
  by integrating the link's gradient along the straight path from the base margin to the row's
  margin: each column gets its share of the path integral, which is linear in the contributions, so
  they still add up exactly to the probability difference (for a yes/no model this is the plain
  rescaling ``phi * (p - p0) / (m - m0)``).
- ``weighted ensemble``: a soft-voting ensemble's contributions are the weighted sum of its
  members' (the ensemble's probability is that weighted sum too), each member explained exactly
  where it can be and by sampling otherwise (the method then names both).
- ``sampling SHAP (approximate, N permutations)`` for every other model: Shapley values of the
  game "switch these columns from the reference row to the row", estimated over N permutations of
  the columns (antithetic pairs, fixed seed). Each permutation telescopes from the reference's
  answer to the row's, so the contributions add up exactly; only their split between columns is
  approximate. Its cost is bounded (`SAMPLING_BUDGET` model rows per call).

Every exact result is checked against the estimator's own answer (1e-6) before it is returned; a
model whose exact contributions do not reproduce its answer (an unusual objective or link) is
explained by sampling instead.

The ``shap`` library is deliberately not used: it pulls in numba and llvmlite (about 100 MB), and
the packaged app is at 786 MB against its 800 MB limit. The native tree explainers above are in
libraries the app already ships.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "METHOD_ENSEMBLE",
    "METHOD_LINEAR",
    "METHOD_TREE",
    "SAMPLING_BUDGET",
    "Attribution",
    "explain_function",
    "explain_transformed",
    "model_column_groups",
    "sampling_method",
]

METHOD_TREE: Final = "TreeSHAP (exact)"
METHOD_LINEAR: Final = "linear (exact)"
METHOD_ENSEMBLE: Final = "weighted ensemble of exact contributions"
ADDITIVITY_TOLERANCE: Final = 1e-6
SAMPLING_BUDGET: Final = 400_000
"""Model rows one sampling explanation may evaluate (about a second for a decision tree)."""
MAX_PERMUTATIONS: Final = 16
"""For one row: 8 antithetic pairs (a 100-tree forest then adds about 12 ms to a request; 32 added 25 ms)."""
MIN_PERMUTATIONS: Final = 2
_CHUNK_CELLS: Final = 4_000_000
_GAUSS_NODES: Final = 48


def sampling_method(permutations: int) -> str:
    """Return the method's name for a sampling explanation over ``permutations`` permutations."""
    return f"sampling SHAP (approximate, {permutations} permutations)"


@dataclass
class Attribution:
    """Contributions of the input columns to each row's answer.

    ``base + values.sum(axis=1) == output`` for every row (to `ADDITIVITY_TOLERANCE`).
    """

    columns: list[str]
    """The input columns, in the model's feature order."""
    values: np.ndarray
    """(rows, columns) signed contributions, in the output's units (probability or value)."""
    base: np.ndarray
    """(rows,) the answer the contributions start from (the reference's, or the trees' average)."""
    output: np.ndarray
    """(rows,) the explained answer: the explained class's probability, or the predicted value."""
    method: str
    exact: bool
    explained_class: np.ndarray | None = None
    """(rows,) probability column explained per row (classification), else None."""

    def max_additivity_error(self) -> float:
        """Return the largest ``|base + sum(values) - output|`` over the rows."""
        if not len(self.output):
            return 0.0
        return float(np.max(np.abs(self.base + self.values.sum(axis=1) - self.output)))


# --------------------------------------------------------------------------- column groups


def _plain(name: Any) -> str:
    # PyCaret's CleanColumnNames drops []{},": from names, and LightGBM reports the others as "_".
    return re.sub(r"[^0-9A-Za-z_]", "_", re.sub(r'[\]\[,{}":]+', "", str(name)))


def model_column_groups(model_columns: Sequence[Any], inputs: Sequence[str]) -> list[list[int]] | None:
    """Return, for each input column, the positions of the model columns made from it.

    A model column belongs to the longest input name equal to it or followed by ``_`` (compared with
    PyCaret's column-name cleaning applied to both). None when a model column matches no input (a
    step that mixes columns): the caller then explains the whole pipeline instead.
    """
    plain_inputs = [_plain(n) for n in inputs]
    ordered = sorted(range(len(inputs)), key=lambda i: len(plain_inputs[i]), reverse=True)
    groups: list[list[int]] = [[] for _ in inputs]
    for pos, column in enumerate(model_columns):
        name = _plain(column)
        owner = next((i for i in ordered if name == plain_inputs[i] or name.startswith(f"{plain_inputs[i]}_")), None)
        if owner is None:
            return None
        groups[owner].append(pos)
    return groups


def _sum_groups(values: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Sum model-column contributions (rows, model columns, ...) into input columns (rows, inputs, ...)."""
    out = np.zeros((values.shape[0], len(groups), *values.shape[2:]))
    for g, positions in enumerate(groups):
        if positions:
            out[:, g] = values[:, positions].sum(axis=1)
    return out


# --------------------------------------------------------------------------- margins → probabilities


def _sigmoid(m: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-m)))


def _softmax(m: np.ndarray) -> np.ndarray:
    z = np.exp(m - m.max(axis=-1, keepdims=True))
    return np.asarray(z / z.sum(axis=-1, keepdims=True))


def _logistic_shares(phi: np.ndarray, bias: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Margin contributions (rows, inputs) of class 1 → probability contributions of the explained class.

    ``positive`` is True where class 1 is explained (else class 0, whose probability is 1 - p).
    """
    delta = phi.sum(axis=1)
    m = bias + delta
    p, p0 = _sigmoid(m), _sigmoid(bias)
    small = np.abs(delta) < 1e-12
    slope = np.where(small, p * (1 - p), (p - p0) / np.where(small, 1.0, delta))
    sign = np.where(positive, 1.0, -1.0)
    base = np.where(positive, p0, 1 - p0)
    return phi * (slope * sign)[:, None], base


def _softmax_shares(phi: np.ndarray, bias: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Margin contributions (rows, inputs, classes) → probability contributions of class ``k`` per row.

    Each input's share of ``p_k(m) - p_k(m0)`` is the path integral of ``grad p_k · phi_j`` along
    ``m0 + t * (m - m0)`` (Gauss-Legendre); a residual of the quadrature (far below the tolerance) is
    spread in proportion to the shares' sizes so the sum is exact.
    """
    n = phi.shape[0]
    rows = np.arange(n)
    delta = phi.sum(axis=1)  # (n, K)
    nodes, weights = np.polynomial.legendre.leggauss(_GAUSS_NODES)
    t = (nodes + 1) / 2
    w = weights / 2
    path = bias[:, None, :] + t[None, :, None] * delta[:, None, :]  # (n, T, K)
    probs = _softmax(path)
    pk = probs[rows, :, k]  # (n, T)
    # grad p_k · phi_j = p_k * (phi_jk - sum_c p_c phi_jc)
    mixed = np.einsum("ntc,njc->ntj", probs, phi)
    own = phi[rows, :, k]  # (n, J)
    integrand = pk[:, :, None] * (own[:, None, :] - mixed)
    shares = np.einsum("t,ntj->nj", w, integrand)
    p_end = _softmax(bias + delta)[rows, k]
    p_start = _softmax(bias)[rows, k]
    residual = (p_end - p_start) - shares.sum(axis=1)
    size = np.abs(shares).sum(axis=1)
    spread = np.where(size > 0, residual / np.where(size > 0, size, 1.0), 0.0)
    shares = shares + np.abs(shares) * spread[:, None]
    return shares, p_start


# --------------------------------------------------------------------------- exact explainers

_Margins = tuple[np.ndarray, np.ndarray, str]
"""(contributions (rows, model columns, outputs), bias (rows, outputs), link identity|logistic|softmax)."""


def _native_tree(estimator: Any, Xt: pd.DataFrame, n_classes: int) -> _Margins | None:
    module = type(estimator).__module__
    n, p = Xt.shape
    raw: np.ndarray | None = None
    if module.startswith("lightgbm") and hasattr(estimator, "booster_"):
        raw = np.asarray(estimator.booster_.predict(Xt.to_numpy(dtype="float64"), pred_contrib=True))
        if n_classes > 2:
            raw = raw.reshape(n, n_classes, p + 1)
    elif module.startswith("xgboost") and hasattr(estimator, "get_booster"):
        import xgboost

        booster = estimator.get_booster()
        raw = np.asarray(booster.predict(xgboost.DMatrix(Xt), pred_contribs=True))
    elif module.startswith("catboost") and hasattr(estimator, "get_feature_importance"):
        import catboost

        raw = np.asarray(estimator.get_feature_importance(catboost.Pool(Xt), type="ShapValues"))
    if raw is None:
        return None
    if raw.ndim == 2:
        raw = raw[:, None, :]  # (n, 1, p + 1)
    contributions = np.transpose(raw[:, :, :p], (0, 2, 1))  # (n, p, outputs)
    bias = raw[:, :, p]
    link = "identity" if n_classes == 0 else ("logistic" if raw.shape[1] == 1 else "softmax")
    return contributions, bias, link


def _linear(estimator: Any, Xt: pd.DataFrame, reference: pd.DataFrame, n_classes: int) -> _Margins | None:
    coef = getattr(estimator, "coef_", None)
    intercept = getattr(estimator, "intercept_", None)
    if coef is None or intercept is None or not type(estimator).__module__.startswith("sklearn."):
        return None
    coef = np.atleast_2d(np.asarray(coef, dtype="float64"))
    intercept = np.atleast_1d(np.asarray(intercept, dtype="float64"))
    X = Xt.to_numpy(dtype="float64")
    r = reference.to_numpy(dtype="float64")[0]
    if coef.shape[1] != X.shape[1]:
        return None
    contributions = (X - r)[:, :, None] * coef.T[None, :, :]  # (n, p, outputs)
    bias = np.broadcast_to(r @ coef.T + intercept, (X.shape[0], coef.shape[0])).copy()
    link = "identity" if n_classes == 0 else ("logistic" if coef.shape[0] == 1 else "softmax")
    return contributions, bias, link


def _to_output(margins: _Margins, groups: list[list[int]], k: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Margin contributions → (input-column contributions, base) in the output's units."""
    contributions, bias, link = margins
    phi = _sum_groups(contributions, groups)  # (n, inputs, outputs)
    if link == "identity":
        return phi[:, :, 0], bias[:, 0]
    assert k is not None
    if link == "logistic":
        return _logistic_shares(phi[:, :, 0], bias[:, 0], k == 1)
    return _softmax_shares(phi, bias, k)


def _model_output(estimator: Any, Xt: pd.DataFrame, k: np.ndarray | None) -> np.ndarray:
    if k is None:
        return np.asarray(estimator.predict(Xt), dtype="float64").reshape(len(Xt))
    proba = np.asarray(estimator.predict_proba(Xt), dtype="float64")
    return np.asarray(proba[np.arange(len(Xt)), k])


_Result = tuple[np.ndarray, np.ndarray, np.ndarray, str, bool]
"""(contributions, base, output, method, exact)."""


def _ensemble(estimator: Any, Xt: pd.DataFrame, reference: pd.DataFrame, groups: list[list[int]],
              n_classes: int, k: np.ndarray | None, seed: int, budget: int) -> _Result | None:
    """Explain a soft-voting ensemble as the weighted sum of its members' contributions (each exact where it can be)."""
    members = estimator.estimators_
    weights = np.asarray(estimator.weights if estimator.weights is not None else [1.0] * len(members), float)
    if getattr(estimator, "voting", "soft") != "soft" or len(weights) != len(members) or not members:
        return None
    parts = [_explain_estimator(m, Xt, reference, groups, n_classes, k, seed, budget // len(members))
             for m in members]
    share = weights / weights.sum()
    values = np.asarray(sum(w * part[0] for w, part in zip(share, parts, strict=True)))
    base = np.asarray(sum(w * part[1] for w, part in zip(share, parts, strict=True)))
    output = _model_output(estimator, Xt, k)
    residual = output - base - values.sum(axis=1)
    if not np.all(np.abs(residual) <= ADDITIVITY_TOLERANCE * np.maximum(1.0, np.abs(output))):
        return None  # the ensemble does not answer the weighted mean of its members (not soft voting)
    methods = ", ".join(sorted({part[3] for part in parts}))
    exact = all(part[4] for part in parts)
    name = f"{METHOD_ENSEMBLE} ({methods})" if exact else f"weighted ensemble of its members' contributions ({methods})"
    return _spread(values, residual), base, output, name, exact


def _explain_estimator(estimator: Any, Xt: pd.DataFrame, reference: pd.DataFrame, groups: list[list[int]],
                       n_classes: int, k: np.ndarray | None, seed: int, budget: int) -> _Result:
    """Exact contributions where the estimator allows them, else sampling SHAP on the preprocessed rows."""
    if type(estimator).__name__ in ("VotingClassifier", "VotingRegressor") and isinstance(
            getattr(estimator, "estimators_", None), list):
        combined = _ensemble(estimator, Xt, reference, groups, n_classes, k, seed, budget)
        if combined is not None:
            return combined
    exact = _exact(estimator, Xt, reference, groups, n_classes, k)
    if exact is not None:
        return (*exact, True)
    names = list(Xt.columns)

    def evaluate(batch: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        matrix, owner = batch
        frame = pd.DataFrame(matrix, columns=names)
        if k is None:
            return np.asarray(estimator.predict(frame), dtype="float64").reshape(len(frame))
        proba = np.asarray(estimator.predict_proba(frame), dtype="float64")
        return np.asarray(proba[np.arange(len(frame)), k[owner]])

    values, base, output, count = explain_function(
        evaluate, Xt.to_numpy(dtype="float64"), reference.to_numpy(dtype="float64")[0], groups,
        seed=seed, budget=budget)
    return values, base, output, sampling_method(count), False


def _exact(estimator: Any, Xt: pd.DataFrame, reference: pd.DataFrame, groups: list[list[int]],
           n_classes: int, k: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Exact contributions of one tree or linear estimator, checked against its own answer; else None."""
    for method, margins in ((METHOD_TREE, lambda: _native_tree(estimator, Xt, n_classes)),
                            (METHOD_LINEAR, lambda: _linear(estimator, Xt, reference, n_classes))):
        try:
            found = margins()
        except Exception:  # noqa: BLE001 - a library that refuses: the next method, or sampling, answers
            found = None
        if found is None:
            continue
        values, base = _to_output(found, groups, k)
        output = _model_output(estimator, Xt, k)
        allowed = ADDITIVITY_TOLERANCE * np.maximum(1.0, np.abs(output))
        if method == METHOD_LINEAR and k is None:
            # The model's own answer carries the rounding of its dot product: the engine's linear
            # models on one-hot columns can hold cancelling coefficients of 1e13 (collinear dummies),
            # whose products round at 1e-3. Within that bound the contributions are its exact terms.
            coef = np.abs(np.atleast_2d(np.asarray(estimator.coef_, dtype="float64")))
            terms = np.abs(Xt.to_numpy(dtype="float64")) @ coef.T[:, 0]
            allowed = allowed + 64 * np.finfo("float64").eps * (terms + np.abs(base))
        residual = output - base - values.sum(axis=1)
        if np.all(np.abs(residual) <= allowed):
            return _spread(values, residual), base, output, method
    return None


def _spread(values: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """Spread a rounding-level residual over the contributions, in proportion to their sizes, so they add up."""
    size = np.abs(values).sum(axis=1)
    share = np.where(size > 0, residual / np.where(size > 0, size, 1.0), 0.0)
    return np.asarray(values + np.abs(values) * share[:, None])


# --------------------------------------------------------------------------- sampling


def _permutations(m: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    half = [rng.permutation(m) for _ in range(count // 2)]
    return np.array([p for perm in half for p in (perm, perm[::-1])], dtype=int).reshape(-1, m)


def explain_function(
    evaluate: Callable[[tuple[np.ndarray, np.ndarray]], np.ndarray],
    X: np.ndarray,
    reference: np.ndarray,
    groups: list[list[int]],
    *,
    seed: int = 0,
    budget: int = SAMPLING_BUDGET,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Estimate sampling (permutation) SHAP of ``evaluate`` for each row of ``X`` against one reference row.

    Parameters
    ----------
    evaluate
        Called with ``(matrix, owner)``: (q, p) hybrid rows and (q,) the explained row each belongs
        to; returns their (q,) answers.
    X
        (n, p) the rows (float or object array).
    reference
        (p,) the reference row.
    groups
        Column positions of each player (input column).
    seed
        The permutations' seed (deterministic).
    budget
        Model rows to evaluate at most (the permutation count is lowered to fit, never below 2).

    Returns
    -------
    tuple
        (contributions (n, players), base (n,), output (n,), permutations used).
    """
    n, _ = X.shape
    m = len(groups)
    steps = max(m - 1, 0)
    count = int(np.clip(budget // max(1, n * max(steps, 1)), MIN_PERMUTATIONS, MAX_PERMUTATIONS)) // 2 * 2
    # The reference is answered once per row: a several-class model explains each row's own class.
    ends = np.concatenate([np.broadcast_to(reference, X.shape), X])
    end_values = np.asarray(evaluate((ends, np.concatenate([np.arange(n), np.arange(n)]))), dtype="float64")
    base, output = end_values[:n], end_values[n:]
    values = np.zeros((n, m))
    if m == 0:
        return values, base, output, count
    if steps == 0:
        values[:, 0] = output - base
        return values, base, output, count
    perms = _permutations(m, count, seed)
    # masks[q, s, c]: after s+1 players of permutation q joined, column c comes from the row.
    masks = np.zeros((count, steps, X.shape[1]), dtype=bool)
    for q, perm in enumerate(perms):
        for s in range(steps):
            for player in perm[: s + 1]:
                masks[q, s, groups[player]] = True
    per_row = count * steps
    chunk = max(1, _CHUNK_CELLS // max(1, per_row * X.shape[1]))
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        hybrid = np.where(masks[None], X[rows][:, None, None, :], reference[None, None, None, :])
        flat = hybrid.reshape(len(rows) * per_row, X.shape[1])
        owner = np.repeat(rows, per_row)
        answers = np.asarray(evaluate((flat, owner)), dtype="float64").reshape(len(rows), count, steps)
        # The chain of answers along each permutation: reference, the steps, the row.
        chain = np.concatenate([np.broadcast_to(base[rows, None, None], (len(rows), count, 1)), answers,
                                np.broadcast_to(output[rows, None, None], (len(rows), count, 1))], axis=2)
        gains = np.diff(chain, axis=2)  # (rows, count, m): gain of the player joining at each step
        for q, perm in enumerate(perms):
            values[rows[:, None], perm[None, :]] += gains[:, q, :]
    values /= count
    return values, base, output, count


def explain_transformed(
    estimator: Any,
    Xt: pd.DataFrame,
    reference: pd.DataFrame,
    groups: list[list[int]],
    columns: list[str],
    *,
    n_classes: int,
    explained_class: np.ndarray | None,
    seed: int = 0,
    budget: int = SAMPLING_BUDGET,
) -> Attribution:
    """Explain a fitted estimator on preprocessed rows, summed into the input columns.

    Parameters
    ----------
    estimator
        The pipeline's final step.
    Xt
        (n, model columns) the rows as the estimator receives them.
    reference
        (1, model columns) the reference row, preprocessed the same way.
    groups
        `model_column_groups` of ``Xt``'s columns.
    columns
        The input columns' names (one per group).
    n_classes
        0 for a regressor, else the number of probability columns.
    explained_class
        (n,) probability column explained per row (classifiers), else None.
    seed, budget
        For the sampling method.
    """
    k = explained_class if n_classes else None
    # Extreme inputs (1e21 is a valid number) push margins to where exp() overflows to inf: the links
    # still give the right limits (0 or 1), and any contribution left non-finite fails the additivity
    # check and is answered by sampling. numpy's error state is per thread.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        values, base, output, method, exact = _explain_estimator(estimator, Xt, reference, groups, n_classes, k,
                                                                 seed, budget)
    return Attribution(columns, values, base, output, method, exact, k)
