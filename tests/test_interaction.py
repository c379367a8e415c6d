"""Interaction JSONL v1 validation: what is accepted, what is rejected and why."""

from __future__ import annotations

import json

import pytest

from trainer.interaction import InvalidTicket, parse_line, parse_ticket

GOOD = {
    "id": "t-1", "created_at": "2026-03-01T10:00:00Z", "subject": "Where is my order?",
    "channel": "email", "category": "order_tracking", "tags": ["wismo"],
    "messages": [
        {"role": "customer", "author_id": "c1", "text": "Where is it?", "created_at": None},
        {"role": "agent", "author_id": "a1", "text": "On its way.",
         "created_at": "2026-03-01T11:00:00+00:00"},
    ],
    "status": "solved", "escalated": False, "reopened": None, "csat": "good",
    "zendesk_group": "Tier 1",
}


def test_valid_ticket_round_trips_with_unknown_fields() -> None:
    ticket = parse_ticket(GOOD)
    assert ticket.id == "t-1" and len(ticket.messages) == 2
    assert ticket.created_at is not None and ticket.created_at.tzinfo is not None
    assert ticket.extra == {"zendesk_group": "Tier 1"}
    again = parse_ticket(json.loads(json.dumps(ticket.to_dict())))
    assert again == ticket


@pytest.mark.parametrize("change, reason", [
    ({"id": None}, "missing required field 'id'"),
    ({"id": 12}, "'id' must be a non-empty string"),
    ({"messages": []}, "at least one message"),
    ({"messages": "hi"}, "'messages'"),
    ({"messages": [{"role": "bot", "text": "x"}]}, "role must be one of"),
    ({"messages": [{"role": "agent", "text": 5}]}, "text must be a string"),
    ({"messages": [{"role": "agent", "text": "x" * 10_000_000}]}, "the limit is"),
    ({"escalated": "yes"}, "'escalated' must be true, false or null"),
    ({"tags": "a,b"}, "'tags' must be a list"),
    ({"csat": 5}, "'csat' must be"),
    ({"created_at": "yesterday"}, "not ISO-8601"),
    ({"subject": ["x"]}, "'subject' must be a string"),
])
def test_invalid_records_say_why(change: dict, reason: str) -> None:
    record = {k: v for k, v in {**GOOD, **change}.items() if v is not None or k != "id"}
    with pytest.raises(InvalidTicket, match=reason):
        parse_ticket(record)


def test_line_level_errors() -> None:
    with pytest.raises(InvalidTicket, match="not valid UTF-8"):
        parse_line(b'{"id": "\xff"}')
    with pytest.raises(InvalidTicket, match="invalid JSON"):
        parse_line(b'{"id": "a", "messages": [')
    with pytest.raises(InvalidTicket, match="must be a JSON object"):
        parse_line(b"[1, 2]")
