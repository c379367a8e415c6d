"""adapt_reply: another ticket's name, identifiers and amounts never reach this customer.

Samples follow the demo account's style (agents write "Hi {first},", customers sign
"Thanks,\\n{first}" or their full name) and TweetSumm's (an @handle, then "Hi Chris.").
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trainer.adapt import (
    AMOUNT_PLACEHOLDER,
    ORDER_PLACEHOLDER,
    TicketFacts,
    adapt_reply,
    facts_from_messages,
    find_amounts,
    find_identifiers,
    rag_context,
)
from trainer.interaction import Message
from trainer.prompt import Context
from trainer.retrieval import ResolutionRecord


def customer(text: str) -> Message:
    return Message(role="customer", text=text)


def agent(text: str) -> Message:
    return Message(role="agent", text=text)


MATEO = facts_from_messages([customer(
    "Hi Northwind team,\n\nMy order NW-482913 still hasn't arrived, I paid $59.00 for it.\n\n"
    "Thanks,\nMateo")])
MATEO_REPLY = (
    "Hi Mateo,\n\nThanks for the details. Order NW-482913 is delayed at the Memphis, TN hub; "
    "I've refunded the $59.00 and the $6.95 shipping. A $5 return fee applies if you send it "
    "back: https://northwindoutfitters.com/returns/NW-482913\n\nThanks again, Mateo!\n\n"
    "— Maria, Northwind Support")


# ------------------------------------------------------------------------------ names
@pytest.mark.parametrize("messages, name", [
    ([customer("the Cascade Rain Shell in L doesnt fit, can i get a S instead?\n\nPriyanka")],
     "Priyanka"),
    ([customer("Only got half my order, no Tundra Parka in the box\n\nThank you,\nSamuel Patel")],
     "Samuel"),
    ([customer("Hello,\n\nplease cancel my order NW-166103.\n\nRegards,\nFatima Khan")],
     "Fatima"),
    ([customer("Hi, my name is Olivia and my parcel never came.")], "Olivia"),
    ([customer("Hello, this is Kenji. Where is my refund?")], "Kenji"),
    ([customer("@AskAmex Where do I write to higher management?"),
      agent("@216929 Hi Chris. Which U.S. based card is this concerning? ^Clarissa")], "Chris"),
    ([customer("pls update my address"), agent("Hi Zoe! Done. — Tom, Northwind Support"),
      customer("thanks\n\nJenna")], "Zoe"),  # the agent's greeting wins over a sign-off
])
def test_customer_name_sources(messages: list[Message], name: str) -> None:
    assert facts_from_messages(messages).customer_name == name


def test_chat_subject_names_the_customer() -> None:
    assert facts_from_messages([customer("hi")], "Chat with Zoe Chen").customer_name == "Zoe"


@pytest.mark.parametrize("messages", [
    [customer("Where is my order?\n\nThanks, I")],
    [customer("Hi Team,\nmy parcel is late.\n\nThanks")],
    [customer("Hello Northwind team,\n\nmy parcel is late.\n\nRegards,\nNorthwind Outfitters")],
    [customer("This is Ridiculous! Three weeks and nothing.")],
    [customer("my order is late\n\nPortland Oregon")],
    [customer("order is late\n\nSent from my iPhone")],
    [customer("HELP\n\nURGENT")],
    [customer("@AppleSupport my watch stopped counting steps"),
     agent("@135060 Hi There! Let's look into this. ^JP"), agent("@135060 Hi I never heard back")],
    [customer("Perfect\n\nThanks Maria"), agent("Hello!\n\n— Maria, Northwind Support")],
])
def test_no_false_names(messages: list[Message]) -> None:
    assert facts_from_messages(messages).customer_name is None


def test_greeting_is_swapped_to_the_current_customer() -> None:
    samuel = facts_from_messages([customer("Where is NW-177659?\n\nThanks,\nSamuel")])
    out = adapt_reply(MATEO_REPLY, MATEO, samuel)
    assert out.startswith("Hi Samuel,\n\n")
    assert "Mateo" not in out and "Thanks again, Samuel!" in out
    assert "— Maria, Northwind Support" in out  # the agent's own signature stays


def test_unknown_current_name_drops_the_name() -> None:
    out = adapt_reply(MATEO_REPLY, MATEO, TicketFacts())
    assert out.startswith("Hi there,\n\n") and "Thanks again!" in out and "Mateo" not in out
    assert adapt_reply("Dear Mateo Rossi,\nThank you.", None, TicketFacts()) \
        == "Hello,\nThank you."
    assert adapt_reply("Good morning Harri. What service?", None, TicketFacts()) \
        == "Good morning. What service?"
    assert adapt_reply("[HANDLE] Hi Chris. Which card?", None, TicketFacts(customer_name="Ann")) \
        == "[HANDLE] Hi Ann. Which card?"


def test_names_that_are_also_words_are_swapped_only_as_addressees() -> None:
    zoe = TicketFacts(customer_name="Zoe")
    assert adapt_reply("Hi April, it ships today.", None, zoe) == "Hi Zoe, it ships today."
    assert adapt_reply("Hi Hope you're well!", None, zoe) == "Hi Hope you're well!"


def test_greetings_without_a_name_are_untouched() -> None:
    for reply in ("Hi there, thanks for reaching out.", "Hi [EMAIL], it ships today.",
                  "Hello! Sorry about this.", "Hi I never heard back from you.",
                  "Hi Team, forwarding this.", "Hi, I'm Maria from support.",
                  "[HANDLE] Hi How can I help?", "[HANDLE] Hi Kindly DM us."):
        assert adapt_reply(reply, None, TicketFacts(customer_name="Zoe")) == reply


# ------------------------------------------------------------------------------ identifiers
def test_other_tickets_order_number_becomes_the_current_one() -> None:
    current = facts_from_messages([customer("Hi, order NW-913176 never came.\n\nThanks,\nZoe")])
    out = adapt_reply(MATEO_REPLY, MATEO, current)
    assert "NW-482913" not in out
    assert "Order NW-913176 is delayed" in out and out.count("NW-913176") == 2  # URL too


def test_ambiguous_or_missing_order_number_becomes_a_placeholder() -> None:
    two = facts_from_messages([customer("Orders NW-111111 and NW-222222 are both late.")])
    none = facts_from_messages([customer("My parcel is late.")])
    for current in (two, none):
        out = adapt_reply(MATEO_REPLY, MATEO, current)
        assert "NW-482913" not in out and f"Order {ORDER_PLACEHOLDER} is delayed" in out


def test_shape_decides_which_value_replaces() -> None:
    current = facts_from_messages([customer("Order #48213, tracking 1Z97K95X8735043770")])
    reply = "Order #77120 shipped with UPS, tracking 1Z11A22B3344556677, ref 113542617735902."
    out = adapt_reply(reply, None, current)
    assert out == (f"Order #48213 shipped with UPS, tracking 1Z97K95X8735043770, "
                   f"ref {ORDER_PLACEHOLDER}.")


def test_current_tickets_own_identifiers_are_never_replaced() -> None:
    current = facts_from_messages([
        customer("Where is NW-913176?"),
        agent("Hi Zoe, it shipped with tracking 1Z97K95X8735043770. — Li, Northwind Support")])
    reply = "Hi Zoe, NW-913176 is on its way (tracking 1Z97K95X8735043770)."
    assert adapt_reply(reply, None, current) == reply
    assert adapt_reply(reply, MATEO, current) == reply


def test_generated_reply_with_another_tickets_order_number() -> None:
    current = facts_from_messages([customer("My order NW-913176 is late.\n\nThanks,\nZoe")])
    out = adapt_reply("Hi Mateo! Order NW-482913 ships today.", None, current)
    assert out == "Hi Zoe! Order NW-913176 ships today."


@pytest.mark.parametrize("text", [
    "Delivered on 2026-01-05 at 10:30.", "It cost $59.99 (59.99 USD, €12, £1,149.00).",
    "Update to iOS 11.1.2 or v4.1.", "Call 877-399-3086 or 1-800-555-0199.",
    "The Alder Ridge 3-Season Tent, 40L pack, 2017 model, 128GB, 5000mAh, 400 lumens.",
    "Use code SPRING20 by 12/31/2026.", "Headlamp 400 Lumen, Wool Hiking Socks 3-Pack.",
])
def test_dates_times_prices_versions_phones_units_are_not_identifiers(text: str) -> None:
    assert find_identifiers(text) == []


def test_identifier_shapes() -> None:
    text = ("Order #48213, NW-123456, A1B2C3D4, 113542617735902, 112-1234567-1234567, "
            "card ending in 6618, https://example.com/r/NW-999999")
    assert find_identifiers(text) == ["#48213", "NW-123456", "A1B2C3D4", "113542617735902",
                                      "112-1234567-1234567", "6618"]


# ------------------------------------------------------------------------------ amounts
def test_policy_amount_stays_other_customers_amount_is_replaced() -> None:
    current = facts_from_messages([customer("I was charged $129.00 for NW-913176.")])
    out = adapt_reply(MATEO_REPLY, MATEO, current)
    assert "$59.00" not in out and "refunded the $129.00" in out
    assert "$6.95 shipping" in out and "$5 return fee" in out


def test_several_current_amounts_give_a_placeholder() -> None:
    current = facts_from_messages([customer("Charged $129.00 and then $12.50 again?")])
    out = adapt_reply(MATEO_REPLY, MATEO, current)
    assert f"refunded the {AMOUNT_PLACEHOLDER}" in out and "$59.00" not in out


def test_without_a_source_amounts_are_left_alone() -> None:
    reply = "I've refunded the $59.00 to your card."
    assert adapt_reply(reply, None, TicketFacts(amounts=("$129.00",))) == reply


REFUND_REPLY = ("Hi Mateo, I've refunded $99.00 for the Ridgeline Softshell Pants. Orders over "
                "$75 ship free, and the $49.00 Trail Club renewal is cancelled.")
PEERS = ["Hi Ana, I've refunded $45.00 for the Trail Runner. Orders over $75 ship free.",
         "Hi Sam, your $49.00 Trail Club renewal is cancelled and $12.50 refunded."]


def test_an_amount_the_peer_replies_do_not_share_is_that_tickets_own() -> None:
    # $99.00 was the other ticket's refund; $75 and $49.00 recur in similar replies: policy.
    current = facts_from_messages([customer("Please refund my order NW-913176, I'm Zoe.")])
    out = adapt_reply(REFUND_REPLY, MATEO, current, PEERS)
    assert "$99.00" not in out and f"refunded {AMOUNT_PLACEHOLDER} for" in out
    assert "over $75 ship free" in out and "$49.00 Trail Club" in out
    one = facts_from_messages([customer("I paid $64.00 for the pants, refund please.")])
    assert "refunded $64.00 for" in adapt_reply(REFUND_REPLY, MATEO, one, PEERS)


def test_without_peers_agent_amounts_stay_and_the_tickets_own_amounts_always_stay() -> None:
    current = facts_from_messages([customer("Please refund my order NW-913176, I'm Zoe.")])
    assert "$99.00" in adapt_reply(REFUND_REPLY, MATEO, current)
    mine = facts_from_messages([customer("Was I refunded the $99.00 yet?")])
    assert "refunded $99.00 for" in adapt_reply(REFUND_REPLY, MATEO, mine, PEERS)
    told = facts_from_messages([customer("Hi, the pants arrived torn."),
                                agent("Sorry! I've refunded $99.00 to your card."),
                                customer("Do I need to send them back?")])
    assert "refunded $99.00 for" in adapt_reply(REFUND_REPLY, MATEO, told, PEERS)


def test_peers_are_the_other_tickets_among_the_hits() -> None:
    from trainer.adapt import peer_replies

    hits = [SimpleNamespace(record=ResolutionRecord(t, "billing", "q", r, False))
            for t, r in (("t1", REFUND_REPLY), ("t1", "Hi, $99.00 refunded."),
                         ("t2", PEERS[0]))]
    assert peer_replies(hits, hits[0]) == [PEERS[0]]   # type: ignore[arg-type]


def test_amounts_found() -> None:
    assert find_amounts("$59.00, €12, 59.99 USD and 1,149.00 dollars; not 3.5 or 2026") == [
        "$59.00", "€12", "59.99 USD", "1,149.00 dollars"]


# ------------------------------------------------------------------------------ context
def test_rag_context_adapts_every_example_to_the_current_ticket() -> None:
    record = ResolutionRecord("nw-1", "orders", "My order NW-482913 is late. Thanks, Mateo",
                              MATEO_REPLY, False, customer_name="Mateo")
    old = ResolutionRecord("nw-2", "orders", "order NW-555555 is late", "Hi Ana, NW-555555 "
                           "left today.", False)  # saved before records had a name
    context = Context(messages=(customer("Where is NW-913176?\n\nThanks,\nZoe"),),
                      subject="Late order")
    hits = [SimpleNamespace(record=record, score=0.9), SimpleNamespace(record=old, score=0.8)]
    first, second = rag_context(context, hits).examples  # type: ignore[arg-type]
    assert first.startswith("Hi Zoe,") and "Mateo" not in first and "NW-482913" not in first
    assert second == "Hi Zoe, NW-913176 left today."
