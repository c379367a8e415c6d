"""Escalation signals on real data: neighbour score (k = 5, 10, 20) and the embedding classifier.

Ticket-level task: the query is the customer text before the ticket's last agent message, the
label is ``ticket.escalated``. Split by file order (neither dataset has timestamps): holdout =
newest 20%, validation = newest 10% of the rest, train = the remainder. The index and the
classifier see only train; ``choose_signal`` sees only validation (and refuses to tune a
threshold on fewer than 30 escalations); the holdout is only scored.

Besides the policy's numbers it prints two diagnostics, labelled as such: thresholds tuned on
validation regardless of the 30-positive rule, and thresholds tuned on leave-one-out neighbour
scores over the whole training window (each train ticket scored with itself excluded). bitext
is sorted by intent, so its file-order holdout holds no escalation; a seeded shuffle of it is
reported as a supplementary split.

    .venv/bin/python benchmarks/escalation_signals.py

Prints the numbers and writes benchmarks/results/escalation_signals.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from trainer.embeddings import EMBEDDING_PACKAGE, Embedder
from trainer.escalation import (
    EmbeddingClassifier,
    best_threshold,
    choose_signal,
    f1_precision_recall,
    neighbour_score,
    roc_auc,
)
from trainer.interaction import read_jsonl
from trainer.retrieval import (
    ResolutionIndex,
    ResolutionRecord,
    encode_texts,
    record_from_ticket,
)

RESULTS = Path(__file__).with_name("results")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "canonical"
KS = (5, 10, 20)
FALLBACK = "neighbours_k10"


def split(n: int) -> tuple[slice, slice, slice]:
    """File-order split: train, validation (newest 10% of the rest), holdout (newest 20%)."""
    holdout = math.floor(n * 0.2 + 0.5)  # rounded half up, as trainer.split does
    rest = n - holdout
    validation = math.floor(rest * 0.1 + 0.5)
    return slice(0, rest - validation), slice(rest - validation, rest), slice(rest, n)


def scores_for(index: ResolutionIndex, records: list[ResolutionRecord], vectors: np.ndarray,
               classifier: EmbeddingClassifier, exclude_self: bool = True) -> dict[str, np.ndarray]:
    """Every candidate signal's score for these records."""
    out = {}
    categories = [r.category for r in records]
    own = [r.ticket_id for r in records] if exclude_self else None
    for k in KS:
        hits = index.search(vectors, k=k, category=categories, exclude_ticket_ids=own)
        out[f"neighbours_k{k}"] = neighbour_score(hits)
    out["classifier"] = classifier.predict_proba(vectors)
    return out


def holdout_table(labels: np.ndarray, scores: dict[str, np.ndarray],
                  thresholds: dict[str, float]) -> dict[str, Any]:
    """F1/precision/recall at the given thresholds, plus AUC, for each signal on the holdout."""
    table = {}
    for name, s in scores.items():
        result = f1_precision_recall(labels, s >= thresholds[name])
        auc = roc_auc(labels, s)
        table[name] = {"threshold": thresholds[name], "auc": None if np.isnan(auc) else auc,
                       **result.to_dict()}
    return table


