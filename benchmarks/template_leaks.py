"""Template leaks: how often a retrieval-mode reply carries another customer's name or values.

For each dataset the older 80% of tickets (time order; file order where there are no
timestamps) are curated and indexed as the Suggester's retrieval index is; for each of the
newest 20% the suggestion-time context (``suggestion_example``) retrieves the nearest past
reply exactly as retrieval mode does (same category when it has enough, the first
non-escalated of the top ``RAG_K``). The reply is counted before and after
``trainer.adapt.adapt_reply`` (the same call the Suggester makes) against the *whole* current
ticket (all its messages: the ground truth, not what the adapter could see):

* ``greeting_name`` — a greeting names someone other than the current customer (a greeting
  name when the current customer's name is unknown counts: it belongs to another ticket);
* ``name_anywhere`` — the greeting name or the source customer's name appears anywhere;
* ``identifier`` — an identifier (``trainer.adapt.find_identifiers``, plus the source's
  identifiers inside links) that the current ticket never mentions;
* ``amount`` — an amount the source customer wrote that the current ticket never mentions;
* ``value`` — identifier or amount; ``amount_any`` — any amount the current ticket never
  mentions (policy amounts included: an upper bound; the source agent's own amounts are
  replaced only where the other retrieved replies do not share them); ``digit_run_4`` — a
  cruder, detector-free check:
  any run of 4+ digits that the current ticket never mentions (includes policy numbers such
  as a phone line or a year, so it is an upper bound).

And the cost of adapting: ``amount_lost`` — the copied reply stated an amount that the current
ticket also states (its real reply included), and the adapted one no longer does (a right
amount turned into a placeholder or another value); ``amount_placeholder`` — the adapted reply
holds ``[AMOUNT]`` for the agent to fill in.

    .venv/bin/python benchmarks/template_leaks.py [--data ../shared/data/canonical]

Prints the numbers and writes benchmarks/results/template_leaks.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from plugin_backend.demo_data import generate_demo_tickets
from trainer.adapt import (
    AMOUNT_PLACEHOLDER,
    adapt_hit,
    amount_value,
    facts_from_context,
    facts_from_messages,
    find_amounts,
    find_identifiers,
    greeting_names,
    record_facts,
)
from trainer.curate import curate, suggestion_example
from trainer.embeddings import EMBEDDING_PACKAGE, shared_embedder
from trainer.interaction import Ticket, parse_ticket, read_jsonl
from trainer.redact import redact_ticket
from trainer.retrieval import ResolutionIndex, ResolutionRecord, query_text_for, record_from_example
from trainer.split import holdout_split, time_order
from trainer.suggest import RAG_K

RESULTS = Path(__file__).with_name("results")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "canonical"
CHECKS = ("greeting_name", "name_anywhere", "identifier", "amount", "value", "amount_any",
          "digit_run_4", "amount_lost", "amount_placeholder")


def amounts_in(text: str) -> set[float]:
    """The values of the amounts ``text`` states."""
    return {amount_value(a) for a in find_amounts(text)}


def leaks(reply: str, source: ResolutionRecord, truth: Ticket) -> dict[str, bool]:
    """Which kinds of another ticket's data ``reply`` carries, judged on the whole (redacted)
    current ticket ``truth``; and what adapting cost (``amount_lost``, ``amount_placeholder``)."""
    texts = [m.text for m in truth.messages] + [truth.subject or ""]
    whole = "\n".join(texts).upper()
    name = facts_from_messages(truth.messages, truth.subject).customer_name
    greeted = [n for n in greeting_names(reply) if n != name]
    theirs = record_facts(source)
    others = set(greeted) | ({theirs.customer_name} - {name, None})
    values = set().union(*map(amounts_in, texts))
    identifiers = find_identifiers(reply) + [i for i in theirs.identifiers if i in reply]
    identifier = any(i.lstrip("#").upper() not in whole for i in identifiers)
    theirs_amounts = {amount_value(a) for a in theirs.amounts}
    amount = any(amount_value(a) in theirs_amounts - values for a in find_amounts(reply))
    return {
        "greeting_name": bool(greeted),
        "name_anywhere": any(re.search(rf"(?<!\w){re.escape(str(n))}(?!\w)", reply)
                             for n in others),
        "identifier": identifier, "amount": amount, "value": identifier or amount,
        "amount_any": any(amount_value(a) not in values for a in find_amounts(reply)),
        "digit_run_4": any(d not in whole for d in re.findall(r"\d{4,}", reply)),
        "amount_lost": bool(amounts_in(source.reply_text) & values - amounts_in(reply)),
        "amount_placeholder": AMOUNT_PLACEHOLDER in reply,
    }


def measure(name: str, tickets: Sequence[Ticket], embed: Any) -> dict[str, Any]:
    """Index the older 80%, retrieve for the newest 20%, count leaks before/after adapting."""
    started = time.monotonic()
    split = holdout_split(time_order(tickets), 0.2)
    records = [r for r in map(record_from_example, curate(split.train).examples) if r]
    index = ResolutionIndex.build(records, embed)
    examples = [suggestion_example(t, order=i) for i, t in enumerate(split.holdout)]
    hits = index.search([query_text_for(e.context.messages) for e in examples], k=RAG_K,
                        category=[e.context.category for e in examples],
                        exclude_ticket_ids=[e.ticket_id for e in examples])
    counts = {when: dict.fromkeys(CHECKS, 0) for when in ("before", "after")}
    samples: list[dict[str, str]] = []
    scored = 0
    for ticket, example, row in zip(split.holdout, examples, hits):
        replies = [h for h in row if not h.record.escalated] or row
        if not replies:
            continue
        scored += 1
        record = replies[0].record
        after = adapt_hit(replies[0], row, facts_from_context(example.context))
        truth = redact_ticket(ticket)
        for when, text in (("before", record.reply_text), ("after", after)):
            for check, leaked in leaks(text, record, truth).items():
                counts[when][check] += leaked
        if len(samples) < 3 and after != record.reply_text:
            samples.append({"before": record.reply_text[:300], "after": after[:300]})
    rates = {when: {c: round(n / max(scored, 1), 4) for c, n in row.items()}
             for when, row in counts.items()}
    return {"dataset": name, "index_records": len(records), "holdout_tickets":
            len(split.holdout), "scored": scored, "counts": counts, "rates": rates,
            "samples": samples, "seconds": round(time.monotonic() - started, 1)}


def show(result: dict[str, Any]) -> None:
    """Print one dataset's table."""
    print(f"\n{result['dataset']}: {result['scored']} holdout replies "
          f"(index {result['index_records']} records)")
    for check in CHECKS:
        before, after = (result["rates"][w][check] for w in ("before", "after"))
        print(f"  {check:14s} before {before:6.1%}   after {after:6.1%}")


def main() -> None:
    """Measure the demo account and TweetSumm; write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of canonical JSONL")
    parser.add_argument("--demo-tickets", type=int, default=600, help="demo account size")
    parser.add_argument("--seed", type=int, default=7, help="demo account seed")
    args = parser.parse_args()
    embedder = shared_embedder()
    loaders: list[tuple[str, Callable[[], list[Ticket]]]] = [
        (f"demo (Northwind, {args.demo_tickets} tickets, seed {args.seed})",
         lambda: [parse_ticket(r) for r in generate_demo_tickets(args.demo_tickets, args.seed)]),
        ("tweetsumm (file order)", lambda: list(read_jsonl(str(args.data / "tweetsumm.jsonl")))),
    ]
    results = [measure(name, load(), embedder) for name, load in loaders]
    for result in results:
        show(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "template_leaks.json"
    out.write_text(json.dumps({
        "date": date.today().isoformat(), "python": platform.python_version(),
        "machine": f"{platform.platform()} ({platform.processor() or platform.machine()})",
        "embedder": EMBEDDING_PACKAGE, "rag_k": RAG_K, "results": results,
    }, indent=2, ensure_ascii=False))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
