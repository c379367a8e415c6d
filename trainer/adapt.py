"""Adapt a reply copied from another ticket to the current one: names, identifiers, amounts.

Retrieval mode sends a past ticket's reply and ``adapter_rag`` prompts with past replies, so
the other customer's name ("Hi Mateo,"), order numbers and amounts would reach this customer.
:func:`adapt_reply` rewrites them from :class:`TicketFacts` of both tickets:

* a greeting's addressee ("Hi/Hello/Hey/Dear/Good morning NAME" at the start of any line,
  after an optional @handle) and other mentions of that name or of the source customer's
  name become the current customer's first name, or disappear ("Hi there,", "Hello,");
* identifiers (a digit, 4+ characters: ``NW-482913``, ``#48213``, ``113542617735902``; never
  dates, times, prices, versions, phone numbers or units) that the current ticket does not
  mention become the current ticket's one value of the same shape, else ``[ORDER NUMBER]``;
* amounts of the source customer's own text become the current ticket's one amount, else
  ``[AMOUNT]``. So do amounts the source ticket's *agent* quoted ("I've refunded $99.00 for
  the Ridgeline pants") when ``peers`` — the other similar past replies retrieved with it —
  are given and none of them states that amount: in replies built from the same template an
  amount that differs from ticket to ticket is that ticket's value, while policy ("orders
  over $75 ship free", a "$49.00 renewal") recurs and stays. Without peers, or without a
  source (a generated reply), agent-written amounts are left alone: nothing tells a policy
  amount from a copied one. Amounts the current ticket mentions always stay.

Typed placeholders (``[EMAIL]`` …) are untouched; ``redact.fill_placeholders`` runs after.
:func:`rag_context` is the one place that puts adapted past replies into a prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from trainer.interaction import Message
from trainer.prompt import Context

if TYPE_CHECKING:
    from trainer.retrieval import Hit, ResolutionRecord

ORDER_PLACEHOLDER = "[ORDER NUMBER]"
AMOUNT_PLACEHOLDER = "[AMOUNT]"
_NOT_NAMES_TEXT = """
i hi hello hey dear thanks thank thx ty regards best cheers sincerely yours kind many warm
team support sir madam maam there all everyone everybody anyone someone folks guys friend
friends customer client guest visitor user member again sorry please ok okay great perfect yes
no good morning afternoon evening welcome glad happy sure we you your my me it this that just so
hope love admin agent service care help helpdesk desk staff manager mr mrs ms dr miss mister
northwind outfitters amazon apple billing account order sent from iphone android and the a an
to for of on in at by with as is are was not re fw fwd ps asap urgent hola bonjour hallo mate
buddy dude bro ladies gentlemen both ridiculous unacceptable terrible awful crazy monday
tuesday wednesday thursday friday saturday sunday january february march april may june july
august september october november december how what which when where why who kindly could
can would should do did does have has unfortunately apologies following regarding if once our
let here absolutely certainly currently
"""
NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())  # capitalised words that are never a name
AMBIGUOUS_NAMES = frozenset({"Will", "May", "June", "April", "August", "Hope", "Joy", "Bill",
                             "Mark", "Rich", "Art", "Sky", "Summer", "Faith", "Chase", "Page"})
_NAME = r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*"
_GREETING_RE = re.compile(
    r"(?m)^(?P<lead>[ \t>]*(?:(?:\[HANDLE\]|@\w+)[ \t,:]*)*)"
    r"(?P<greet>(?i:hi|hello|hey|dear|good (?:morning|afternoon|evening)))(?P<sep>,?[ \t]+)"
    rf"(?P<name>{_NAME})(?:[ \t]+(?P<surname>{_NAME})(?=[ \t]*(?:[,.!:;]|$)))?(?![\w'’-])")
_INTRO_RE = re.compile(rf"(?:\b(?i:my name is|my name's)\s+(?P<name>{_NAME})"
                       rf"|\b(?i:hi|hello|hey)\W+(?i:this is)\s+(?P<greeted>{_NAME})"
                       rf"|(?:^|[.!?]\s+)(?i:this is)\s+(?P<bare>{_NAME})(?:\s+{_NAME})?"
                       r"(?=\s+(?i:here|from|speaking)\b))")
_SIGNOFF = r"(?i:thanks|thank you|many thanks|thanks again|regards|best|best regards|" \
           r"kind regards|warm regards|cheers|sincerely|best wishes|all the best|thx)"
_SIGNOFF_LINE_RE = re.compile(rf"^{_SIGNOFF}[,.!]?$")
_NAME_LINE_RE = re.compile(rf"^(?:[-–—~]\s*)?(?:(?P<signoff>{_SIGNOFF})[,.!]?\s+)?"
                           rf"(?P<name>{_NAME})(?:\s+(?P<surname>{_NAME}))?[.!]?$")
_AGENT_SIGNATURE_RE = re.compile(rf"(?:^|\s)[-–—~^]\s*(?P<name>{_NAME})")
_CHAT_SUBJECT_RE = re.compile(rf"^Chat with (?P<name>{_NAME})(?:\s+{_NAME})?$")
_PROTECTED_RE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|\[[A-Z ]+\]|\{\{[^{}]*\}\}")
_TOKEN_RE = re.compile(r"(?<![\w#$€£¥@%+])#?[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")
_UNIT_RE = re.compile(r"\s?(?:%|(?i:usd|eur|gbp|cad|aud|dollars?|euros?|pounds?|bucks|miles|"
                      r"points|pts|km|steps|followers|lumens?|mah|[kmgt]b|rpm)\b)")
_LAST4_RE = re.compile(r"(?i:ending(?: in)?|last (?:4|four)(?: digits)?)[ :]*$")
_DATE_RE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{2,4}")
_AMOUNT_RE = re.compile(
    r"(?:(?:US|CA|AU)?[$€£¥₹]\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?(?![\d,.]\d)"
    r"|(?<![\w.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?\s?(?:[$€£¥]|(?i:usd|eur|gbp|cad|aud|"
    r"dollars?|euros?|pounds?|bucks)\b))")


class MessageLike(Protocol):
    """A conversation message: ``trainer.interaction.Message`` or anything shaped like it."""

    @property
    def role(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class TicketFacts:
    """What a reply may name: the customer's first name, identifiers and amounts."""

    customer_name: str | None = None
    identifiers: tuple[str, ...] = ()      # from customer messages and the subject
    amounts: tuple[str, ...] = ()          # from customer messages and the subject
    agent_identifiers: tuple[str, ...] = ()  # already given by the team in this ticket
    agent_amounts: tuple[str, ...] = ()      # already stated by the team in this ticket

    @property
    def known_identifiers(self) -> tuple[str, ...]:
        """Every identifier this ticket mentions (customer's first)."""
        return tuple(dict.fromkeys(self.identifiers + self.agent_identifiers))


