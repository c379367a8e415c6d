"""Reply-quality metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.metrics import acceptable, cosine_rows, distractor_indices, rouge_l, specificity


def test_rouge_l_hand_computed() -> None:
    # LCS("the cat sat on the mat", "the cat is on the mat") = the cat on the mat = 5
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    assert rouge_l("", "anything") == 0.0
    assert rouge_l("a b", "c d") == 0.0
    # precision 2/2, recall 2/4 -> F1 = 2/3
    assert rouge_l("hello world", "hello big wide world") == pytest.approx(2 / 3)


def test_cosine_rows() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert cosine_rows(a, b) == pytest.approx([1 / np.sqrt(2), 1.0])
    assert cosine_rows(np.zeros((0, 2)), np.zeros((0, 2))).shape == (0,)


def test_specificity_ties_pass_and_generic_fails() -> None:
    actual = np.eye(3)
    own = np.eye(3)                             # each suggestion equals its own reply
    assert specificity(own, actual).tolist() == [True, True, True]
    generic = np.tile(np.ones(3) / np.sqrt(3), (3, 1))  # same text for all: all ties -> pass
    assert specificity(generic, actual).tolist() == [True, True, True]
    wrong = actual[[1, 2, 0]]                   # each suggestion equals another ticket's reply
    assert specificity(wrong, actual).tolist() == [False, False, False]
    assert specificity(np.eye(1), np.eye(1)).tolist() == [True]


def test_specificity_uses_at_most_19_distractors_fixed_seed() -> None:
    draws = distractor_indices(50, k=20, seed=3)
    assert all(len(d) == 19 and i not in d for i, d in enumerate(draws))
    assert [d.tolist() for d in draws] == [d.tolist() for d in distractor_indices(50, 20, 3)]


def test_acceptable_definition() -> None:
    result = acceptable(decision_correct=[True, True, True, False, True],
                        is_reply=[True, True, True, True, False],
                        cosine=np.array([0.7, 0.59, 0.9, 0.9, 0.1]),
                        specific=np.array([True, True, False, True, False]))
    assert result.tolist() == [True, False, False, False, True]
