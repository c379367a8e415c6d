"""Scoring suggestions against what the agents actually did: the accuracy preview's numbers.

Every method (CloneDesk and each baseline) yields one :class:`Prediction` per scored ticket:
a decision (``reply`` | ``escalate``), a text in placeholder form and a confidence. Each is
compared with the ticket's actual last agent message (the resolving reply or the hand-off):

* **decision**: accuracy; escalation precision, recall and F1 (the rare class);
* **reply quality**: cosine of all-MiniLM-L6-v2 embeddings (mean and distribution), ROUGE-L,
  and specificity@20 (``trainer.metrics``): generic text cannot pass it;
* **acceptable** = the right decision and, for replies, cosine ≥ 0.6 and specific; the same
  for cosine thresholds 0.5–0.8 (``acceptable_curve``);
* **confidence**: reliability bins and expected calibration error against *acceptable*; the
  coverage–precision curve; the lowest threshold whose suggestions at or above it are ≥ 90%
  acceptable (``threshold_90``), and the **projected automated-resolution rate** = the share of
  all scored tickets that are at or above it *and* acceptable. That threshold is read off the
  scored tickets themselves — an in-sample, optimistic reading — so the report also gives the
  honest out-of-sample reading for CloneDesk: the share with *calibrated* confidence ≥ 0.9
  (calibrated on the validation slice, never these tickets) and how many of them were right.

"No escalation" is not "resolved": a suggestion that does not escalate counts as automated
only when it is acceptable. Everything is computed overall and per category (the 8 largest
categories, the rest as "other"), with counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.calibration import expected_calibration_error, reliability_bins
from trainer.escalation import f1_precision_recall, roc_auc
from trainer.metrics import ACCEPT_COSINE, acceptable, reply_quality
from trainer.split import evenly

TARGET_PRECISION = 0.9
COSINE_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
TOP_CATEGORIES = 8
OTHER = "other"
NO_CATEGORY = "(none)"
HISTOGRAM_BINS = 10
CURVE_POINTS = 60


@dataclass(frozen=True)
class Prediction:
    """One method's suggestion for one ticket, as scored."""

    action: str                 # "reply" | "escalate"
    text: str                   # placeholder form ("" when there is none)
    confidence: float           # what the method would threshold on (calibrated for CloneDesk)
    raw_confidence: float | None = None
    format_ok: bool = True


@dataclass(frozen=True)
class Truth:
    """What the agent actually did at the scored message."""

    action: str
    text: str
    category: str | None


def predictions_from_drafts(drafts: Sequence[Any]) -> list[Prediction]:
    """Predictions of ``trainer.suggest.Draft`` objects (calibrated confidence)."""
    return [Prediction(d.suggestion.action, d.text, d.suggestion.confidence,
                       d.suggestion.raw_confidence, d.suggestion.format_ok) for d in drafts]


def truths_from_examples(examples: Sequence[Any]) -> list[Truth]:
    """Truths of scoring examples (``trainer.curate.scoring_example``)."""
    out = []
    for e in examples:
        if e.decision is None:
            raise ValueError(f"ticket {e.ticket_id} has no agent message to score against")
        out.append(Truth(e.decision.action, e.decision.reply, e.context.category))
    return out


def score(predictions: Sequence[Prediction], truths: Sequence[Truth],
          embed: Callable[[list[str]], np.ndarray], seed: int = 0,
          truth_vectors: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-ticket arrays: decisions, reply quality, acceptability and confidences.

    ``truth_vectors`` are the truths' embeddings when already computed (several methods are
    scored against the same truths)."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} tickets")
    correct = np.array([p.action == t.action for p, t in zip(predictions, truths)], dtype=bool)
    is_reply = np.array([t.action == "reply" for t in truths], dtype=bool)
    quality = reply_quality([p.text or "-" for p in predictions], [t.text for t in truths],
                            embed, seed=seed, actual_vectors=truth_vectors)
    return {
        "decision_correct": correct,
        "is_reply": is_reply,
        "escalate_true": ~is_reply,
        "escalate_pred": np.array([p.action == "escalate" for p in predictions], dtype=bool),
        "acceptable": acceptable(correct, is_reply, quality["cosine"], quality["specific"]),
        "confidence": np.array([p.confidence for p in predictions], dtype=np.float64),
        "raw_confidence": np.array([np.nan if p.raw_confidence is None else p.raw_confidence
                                    for p in predictions], dtype=np.float64),
        "format_ok": np.array([p.format_ok for p in predictions], dtype=bool),
        **quality,
    }