def is_name(word: str | None) -> bool:
    """Whether a word can be a person's first name: capitalised, not a stop-word, no digits."""
    return word is not None and len(word) > 1 and word[0].isupper() and not word.isupper() \
        and not any(c.isdigit() for c in word) and word.lower() not in NOT_NAMES \
        and not re.search(r"['’][a-z]{1,2}$", word)  # I'm, I've, Let's


def _protected(text: str) -> list[tuple[int, int]]:
    """Spans of URLs, e-mail addresses and bracketed placeholders."""
    return [m.span() for m in _PROTECTED_RE.finditer(text)]


def _is_identifier(token: str, text: str, start: int, end: int) -> bool:
    """Whether a token is order/reference-like, judging by its shape and its neighbours."""
    core = token.lstrip("#")
    digits = sum(c.isdigit() for c in core)
    before, after = text[max(0, start - 2):start], text[end:end + 2]
    if not digits or len(token) < 4 or re.match(r"[.,:]\d", after) or after[:1] == "@":
        return False
    if re.search(r"\d[.,:]$", before) or re.search(r"[$€£¥]\s?$", before):
        return False
    if _UNIT_RE.match(text, end) or re.fullmatch(r"\d+[A-Za-z]{1,4}", core):
        return False
    if re.fullmatch(r"[\d-]+", core):
        groups = [len(g) for g in core.split("-")]
        if "-" in core and (_DATE_RE.fullmatch(core)
                            or (max(groups) <= 4 and 7 <= sum(groups) <= 11)):
            return False
        if "-" not in core and digits < 5:
            return digits == 4 and (token.startswith("#") or bool(
                _LAST4_RE.search(text[max(0, start - 20):start])))
        return True
    return digits >= 4 or (token.startswith("#") and digits >= 3)


