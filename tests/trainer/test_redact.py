"""PII redaction: typed placeholders, careful negatives, and filling values back in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trainer.interaction import Message, Ticket, parse_ticket, read_jsonl
from trainer.redact import (
    fill_placeholders,
    iban_valid,
    luhn_valid,
    redact,
    redact_ticket,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "canonical"


def real_tickets(name: str) -> list[Ticket]:
    """The tickets of a shared canonical file, or skip with the reason."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"real data {path} is not present beside this checkout")
    return list(read_jsonl(str(path)))


@pytest.mark.parametrize(("text", "expected", "found"), [
    ("@AppleSupport my email is jane.doe@example.com",
     "[HANDLE] my email is [EMAIL]",
     {"HANDLE": ["@AppleSupport"], "EMAIL": ["jane.doe@example.com"]}),
    ("Please call our New Accounts Team at 877-399-3086, for assistance.",
     "Please call our New Accounts Team at [PHONE], for assistance.",
     {"PHONE": ["877-399-3086"]}),
    ("my card 4111 1111 1111 1111 was charged twice", "my card [CARD] was charged twice",
     {"CARD": ["4111 1111 1111 1111"]}),
    ("card: 5500-0000-0000-0004", "card: [CARD]", {"CARD": ["5500-0000-0000-0004"]}),
    ("amex 378282246310005.", "amex [CARD].", {"CARD": ["378282246310005"]}),
    ("refund to GB82 WEST 1234 5698 7654 32 THANKS", "refund to [IBAN] THANKS",
     {"IBAN": ["GB82 WEST 1234 5698 7654 32"]}),
    ("IBAN DE89370400440532013000", "IBAN [IBAN]", {"IBAN": ["DE89370400440532013000"]}),
    ("deliver to 221B Baker Street, London", "deliver to [ADDRESS], London",
     {"ADDRESS": ["221B Baker Street"]}),
    ("Gemma 18 Cofton Grove B314NP", "Gemma [ADDRESS] B314NP", {"ADDRESS": ["18 Cofton Grove"]}),
    ("at 350 5th Avenue today", "at [ADDRESS] today", {"ADDRESS": ["350 5th Avenue"]}),
    ("reach me on (977) 625-2661", "reach me on [PHONE]", {"PHONE": ["(977) 625-2661"]}),
    ("UK office 020 7946 0958", "UK office [PHONE]", {"PHONE": ["020 7946 0958"]}),
    ("or +44 20 7946 0958 / +912249552484", "or [PHONE] / [PHONE]",
     {"PHONE": ["+44 20 7946 0958", "+912249552484"]}),
    ("1-800-241-4141 or 1.877.359.8474", "[PHONE] or [PHONE]",
     {"PHONE": ["1-800-241-4141", "1.877.359.8474"]}),
    ("@idea_cares my number 9870347384 has been deactivated",
     "[HANDLE] my number [PHONE] has been deactivated",
     {"HANDLE": ["@idea_cares"], "PHONE": ["9870347384"]}),
    ("@135060 Hi @jane_doe and a.b+c@mail.co.uk", "[HANDLE] Hi [HANDLE] and [EMAIL]",
     {"HANDLE": ["@135060", "@jane_doe"], "EMAIL": ["a.b+c@mail.co.uk"]}),
])
def test_pii_is_replaced_by_typed_placeholders(text: str, expected: str,
                                               found: dict[str, list[str]]) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.found == found


@pytest.mark.parametrize("text", [
    "how can I cancel purchase 113542617735902?",  # Luhn-valid, but an order number
    "order 113542617735902 and order #A12345",
    "Amazon order 408-1929729-8238743 was delayed",
    "ref 5500 0000 0000 0004",  # card-shaped, but after an order-like word
    "TICKET # 0062393864417",
    "it cost $19.99, then €1,200.00 and £5",
    "on 2017-11-03, 03/11/2017, Nov 3 and 3 Nov 2017",
    "2017-11-03T10:30:00Z at 10:30, 12:45:00, between 9am-5pm",
    "iOS 11.1.2 and watchOS 4.1, build 14G60, FF 52.4.0",
    ("Identify the order with the number {{Purchase ID Anonymized}} at {{Customer Support Phone "
    "Number}}"),
    "Locate the order associated with the number 370795561790.",
    "4111111111111112 is not Luhn-valid",
    "GB82 WEST 1234 5698 7654 33 has a bad checksum",
    "the 16:03 Bristol Parkway - London Paddington train",
    "router at 192.168.1.1, 2/2, 1/3 and 100%",
    "see https://t.co/abc@def and https://example.com/call/877-399-3086",
    "a plain 12 digit run 987654321012 with no phone word",
])
def test_order_numbers_prices_dates_versions_are_kept(text: str) -> None:
    assert redact(text).text == text
    assert redact(text).found == {}


