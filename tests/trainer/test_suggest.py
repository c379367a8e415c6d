"""Suggester: decisions from the escalation policy, retrieval replies, PII fill, safe fallback.

These run on the real embedder and the demo account's tickets. The back end for the format
fallback is a scripted stand-in for the *model's output* (the thing under test is how the
Suggester treats a malformed generation), not a stand-in for CloneDesk code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from plugin_backend.demo_data import generate_demo_tickets
from trainer.calibration import IdentityCalibrator, TemperatureScaler
from trainer.curate import curate
from trainer.embeddings import shared_embedder
from trainer.escalation import EscalationPolicy
from trainer.inference import AdapterRef, Generation
from trainer.interaction import Message, Ticket, parse_ticket
from trainer.retrieval import ResolutionIndex, record_from_example, record_from_ticket
from trainer.suggest import MALFORMED_REASON, Account, Suggester


@pytest.fixture(scope="module")
def tickets() -> list[Ticket]:
    return [parse_ticket(r) for r in generate_demo_tickets(160, seed=3)]


@pytest.fixture(scope="module")
def account(tickets: list[Ticket]) -> Account:
    embedder = shared_embedder()
    train = tickets[:120]
    examples = curate(train).examples
    index = ResolutionIndex.build([r for r in map(record_from_example, examples) if r], embedder)
    esc = ResolutionIndex.build([r for r in map(record_from_ticket, train) if r], embedder)
    policy = EscalationPolicy("neighbours", 0.5, reason="test")
    return Account(None, index, esc, policy, None, {}, "retrieval", 300)


def open_ticket(text: str, ticket_id: str = "new-1", category: str | None = "orders") -> Ticket:
    return Ticket(id=ticket_id, messages=(Message(role="customer", text=text),),
                  status="open", category=category)


def test_retrieval_mode_answers_like_past_tickets_and_fills_this_tickets_pii(
        account: Account) -> None:
    suggester = Suggester(account, None)
    ticket = open_ticket("Hi, where is my order NW-123456? It hasn't arrived. "
                         "Email me at zoe.q@example.org please")
    [s] = suggester.suggest([ticket])
    assert s.ticket_id == "new-1" and s.mode == "retrieval"
    assert s.action in ("reply", "escalate")
    assert s.reply and 0.0 <= s.confidence <= 1.0
    assert "[EMAIL]" not in s.reply or "zoe.q@example.org" not in s.reply
    for record in account.index.records:  # never another ticket's values
        assert "@example.org" not in record.reply_text


def test_a_ticket_is_never_its_own_neighbour(account: Account, tickets: list[Ticket]) -> None:
    # These tickets are in the index; their own replies carry their own order numbers, so a
    # suggestion equal to the ticket's actual reply could only come from the ticket itself.
    examples = [e for e in curate(tickets[:120]).examples if "NW-" in e.decision.reply][:8]
    assert len(examples) == 8
    drafts = Suggester(account, None).drafts(examples)
    for example, draft in zip(examples, drafts):
        assert draft.text and draft.text != example.decision.reply


def test_escalation_follows_the_policy_signal(account: Account) -> None:
    ticket = open_ticket("I was charged twice for the same order and my bank shows two "
                         "payments. I want a refund of the duplicate charge now.",
                         category="billing")
    never = Suggester(Account(**{**account.__dict__,
                                 "policy": EscalationPolicy("neighbours", 1.01)}), None)
    always = Suggester(Account(**{**account.__dict__,
                                  "policy": EscalationPolicy("neighbours", 0.0)}), None)
    [a] = never.suggest([ticket])
    [b] = always.suggest([ticket])
    assert a.action == "reply" and a.escalation_reason is None
    assert b.action == "escalate"
    assert a.escalation_score == b.escalation_score


def test_calibrator_maps_raw_confidence(account: Account) -> None:
    ticket = open_ticket("Can I return boots I bought last week? They are too small.",
                         category="returns")
    raw = Suggester(account, None).suggest([ticket])[0]
    hot = Account(**{**account.__dict__,
                     "calibrators": {"retrieval": TemperatureScaler(temperature=5.0)}})
    cooled = Suggester(hot, None).suggest([ticket])[0]
    assert raw.raw_confidence == pytest.approx(cooled.raw_confidence)
    assert raw.confidence == pytest.approx(raw.raw_confidence)  # identity by default
    assert abs(cooled.confidence - 0.5) < abs(raw.confidence - 0.5)
    assert isinstance(account.calibrators.get("retrieval", IdentityCalibrator()),
                      IdentityCalibrator)


class ScriptedModelOutput:
    """Returns fixed completions, as a model server might (well-formed or not)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.calls: list[dict[str, Any]] = []

    def generate(self, prompts: Sequence[str], adapter: AdapterRef | None,
                 max_new_tokens: int = 160, forced_action: str | None = None
                 ) -> list[Generation]:
        self.calls.append({"n": len(prompts), "forced": forced_action, "prompts": prompts})
        return [Generation(self.texts.pop(0), {"reply": 0.9, "escalate": 0.1}, -0.2, 12)
                for _ in prompts]