def find_identifiers(text: str) -> list[str]:
    """Order/reference-like tokens outside URLs, e-mails and placeholders, in order."""
    taken = _protected(text)
    return [m.group() for m in _TOKEN_RE.finditer(text)
            if not any(s <= m.start() < e for s, e in taken)
            and _is_identifier(m.group(), text, m.start(), m.end())]


def find_amounts(text: str) -> list[str]:
    """Money amounts (``$59.00``, ``€12``, ``59.99 USD``) outside URLs and placeholders."""
    taken = _protected(text)
    return [m.group().strip() for m in _AMOUNT_RE.finditer(text)
            if not any(s <= m.start() < e for s, e in taken)]


def amount_value(amount: str) -> float:
    """The number an amount states (currency and thousands separators dropped)."""
    return round(float(re.sub(r"[^\d.]", "", amount.replace(",", "")).strip(".") or 0), 2)


def _addressee(match: re.Match[str]) -> str | None:
    """A greeting's addressee when it is a name ("Hi April," is; "Hi Hope you're" is not)."""
    name = match["name"]
    if is_name(name):
        return str(name)
    after = match.string[match.end():match.end() + 1]
    return str(name) if name in AMBIGUOUS_NAMES and after and after in ",.!:" else None


def greeting_names(text: str) -> list[str]:
    """The addressee of every greeting in a text that names someone ("Hi Chris." → Chris)."""
    return [n for m in _GREETING_RE.finditer(text) if (n := _addressee(m))]


def _signoff_name(text: str, agent_names: set[str]) -> str | None:
    """The first name a customer message signs with, if its last line is a sign-off."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    match = _NAME_LINE_RE.match(lines[-1])
    if match is None or not is_name(match["name"]) or match["name"] in agent_names:
        return None
    if match["surname"] and not is_name(match["surname"]):
        return None
    bare = match["signoff"] is None
    if bare and match["surname"] and not _SIGNOFF_LINE_RE.match(lines[-2]):
        return None  # "Portland Oregon" is no signature without a "Thanks," above it
    return match["name"]


def facts_from_messages(messages: Sequence[MessageLike],
                        subject: str | None = None) -> TicketFacts:
    """The facts of one ticket: its customer's first name, identifiers and amounts.

    The name comes, most reliable first, from an agent's greeting in this ticket, from
    "my name is X" / "this is X", from a customer sign-off, or from a "Chat with X" subject.
    """
    customer = [m.text for m in messages if m.role == "customer"] + [subject or ""]
    team = [m.text for m in messages if m.role != "customer"]
    agent_names = {m["name"] for t in team for m in _AGENT_SIGNATURE_RE.finditer(
        t.strip().splitlines()[-1] if t.strip() else "")}
    greeted = [n for t in team for n in greeting_names(t)]
    intros = [n for t in customer for m in _INTRO_RE.finditer(t)
              if is_name(n := m["name"] or m["greeted"] or m["bare"])]
    signed = [n for t in customer[:-1] if (n := _signoff_name(t, agent_names))]
    chat = _CHAT_SUBJECT_RE.match((subject or "").strip())
    chat_name = [chat["name"]] if chat and is_name(chat["name"]) else []
    names = greeted[-1:] + intros[-1:] + signed[-1:] + chat_name
    return TicketFacts(
        customer_name=names[0] if names else None,
        identifiers=tuple(dict.fromkeys(i for t in customer for i in find_identifiers(t))),
        amounts=tuple(dict.fromkeys(a for t in customer for a in find_amounts(t))),
        agent_identifiers=tuple(dict.fromkeys(i for t in team for i in find_identifiers(t))),
        agent_amounts=tuple(dict.fromkeys(a for t in team for a in find_amounts(t))),
    )


def customer_name_before(messages: Sequence[MessageLike], reply: str,
                         subject: str | None = None) -> str | None:
    """A past ticket's customer name, the agent reply that follows ``messages`` included."""
    return facts_from_messages([*messages, Message(role="agent", text=reply)], subject).customer_name