def test_redaction_is_idempotent() -> None:
    once = redact("@jane call 877-399-3086 or mail jane@example.com, 221B Baker Street")
    twice = redact(once.text)
    assert twice.text == once.text
    assert twice.found == {}


@pytest.mark.parametrize(("digits", "valid"), [
    ("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("", False),
])
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(("iban", "valid"), [
    ("GB82WEST12345698765432", True), ("GB82WEST12345698765433", False),
    ("DE89370400440532013000", True), ("FR1420041010050500013M02606", True), ("GB82", False),
])
def test_iban_checksum(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


def test_fill_uses_values_of_the_current_ticket_in_order() -> None:
    found = {"EMAIL": ["a@x.com", "b@y.com"], "HANDLE": ["@jane"]}
    text = "[HANDLE] we wrote to [EMAIL], [EMAIL] and [EMAIL]; [HANDLE]"
    assert fill_placeholders(text, found) == (
        "@jane we wrote to a@x.com, b@y.com and b@y.com; @jane")


def test_fill_keeps_placeholders_it_has_no_value_for() -> None:
    text = "Call [PHONE] or write to [EMAIL] about [CARD]."
    assert fill_placeholders(text, {"EMAIL": ["me@x.org"], "PHONE": []}) == (
        "Call [PHONE] or write to me@x.org about [CARD].")
    assert fill_placeholders("[NAME] [Order Number]", {"NAME": ["x"]}) == "[NAME] [Order Number]"


def test_fill_round_trips_a_redaction() -> None:
    text = ("@jane your card 4111 1111 1111 1111 and IBAN GB82 WEST 1234 5698 7654 32, "
            "call 877-399-3086")
    result = redact(text)
    assert "4111" not in result.text
    assert fill_placeholders(result.text, result.found) == text


def test_redact_ticket_redacts_subject_texts_and_author_ids() -> None:
    raw = parse_ticket({
        "id": "t1", "subject": "refund to jane@example.com", "csat": "good", "tags": ["refund"],
        "messages": [
            {"role": "customer", "author_id": "@jane", "text": "I'm at 221B Baker Street"},
            {"role": "agent", "author_id": "agent-7", "text": "@jane call 877-399-3086"},
            {"role": "note", "text": "card 4111-1111-1111-1111 on file"},
        ],
    })
    red = redact_ticket(raw)
    assert red.subject == "refund to [EMAIL]"
    assert [m.text for m in red.messages] == [
        "I'm at [ADDRESS]", "[HANDLE] call [PHONE]", "card [CARD] on file"]
    assert [m.author_id for m in red.messages] == ["[HANDLE]", "agent-7", None]
    assert (red.id, red.csat, red.tags, red.status) == (raw.id, raw.csat, raw.tags, raw.status)
    assert raw.messages[0] == Message("customer", "I'm at 221B Baker Street", "@jane")


def test_real_bitext_has_no_false_positives() -> None:
    tickets = real_tickets("bitext.jsonl")
    texts = [m.text for t in tickets for m in t.messages]
    placeholders = re.compile(r"\{\{[^{}]*\}\}")
    changed = []
    for text in texts:
        result = redact(text)
        assert placeholders.findall(result.text) == placeholders.findall(text)
        if result.text != text:
            changed.append(result.found)
    # bitext is pre-anonymised: the only PII left is the vendor's own support address
    assert all(set(found) == {"EMAIL"} for found in changed), changed[:3]
    long_numbers = sum(len(re.findall(r"\d{9,}", text)) for text in texts)
    kept_numbers = sum(len(re.findall(r"\d{9,}", redact(text).text)) for text in texts)
    assert long_numbers > 100
    assert kept_numbers == long_numbers


def test_real_tweetsumm_handles_are_all_redacted() -> None:
    tickets = real_tickets("tweetsumm.jsonl")
    agent_texts = [m.text for t in tickets for m in t.messages if m.role == "agent"]
    opening = [text for text in agent_texts if re.match(r"\s*@\w", text)]
    assert len(opening) > 0.9 * len(agent_texts)
    for text in opening:
        result = redact(text)
        assert result.text.lstrip().startswith("[HANDLE]")
        assert re.search(r"(?<![\w/])@\w", re.sub(r"https?://\S+", "", result.text)) is None
