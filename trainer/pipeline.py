"""One account's training run: tickets → curated, retrieval-augmented examples → LoRA adapter →
escalation policy, default mode and calibration chosen on validation → a registered version.

Splits (``trainer.split``): holdout = the newest 20% of the account's tickets (never read
here beyond recording its ids); validation = the newest 10% of the rest; fit = the remainder.

* The adapter trains on the curated **fit** examples. Each prompt carries the replies of the
  ``rag_k`` most similar *other* fit tickets (same category when it has enough) — except a
  seeded ``rag_dropout`` share trained without them, so one adapter serves both the
  ``adapter_rag`` and the ``adapter`` modes.
* Escalation: every training-window ticket with an agent message is a ticket-level record
  (label = ``escalated``). Each is scored out of sample — its neighbours with itself left out,
  the embedding classifier by 5-fold cross-fitting — and ``choose_signal`` picks the signal
  and threshold on those scores (tuned only with ≥ 30 escalations, else the neighbours at
  0.5). Cross-validation over the training window gives far more positives than its newest
  10% alone (TweetSumm: 148 against 17), and the holdout is never touched.
* Mode and calibration: the validation tickets are scored at their last agent message in all
  three modes against a retrieval index of the fit examples only. The mode with the most
  *acceptable* suggestions wins (an adapter mode must beat ``retrieval`` strictly, on at
  least ``MIN_MODE_REPLY_TICKETS`` answered tickets: the adapter earns its place); a
  calibrator is fitted per mode on (raw confidence, acceptable).
* The served retrieval index then covers the whole training window (fit + validation).

The registered folder holds the PEFT adapter, ``retrieval.{npz,json}`` (example-level),
``escalation.{npz,json}`` (ticket-level) and ``clonedesk.json``: base model id and hash, data
window, split ids, counts, curation report, config, training result, policy, calibrators,
mode and validation metrics.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from trainer import base_model
from trainer.adapt import rag_context
from trainer.calibration import expected_calibration_error, fit_calibrator
from trainer.config import TrainConfig
from trainer.curate import Curation, Example, curate, scoring_examples
from trainer.device import release_free_memory
from trainer.embeddings import MemoizedEncoder
from trainer.escalation import (
    SIGNAL_CLASSIFIER,
    SIGNAL_NEIGHBOURS,
    EmbeddingClassifier,
    choose_signal,
    f1_precision_recall,
    neighbour_score,
    roc_auc,
)
from trainer.evaluate import predictions_from_drafts, score, truths_from_examples
from trainer.inference import AdapterRef, LocalBackend
from trainer.interaction import Ticket
from trainer.prompt import Context, Decision
from trainer.redact import redact_ticket
from trainer.registry import AdapterRegistry
from trainer.retrieval import (
    ResolutionIndex,
    encode_texts,
    query_text_for,
    record_from_example,
    record_from_ticket,
)
from trainer.split import Split, holdout_split, time_order, validation_split, window
from trainer.suggest import (
    ESCALATION_FILE,
    MAX_NEW_TOKENS,
    MODES,
    NEIGHBOUR_K,
    RAG_K,
    RETRIEVAL_FILE,
    Account,
    Draft,
    Suggester,
    token_counter,
)
from trainer.train import TrainProgress, TrainResult, train_adapter

HOLDOUT_FRACTION = 0.2
VALIDATION_FRACTION = 0.1
CLASSIFIER_FOLDS = 5
MIN_CLASSIFIER_POSITIVES = 10
MIN_MODE_REPLY_TICKETS = 20   # answered validation tickets needed to prefer an adapter mode


@dataclass(frozen=True)
class PipelineOptions:
    """Choices of the account pipeline around the LoRA run (recorded with the adapter)."""

    rag_k: int = RAG_K
    rag_dropout: float = 0.2
    max_validation_tickets: int = 100
    max_new_tokens: int = MAX_NEW_TOKENS
    seed: int = 0


@dataclass(frozen=True)
class AccountRun:
    """What one ``train_account`` call produced."""

    version: str
    promoted: bool
    metadata: dict[str, Any]
    train: TrainResult


class NotEnoughData(ValueError):
    """The account has too few usable tickets to train on."""


def rag_examples(examples: Sequence[Example], index: ResolutionIndex, k: int,
                 dropout: float = 0.0, seed: int = 0) -> list[Example]:
    """Examples whose contexts carry the replies of the k most similar *other* tickets,
    adapted to each example's ticket exactly as at suggestion time (``rag_context``)."""
    if not examples:
        return []
    hits = index.search([query_text_for(e.context.messages) for e in examples], k=k,
                        category=[e.context.category for e in examples],
                        exclude_ticket_ids=[e.ticket_id for e in examples])
    out = []
    for example, row in zip(examples, hits):
        rng = random.Random(f"{seed}:{example.ticket_id}:{example.position}")
        if rng.random() < dropout:
            out.append(example)
            continue
        out.append(replace(example, context=rag_context(example.context, row)))
    return out