def facts_from_context(context: Context) -> TicketFacts:
    """The facts of the ticket a prompt context belongs to."""
    return facts_from_messages(context.messages, context.subject)


@lru_cache(maxsize=8192)
def facts_from_query(query_text: str, customer_name: str | None = None) -> TicketFacts:
    """The facts of a past resolution from its customer-side text (and stored name)."""
    facts = facts_from_messages([Message(role="customer", text=query_text)])
    return replace(facts, customer_name=customer_name or facts.customer_name)


def _key(identifier: str) -> str:
    """An identifier compared without case or a leading '#'."""
    return identifier.lstrip("#").upper()


def _shape(identifier: str) -> tuple[str, str]:
    """Letter prefix ("NW-", "TR-") when it has one, else the digit/letter pattern."""
    key = _key(identifier)
    prefix = re.match(r"[A-Z]+[-_]?(?=\d)", key)
    if prefix:
        return "prefix", prefix.group()
    return "pattern", re.sub(r"[A-Z]", "A", re.sub(r"\d", "9", key))


def _mentioned(identifier: str, facts: TicketFacts) -> bool:
    """Whether the ticket mentions this identifier (``48213`` = ``#48213``, ``NW-48213``)."""
    core = re.compile(r"^[A-Z]+[-_]?(?=\d)")
    key = _key(identifier)
    return any(key == _key(k) or core.sub("", key) == core.sub("", _key(k))
               for k in facts.known_identifiers)


def _sub_value(text: str, value: str, new: str) -> str:
    """Replace whole-token occurrences of ``value`` (URLs included)."""
    return re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w]|-\w)", lambda _: new, text)


def _adapt_identifiers(text: str, source: TicketFacts | None, current: TicketFacts) -> str:
    """Other tickets' identifiers → the current ticket's value of that shape, or a placeholder."""
    foreign = [i for i in find_identifiers(text) if not _mentioned(i, current)]
    if source is not None:
        foreign += [i for i in source.identifiers if i in text and not _mentioned(i, current)]
    foreign = list({_key(i): i for i in foreign}.values())
    for value in foreign:
        shape = _shape(value)
        same = [v for v in foreign if _shape(v) == shape]
        options = list({_key(v): v for v in current.known_identifiers
                        if _shape(v) == shape}.values())
        new = options[0] if len(options) == 1 and len(same) == 1 else ORDER_PLACEHOLDER
        if new != ORDER_PLACEHOLDER and value.startswith("#") and not new.startswith("#"):
            new = "#" + new
        text = _sub_value(text, value, new)
    return text


def _adapt_amounts(text: str, source: TicketFacts, current: TicketFacts,
                   peers: Sequence[str] = ()) -> str:
    """The source customer's amounts, and amounts its agent quoted that no peer reply shares,
    → the current ticket's one amount, or ``[AMOUNT]``."""
    known = {amount_value(a) for a in current.amounts + current.agent_amounts}
    theirs = {amount_value(a) for a in source.amounts} - known
    if peers:
        shared = {amount_value(a) for peer in peers for a in find_amounts(peer)}
        theirs |= {amount_value(a) for a in find_amounts(text)} - shared - known
    taken = _protected(text)
    found = [m for m in _AMOUNT_RE.finditer(text) if amount_value(m.group()) in theirs
             and not any(s <= m.start() < e for s, e in taken)]
    ours = list({amount_value(a): a for a in current.amounts}.values())
    new = ours[0] if len(ours) == 1 and len({amount_value(m.group()) for m in found}) == 1 \
        else AMOUNT_PLACEHOLDER
    for match in reversed(found):
        value = match.group().strip()
        start = match.start() + match.group().index(value)
        text = text[:start] + new + text[start + len(value):]
    return text