def coverage_precision(confidence: np.ndarray, ok: np.ndarray) -> list[dict[str, float]]:
    """Points of the coverage–precision curve, one per distinct confidence (high to low).

    At threshold t: coverage = share of tickets with confidence ≥ t, precision = share of
    those that are acceptable, automated = share of all tickets at or above t and acceptable.
    """
    n = len(confidence)
    if n == 0:
        return []
    order = np.argsort(-confidence, kind="mergesort")
    hits = np.cumsum(ok[order])
    distinct = np.unique(confidence)[::-1]
    counts = np.searchsorted(-confidence[order], -distinct, side="right")
    return [{"threshold": float(t), "coverage": float(c / n),
             "precision": float(hits[c - 1] / c), "automated": float(hits[c - 1] / n)}
            for t, c in zip(distinct, counts)]


def threshold_for_precision(curve: Sequence[Mapping[str, float]],
                            target: float = TARGET_PRECISION) -> dict[str, Any]:
    """The lowest threshold whose coverage reaches ``target`` precision (most automation).

    None when no threshold does: then nothing would be sent automatically.
    """
    passing = [p for p in curve if p["precision"] >= target]
    if not passing:
        return {"threshold": None, "coverage": 0.0, "precision": None,
                "projected_automated_resolution_rate": 0.0}
    best = max(passing, key=lambda p: (p["automated"], -p["threshold"]))
    return {"threshold": best["threshold"], "coverage": best["coverage"],
            "precision": best["precision"],
            "projected_automated_resolution_rate": best["automated"]}


def _histogram(values: np.ndarray) -> list[int]:
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return [int(c) for c in counts]


def metrics(scored: Mapping[str, np.ndarray], rows: np.ndarray | None = None,
            curves: bool = True) -> dict[str, Any]:
    """All preview numbers for the tickets ``rows`` (default: all) of one method."""
    s = {k: (v if rows is None else v[rows]) for k, v in scored.items()}
    n = len(s["acceptable"])
    if n == 0:
        return {"tickets": 0}
    ok = s["acceptable"]
    conf = np.clip(s["confidence"], 0.0, 1.0)
    curve = coverage_precision(conf, ok)
    esc = f1_precision_recall(s["escalate_true"], s["escalate_pred"])
    reply_rows = s["is_reply"]
    cos = s["cosine"]
    auc = roc_auc(ok, conf)
    out: dict[str, Any] = {
        "tickets": n,
        "actual_escalations": int(s["escalate_true"].sum()),
        "decision_accuracy": float(s["decision_correct"].mean()),
        "escalation": esc.to_dict(),
        "suggested_escalations": int(s["escalate_pred"].sum()),
        "not_escalated_rate": float((~s["escalate_pred"]).mean()),
        "acceptable_rate": float(ok.mean()),
        "acceptable": int(ok.sum()),
        "acceptable_curve": {
            f"{t:.2f}": float(acceptable(s["decision_correct"], reply_rows, cos,
                                         s["specific"], threshold=t).mean())
            for t in COSINE_THRESHOLDS},
        "reply_quality": {
            "replies_scored": int(reply_rows.sum()),
            "mean_cosine": float(cos.mean()),
            "cosine_quantiles": {q: float(np.quantile(cos, float(q))) for q in
                                 ("0.1", "0.25", "0.5", "0.75", "0.9")},
            "cosine_histogram": _histogram(cos),
            "mean_rouge_l": float(s["rouge_l"].mean()),
            "specific_rate": float(s["specific"].mean()),
        },
        "confidence": {
            "ece": expected_calibration_error(conf, ok),
            "auc_acceptable": None if np.isnan(auc) else float(auc),
            "mean": float(conf.mean()),
        },
        "malformed": int((~s["format_ok"]).sum()),
        **threshold_for_precision(curve),
    }
    calibrated_high = conf >= TARGET_PRECISION
    out["calibrated_at_0.9"] = {
        "share": float(calibrated_high.mean()),
        "precision": float(ok[calibrated_high].mean()) if calibrated_high.any() else None,
        "automated": float((calibrated_high & ok).mean()),
    }
    if curves:
        out["coverage_precision"] = evenly(curve, CURVE_POINTS)
        out["reliability"] = [b.__dict__ for b in reliability_bins(conf, ok)]
    return out