class WordTokenizer:
    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text.split())))}


def test_malformed_generation_falls_back_to_a_safe_low_confidence_escalation(
        account: Account) -> None:
    model = ScriptedModelOutput(["ACTION: reply\nREPLY: Hi [EMAIL], it ships today.",
                                 "ACTION: reply\nthis is not the format"])
    acct = Account(**{**account.__dict__, "mode": "adapter_rag",
                      "adapter": AdapterRef("demo-v0001")})
    tok = WordTokenizer()
    suggester = Suggester(acct, model, lambda t: len(t.split()), tok)
    good, bad = suggester.suggest([
        open_ticket("Where is my parcel? write to me at kim@example.net", "t1"),
        open_ticket("Where is my parcel??", "t2"),
    ])
    assert good.format_ok and good.action == "reply"
    assert good.reply == "Hi kim@example.net, it ships today."
    assert good.confidence == pytest.approx(0.9 * np.exp(-0.2) * (1.0 - good.escalation_score)
                                            / 0.9, rel=1e-6)
    assert not bad.format_ok and bad.action == "escalate"
    assert bad.confidence == 0.0 and bad.reply == ""
    assert bad.escalation_reason == MALFORMED_REASON
    assert model.calls[0]["forced"] == "reply"
    assert "Similar past resolutions:" in model.calls[0]["prompts"][0]


MATEO_TICKET = Ticket(id="past-mateo", category="order_tracking", status="solved", messages=(
    Message(role="customer", text="Hi Northwind team,\n\nMy order NW-482913 still hasn't "
            "arrived and the tracking hasn't moved in a week.\n\nThanks,\nMateo"),
    Message(role="agent", text="Hi Mateo,\n\nSorry about this! Order NW-482913 is stuck at the "
            "Memphis, TN hub. I've asked the carrier to trace it and refunded the $6.95 "
            "shipping. Thanks for your patience, Mateo.\n\n— Maria, Northwind Support"),
))


def test_retrieval_reply_from_another_customers_ticket_is_adapted() -> None:
    embedder = shared_embedder()
    examples = curate([MATEO_TICKET]).examples
    index = ResolutionIndex.build([r for r in map(record_from_example, examples) if r], embedder)
    esc = ResolutionIndex.build([r for r in map(record_from_ticket, [MATEO_TICKET]) if r],
                                embedder)
    account = Account(None, index, esc, EscalationPolicy("neighbours", 1.01), None, {},
                      "retrieval", 300)
    samuel = open_ticket("Hi,\n\nmy order NW-177659 hasn't arrived and tracking is stuck.\n\n"
                         "Thanks,\nSamuel", "new-samuel", "order_tracking")
    nobody = open_ticket("where is my parcel?? tracking hasn't moved", "new-anon",
                         "order_tracking")
    named, anonymous = Suggester(account, None).suggest([samuel, nobody])
    assert named.reply.startswith("Hi Samuel,") and "Order NW-177659 is stuck" in named.reply
    assert anonymous.reply.startswith("Hi there,") and "[ORDER NUMBER]" in anonymous.reply
    for s in (named, anonymous):
        assert "Mateo" not in s.reply and "NW-482913" not in s.reply
        assert "$6.95 shipping" in s.reply  # the house's own amount, not the customer's


def test_training_prompts_carry_the_same_adapted_examples() -> None:
    from trainer.pipeline import rag_examples

    embedder = shared_embedder()
    past = curate([MATEO_TICKET]).examples
    index = ResolutionIndex.build([r for r in map(record_from_example, past) if r], embedder)
    current = replace(past[0], ticket_id="other", context=replace(past[0].context, messages=(
        Message(role="customer", text="Order NW-177659 is late.\n\nThanks,\nSamuel"),)))
    [example] = rag_examples([current], index, k=1)
    [shown] = example.context.examples
    assert shown.startswith("Hi Samuel,") and "NW-177659" in shown
    assert "Mateo" not in shown and "NW-482913" not in shown
