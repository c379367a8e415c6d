"""The baselines the accuracy preview compares CloneDesk with, on the very same tickets.

* ``rag_nearest`` — embed the customer messages, retrieve the most similar training-window
  ticket and suggest its last agent message and its decision (confidence: the similarity);
* ``rag_base`` — the base model without adapter, prompted with the agent replies of the top-3
  retrieved past resolutions (the same retrieval and adapted examples CloneDesk uses);
* ``base_zero_shot`` — the base model without adapter, with the ticket alone;
* ``typical_reply`` — the account's most central reply (the medoid of its agent replies):
  the canned answer a lazy system would send; ``typical_reply_category`` — the same per
  category.

The base-model baselines decide with the base model's own probability of ``escalate`` at the
decision token (the system prompt tells it that it may escalate) and then write the reply
with the decision forced, exactly as the adapter does. The base model was never taught the
target format, so its reply is read leniently: the text after ``REPLY:`` when the format
holds, else everything it wrote after the forced prefix, cut at the next conversation turn.
Confidence: p(decision) × the per-token geometric-mean probability of the reply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from trainer import prompt
from trainer.adapt import rag_context
from trainer.evaluate import Prediction
from trainer.inference import FORCED_FIELD, Backend
from trainer.retrieval import ResolutionIndex, query_text_for

BASELINES = ("rag_nearest", "rag_base", "base_zero_shot", "typical_reply",
             "typical_reply_category")
MODEL_BASELINES = ("rag_base", "base_zero_shot")
_TURN_RE = re.compile(r"\n\s*(?:Customer|Agent|Internal note|ACTION)\s*:", re.IGNORECASE)


def rag_nearest(examples: Sequence[Any], tickets: ResolutionIndex) -> list[Prediction]:
    """The most similar training ticket's last agent message and decision.

    ``tickets`` is a ticket-level index (one record per past ticket: the customer text before
    its last agent message, that message, and whether the ticket was escalated).
    """
    if not examples:
        return []
    hits = tickets.search([query_text_for(e.context.messages) for e in examples], k=1,
                          exclude_ticket_ids=[e.ticket_id for e in examples])
    out = []
    for row in hits:
        if not row:
            out.append(Prediction("reply", "", 0.0, 0.0))
            continue
        hit = row[0]
        similarity = max(float(hit.score), 0.0)
        out.append(Prediction("escalate" if hit.record.escalated else "reply",
                              hit.record.reply_text, similarity, similarity))
    return out


def typical_reply(examples: Sequence[Any], index: ResolutionIndex,
                  per_category: bool = False) -> list[Prediction]:
    """The medoid reply of the account (or of the ticket's category), always a reply.

    Its confidence is constant (1.0): a canned answer has nothing to rank by, so its
    coverage–precision curve is a single point.
    """
    cache: dict[str | None, str] = {}
    out = []
    for e in examples:
        key = e.context.category if per_category else None
        if key not in cache:
            cache[key] = index.medoid_reply(category=key) or ""
        out.append(Prediction("reply", cache[key], 1.0, 1.0))
    return out


def lenient_reply(generated: str, action: str) -> tuple[str, str | None, str | None]:
    """(reply, reason, group) of a base-model generation that began with the forced prefix."""
    try:
        decision = prompt.parse_target(generated)
        if decision.action == action:
            return _cut(decision.reply), decision.reason, decision.group
    except prompt.FormatError:
        pass
    prefix = f"{prompt.TARGET_PREFIX} {action}\n{FORCED_FIELD[action]}"
    body = generated.removeprefix(prefix)
    if action == "escalate":
        body = body.split("REPLY:", 1)[-1]
    return _cut(body), None, None


def _cut(text: str) -> str:
    match = _TURN_RE.search(text)
    return (text[:match.start()] if match else text).strip()


def base_model(examples: Sequence[Any], backend: Backend, tokenizer: Any,
               count_tokens: Callable[[str], int] | None, context_budget: int,
               index: ResolutionIndex | None = None, k: int = 3,
               max_new_tokens: int = 160) -> list[Prediction]:
    """The base model (no adapter), with the top-``k`` retrieved replies when ``index``."""
    if not examples:
        return []
    contexts = [e.context for e in examples]
    if index is not None:
        hits = index.search([query_text_for(c.messages) for c in contexts], k=k,
                            category=[c.category for c in contexts],
                            exclude_ticket_ids=[e.ticket_id for e in examples])
        contexts = [rag_context(c, row) for c, row in zip(contexts, hits)]
    prompts = [prompt.chat_prompt(tokenizer, prompt.render_context(c, count_tokens,
                                                                   context_budget))
               for c in contexts]
    # One pass with "reply" forced; it also reads p(escalate) at the decision token. Tickets
    # where the base model prefers to escalate are generated again with that decision.
    outs = list(backend.generate(prompts, None, max_new_tokens=max_new_tokens,
                                 forced_action="reply"))
    actions = ["escalate" if o.action_probs.get("escalate", 0.0) > 0.5 else "reply"
               for o in outs]
    redo = [i for i, a in enumerate(actions) if a == "escalate"]
    if redo:
        again = backend.generate([prompts[i] for i in redo], None,
                                 max_new_tokens=max_new_tokens, forced_action="escalate")
        for i, out in zip(redo, again):
            outs[i] = replace(out, action_probs=outs[i].action_probs)
    predictions = []
    for out, action in zip(outs, actions):
        reply, _, _ = lenient_reply(out.text, action)
        p_action = float(out.action_probs.get(action, 0.0))
        raw = p_action * math.exp(out.mean_token_logprob)
        predictions.append(Prediction(action, reply, raw, raw, format_ok=bool(reply)))
    return predictions