def escalation_candidates(index: ResolutionIndex, vectors: np.ndarray, labels: np.ndarray,
                          seed: int = 0) -> tuple[dict[str, np.ndarray], EmbeddingClassifier | None]:
    """Out-of-sample escalation scores of the indexed tickets themselves, per signal.

    Neighbours: each ticket's k nearest with itself excluded. Classifier (when there are at
    least ``MIN_CLASSIFIER_POSITIVES`` escalations): 5-fold cross-fitted probabilities; the
    returned classifier is then refitted on everything for serving.
    """
    records = index.records
    hits = index.search(vectors, k=NEIGHBOUR_K, category=[r.category for r in records],
                        exclude_ticket_ids=[r.ticket_id for r in records])
    scores = {SIGNAL_NEIGHBOURS: neighbour_score(hits)}
    if int(labels.sum()) < MIN_CLASSIFIER_POSITIVES or int((~labels).sum()) < CLASSIFIER_FOLDS:
        return scores, None
    folds = np.random.default_rng(seed).permutation(len(labels)) % CLASSIFIER_FOLDS
    cross = np.zeros(len(labels))
    for fold in range(CLASSIFIER_FOLDS):
        held = folds == fold
        if labels[~held].any() and (~labels[~held]).any():
            cross[held] = EmbeddingClassifier().fit(vectors[~held], labels[~held]) \
                .predict_proba(vectors[held])
    scores[SIGNAL_CLASSIFIER] = cross
    return scores, EmbeddingClassifier().fit(vectors, labels)


