"""Reply-quality metrics: cosine, ROUGE-L, specificity@20 and the "acceptable" definition.

An **acceptable** suggestion has the right decision and, for replies, a cosine similarity of at
least 0.6 with the agent's actual message **and** is specific: at least as similar to its own
ticket's actual message as to each of 19 other tickets' actual messages (drawn with a fixed
seed; ties pass). Cosine alone rewards bland text; generic text cannot pass specificity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

ACCEPT_COSINE = 0.6
SPECIFICITY_K = 20
_TOKEN = re.compile(r"\w+", re.UNICODE)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (n, d) arrays (unit rows assumed; normalised defensively)."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.float32)
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return np.sum(a * b, axis=1)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 on lower-cased word tokens (longest common subsequence)."""
    c = _TOKEN.findall(candidate.lower())
    r = _TOKEN.findall(reference.lower())
    if not c or not r:
        return 0.0
    previous = [0] * (len(r) + 1)
    for token in c:
        current = [0]
        for j, ref_token in enumerate(r, start=1):
            current.append(previous[j - 1] + 1 if token == ref_token
                           else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(c), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def distractor_indices(n: int, k: int = SPECIFICITY_K, seed: int = 0) -> list[np.ndarray]:
    """For each of n items, up to k-1 other indices drawn without replacement (fixed seed)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        others = np.array([j for j in range(n) if j != i], dtype=int)
        take = min(k - 1, len(others))
        out.append(rng.choice(others, size=take, replace=False) if take else others)
    return out


def specificity(suggested: np.ndarray, actual: np.ndarray, k: int = SPECIFICITY_K,
                seed: int = 0) -> np.ndarray:
    """Boolean per item: suggestion at least as close to its own actual reply as to k-1 others.

    ``suggested`` and ``actual`` are (n, d) embeddings (unit rows). With a single item there is
    nothing to compare against and it passes.
    """
    n = len(suggested)
    sims = suggested @ actual.T
    passed = np.ones(n, dtype=bool)
    for i, others in enumerate(distractor_indices(n, k, seed)):
        if len(others):
            passed[i] = bool(np.all(sims[i, i] >= sims[i, others] - 1e-6))
    return passed


def acceptable(decision_correct: Sequence[bool], is_reply: Sequence[bool],
               cosine: np.ndarray, specific: np.ndarray,
               threshold: float = ACCEPT_COSINE) -> np.ndarray:
    """Right decision and, for replies, cosine ≥ threshold and specific.

    For an escalation the right decision is what counts: the hand-off text is secondary.
    """
    decision_correct = np.asarray(decision_correct, dtype=bool)
    is_reply = np.asarray(is_reply, dtype=bool)
    text_ok = (np.asarray(cosine) >= threshold) & np.asarray(specific, dtype=bool)
    return decision_correct & (~is_reply | text_ok)


def reply_quality(suggested_texts: Sequence[str], actual_texts: Sequence[str],
                  embed: Any, seed: int = 0,
                  actual_vectors: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-item cosine, ROUGE-L and specificity for suggested vs actual texts
    (``actual_vectors``: the actual texts' embeddings, when already computed)."""
    if not suggested_texts:
        empty = np.zeros(0)
        return {"cosine": empty, "rouge_l": empty, "specific": empty.astype(bool)}
    s = embed(list(suggested_texts))
    a = embed(list(actual_texts)) if actual_vectors is None else actual_vectors
    return {
        "cosine": cosine_rows(s, a),
        "rouge_l": np.array([rouge_l(x, y) for x, y in zip(suggested_texts, actual_texts)]),
        "specific": specificity(s, a, seed=seed),
    }