def category_labels(categories: Sequence[str | None],
                    top: int = TOP_CATEGORIES) -> list[str]:
    """Each ticket's reporting category: one of the ``top`` largest, else "other"."""
    names = [c if c else NO_CATEGORY for c in categories]
    largest = {c for c, _ in sorted(Counter(names).items(), key=lambda kv: (-kv[1], kv[0]))[:top]}
    return [c if c in largest else OTHER for c in names]


def evaluate(methods: Mapping[str, Sequence[Prediction]], truths: Sequence[Truth],
             embed: Callable[[list[str]], np.ndarray], seed: int = 0,
             primary: str | None = None) -> dict[str, Any]:
    """Score every method on the same tickets; overall, per category, and the lift of
    ``primary`` (default: the first method) over each of the others."""
    if not methods:
        raise ValueError("no methods to evaluate")
    primary = primary or next(iter(methods))
    labels = np.array(category_labels([t.category for t in truths]), dtype=object)
    order = [c for c, _ in Counter(labels.tolist()).most_common() if c != OTHER]
    if OTHER in set(labels.tolist()):
        order.append(OTHER)
    truth_vectors = embed([t.text for t in truths])
    results: dict[str, Any] = {}
    for name, predictions in methods.items():
        scored = score(predictions, truths, embed, seed, truth_vectors)
        results[name] = {
            "overall": metrics(scored),
            "by_category": {c: metrics(scored, labels == c, curves=False) for c in order},
            "per_ticket": {
                "action": ["escalate" if e else "reply" for e in scored["escalate_pred"]],
                "acceptable": scored["acceptable"].tolist(),
                "cosine": [round(float(c), 4) for c in scored["cosine"]],
                "specific": scored["specific"].tolist(),
                "confidence": [round(float(c), 4) for c in scored["confidence"]],
            },
        }
    head = results[primary]["overall"]
    lift = {}
    for name, result in results.items():
        if name == primary:
            continue
        other = result["overall"]
        lift[name] = {
            "acceptable_rate": head["acceptable_rate"] - other["acceptable_rate"],
            "projected_automated_resolution_rate":
                head["projected_automated_resolution_rate"]
                - other["projected_automated_resolution_rate"],
            "decision_accuracy": head["decision_accuracy"] - other["decision_accuracy"],
            "escalation_f1": head["escalation"]["f1"] - other["escalation"]["f1"],
        }
    return {
        "tickets": len(truths),
        "categories": {c: int((labels == c).sum()) for c in order},
        "primary": primary,
        "methods": results,
        "lift": lift,
        "definitions": {
            "acceptable": f"right decision and, for replies, cosine >= {ACCEPT_COSINE} with the "
                          "agent's actual reply and specific@20",
            "projected_automated_resolution_rate":
                f"share of scored tickets whose confidence is at or above the lowest threshold "
                f"reaching {TARGET_PRECISION:.0%} precision of acceptable suggestions and that "
                "are acceptable (threshold read off these tickets: in-sample)",
            "calibrated_at_0.9": "share of tickets whose validation-calibrated confidence is "
                                 ">= 0.9, and their precision (out-of-sample)",
            "not_escalated_rate": "share of suggestions that did not escalate; not a "
                                  "resolution rate",
        },
    }
