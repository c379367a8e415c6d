"""Curation: which tickets and agent messages become training examples."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from trainer.curate import (
    Example,
    curate,
    escalation_reason,
    is_auto_reply,
    scoring_example,
    suggestion_example,
)
from trainer.interaction import Ticket, parse_ticket, read_jsonl
from trainer.prompt import Decision, render_context, render_target
from trainer.redact import fill_placeholders

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "canonical"


def make(ticket_id: str, turns: list[tuple[str, str]], **fields: Any) -> Ticket:
    """A ticket from (role, text) turns and extra record fields, through the real parser."""
    messages = [{"role": role, "text": text} for role, text in turns]
    return parse_ticket({"id": ticket_id, "messages": messages, **fields})


def real_tickets(name: str) -> list[Ticket]:
    """The tickets of a shared canonical file, or skip with the reason."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"real data {path} is not present beside this checkout")
    return list(read_jsonl(str(path)))


TWEETS = make("tw1", [
    ("customer", "@AppleSupport my watch stopped counting steps, email jane.doe@example.com"),
    ("agent", "@135060 Let's look into this. Which iOS version are you on?"),
    ("customer", "@AppleSupport iOS 11.1.2, call me on 877-399-3086"),
    ("note", "checked known issues"),
    ("agent", "@135060 Thanks. Please DM us your serial number and we'll continue there."),
], channel="twitter", category="AppleSupport", subject="watch steps", escalated=True,
   escalation_group="Tier 2")


def test_one_example_per_agent_message_with_prior_context() -> None:
    result = curate([TWEETS])
    assert [e.position for e in result.examples] == [1, 4]
    first, last = result.examples
    assert len(first.context.messages) == 1
    assert [m.role for m in last.context.messages] == ["customer", "agent", "customer", "note"]
    assert (first.ticket_id, first.order, first.created_at) == ("tw1", 0, None)
    assert (first.context.channel, first.context.category) == ("twitter", "AppleSupport")
    assert first.context.examples == ()


def test_escalated_ticket_teaches_escalate_at_last_agent_message_only() -> None:
    first, last = curate([TWEETS]).examples
    assert first.decision == Decision("reply", "[HANDLE] Let's look into this. Which iOS "
                                               "version are you on?")
    assert last.decision is not None
    assert (last.decision.action, last.decision.group) == ("escalate", "Tier 2")
    assert last.decision.reason == "moved to private message"
    assert render_target(last.decision).startswith(
        "ACTION: escalate\nGROUP: Tier 2\nREASON: moved to private message\nREPLY: [HANDLE]")


def test_group_falls_back_to_extra_group_then_none() -> None:
    turns = [("customer", "help"), ("agent", "Let me transfer you to billing.")]
    grouped = curate([make("g", turns, escalated=True, group="Billing")]).examples[0]
    ungrouped = curate([make("n", turns, escalated=True)]).examples[0]
    assert grouped.decision is not None and grouped.decision.group == "Billing"
    assert ungrouped.decision is not None and ungrouped.decision.group is None
    assert ungrouped.decision.reason == "handed to another team"


def test_context_and_target_are_redacted_and_pii_kept_for_filling() -> None:
    _, last = curate([TWEETS]).examples
    rendered = render_context(last.context)
    assert "jane.doe@example.com" not in rendered and "877-399-3086" not in rendered
    assert "@135060" not in rendered and "[EMAIL]" in rendered and "[PHONE]" in rendered
    assert "Customer: [HANDLE]" in rendered
    assert last.pii == {"EMAIL": ["jane.doe@example.com"], "PHONE": ["877-399-3086"],
                        "HANDLE": ["@135060"]}
    assert last.decision is not None
    assert fill_placeholders(last.decision.reply, last.pii).startswith("@135060 Thanks.")


def test_pii_never_includes_values_only_in_the_target() -> None:
    ticket = make("t", [("customer", "hi, my phone broke"),
                        ("agent", "Write to help@example.com or call 020 7946 0958")])
    example = curate([ticket]).examples[0]
    assert example.pii == {}
    assert example.decision is not None
    assert example.decision.reply == "Write to [EMAIL] or call [PHONE]"


def test_redaction_can_be_turned_off() -> None:
    _, last = curate([TWEETS], redact_pii=False).examples
    assert last.context.customer_handle == "@135060"
    assert "jane.doe@example.com" in last.context.messages[0].text
    assert last.decision is not None and last.decision.reply.startswith("@135060 Thanks.")
    assert last.pii == {}


def test_customer_handle_falls_back_to_author_id() -> None:
    ticket = parse_ticket({"id": "a", "messages": [
        {"role": "customer", "author_id": "@jane", "text": "@AcmeHelp my order is late"},
        {"role": "agent", "text": "Sorry! Checking now."}]})
    example = curate([ticket]).examples[0]
    assert example.context.customer_handle == "[HANDLE]"
    assert example.pii["HANDLE"] == ["@jane"]  # the team's own @AcmeHelp is not offered
    plain = curate([ticket], redact_pii=False).examples[0]
    assert plain.context.customer_handle == "@jane"
    no_handle = make("b", [("customer", "hi"), ("agent", "hello")])
    assert curate([no_handle]).examples[0].context.customer_handle is None