def evaluate(name: str, tickets: list[Any], embedder: Embedder) -> dict[str, Any]:
    """Run the whole protocol on one ordered list of tickets."""
    records = [r for r in map(record_from_ticket, tickets) if r is not None]
    train_s, val_s, hold_s = split(len(records))
    started = time.perf_counter()
    vectors = encode_texts(embedder, [r.query_text for r in records])
    embed_s = time.perf_counter() - started
    labels = np.array([r.escalated for r in records])
    train, val, hold = records[train_s], records[val_s], records[hold_s]
    # Reply vectors only serve medoid_reply; escalation needs none, so the query vectors stand in.
    index = ResolutionIndex(train, vectors[train_s], vectors[train_s], embedder)
    classifier = EmbeddingClassifier(l2=1.0).fit(vectors[train_s], labels[train_s])

    val_scores = scores_for(index, val, vectors[val_s], classifier)
    hold_scores = scores_for(index, hold, vectors[hold_s], classifier)
    policy = choose_signal(labels[val_s], val_scores, fallback_signal=FALLBACK)
    policy_thresholds = {n: m["threshold"] for n, m in policy.metrics["signals"].items()}
    hold_labels = labels[hold_s]

    forced = choose_signal(labels[val_s], val_scores, min_positives=1, fallback_signal=FALLBACK)
    forced_thresholds = {n: m["threshold"] for n, m in forced.metrics["signals"].items()}
    # Leave-one-out over the training window: neighbours of each train ticket, itself excluded.
    loo = {n: s for n, s in scores_for(index, train, vectors[train_s], classifier).items()
           if n.startswith("neighbours")}
    loo_thresholds = {n: best_threshold(labels[train_s], s)[0] for n, s in loo.items()}
    hold_rate = float(hold_labels.mean())
    return {
        "dataset": name,
        "tickets": len(tickets),
        "records": len(records),
        "sizes": {"train": len(train), "validation": len(val), "holdout": len(hold)},
        "positives": {"train": int(labels[train_s].sum()), "validation": int(labels[val_s].sum()),
                      "holdout": int(hold_labels.sum())},
        "embedding_seconds": round(embed_s, 1),
        "policy": policy.to_dict(),
        "holdout_policy": holdout_table(hold_labels, {policy.signal: hold_scores[policy.signal]},
                                        {policy.signal: policy.threshold})[policy.signal],
        "holdout_at_policy_thresholds": holdout_table(hold_labels, hold_scores, policy_thresholds),
        "always_escalate_f1": 2 * hold_rate / (1 + hold_rate) if hold_rate else 0.0,
        "diagnostic_tuned_on_validation_ignoring_min_positives": {
            "chosen": forced.signal,
            "holdout": holdout_table(hold_labels, hold_scores, forced_thresholds)},
        "diagnostic_tuned_on_train_leave_one_out": {
            "train_positives": int(labels[train_s].sum()),
            "holdout": holdout_table(hold_labels, {n: hold_scores[n] for n in loo},
                                     loo_thresholds)},
    }


def show(result: dict[str, Any]) -> None:
    """Print one dataset's numbers."""
    print(f"\n== {result['dataset']}: {result['records']} tickets, sizes {result['sizes']}, "
          f"escalations {result['positives']}")
    print(f"policy: {result['policy']['signal']} >= {result['policy']['threshold']:.3f} "
          f"({result['policy']['reason']})")
    hp = result["holdout_policy"]
    print(f"policy on holdout: F1 {hp['f1']:.3f} P {hp['precision']:.3f} R {hp['recall']:.3f}"
          f"{'  [' + hp['note'] + ']' if hp['note'] else ''}")
    print(f"reference: always escalate F1 {result['always_escalate_f1']:.3f}")
    sections = [
        ("at the policy's thresholds", result["holdout_at_policy_thresholds"]),
        ("DIAGNOSTIC thresholds tuned on validation despite <30 positives",
         result["diagnostic_tuned_on_validation_ignoring_min_positives"]["holdout"]),
        ("DIAGNOSTIC thresholds tuned on train leave-one-out neighbours",
         result["diagnostic_tuned_on_train_leave_one_out"]["holdout"]),
    ]
    for title, table in sections:
        print(f"  holdout, {title}:")
        for name, m in table.items():
            auc = "n/a" if m["auc"] is None else f"{m['auc']:.3f}"
            print(f"    {name:15s} thr {m['threshold']:.3f}  F1 {m['f1']:.3f}  "
                  f"P {m['precision']:.3f}  R {m['recall']:.3f}  AUC {auc}")


def main() -> None:
    """Run both datasets and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of canonical JSONL")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bitext shuffle")
    args = parser.parse_args()
    embedder = Embedder()
    tweetsumm = list(read_jsonl(str(args.data / "tweetsumm.jsonl")))
    bitext = list(read_jsonl(str(args.data / "bitext.jsonl")))
    shuffled = list(bitext)
    random.Random(args.seed).shuffle(shuffled)
    results = [evaluate("tweetsumm (file order)", tweetsumm, embedder),
               evaluate("bitext (file order)", bitext, embedder),
               evaluate(f"bitext (shuffled, seed {args.seed}; supplementary)", shuffled, embedder)]
    for result in results:
        show(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "escalation_signals.json"
    out.write_text(json.dumps({
        "date": date.today().isoformat(), "python": platform.python_version(),
        "embedder": EMBEDDING_PACKAGE, "classifier": {"l2": 1.0, "balanced": True},
        "ks": list(KS), "fallback_signal": FALLBACK, "results": results,
    }, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