def score_drafts(drafts: Sequence[Draft], truth: Sequence[Example], embed: Any,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """Per-ticket decision correctness, reply quality and acceptability of suggestions."""
    return score(predictions_from_drafts(drafts), truths_from_examples(truth), embed, seed)


def summarize(scored: dict[str, np.ndarray]) -> dict[str, Any]:
    """Aggregate numbers of :func:`score_drafts` output (JSON-ready)."""
    n = len(scored["acceptable"])
    esc = f1_precision_recall(scored["escalate_true"], scored["escalate_pred"])
    auc = roc_auc(scored["acceptable"], scored["raw_confidence"])
    return {
        "tickets": n,
        "reply_tickets": int((~scored["escalate_true"].astype(bool)).sum()),
        "acceptable_rate": float(scored["acceptable"].mean()) if n else 0.0,
        "decision_accuracy": float(scored["decision_correct"].mean()) if n else 0.0,
        "mean_cosine": float(scored["cosine"].mean()) if n else 0.0,
        "mean_rouge_l": float(scored["rouge_l"].mean()) if n else 0.0,
        "specific_rate": float(scored["specific"].mean()) if n else 0.0,
        "escalation": esc.to_dict(),
        "raw_confidence_auc": None if np.isnan(auc) else float(auc),
    }


def choose_mode(summaries: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """The mode with the most acceptable validation suggestions; an adapter mode must beat
    retrieval strictly (ties go to retrieval, then to adapter_rag), and only on at least
    ``MIN_MODE_REPLY_TICKETS`` reply tickets: the escalation decision is the policy's in every
    mode, so the modes differ only on tickets the team answered, and a validation slice that
    is nearly all escalations (Bitext's first 2,000 lines: 4 replies in 100) cannot tell them
    apart."""
    rates = ", ".join(f"{m} {summaries[m]['acceptable_rate']:.1%}" for m in MODES)
    replies = summaries["retrieval"]["reply_tickets"]
    if replies < MIN_MODE_REPLY_TICKETS:
        return "retrieval", (f"only {replies} validation tickets were answered rather than "
                             f"escalated (fewer than {MIN_MODE_REPLY_TICKETS}): too few for an "
                             f"adapter mode to earn its place, retrieval kept ({rates})")
    base = summaries["retrieval"]["acceptable_rate"]
    best, best_rate = "retrieval", base
    for mode in ("adapter_rag", "adapter"):
        rate = summaries[mode]["acceptable_rate"]
        if rate > best_rate:
            best, best_rate = mode, rate
    return best, f"most acceptable suggestions on validation ({rates}; {replies} answered)"


@dataclass(frozen=True)
class AccountData:
    """An account's tickets ordered, split and curated as ``train_account`` learns from them."""

    ordered: list[Ticket]
    split: Split                # training window (``train``) and the holdout
    inner: Split                # the training window's fit (``train``) and validation tickets
    curation: Curation          # of the whole training window
    fit_examples: list[Example]  # the curated examples of the fit tickets


def account_data(tickets: Sequence[Ticket]) -> AccountData:
    """Time order, holdout and validation splits, curation (see the module docstring)."""
    ordered = time_order(tickets)
    split = holdout_split(ordered, HOLDOUT_FRACTION)
    inner = validation_split(split.train, VALIDATION_FRACTION)
    fit_ids = {t.id for t in inner.train}
    curation = curate(split.train)
    return AccountData(ordered, split, inner, curation,
                       [e for e in curation.examples if e.ticket_id in fit_ids])


def training_pairs(fit_examples: Sequence[Example], embedder: Any, options: PipelineOptions
                   ) -> tuple[ResolutionIndex, list[tuple[Context, Decision]]]:
    """The fit examples' retrieval index and the (context, decision) pairs the adapter is
    trained on: retrieval-augmented from that index (``rag_examples``)."""
    fit_index = ResolutionIndex.build(
        [r for r in map(record_from_example, fit_examples) if r is not None], embedder)
    training = rag_examples(fit_examples, fit_index, options.rag_k, options.rag_dropout,
                            options.seed)
    return fit_index, [(e.context, e.decision) for e in training if e.decision is not None]


def train_account(tickets: Sequence[Ticket], work_dir: Path, registry: AdapterRegistry,
                  config: TrainConfig, embedder: Any, options: PipelineOptions | None = None,
                  progress: Callable[[TrainProgress], None] | None = None,
                  log: Callable[[str], None] = lambda _: None, promote: bool = True,
                  backend: LocalBackend | None = None) -> AccountRun:
    """Train, choose and register one account version (see the module docstring)."""
    options = options or PipelineOptions()
    started = time.monotonic()
    embedder = MemoizedEncoder(embedder)  # the three indexes share most of their texts
    data = account_data(tickets)
    ordered, split, inner, curation = data.ordered, data.split, data.inner, data.curation
    fit_examples = data.fit_examples
    if len(fit_examples) < 4 or not inner.holdout:
        raise NotEnoughData(f"{len(fit_examples)} curated training examples and "
                            f"{len(inner.holdout)} validation tickets: import more resolved "
                            "tickets (at least a few dozen) before training")
    for line in curation.report.lines():
        log(f"curation: {line}")
    log(f"split: {len(inner.train)} fit, {len(inner.holdout)} validation, "
        f"{len(split.holdout)} holdout tickets")

    fit_index, pairs = training_pairs(fit_examples, embedder, options)
    log(f"training on {len(pairs)} examples ({options.rag_k} similar past replies in "
        f"{1 - options.rag_dropout:.0%} of prompts)")
    cache_dir = config.resolved_cache_dir()
    release_free_memory()           # the embedding batches' freed memory, before training
    result = train_adapter(pairs, work_dir, config, progress)
    release_free_memory()

    log("escalation: scoring signals over the training window")
    # Ticket-level records are stored with the adapter: built from redacted tickets.
    esc_records = [r for t in split.train if (r := record_from_ticket(redact_ticket(t)))
                   is not None]
    esc_index = ResolutionIndex.build(esc_records, embedder)
    labels = np.array([r.escalated for r in esc_records], dtype=bool)
    candidates, classifier = escalation_candidates(esc_index, esc_index.query_vectors, labels,
                                                   options.seed)
    policy = choose_signal(labels, candidates, fallback_signal=SIGNAL_NEIGHBOURS,
                           population="out-of-sample training-window")
    log(f"escalation: {policy.reason}")

    backend = backend or LocalBackend(config.base_model, cache_dir, device=config.device)
    tokenizer = backend.tokenizer
    adapter_ref = AdapterRef(f"train-{registry.tenant}-{time.time_ns()}", result.adapter_dir)
    validation, _ = scoring_examples(inner.holdout, options.max_validation_tickets)
    account = Account(adapter_ref, fit_index, esc_index, policy,
                      classifier if policy.signal == SIGNAL_CLASSIFIER else None,
                      {}, "retrieval", config.context_budget)
    suggester = Suggester(account, backend, token_counter(tokenizer), tokenizer,
                          options.max_new_tokens)
    summaries, calibrators, calibration = {}, {}, {}
    for mode in MODES:
        log(f"validation: scoring mode {mode} on {len(validation)} tickets")
        drafts = suggester.drafts(validation, mode)
        scored = score_drafts(drafts, validation, lambda xs: encode_texts(embedder, xs),
                              options.seed)
        summaries[mode] = summarize(scored)
        calibrator = fit_calibrator(scored["raw_confidence"], scored["acceptable"])
        calibrators[mode] = calibrator.to_dict()
        calibration[mode] = {
            "ece_raw": expected_calibration_error(scored["raw_confidence"], scored["acceptable"]),
            "ece_calibrated_in_sample": expected_calibration_error(
                calibrator.apply(scored["raw_confidence"]), scored["acceptable"]),
        }
    mode, mode_reason = choose_mode(summaries)
    log(f"mode: {mode} — {mode_reason}")

    serving_index = ResolutionIndex.build(
        [r for r in map(record_from_example, curation.examples) if r is not None], embedder)
    serving_index.save(result.adapter_dir / RETRIEVAL_FILE)
    esc_index.save(result.adapter_dir / ESCALATION_FILE)
    metadata = {
        "tenant": registry.tenant,
        "base_model": base_model.identity(config.base_model, cache_dir),
        "data_window": window(split.train),
        "split": {"holdout_fraction": HOLDOUT_FRACTION,
                  "validation_fraction": VALIDATION_FRACTION,
                  "fit_tickets": len(inner.train), "validation_tickets": len(inner.holdout),
                  "holdout_tickets": len(split.holdout),
                  "validation_ids": [t.id for t in inner.holdout],
                  "holdout_ids": [t.id for t in split.holdout]},
        "counts": {"tickets": len(ordered), "curated_examples": len(curation.examples),
                   "fit_examples": len(pairs), "escalation_records": len(esc_records),
                   "escalation_positives": int(labels.sum())},
        "curation": {"lines": curation.report.lines(), "dropped": curation.report.dropped},
        "config": config.to_dict(),
        "options": {"rag_k": options.rag_k, "rag_dropout": options.rag_dropout,
                    "max_validation_tickets": options.max_validation_tickets,
                    "max_new_tokens": options.max_new_tokens,
                    "seed": options.seed},
        "train": result.to_dict(),
        "serving": {
            "mode": mode, "mode_reason": mode_reason,
            "policy": policy.to_dict(),
            "classifier": classifier.to_dict() if classifier is not None
            and policy.signal == SIGNAL_CLASSIFIER else None,
            "calibrators": calibrators,
        },
        "validation": {"modes": summaries, "calibration": calibration,
                       "tickets_scored": len(validation)},
        "trained_at": datetime.now(UTC).isoformat(),
        "seconds": round(time.monotonic() - started, 1),
    }
    version = registry.register(result.adapter_dir, metadata)
    if promote:
        registry.promote(version)
    shutil.rmtree(work_dir, ignore_errors=True)
    return AccountRun(version, promote, metadata, result)