@pytest.mark.parametrize(("fields", "reason"), [
    ({"status": "open"}, "status:open"),
    ({"status": "pending"}, "status:pending"),
    ({"reopened": True}, "reopened"),
    ({"csat": "bad"}, "csat:bad"),
])
def test_ticket_level_drops_are_counted_by_reason(fields: dict[str, Any], reason: str) -> None:
    kept = make("k", [("customer", "hi"), ("agent", "hello")], status="closed", csat="good")
    dropped = make("d", [("customer", "hi"), ("agent", "hello there")], **fields)
    result = curate([dropped, kept])
    assert [e.ticket_id for e in result.examples] == ["k"]
    assert result.examples[0].order == 1
    assert result.report.dropped == {reason: 1}
    assert (result.report.tickets_seen, result.report.tickets_kept) == (2, 1)


def test_tickets_without_agent_messages_are_dropped() -> None:
    result = curate([make("c", [("customer", "anyone?"), ("note", "spam?")])])
    assert result.examples == []
    assert result.report.dropped == {"no_agent_message": 1}


def test_empty_auto_reply_and_near_duplicates_are_dropped() -> None:
    first = make("a", [
        ("customer", "@Acme my parcel 123 is late"),
        ("agent", "@111 "),
        ("agent", ("Thank you for contacting us. We have received your request and will get "
                  "back to you within 24 hours.")),
        ("agent", "@111 Sorry about that! Can you send us your order number?"),
    ])
    second = make("b", [
        ("customer", "@Acme  My parcel 456 is LATE"),
        ("agent", "@222 Sorry about that!  Can you send us your order number?"),
        ("agent", "@222 This is an automated message: please do not reply to this email."),
    ])
    result = curate([first, second])
    assert [(e.ticket_id, e.position) for e in result.examples] == [("a", 3)]
    assert result.report.dropped == {"empty": 1, "auto_reply": 2, "near_duplicate": 1}
    assert result.report.examples_kept == 1


def test_same_reply_to_a_different_question_is_kept() -> None:
    reply = ("agent", "Happy to help! Please DM us.")
    result = curate([make("a", [("customer", "my bill is wrong"), reply]),
                     make("b", [("customer", "my phone is broken"), reply])])
    assert len(result.examples) == 2


@pytest.mark.parametrize(("text", "auto"), [
    ("Thank you for contacting us. We have received your request and will respond soon.", True),
    ("This is an automated response.", True),
    ("I'm out of the office until Monday.", True),
    ("Please do not reply to this message.", True),
    ("Your ticket number is 4521.", True),
    ("Rachael is currently out of the office. She will contact you tomorrow.", False),
    ("We've received your DM, Lezlie. To resolve a blue screen, check this link.", False),
    ("You can turn off the automatic updates option in Settings.", False),
    ("Thanks for contacting us. Have you tried restarting your Mac?", False),
])
def test_auto_reply_heuristic_is_conservative(text: str, auto: bool) -> None:
    assert is_auto_reply(text) is auto


@pytest.mark.parametrize(("text", "reason"), [
    ("I have escalated to the tech team and will notify you.", ("escalated to a specialist or "
                                                               "manager")),
    ("We're looping in an expert who can help you out here.", ("escalated to a specialist or "
                                                              "manager")),
    ("Can you DM us your account's email address?", "moved to private message"),
    ("Please send us a Direct Message with your Sub ID.", "moved to private message"),
    ("Feel free to give us a call at 1-800-IFLYSWA.", "customer asked to call"),
    ("Chat with us here: https://t.co/6YdK7bvQN7", "moved to live chat"),
    ("Please visit the nearest Microsoft Store in your area.", "handed to another team"),
    ("Thanks for reaching out, have a great day.", "handed off by agent"),
])
def test_escalation_reason_keywords(text: str, reason: str) -> None:
    assert escalation_reason(text) == reason


def test_report_lines_summarise_counts() -> None:
    tickets = [TWEETS, make("o", [("customer", "hi"), ("agent", "hello")], status="open"),
               make("e", [("customer", "hi"), ("agent", "  ")])]
    report = curate(tickets).report
    assert (report.tickets_seen, report.tickets_kept) == (3, 2)
    assert (report.examples_kept, report.examples_escalate) == (2, 1)
    assert report.lines() == [
        "tickets: 3 seen, 2 kept",
        "examples: 2 kept (1 escalate, 1 reply)",
        "dropped tickets (status:open): 1",
        "dropped agent messages (empty): 1",
    ]


