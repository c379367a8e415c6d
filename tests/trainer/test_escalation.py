"""Escalation signals, metrics and the validation-only choice of signal and threshold."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from trainer.escalation import (
    DEFAULT_THRESHOLD,
    EmbeddingClassifier,
    EscalationPolicy,
    best_threshold,
    choose_signal,
    f1_precision_recall,
    neighbour_score,
    roc_auc,
)


def hit(score: float, escalated: bool) -> SimpleNamespace:
    return SimpleNamespace(score=score, record=SimpleNamespace(escalated=escalated))


def test_f1_on_a_small_confusion_matrix() -> None:
    # tp=2 (0, 4), fp=1 (2), fn=1 (1), tn=1 (3)
    result = f1_precision_recall([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert (result.tp, result.fp, result.fn, result.tn) == (2, 1, 1, 1)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 / 3)
    assert result.note is None


def test_f1_without_positives_is_zero_with_a_note() -> None:
    false_alarm = f1_precision_recall([0, 0, 0], [0, 1, 0])
    assert (false_alarm.precision, false_alarm.recall, false_alarm.f1) == (0.0, 0.0, 0.0)
    assert "no actual positives" in (false_alarm.note or "")
    silent = f1_precision_recall([0, 0], [0, 0])
    assert silent.f1 == 0.0 and silent.tn == 2
    assert "no predicted positives" in (silent.note or "")
    assert "no actual positives" in (silent.note or "")
    missed = f1_precision_recall([1, 0], [0, 0])
    assert (missed.precision, missed.recall, missed.f1) == (0.0, 0.0, 0.0)
    assert missed.note == "no predicted positives: precision reported as 0.0"
    with pytest.raises(ValueError):
        f1_precision_recall([1, 0], [1])


def test_roc_auc_counts_pairs_and_halves_ties() -> None:
    # positive 0.35 beats 0.1, loses to 0.4; positive 0.8 beats both: 3 of 4 pairs.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # pairs: (0.2 vs 0.2) = 0.5, (0.2 vs 0.1) = 1, (0.9 vs both) = 2 -> 3.5 / 4
    assert roc_auc([0, 1, 1, 0], [0.2, 0.2, 0.9, 0.1]) == pytest.approx(0.875)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([1, 0], [0.1, 0.9]) == pytest.approx(0.0)
    assert math.isnan(roc_auc([1, 1], [0.1, 0.9]))


def test_neighbour_score_is_a_similarity_weighted_rate() -> None:
    scores = neighbour_score([
        [hit(0.8, True), hit(0.2, False)],         # 0.8 / 1.0
        [hit(-0.1, True), hit(0.5, False)],        # negative similarity weighs nothing
        [hit(0.0, True), hit(-0.2, False)],        # all weights 0: plain mean
        [],                                         # no neighbours
    ], empty_score=0.25)
    np.testing.assert_allclose(scores, [0.8, 0.0, 0.5, 0.25])


def test_best_threshold_by_hand() -> None:
    labels = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1])
    # F1 at >= 0.9: 2/5, 0.8: 4/5, 0.7: 4/6, 0.6: 6/7 (best), 0.3: 6/8, 0.1: 6/9.
    threshold, result = best_threshold(labels, scores)
    assert threshold == pytest.approx(0.45)  # halfway between 0.6 and the next score, 0.3
    assert result.f1 == pytest.approx(6 / 7)
    # Equal F1 goes to the higher threshold; a winner at the lowest score keeps that score.
    threshold, _ = best_threshold(np.array([1, 0, 0, 1], dtype=bool), np.array([4, 3, 2, 1.0]))
    assert threshold == pytest.approx(3.5)  # F1 2/3 at >= 4 and at >= 1
    threshold, _ = best_threshold(np.array([1, 1], dtype=bool), np.array([0.2, 0.1]))
    assert threshold == pytest.approx(0.1)


def _validation(positives: int, negatives: int, seed: int = 0) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    labels = np.array([True] * positives + [False] * negatives)
    good = np.where(labels, rng.uniform(0.6, 1.0, labels.size), rng.uniform(0.0, 0.5, labels.size))
    return labels, {"neighbours": rng.uniform(0, 1, labels.size), "classifier": good}


def test_choose_signal_tunes_with_enough_positives() -> None:
    labels, candidates = _validation(40, 60)
    policy = choose_signal(labels, candidates)
    assert policy.signal == "classifier"
    assert 0.5 <= policy.threshold <= 0.6
    assert policy.metrics["tuned"] is True
    assert policy.metrics["signals"]["classifier"]["f1"] == pytest.approx(1.0)
    assert policy.metrics["signals"]["classifier"]["auc"] == pytest.approx(1.0)
    assert "tuned on 40 validation escalations" in policy.reason
    assert policy.decide(0.99) and not policy.decide(0.1)


def test_choose_signal_never_tunes_on_too_few_positives() -> None:
    labels, candidates = _validation(29, 200)
    policy = choose_signal(labels, candidates, min_positives=30)
    assert (policy.signal, policy.threshold) == ("neighbours", DEFAULT_THRESHOLD)
    assert policy.metrics["tuned"] is False
    assert policy.metrics["signals"]["classifier"]["threshold"] == DEFAULT_THRESHOLD
    assert "29 escalations" in policy.reason and "fewer than 30" in policy.reason
    # Without the fallback signal among the candidates, the first one listed is used.
    only = choose_signal(labels, {"adapter": candidates["classifier"]})
    assert only.signal == "adapter" and "'neighbours' was not among" in only.reason
    # No positives at all: still a policy, with F1 0.0 explained.
    none = choose_signal(np.zeros(10, dtype=bool), {"neighbours": np.linspace(0, 1, 10)})
    assert none.metrics["signals"]["neighbours"]["f1"] == 0.0
    assert "no actual positives" in none.metrics["signals"]["neighbours"]["note"]
    assert none.metrics["signals"]["neighbours"]["auc"] is None


def test_choose_signal_ties_go_to_the_first_listed() -> None:
    labels, candidates = _validation(40, 60)
    policy = choose_signal(labels, {"b": candidates["classifier"], "a": candidates["classifier"]})
    assert policy.signal == "b"
    with pytest.raises(ValueError, match="shape"):
        choose_signal(labels, {"a": candidates["classifier"][:5]})


def test_policy_round_trips_through_json() -> None:
    labels, candidates = _validation(40, 60)
    policy = choose_signal(labels, candidates)
    again = EscalationPolicy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert again == policy
    np.testing.assert_array_equal(again.decide_many([0.0, 0.55, 1.0]),
                                  [policy.decide(0.0), policy.decide(0.55), policy.decide(1.0)])


def test_classifier_reaches_the_optimum_and_separates_classes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    y = x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=300) > 1.0  # about 20% positive
    model = EmbeddingClassifier(l2=1.0).fit(x, y)
    prob = model.predict_proba(x)
    assert prob.shape == (300,) and np.all((prob > 0) & (prob < 1))
    assert roc_auc(y, prob) > 0.9
    # Stationarity of the penalised, class-weighted objective: the gradient vanishes.
    n, pos = len(y), int(y.sum())
    weight = np.where(y, n / (2 * pos), n / (2 * (n - pos)))
    residual = weight * (prob - y)
    np.testing.assert_allclose(x.T @ residual + 1.0 * model.weights, 0, atol=1e-6)
    assert abs(residual.sum()) < 1e-5
    # Balanced weights: each class carries half the weight, so the weighted mean is 1/2.
    assert (weight @ prob) / weight.sum() == pytest.approx(0.5, abs=1e-6)
    assert prob[y].mean() > 0.5 > prob[~y].mean()
    plain = EmbeddingClassifier(l2=1.0, balanced=False).fit(x, y).predict_proba(x)
    assert plain.mean() == pytest.approx(y.mean(), abs=0.02)


def test_classifier_round_trip_and_degenerate_labels() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3))
    model = EmbeddingClassifier(l2=0.5).fit(x, x[:, 0] > 0)
    again = EmbeddingClassifier.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(again.predict_proba(x), model.predict_proba(x))
    constant = EmbeddingClassifier().fit(x, np.zeros(50, dtype=bool))
    np.testing.assert_allclose(constant.predict_proba(x), 0.5 / 51)
    assert "one class only" in (constant.note or "")
    with pytest.raises(ValueError, match="not fitted"):
        EmbeddingClassifier().predict_proba(x)
