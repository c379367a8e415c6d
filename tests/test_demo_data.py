"""The Northwind Outfitters demo account: valid, deterministic, and its rules really in the data."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plugin_backend.demo_data import generate_demo_tickets, write_demo_dataset
from trainer.interaction import parse_ticket, read_jsonl

SHARES = {"order_tracking": 0.20, "returns": 0.18, "cancellations": 0.15,
          "billing_disputes": 0.17, "account_access": 0.12, "multi_step": 0.18}
START = datetime(2026, 1, 5, tzinfo=UTC)
END = datetime(2026, 10, 1, tzinfo=UTC)

# The documented escalation rules, written independently of the generator.
LEGAL_OR_PRESS = re.compile(
    r"lawyer|attorney|legal action|small claims|journalist|reporter|newspaper|\bpress\b|"
    r"\bthe media\b", re.IGNORECASE)
BANK_DISPUTE = re.compile(r"charge ?-?back|disput", re.IGNORECASE)
TAKEOVER = re.compile(r"hack|someone else|wasn'?t me|didn'?t place|no longer have access|"
                      r"can'?t verify|cannot verify", re.IGNORECASE)
AMOUNT = re.compile(r"\$(\d{1,3}(?:,\d{3})*(?:\.\d{2})?)")


def expected_group(ticket: dict) -> str | None:
    """The escalation group the documented rules give for a ticket's customer text."""
    text = "\n".join(m["text"] for m in ticket["messages"] if m["role"] == "customer")
    if LEGAL_OR_PRESS.search(text):
        return "Escalations"
    if ticket["category"] == "billing_disputes" and (
            BANK_DISPUTE.search(text)
            or any(float(a.replace(",", "")) > 500 for a in AMOUNT.findall(text))):
        return "Billing"
    if ticket["category"] == "account_access" and TAKEOVER.search(text):
        return "Trust & Safety"
    return None


@pytest.fixture(scope="module")
def tickets() -> list[dict]:
    return generate_demo_tickets()


def test_deterministic_and_seed_dependent(tickets: list[dict]) -> None:
    assert generate_demo_tickets() == tickets
    assert json.dumps(generate_demo_tickets(600, 7)) == json.dumps(tickets)
    assert generate_demo_tickets(600, 8) != tickets


def test_every_record_is_valid_interaction_v1(tickets: list[dict]) -> None:
    assert len(tickets) == 600
    for record in tickets:
        ticket = parse_ticket(record)
        assert ticket.messages[0].role == "customer"
        assert ticket.channel in ("email", "chat") and ticket.subject
        assert ticket.extra.keys() == {"escalation_group"}


def test_ids_unique_and_numbered(tickets: list[dict]) -> None:
    ids = [t["id"] for t in tickets]
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == [f"nw-{i:05d}" for i in range(1, 601)]


def test_timestamps_in_window_ascending_ish_not_sorted(tickets: list[dict]) -> None:
    created = [parse_ticket(t).created_at for t in tickets]
    assert all(START <= c < END for c in created)
    assert min(created).month == 1 and max(created).month == 9
    assert created != sorted(created)  # lightly shuffled in the file
    inversions = sum(a > b for a, b in itertools.pairwise(created))
    assert inversions < len(created) * 0.25
    for record in tickets:
        assert record["created_at"].endswith("Z")
        ticket = parse_ticket(record)
        times = [m.created_at for m in ticket.messages]
        assert all(t is not None and t >= ticket.created_at for t in times)
        assert times == sorted(times)


def test_category_proportions(tickets: list[dict]) -> None:
    counts = Counter(t["category"] for t in tickets)
    assert set(counts) == set(SHARES)
    for category, share in SHARES.items():
        assert abs(counts[category] / len(tickets) - share) < 0.02, (category, counts)


def test_escalation_rate_and_groups(tickets: list[dict]) -> None:
    escalated = [t for t in tickets if t["escalated"]]
    assert 0.08 <= len(escalated) / len(tickets) <= 0.16
    groups = Counter(t["escalation_group"] for t in escalated)
    assert set(groups) == {"Billing", "Trust & Safety", "Escalations"}
    assert all(t["escalation_group"] is None for t in tickets if not t["escalated"])