def test_scoring_example_ignores_curation_filters() -> None:
    ticket = make("s", [("customer", "hi jane@example.com"), ("agent", "Hello!"),
                        ("customer", "still broken"),
                        ("agent", "This is an automated message.")], reopened=True, csat="bad")
    example = scoring_example(ticket, order=7)
    assert example is not None
    assert (example.position, example.order) == (3, 7)
    assert example.decision == Decision("reply", "This is an automated message.")
    assert example.context.messages[0].text == "hi [EMAIL]"
    assert example.pii == {"EMAIL": ["jane@example.com"]}
    assert curate([ticket]).examples == []
    assert scoring_example(make("n", [("customer", "hello?")])) is None


def test_scoring_example_of_escalated_ticket_is_escalate() -> None:
    example = scoring_example(TWEETS)
    assert isinstance(example, Example) and example.decision is not None
    assert (example.position, example.decision.action) == (4, "escalate")


def test_suggestion_example_for_open_ticket_has_all_messages_and_no_decision() -> None:
    ticket = make("open", [("customer", "@Acme card 4111 1111 1111 1111 charged twice"),
                           ("agent", "@999 Sorry! Checking."),
                           ("customer", "@Acme any news? I'm at 221B Baker Street")],
                  status="open")
    example = suggestion_example(ticket)
    assert example.decision is None
    assert example.position == 3
    assert [m.text for m in example.context.messages] == [
        "[HANDLE] card [CARD] charged twice", "[HANDLE] Sorry! Checking.",
        "[HANDLE] any news? I'm at [ADDRESS]"]
    assert example.pii == {"CARD": ["4111 1111 1111 1111"], "ADDRESS": ["221B Baker Street"],
                           "HANDLE": ["@999"]}
    assert fill_placeholders("[HANDLE] shipping to [ADDRESS]", example.pii) == (
        "@999 shipping to 221B Baker Street")


def test_suggestion_example_for_answered_ticket_is_the_scoring_example() -> None:
    assert suggestion_example(TWEETS, order=3) == scoring_example(TWEETS, order=3)


def _norm(text: str) -> str:
    """The test's own normalisation for near-duplicate pairs (independent oracle)."""
    text = re.sub(r"@\w+", "@", text.lower())
    return " ".join(re.sub(r"\d+", "0", text).split())


def _expected(tickets: list[Ticket]) -> tuple[int, int, int, int]:
    """(kept tickets, agent turns in them, expected escalate examples, duplicate pairs)."""
    kept = [t for t in tickets if t.status in ("solved", "closed") and not t.reopened
            and t.csat != "bad" and any(m.role == "agent" for m in t.messages)]
    seen: set[tuple[str, str]] = set()
    escalate = duplicates = turns = 0
    for ticket in kept:
        agents = [i for i, m in enumerate(ticket.messages) if m.role == "agent"]
        customer = ""
        for index, message in enumerate(ticket.messages):
            if message.role == "customer":
                customer = message.text
            if message.role != "agent":
                continue
            turns += 1
            key = (_norm(customer), _norm(message.text))
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            escalate += bool(ticket.escalated) and index == agents[-1]
    return len(kept), turns, escalate, duplicates


@pytest.mark.parametrize("redact_pii", [True, False])
def test_real_tweetsumm_counts_are_sane(redact_pii: bool) -> None:
    tickets = real_tickets("tweetsumm.jsonl")
    kept, turns, escalate, duplicates = _expected(tickets)
    result = curate(tickets, redact_pii=redact_pii)
    report = result.report
    message_drops = sum(report.dropped.get(r, 0) for r in ("empty", "auto_reply",
                                                            "near_duplicate"))
    assert report.tickets_seen == len(tickets)
    assert report.tickets_kept == kept
    assert report.examples_kept == len(result.examples) == turns - message_drops
    assert report.dropped.get("auto_reply", 0) + report.dropped.get("empty", 0) <= 0.005 * turns
    assert report.dropped.get("near_duplicate", 0) == duplicates
    assert report.examples_escalate == escalate
    escalations = [e for e in result.examples if e.decision and e.decision.action == "escalate"]
    assert len(escalations) == escalate
    assert len({e.ticket_id for e in escalations}) == escalate
    reasons = {e.decision.reason for e in escalations if e.decision}
    assert "moved to private message" in reasons
    if redact_pii:
        assert all("[HANDLE]" in render_context(e.context) for e in escalations)


def test_real_bitext_counts_are_sane() -> None:
    tickets = real_tickets("bitext.jsonl")
    kept, turns, escalate, _duplicates = _expected(tickets)
    result = curate(tickets)
    report = result.report
    assert (report.tickets_seen, report.tickets_kept) == (len(tickets), kept)
    assert report.examples_kept == turns - sum(report.dropped.get(r, 0) for r in
                                               ("empty", "auto_reply", "near_duplicate"))
    assert report.examples_escalate == escalate == sum(1 for t in tickets if t.escalated)
    categories = {e.context.category for e in result.examples}
    assert categories == {t.category for t in tickets}
