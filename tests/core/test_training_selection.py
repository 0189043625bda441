"""Choosing the final model: Caruana's ensemble selection, the decision threshold, the ranking metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.naive_bayes import GaussianNB

from predictml_desktop.core.training import metrics as M
from predictml_desktop.core.training.ensemble import blend, select
from predictml_desktop.core.training.finalize import assemble_ensemble
from predictml_desktop.core.training.threshold import choose_threshold


def _auc(y: np.ndarray):
    return lambda m: roc_auc_score(y, m[:, 1])


def test_selection_starts_from_the_best_single_model_and_adds_what_helps() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    signal = y + rng.normal(0, 1.0, 400)
    # Two models with independent errors: their average ranks the rows better than either.
    a = 1 / (1 + np.exp(-(signal + rng.normal(0, 1.0, 400))))
    b = 1 / (1 + np.exp(-(signal + rng.normal(0, 1.0, 400))))
    noise = rng.random(400)
    preds = {k: np.column_stack([1 - p, p]) for k, p in (("a", a), ("b", b), ("noise", noise))}
    chosen = select(preds, _auc(y), higher_is_better=True)
    assert set(chosen.weights) == {"a", "b"} and abs(sum(chosen.weights.values()) - 1) < 1e-12
    assert chosen.score == pytest.approx(_auc(y)(blend(preds, chosen.weights)))
    assert chosen.score > max(_auc(y)(preds["a"]), _auc(y)(preds["b"]))
    # Its score never falls below the best single model's (it starts there and keeps the best point).
    assert chosen.score >= chosen.trace[0]


def test_selection_keeps_one_model_when_nothing_improves_it() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    perfect = np.column_stack([1 - y, y]).astype(float)
    worse = np.full((6, 2), 0.5)
    chosen = select({"perfect": perfect, "worse": worse}, _auc(y), higher_is_better=True)
    assert chosen.weights == {"perfect": 1.0}


def test_selection_on_an_error_metric_and_at_most_five_members() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 300)
    preds = {f"m{i}": (y + rng.normal(0, 1, 300))[:, None] for i in range(8)}

    def rmse(m: np.ndarray) -> float:
        return float(np.sqrt(np.mean((m[:, 0] - y) ** 2)))

    chosen = select(preds, rmse, higher_is_better=False, max_members=5)
    assert 2 <= len(chosen.weights) <= 5
    assert chosen.score < min(rmse(p) for p in preds.values())


def test_an_assembled_ensemble_predicts_the_weighted_blend() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + rng.normal(0, 0.5, 200) > 0).astype(int)
    members = [("lr", LogisticRegression().fit(X, y)), ("nb", GaussianNB().fit(X, y))]
    ensemble = assemble_ensemble(members, [0.75, 0.25], True, 2)
    expected = 0.75 * members[0][1].predict_proba(X) + 0.25 * members[1][1].predict_proba(X)
    assert np.allclose(ensemble.predict_proba(X), expected)
    assert list(ensemble.predict(X)) == list(expected.argmax(axis=1))
    target = X @ np.array([1.0, -2.0, 0.5])
    regs = [("a", LinearRegression().fit(X, target)), ("b", LinearRegression(fit_intercept=False).fit(X, target))]
    assert np.allclose(assemble_ensemble(regs, [0.5, 0.5], False, 0).predict(X),
                       0.5 * regs[0][1].predict(X) + 0.5 * regs[1][1].predict(X))


@pytest.mark.parametrize("seed", range(30))
def test_threshold_maximises_macro_f1_as_a_brute_force_search_does(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    y = (rng.random(n) < rng.uniform(0.03, 0.5)).astype(int)
    if y.sum() == 0:
        y[0] = 1
    p = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1).round(int(rng.integers(1, 4)))
    choice = choose_threshold(y, p)
    best = max(f1_score(y, (p >= t).astype(int), average="macro") for t in np.unique(np.append(p, 0.5)))
    assert choice.score == pytest.approx(best)
    assert choice.score == pytest.approx(f1_score(y, (p >= choice.value).astype(int), average="macro"))
    assert choice.score_at_half == pytest.approx(f1_score(y, (p >= 0.5).astype(int), average="macro"))


def test_threshold_for_a_rare_class_moves_below_one_half_and_cost_moves_it_further() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(2000) < 0.05).astype(int)
    p = np.clip(0.1 + 0.35 * y + rng.normal(0, 0.1, 2000), 0, 1)  # a ranker whose scores rarely reach 0.5
    f1 = choose_threshold(y, p)
    assert f1.value < 0.5 and f1.score > f1.score_at_half + 0.15
    cheap_misses = choose_threshold(y, p, objective="cost", false_positive_cost=1, false_negative_cost=50)
    assert cheap_misses.value < f1.value  # missing a positive costs more: say yes more often
    with pytest.raises(ValueError, match="Unknown threshold objective"):
        choose_threshold(y, p, objective="accuracy")


def test_average_precision_equals_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(5, 200))
        y = (rng.random(n) < rng.random()).astype(int)
        if not y.any():
            continue
        scores = rng.random((n, 2)).round(int(rng.integers(1, 4)))
        got = M.classification_scores(y, scores.argmax(axis=1), 2, proba=scores)["average_precision"]
        assert got == pytest.approx(average_precision_score(y, scores[:, 1]))


@pytest.mark.parametrize(("counts", "metric", "words"), [
    ({"no": 500, "yes": 500}, "auc", "orders the rows"),
    ({"no": 900, "yes": 100}, "auc", "imbalanced"),
    ({"no": 990, "yes": 9}, "average_precision", "rare"),
    ({"a": 50, "b": 50, "c": 5}, "log_loss", "probability"),
])
def test_ranking_metrics_are_threshold_free_and_say_why(counts: dict, metric: str, words: str) -> None:
    chosen, reason = M.choose_ranking_metric("classification", counts)
    assert chosen == metric and words in reason
    assert M.choose_ranking_metric("regression")[0] == "r2"


def test_the_catalog_is_what_the_readme_and_the_architecture_claim() -> None:
    """20 classifiers and 26 regressors besides the baseline (the seed promised 20+)."""
    import re
    from pathlib import Path

    from predictml_desktop.core.training.catalog import BASELINE_ID, models_for

    classifiers = [m for m in models_for("classification") if m.id != BASELINE_ID]
    regressors = [m for m in models_for("regression") if m.id != BASELINE_ID]
    assert len(classifiers) >= 20 and len({m.id for m in classifiers}) == len(classifiers)
    root = Path(__file__).resolve().parents[2]
    for doc in ("README.md", "docs/ARCHITECTURE.md"):
        text = " ".join((root / doc).read_text(encoding="utf-8").split())
        found = re.search(r"(\d+) classifiers \(?(?:or|and) (\d+) regressors", text)
        assert found, doc
        assert (int(found[1]), int(found[2])) == (len(classifiers), len(regressors)), doc
