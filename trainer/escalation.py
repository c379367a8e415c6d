"""The escalate decision: candidate signals, threshold choice on validation, the policy.

Every signal gives each example a score in [0, 1] ("how much this looks like a hand-off"):

* ``neighbour_score`` — similarity-weighted escalation rate of the k most similar past
  resolutions (hits from ``trainer.retrieval.ResolutionIndex.search``);
* ``EmbeddingClassifier`` — class-weighted L2 logistic regression on context embeddings;
* the adapter's own p(escalate), read from the logits by the caller.

``choose_signal`` picks the signal and threshold with the best escalation F1 on the
validation slice — but only when the slice holds at least ``min_positives`` escalations and
as many non-escalations. With fewer, a threshold tuned on a handful of cases is noise, so it
falls back to ``DEFAULT_THRESHOLD`` (0.5) on the fallback signal: for the neighbour score that
reads "most of the similar past tickets were escalated"; for the balanced classifier and the
adapter it is their own decision boundary. The policy records which path was taken and why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SIGNAL_NEIGHBOURS = "neighbours"
SIGNAL_CLASSIFIER = "classifier"
SIGNAL_ADAPTER = "adapter"
DEFAULT_THRESHOLD = 0.5
MIN_POSITIVES = 30


@dataclass(frozen=True)
class BinaryScores:
    """Precision, recall and F1 of the positive (escalate) class, with the confusion counts.

    Zero divisions are reported as 0.0 and explained in ``note``: no predicted positives gives
    precision 0.0; no actual positives gives recall 0.0 and F1 0.0 (even when nothing was
    predicted, since there was nothing to find — the slice cannot measure escalation).
    """

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return dict(self.__dict__)


def f1_precision_recall(labels: Sequence[bool] | np.ndarray,
                        predictions: Sequence[bool] | np.ndarray) -> BinaryScores:
    """Escalation precision/recall/F1 of boolean predictions against boolean labels."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(predictions, dtype=bool)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and predictions {p.shape} must be equal 1-D shapes")
    tp = int(np.sum(y & p))
    fp = int(np.sum(~y & p))
    fn = int(np.sum(y & ~p))
    tn = int(np.sum(~y & ~p))
    notes = []
    if tp + fp == 0:
        notes.append("no predicted positives: precision reported as 0.0")
    if tp + fn == 0:
        notes.append("no actual positives: recall and F1 undefined, reported as 0.0")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fn else 0.0
    return BinaryScores(precision, recall, f1, tp, fp, fn, tn, "; ".join(notes) or None)


def roc_auc(labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count one half); nan with one class."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be equal 1-D shapes")
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    start = 0
    while start < len(s):
        end = start
        while end + 1 < len(s) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    u = ranks[y].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def neighbour_score(hits: Sequence[Sequence[Any]], empty_score: float = 0.0) -> np.ndarray:
    """Similarity-weighted escalation rate of each query's neighbours, in [0, 1].

    ``hits`` is ``ResolutionIndex.search`` output (objects with ``.score`` and
    ``.record.escalated``). Weights are the cosine similarities clipped at 0; when they are
    all 0 the neighbours count equally; a query with no neighbours gets ``empty_score``.
    """
    out = np.full(len(hits), float(empty_score), dtype=np.float64)
    for i, row in enumerate(hits):
        if not row:
            continue
        weights = np.array([max(h.score, 0.0) for h in row], dtype=np.float64)
        outcomes = np.array([bool(h.record.escalated) for h in row], dtype=np.float64)
        if weights.sum() <= 0:
            weights = np.ones_like(weights)
        out[i] = float(weights @ outcomes / weights.sum())
    return out