def test_escalations_follow_the_documented_rules(tickets: list[dict]) -> None:
    for ticket in tickets:
        if ticket["escalated"]:
            assert ticket["escalation_group"] == expected_group(ticket), ticket["id"]
            last_agent = [m for m in ticket["messages"] if m["role"] == "agent"][-1]
            assert ticket["escalation_group"] in last_agent["text"]  # the hand-off names it
        else:  # the rule holds both ways: no trigger words in tickets that stayed
            assert expected_group(ticket) is None, ticket["id"]


def test_small_billing_disputes_are_refunded_directly(tickets: list[dict]) -> None:
    small = [t for t in tickets if t["category"] == "billing_disputes" and not t["escalated"]
             and t["status"] in ("solved", "closed") and t["csat"] != "bad"]
    assert small
    for ticket in small:
        agent_text = " ".join(m["text"] for m in ticket["messages"] if m["role"] == "agent")
        assert "refunded" in agent_text, ticket["id"]


def test_outcome_labels(tickets: list[dict]) -> None:
    n = len(tickets)
    status = Counter(t["status"] for t in tickets)
    assert status["solved"] + status["closed"] >= 0.9 * n
    assert 0.01 <= (status["open"] + status["pending"]) / n <= 0.05
    assert 0.02 <= sum(bool(t["reopened"]) for t in tickets) / n <= 0.06
    csat = Counter(t["csat"] for t in tickets)
    assert 0.55 <= csat["good"] / n <= 0.65 and 0.04 <= csat["bad"] / n <= 0.08
    for ticket in tickets:
        if ticket["status"] in ("open", "pending"):
            assert not ticket["escalated"] and ticket["csat"] is None
    autoreplies = [t for t in tickets if any(m["text"].startswith(
        "Thanks for contacting Northwind Outfitters") for m in t["messages"])]
    assert 0.01 <= len(autoreplies) / n <= 0.04
    assert all(t["channel"] == "email" for t in autoreplies)


def test_house_tone_and_sloppy_bad_csat(tickets: list[dict]) -> None:
    for ticket in tickets:
        first = ticket["messages"][0]["text"]
        for m in ticket["messages"]:
            if m["role"] != "agent" or m["author_id"] == "northwind-autoreply":
                continue
            house = m["text"].startswith("Hi ") and m["text"].rstrip().endswith(
                ", Northwind Support")
            if ticket["csat"] == "bad":
                assert not house, ticket["id"]
            else:
                assert house and re.match(r"[\w-]+$", m["author_id"]), ticket["id"]
        assert first.strip()
    authors = Counter(m["author_id"] for t in tickets for m in t["messages"]
                      if m["role"] == "agent")
    assert {"agent-maria", "agent-tom", "agent-li"} <= set(authors)


def test_realistic_texts(tickets: list[dict]) -> None:
    customer = "\n".join(m["text"] for t in tickets for m in t["messages"]
                         if m["role"] == "customer")
    assert len(re.findall(r"NW-\d{6}", customer)) > 300
    assert re.search(r"[\w.]+@(?:mail\.)?example\.(?:com|net|org)", customer)
    assert len(re.findall(r"555[-. ]01\d\d", customer)) > 20
    assert re.search(r"\bteh\b|recieved|\bordr\b|becuase", customer)
    multi = [t for t in tickets if t["category"] == "multi_step"
             and t["status"] in ("solved", "closed") and t["csat"] != "bad"]
    for ticket in multi:  # 3-6 turns, the agent asks for the order number / a photo first
        spoken = [m for m in ticket["messages"]
                  if m["role"] != "note" and m["author_id"] != "northwind-autoreply"]
        assert 3 <= len(spoken) <= 6, ticket["id"]
        assert spoken[1]["role"] == "agent" and "order number" in spoken[1]["text"]
    turns = Counter(sum(m["role"] == "customer" for m in t["messages"]) for t in tickets)
    assert min(turns) >= 1 and max(turns) <= 4


def test_write_demo_dataset_roundtrip(tmp_path: Path) -> None:
    path = write_demo_dataset(tmp_path / "demo" / "northwind.jsonl", n=50, seed=3)
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert len(lines) == 50
    assert [t.to_dict()["id"] for t in read_jsonl(str(path))] == \
        [r["id"] for r in generate_demo_tickets(50, 3)]
