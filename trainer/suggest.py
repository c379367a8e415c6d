"""Tickets → suggestions: retrieval, the escalation decision, the reply, calibrated confidence.

One :class:`Suggester` serves one account version (its adapter, retrieval index, escalation
policy, calibrator and default mode, all stored in the registry folder). For each ticket:

1. the context is the conversation up to its last customer message (or before its last agent
   message when it ends with one), PII redacted (:func:`trainer.curate.suggestion_example`);
2. the account's k most similar past resolutions (same category when it has any; never the
   ticket itself) are retrieved;
3. the **decision** comes from the escalation policy's signal (the neighbours' escalation
   outcome or the embedding classifier, chosen at training time), never from greedy decoding;
4. the **reply** comes from the account's default mode: ``adapter_rag`` (the adapter, prompted
   with the retrieved replies, its decision forced to the policy's), ``adapter`` (the adapter
   alone) or ``retrieval`` (the most similar past resolution's reply);
5. the reply is adapted to this ticket (:func:`trainer.adapt.adapt_reply`: another ticket's
   customer name, identifiers and amounts replaced by this ticket's or by a placeholder;
   generated replies too, since the adapter copies its examples), then placeholders are
   filled from this ticket's own PII, never another ticket's;
6. ``raw_confidence`` = p(decision) × p(reply): the policy signal's probability of the chosen
   decision times the generation's per-token geometric-mean probability (for ``retrieval``,
   the top hit's cosine similarity); ``confidence`` is that, calibrated on the validation slice.

A generation that breaks the target format becomes a safe ``escalate`` with confidence 0 and
no draft (``format_ok`` False), never an exception.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer import prompt
from trainer.adapt import TicketFacts, adapt_hit, adapt_reply, facts_from_context, rag_context
from trainer.calibration import Calibrator, IdentityCalibrator, calibrator_from_dict
from trainer.curate import Example, suggestion_example
from trainer.escalation import (
    SIGNAL_CLASSIFIER,
    EmbeddingClassifier,
    EscalationPolicy,
    neighbour_score,
)
from trainer.inference import AdapterRef, Backend
from trainer.interaction import Ticket
from trainer.redact import fill_placeholders
from trainer.retrieval import Hit, ResolutionIndex, query_text_for

MODES = ("adapter_rag", "adapter", "retrieval")
ADAPTER_MODES = ("adapter_rag", "adapter")
RAG_K = 3
NEIGHBOUR_K = 10
MAX_NEW_TOKENS = 160
RETRIEVAL_FILE = "retrieval"          # retrieval.npz / retrieval.json in the version folder
ESCALATION_FILE = "escalation"        # escalation.npz / escalation.json (ticket-level records)
MALFORMED_REASON = "no confident suggestion: the model's output was malformed"


@dataclass(frozen=True)
class Suggestion:
    """The next agent message for one ticket, with its decision and calibrated confidence."""

    ticket_id: str
    action: str                       # "reply" | "escalate"
    reply: str                        # placeholders filled from this ticket ("" when none)
    confidence: float                 # calibrated probability that the suggestion is acceptable
    escalation_reason: str | None
    escalation_group: str | None
    category: str | None
    mode: str
    raw_confidence: float
    escalation_score: float
    format_ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Draft:
    """A suggestion before its placeholders are filled (what scoring compares)."""

    suggestion: Suggestion
    text: str                         # reply text in placeholder form, adapted to the ticket


@dataclass
class Account:
    """Everything one account version serves from: adapter, indexes, policy, calibration."""

    adapter: AdapterRef | None
    index: ResolutionIndex            # example-level past resolutions (RAG, retrieval mode)
    escalation_index: ResolutionIndex  # ticket-level records (the neighbours' outcome)
    policy: EscalationPolicy
    classifier: EmbeddingClassifier | None
    calibrators: dict[str, Calibrator]
    mode: str
    context_budget: int

    @classmethod
    def load(cls, version_dir: Path, name: str, embedder: Any) -> Account:
        """Load a registered version folder (see ``trainer.pipeline`` for what it holds)."""
        version_dir = Path(version_dir)
        meta = json.loads((version_dir / "clonedesk.json").read_text())
        serving = meta["serving"]
        classifier = serving.get("classifier")
        return cls(
            adapter=AdapterRef(name, version_dir),
            index=ResolutionIndex.load(version_dir / RETRIEVAL_FILE, embedder),
            escalation_index=ResolutionIndex.load(version_dir / ESCALATION_FILE, embedder),
            policy=EscalationPolicy.from_dict(serving["policy"]),
            classifier=EmbeddingClassifier.from_dict(classifier) if classifier else None,
            calibrators={m: calibrator_from_dict(c) for m, c in serving["calibrators"].items()},
            mode=serving["mode"],
            context_budget=int(meta["config"]["context_budget"]),
        )


def escalation_scores(account: Account, vectors: np.ndarray, categories: Sequence[str | None],
                      exclude: Sequence[str | None]) -> tuple[np.ndarray, list[list[Hit]]]:
    """The policy signal's escalation score per query, and the neighbours it looked at."""
    hits = account.escalation_index.search(vectors, k=NEIGHBOUR_K, category=list(categories),
                                           exclude_ticket_ids=[e or "" for e in exclude])
    if account.policy.signal == SIGNAL_CLASSIFIER:
        if account.classifier is None:
            raise ValueError("the policy uses the classifier but none is stored")
        return account.classifier.predict_proba(vectors), hits
    return neighbour_score(hits), hits