class EmbeddingClassifier:
    """Class-weighted logistic regression with an L2 penalty, fitted by Newton's method.

    Minimises Σ wᵢ·logloss(yᵢ, σ(xᵢ·β + b)) + ½·l2·‖β‖² (the bias is not penalised). With
    ``balanced=True`` each class carries half of the total weight, so 0.5 is the decision
    boundary between the classes regardless of the escalation rate.
    """

    def __init__(self, l2: float = 1.0, balanced: bool = True, max_iter: int = 50,
                 tol: float = 1e-6) -> None:
        if l2 < 0:
            raise ValueError(f"l2 must be non-negative, got {l2}")
        self.l2 = float(l2)
        self.balanced = balanced
        self.max_iter = max_iter
        self.tol = tol
        self.weights: np.ndarray | None = None
        self.bias = 0.0
        self.note: str | None = None

    def fit(self, features: Any, labels: Sequence[bool] | np.ndarray) -> EmbeddingClassifier:
        """Fit on an (n, d) feature array and n boolean labels; returns self."""
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(labels, dtype=bool)
        if x.ndim != 2 or y.shape != (len(x),):
            raise ValueError(f"features {x.shape} and labels {y.shape} do not match")
        positives, n = int(y.sum()), len(y)
        self.weights = np.zeros(x.shape[1])
        if positives in (0, n):
            self.bias = math.log((positives + 0.5) / (n - positives + 0.5))
            self.note = "one class only: constant predictor at the smoothed base rate"
            return self
        sample_weight = np.ones(n)
        if self.balanced:
            sample_weight = np.where(y, n / (2 * positives), n / (2 * (n - positives)))
        design = np.hstack([x, np.ones((n, 1))])
        beta = np.zeros(design.shape[1])
        penalty = np.full(design.shape[1], self.l2)
        penalty[-1] = 1e-8
        target = y.astype(np.float64)
        loss = self._loss(design, target, sample_weight, beta, penalty)
        for _ in range(self.max_iter):
            prob = _sigmoid(design @ beta)
            gradient = design.T @ (sample_weight * (prob - target)) + penalty * beta
            curvature = sample_weight * prob * (1 - prob)
            hessian = (design.T * curvature) @ design + np.diag(penalty)
            step = np.linalg.solve(hessian, gradient)
            scale = 1.0
            while True:
                candidate = beta - scale * step
                new_loss = self._loss(design, target, sample_weight, candidate, penalty)
                if new_loss <= loss or scale < 1e-4:
                    break
                scale /= 2
            if new_loss > loss:
                break
            beta, loss = candidate, new_loss
            if np.max(np.abs(scale * step)) < self.tol:
                break
        self.weights, self.bias = beta[:-1], float(beta[-1])
        self.note = None
        return self

    @staticmethod
    def _loss(design: np.ndarray, target: np.ndarray, sample_weight: np.ndarray,
              beta: np.ndarray, penalty: np.ndarray) -> float:
        logits = design @ beta
        logloss = np.logaddexp(0.0, logits) - target * logits
        return float(sample_weight @ logloss + 0.5 * penalty @ (beta * beta))

    def predict_proba(self, features: Any) -> np.ndarray:
        """p(escalate) for each row of an (n, d) feature array, shape (n,)."""
        if self.weights is None:
            raise ValueError("EmbeddingClassifier is not fitted")
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.weights):
            raise ValueError(f"expected (n, {len(self.weights)}) features, got {x.shape}")
        return _sigmoid(x @ self.weights + self.bias)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the hyper-parameters and the fitted coefficients."""
        if self.weights is None:
            raise ValueError("EmbeddingClassifier is not fitted")
        return {"l2": self.l2, "balanced": self.balanced, "max_iter": self.max_iter,
                "tol": self.tol, "weights": [float(w) for w in self.weights],
                "bias": self.bias, "note": self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddingClassifier:
        """Rebuild a fitted classifier from :meth:`to_dict` output."""
        model = cls(l2=data["l2"], balanced=data["balanced"], max_iter=data["max_iter"],
                    tol=data["tol"])
        model.weights = np.asarray(data["weights"], dtype=np.float64)
        model.bias = float(data["bias"])
        model.note = data.get("note")
        return model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)


@dataclass(frozen=True)
class EscalationPolicy:
    """Escalate when the chosen signal's score reaches the threshold."""

    signal: str
    threshold: float
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def decide(self, score: float) -> bool:
        """True when this score means escalate."""
        return bool(score >= self.threshold)

    def decide_many(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """Boolean escalate decisions for an array of scores."""
        return np.asarray(scores, dtype=np.float64) >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"signal": self.signal, "threshold": self.threshold, "metrics": self.metrics,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EscalationPolicy:
        """Rebuild a policy from :meth:`to_dict` output."""
        return cls(signal=str(data["signal"]), threshold=float(data["threshold"]),
                   metrics=dict(data.get("metrics", {})), reason=str(data.get("reason", "")))


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, BinaryScores]:
    """The threshold maximising F1 of ``score >= threshold``, and its scores.

    Candidates are the distinct scores; the returned threshold sits halfway between the winning
    score and the next lower distinct score (same validation predictions, a margin for new
    data). Ties go to the higher threshold (fewer escalations).
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    distinct = np.unique(s)[::-1]
    order = np.argsort(-s, kind="mergesort")
    cumulative_tp = np.cumsum(y[order])
    # predicted positives at threshold t = number of scores >= t
    counts = np.searchsorted(-s[order], -distinct, side="right")
    tp = cumulative_tp[counts - 1]
    fp = counts - tp
    fn = int(y.sum()) - tp
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    best = int(np.argmax(f1))
    threshold = float(distinct[best])
    if best + 1 < len(distinct):
        threshold = float((distinct[best] + distinct[best + 1]) / 2)
    return threshold, f1_precision_recall(y, s >= threshold)


def choose_signal(val_labels: Sequence[bool] | np.ndarray,
                  candidate_scores: Mapping[str, Sequence[float] | np.ndarray],
                  min_positives: int = MIN_POSITIVES,
                  fallback_signal: str = SIGNAL_NEIGHBOURS,
                  fallback_threshold: float = DEFAULT_THRESHOLD,
                  population: str = "validation") -> EscalationPolicy:
    """Pick the signal and threshold with the best validation escalation F1.

    Tunes only when the validation slice has at least ``min_positives`` escalations and at
    least as many non-escalations; otherwise returns ``fallback_signal`` (or the first
    candidate when it is absent) at ``fallback_threshold``. Either way ``metrics`` holds each
    signal's validation AUC and F1 at the threshold it would get, and ``reason`` says why
    (naming the scored tickets ``population``, e.g. "out-of-sample training-window").
    F1 ties between signals go to the one listed first.
    """
    if not candidate_scores:
        raise ValueError("candidate_scores is empty")
    y = np.asarray(val_labels, dtype=bool)
    scores = {name: np.asarray(s, dtype=np.float64) for name, s in candidate_scores.items()}
    for name, s in scores.items():
        if s.shape != y.shape:
            raise ValueError(f"signal {name!r} has shape {s.shape}, labels have {y.shape}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"signal {name!r} has non-finite scores")
    positives, negatives = int(y.sum()), int((~y).sum())
    can_tune = positives >= min_positives and negatives >= min_positives
    metrics: dict[str, Any] = {"validation_size": len(y), "positives": positives,
                               "tuned": can_tune, "signals": {}}
    best_name, best_f1, best_threshold_value = None, -1.0, fallback_threshold
    for name, s in scores.items():
        auc = roc_auc(y, s)
        threshold = fallback_threshold
        if can_tune:
            threshold, result = best_threshold(y, s)
        else:
            result = f1_precision_recall(y, s >= threshold)
        metrics["signals"][name] = {"threshold": threshold,
                                    "auc": None if math.isnan(auc) else auc, **result.to_dict()}
        if can_tune and result.f1 > best_f1:
            best_name, best_f1, best_threshold_value = name, result.f1, threshold
    if can_tune and best_name is not None:
        reason = (f"tuned on {positives} {population} escalations: {best_name!r} has the best "
                  f"F1 ({best_f1:.3f}) at threshold {best_threshold_value:.3f}")
        return EscalationPolicy(best_name, best_threshold_value, metrics, reason)
    name = fallback_signal if fallback_signal in scores else next(iter(scores))
    reason = (f"the {population} tickets hold {positives} escalations and {negatives} "
              f"non-escalations (fewer than {min_positives} of one class): no threshold tuned; default "
              f"{name!r} at {fallback_threshold}")
    if name != fallback_signal:
        reason += f" ({fallback_signal!r} was not among the candidates)"
    return EscalationPolicy(name, fallback_threshold, metrics, reason)
