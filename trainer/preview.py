"""The accuracy preview: one account version and its baselines scored on the same tickets.

``run_preview`` takes the tickets to score (the version's stored holdout — the newest 20% of
the account's tickets, never trained on — or an external labelled file), builds each ticket's
scoring example at its last agent message (the messages before it are the context, PII
redacted exactly as in training), and scores:

* ``clonedesk`` — what the account would serve: its default mode, escalation policy and
  validation-calibrated confidence (``trainer.suggest``);
* ``adapter_rag`` — the adapter itself with retrieval-augmented prompts, when the account's
  default mode is something else (so the admin sees why it was not chosen);
* the baselines of ``trainer.baselines``.

The report (``trainer.evaluate.evaluate`` plus provenance: version, base model, mode and why,
escalation signal and why, data windows, counts, options, timings, a few sample rows) is a
plain JSON-ready dict; its keys are documented in ``docs/preview-report.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from trainer import baselines
from trainer.curate import Example, scoring_examples
from trainer.evaluate import Prediction, evaluate, predictions_from_drafts, truths_from_examples
from trainer.retrieval import encode_texts
from trainer.split import evenly, window
from trainer.suggest import MAX_NEW_TOKENS, Account, Suggester, token_counter

REPORT_VERSION = 1
SAMPLE_ROWS = 12


@dataclass(frozen=True)
class PreviewOptions:
    """What to score and how."""

    max_tickets: int | None = None            # evenly thinned to this many (None: all)
    methods: tuple[str, ...] = baselines.BASELINES
    max_new_tokens: int = MAX_NEW_TOKENS
    seed: int = 0


def run_preview(tickets: Sequence[Any], account: Account, version: dict[str, Any],
                backend: Any, tokenizer: Any, embedder: Any,
                options: PreviewOptions | None = None, source: str = "holdout",
                log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Score the version and its baselines on ``tickets`` (see the module docstring).

    ``version`` is ``{"version": name, "metadata": clonedesk.json}``. ``backend`` and
    ``tokenizer`` may be None only when no method needs the model (retrieval mode, no
    base-model baselines).
    """
    options = options or PreviewOptions()
    unknown = [m for m in options.methods if m not in baselines.BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {baselines.BASELINES}")
    started = time.monotonic()
    examples, skipped = scoring_examples(tickets, options.max_tickets)
    if not examples:
        raise ValueError("none of the tickets has an agent message to score against")
    truths = truths_from_examples(examples)
    count = token_counter(tokenizer) if tokenizer is not None else None
    timings: dict[str, float] = {}
    methods: dict[str, list[Prediction]] = {}

    def timed(name: str, make: Callable[[], list[Prediction]]) -> None:
        log(f"scoring {name} on {len(examples)} tickets")
        t0 = time.monotonic()
        methods[name] = make()
        timings[name] = round(time.monotonic() - t0, 2)

    suggester = Suggester(account, backend, count, tokenizer, options.max_new_tokens)
    timed("clonedesk", lambda: predictions_from_drafts(suggester.drafts(examples)))
    if account.mode != "adapter_rag" and account.adapter is not None and backend is not None:
        timed("adapter_rag",
              lambda: predictions_from_drafts(suggester.drafts(examples, "adapter_rag")))
    for name in options.methods:
        if name == "rag_nearest":
            timed(name, lambda: baselines.rag_nearest(examples, account.escalation_index))
        elif name == "typical_reply":
            timed(name, lambda: baselines.typical_reply(examples, account.index))
        elif name == "typical_reply_category":
            timed(name, lambda: baselines.typical_reply(examples, account.index, True))
        elif backend is None or tokenizer is None:
            log(f"skipping {name}: no inference back end")
        else:
            rag_index = account.index if name == "rag_base" else None
            timed(name, lambda idx=rag_index: baselines.base_model(   # type: ignore[misc]
                examples, backend, tokenizer, count, account.context_budget, idx,
                max_new_tokens=options.max_new_tokens))
    embed: Callable[[list[str]], np.ndarray] = lambda xs: encode_texts(embedder, xs)
    report = evaluate(methods, truths, embed, seed=options.seed, primary="clonedesk")
    meta = version["metadata"]
    serving = meta.get("serving", {})
    policy = serving.get("policy", {})
    by_id = {t.id: t for t in tickets}
    report.update({
        "report_version": REPORT_VERSION,
        "tenant": meta.get("tenant"),
        "adapter_version": version["version"],
        "base_model": meta.get("base_model"),
        "mode": serving.get("mode"),
        "mode_reason": serving.get("mode_reason"),
        "escalation_signal": {"signal": policy.get("signal"),
                              "threshold": policy.get("threshold"),
                              "reason": policy.get("reason")},
        "training_window": meta.get("data_window"),
        "source": source,
        "evaluated_window": window([by_id[e.ticket_id] for e in examples]),
        "counts": {"tickets_given": len(tickets), "without_agent_message": skipped,
                   "scored": len(examples),
                   "thinned_from": (len(tickets) - skipped
                                    if len(examples) < len(tickets) - skipped else None)},
        "options": {"max_tickets": options.max_tickets, "methods": list(methods),
                    "max_new_tokens": options.max_new_tokens, "seed": options.seed},
        "timings_s": timings,
        "ticket_ids": [e.ticket_id for e in examples],
        "samples": _samples(examples, truths, methods["clonedesk"],
                            report["methods"]["clonedesk"]["per_ticket"]),
        "generated_at": datetime.now(UTC).isoformat(),
        "seconds": round(time.monotonic() - started, 1),
    })
    return report


def _samples(examples: Sequence[Example], truths: Sequence[Any],
             predictions: Sequence[Prediction], per_ticket: dict[str, list[Any]]
             ) -> list[dict[str, Any]]:
    """A few scored rows, PII-redacted, for the report (evenly spread, fixed choice)."""
    rows = []
    for i in evenly(range(len(examples)), SAMPLE_ROWS):
        e, t, p = examples[i], truths[i], predictions[i]
        customer = [m.text for m in e.context.messages if m.role == "customer"]
        rows.append({"ticket_id": e.ticket_id, "category": e.context.category,
                     "customer": (customer[-1] if customer else "")[:400],
                     "actual_action": t.action, "actual": t.text[:600],
                     "suggested_action": p.action, "suggested": p.text[:600],
                     "confidence": round(float(p.confidence), 3),
                     "cosine": per_ticket["cosine"][i],
                     "acceptable": per_ticket["acceptable"][i]})
    return rows