def _adapt_names(text: str, source: TicketFacts | None, current: TicketFacts) -> str:
    """Greeting addressees and the source customer's name → the current customer's name."""
    name = current.customer_name
    old: dict[str, str | None] = {}

    def greet(match: re.Match[str]) -> str:
        """One greeting, re-addressed (its old addressee remembered in ``old``)."""
        if _addressee(match) is None or match["name"] == name:
            return match.group()
        surname = match["surname"] if is_name(match["surname"]) else None
        old[match["name"]] = surname
        tail = f" {match['surname']}" if match["surname"] and surname is None else ""
        greeting = match["greet"]
        if name:
            return f"{match['lead']}{greeting}{match['sep']}{name}{tail}"
        if greeting.lower() == "dear":
            return f"{match['lead']}{'Hello' if greeting[0].isupper() else 'hello'}{tail}"
        if greeting.lower().startswith("good"):
            return f"{match['lead']}{greeting}{tail}"
        return f"{match['lead']}{greeting} there{tail}"

    text = _GREETING_RE.sub(greet, text)
    if source is not None and is_name(source.customer_name) and source.customer_name != name:
        old.setdefault(str(source.customer_name), None)
    for first, surname in old.items():
        if first in AMBIGUOUS_NAMES:
            continue
        full = re.escape(first) + (rf"(?:[ \t]+{re.escape(surname)})?" if surname else "")
        if name:
            text = re.sub(rf"(?<![\w'’-]){full}(?![\w'’-])", lambda _: str(name), text)
            continue
        text = re.sub(rf"(?m)^(\W*){full}[,:]?[ \t]+", r"\1", text)
        text = re.sub(rf"[ \t]*,?[ \t]*(?<![\w'’-]){full}(?![\w'’-])", "", text)
    return text


def adapt_reply(reply: str, source: TicketFacts | None, current: TicketFacts,
                peers: Sequence[str] = ()) -> str:
    """A reply written for another ticket (``source``; None when unknown), made safe for
    the current one; ``peers``: other tickets' similar replies (see the module docstring)."""
    text = _adapt_names(reply, source, current)
    text = _adapt_identifiers(text, source, current)
    if source is not None:
        text = _adapt_amounts(text, source, current, peers)
    return text


def peer_replies(hits: Sequence[Hit], hit: Hit) -> list[str]:
    """The replies of the other tickets among ``hits``: what ``hit``'s reply is compared
    with to tell its ticket's own amounts from policy."""
    return [h.record.reply_text for h in hits if h.record.ticket_id != hit.record.ticket_id]


def adapt_hit(hit: Hit, hits: Sequence[Hit], current: TicketFacts) -> str:
    """A retrieved reply adapted to the current ticket, its fellow hits as peers."""
    return adapt_reply(hit.record.reply_text, record_facts(hit.record), current,
                       peer_replies(hits, hit))


def rag_context(context: Context, hits: Sequence[Hit],
                current: TicketFacts | None = None) -> Context:
    """``context`` with ``examples`` = the hits' replies adapted to its ticket (training,
    suggestion and baseline prompts all come from here)."""
    current = current if current is not None else facts_from_context(context)
    return replace(context, examples=tuple(adapt_hit(h, hits, current) for h in hits))


def record_facts(record: ResolutionRecord) -> TicketFacts:
    """The facts of a retrieved past resolution: its query text and stored customer name."""
    return facts_from_query(record.query_text, record.customer_name)