def _handoff(hits: Sequence[Hit]) -> tuple[Hit | None, str | None, str | None]:
    """The best escalated neighbour, and the most common group and reason among them."""
    escalated = [h for h in hits if h.record.escalated]
    groups = Counter(h.record.group for h in escalated if h.record.group)
    reasons = Counter(h.record.reason for h in escalated if h.record.reason)
    return (escalated[0] if escalated else None,
            groups.most_common(1)[0][0] if groups else None,
            reasons.most_common(1)[0][0] if reasons else None)


class Suggester:
    """Batched suggestions for one account version through any inference back end."""

    def __init__(self, account: Account, backend: Backend | None,
                 count_tokens: Callable[[str], int] | None = None,
                 tokenizer: Any = None, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        if account.mode in ADAPTER_MODES and (backend is None or tokenizer is None):
            raise ValueError(f"mode {account.mode!r} needs an inference back end and tokenizer")
        self.account = account
        self.backend = backend
        self.tokenizer = tokenizer
        self.count_tokens = count_tokens
        self.max_new_tokens = max_new_tokens

    def suggest(self, tickets: Sequence[Ticket]) -> list[Suggestion]:
        """One suggestion per ticket, in order (batched)."""
        examples = [suggestion_example(t, order=i) for i, t in enumerate(tickets)]
        return [d.suggestion for d in self.drafts(examples)]

    def drafts(self, examples: Sequence[Example], mode: str | None = None) -> list[Draft]:
        """Suggestions for prepared examples in ``mode`` (default: the account's)."""
        mode = mode or self.account.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not examples:
            return []
        account = self.account
        queries = [query_text_for(e.context.messages) for e in examples]
        vectors = account.index.embed_queries(queries)
        categories = [e.context.category for e in examples]
        own = [e.ticket_id for e in examples]
        scores, neighbours = escalation_scores(account, vectors, categories, own)
        escalate = account.policy.decide_many(scores)
        rag = account.index.search(vectors, k=RAG_K, category=categories,
                                   exclude_ticket_ids=own)
        p_decision = np.where(escalate, scores, 1.0 - scores).clip(0.0, 1.0)
        facts = [facts_from_context(e.context) for e in examples]
        if mode == "retrieval":
            texts, p_reply, details = self._retrieve(rag, neighbours, escalate, facts)
            format_ok = [True] * len(examples)
        else:
            texts, p_reply, details, format_ok = self._generate(
                examples, rag if mode == "adapter_rag" else None, escalate, neighbours, facts)
        calibrator = account.calibrators.get(mode, IdentityCalibrator())
        raw = p_decision * np.asarray(p_reply)
        raw = np.where(format_ok, raw, 0.0)
        calibrated = np.asarray(calibrator.apply(raw), dtype=np.float64)
        drafts = []
        for i, example in enumerate(examples):
            action, reason, group = details[i]
            ok = format_ok[i]
            drafts.append(Draft(Suggestion(
                ticket_id=example.ticket_id,
                action=action if ok else "escalate",
                reply=fill_placeholders(texts[i], example.pii) if ok else "",
                confidence=float(calibrated[i]) if ok else 0.0,
                escalation_reason=reason if ok else MALFORMED_REASON,
                escalation_group=group if ok else None,
                category=example.context.category,
                mode=mode,
                raw_confidence=float(raw[i]),
                escalation_score=float(scores[i]),
                format_ok=ok,
            ), texts[i] if ok else ""))
        return drafts

    def _retrieve(self, rag: list[list[Hit]], neighbours: list[list[Hit]], escalate: np.ndarray,
                  facts: Sequence[TicketFacts]
                  ) -> tuple[list[str], list[float], list[tuple[str, str | None, str | None]]]:
        """The retrieval mode: the most similar past reply (or hand-off), adapted to the
        ticket, and its similarity."""
        texts, p_reply, details = [], [], []
        for hits, near, esc, current in zip(rag, neighbours, escalate, facts):
            if esc:
                best, group, reason = _handoff(near)
                hit = best or (hits[0] if hits else None)
                details.append(("escalate", reason or (hit.record.reason if hit else None),
                                group))
            else:
                replies = [h for h in hits if not h.record.escalated] or hits
                hit = replies[0] if replies else None
                details.append(("reply", None, None))
            texts.append(adapt_hit(hit, hits, current) if hit else "")
            p_reply.append(max(hit.score, 0.0) if hit else 0.0)
        return texts, p_reply, details

    def _generate(self, examples: Sequence[Example], rag: list[list[Hit]] | None,
                  escalate: np.ndarray, neighbours: list[list[Hit]], facts: Sequence[TicketFacts]
                  ) -> tuple[list[str], list[float], list[tuple[str, str | None, str | None]],
                             list[bool]]:
        """The adapter modes: generate with the decision forced to the policy's; the reply is
        adapted to the ticket (a copied greeting may still name another customer)."""
        assert self.backend is not None and self.tokenizer is not None
        prompts = []
        for i, example in enumerate(examples):
            context = example.context
            if rag is not None:
                context = rag_context(context, rag[i], facts[i])
            user = prompt.render_context(context, self.count_tokens, self.account.context_budget)
            prompts.append(prompt.chat_prompt(self.tokenizer, user))
        n = len(examples)
        texts, p_reply = [""] * n, [0.0] * n
        details: list[tuple[str, str | None, str | None]] = [("reply", None, None)] * n
        format_ok = [False] * n
        known_groups = {r.group for r in self.account.escalation_index.records if r.group}
        for action in ("reply", "escalate"):
            rows = [i for i in range(n) if bool(escalate[i]) == (action == "escalate")]
            if not rows:
                continue
            outs = self.backend.generate([prompts[i] for i in rows], self.account.adapter,
                                         max_new_tokens=self.max_new_tokens,
                                         forced_action=action)
            for i, out in zip(rows, outs):
                try:
                    decision = prompt.parse_target(out.text)
                except prompt.FormatError:
                    details[i] = ("escalate", MALFORMED_REASON, None)
                    continue
                format_ok[i] = True
                texts[i] = adapt_reply(decision.reply, None, facts[i])
                p_reply[i] = math.exp(out.mean_token_logprob)
                if action == "escalate":
                    _, group, reason = _handoff(neighbours[i])
                    if decision.group in known_groups:
                        group = decision.group
                    details[i] = ("escalate", decision.reason or reason, group)
        return texts, p_reply, details, format_ok


def load_tokenizer(base_model_spec: str, cache_dir: Path) -> Any:
    """The base model's tokenizer alone (for remote back ends: prompts are rendered here)."""
    from transformers import AutoTokenizer

    from trainer import base_model

    tokenizer = AutoTokenizer.from_pretrained(base_model.resolve(base_model_spec, cache_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """count_tokens for ``prompt.render_context`` with this tokenizer."""
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return count
