"""Which tickets and messages teach: tickets → (context, decision) training examples.

Ticket-level rules (first failing rule is the reason counted in ``report.dropped``):
``status:<status>`` unless solved or closed; ``reopened``; ``csat:bad`` (null is acceptable);
``no_agent_message``.

Message-level rules, for each agent message of a kept ticket (``note`` messages are never
targets; they stay in the context):

* ``empty``: nothing left once @handles and whitespace are removed.
* ``auto_reply``: matches a conservative auto-responder pattern — "this is an automated
  message", "do not reply to this email", "I am out of the office", "out of office until",
  "auto-reply", "we have received your request … will get back to you", "your ticket number
  is". Ordinary templated human replies are kept ("Rachael is out of the office" is a reply).
* ``near_duplicate``: the normalised (last customer message before it, reply) pair was already
  kept — lower-cased, @handles and ``[HANDLE]`` folded to ``@``, digit runs to ``0``,
  whitespace collapsed.

An ``escalated: true`` ticket teaches ``escalate`` at its last agent message (reason from
:func:`escalation_reason`, group from ``extra["escalation_group"]`` or ``extra["group"]``);
every other agent message teaches ``reply``.

Customer handle (for the prompt header): the @handle that the earliest agent message before
the target opens with (agents on social channels address the customer first), else the first
customer message's ``author_id`` when it is an @handle, else none. With redaction on, the
header shows ``[HANDLE]`` and the real handle is the first ``HANDLE`` value in ``Example.pii``.

``Example.pii`` holds the original values found in the subject and the context (never in the
target), de-duplicated in order of appearance, so that ``redact.fill_placeholders`` can put
them back into a suggestion. Its ``HANDLE`` list starts with the customer's handle and leaves
out handles that open a customer message (the team's own account the customer writes to).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trainer.interaction import Message, Ticket
from trainer.prompt import Context, Decision
from trainer.redact import merge_found, redact, redact_message
from trainer.split import evenly

KEEP_STATUSES = ("solved", "closed")
MESSAGE_REASONS = ("empty", "auto_reply", "near_duplicate")
DEFAULT_ESCALATION_REASON = "handed off by agent"

_HANDLE_RE = re.compile(r"@\w+|\[HANDLE\]")
_OPENING_HANDLE_RE = re.compile(r"\s*(@\w+)")
_AUTO_REPLY_RE = re.compile(
    r"\bthis is an? automat(?:ed|ic)(?:ally generated)? (?:message|response|reply|e-?mail)\b"
    r"|\bthis (?:e-?mail|message) (?:was|is|has been) (?:sent |generated )?automatically\b"
    r"|\bdo not reply to this (?:e-?mail|message)\b"
    r"|\b(?:i am|i'm|i will be) (?:currently )?out of (?:the )?office\b"
    r"|\bout of (?:the )?office (?:reply|message|notice|until)\b"
    r"|\bauto-?(?:reply|response|responder)\b"
    r"|\bwe(?:'ve| have) received your (?:request|message|e-?mail|ticket|enquiry|inquiry)\b"
    r".{0,120}?\b(?:will|shall) (?:get back|respond|reply|be in touch|contact you)"
    r"|\byour (?:ticket|request|case) (?:number|#|id) is\b",
    re.IGNORECASE | re.DOTALL,
)
_ESCALATION_RULES = (
    (r"\bescalat|\bmanager\b|\bsupervisor\b|\bspecialist\b|\bexpert\b",
     "escalated to a specialist or manager"),
    (r"\bdm(?:'?s)?\b|\bdirect(?:ly)? messag|\bprivate messag|\bprivate chat\b|\binbox\b",
     "moved to private message"),
    (r"\bcall\b|\bcalling\b|\bphone\b|\bring us\b|\[PHONE\]|\b1-8\d\d\b",
     "customer asked to call"),
    (r"\blive chat\b|\bchat with us\b|\bchat with an?\b", "moved to live chat"),
    (r"\b(?:team|department|store|branch|bank|technician|engineer)s?\b|\btransfer",
     "handed to another team"),
)
_ESCALATION_REASONS = tuple((re.compile(p, re.IGNORECASE), r) for p, r in _ESCALATION_RULES)


@dataclass(frozen=True)
class Example:
    """One training (or scoring, or suggestion) example: context → decision."""

    ticket_id: str
    position: int
    context: Context
    decision: Decision | None
    created_at: datetime | None
    order: int
    pii: dict[str, list[str]] = field(default_factory=dict, hash=False)


@dataclass
class CurationReport:
    """What curation kept and what it dropped, by reason."""

    tickets_seen: int = 0
    tickets_kept: int = 0
    examples_kept: int = 0
    examples_escalate: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        """Count one ticket or message dropped for ``reason``."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        lines = [
            f"tickets: {self.tickets_seen:,} seen, {self.tickets_kept:,} kept",
            (f"examples: {self.examples_kept:,} kept ({self.examples_escalate:,} escalate, "
             f"{self.examples_kept - self.examples_escalate:,} reply)"),
        ]
        for reason in sorted(self.dropped, key=lambda r: (r in MESSAGE_REASONS, r)):
            unit = "agent messages" if reason in MESSAGE_REASONS else "tickets"
            lines.append(f"dropped {unit} ({reason}): {self.dropped[reason]:,}")
        return lines


@dataclass(frozen=True)
class Curation:
    """The curated examples and the report of how they were chosen."""

    examples: list[Example]
    report: CurationReport


def ticket_drop_reason(ticket: Ticket) -> str | None:
    """Why a ticket must not teach (``status:…``, ``reopened``, …), or None to keep it."""
    if ticket.status not in KEEP_STATUSES:
        return f"status:{ticket.status}"
    if ticket.reopened:
        return "reopened"
    if ticket.csat == "bad":
        return "csat:bad"
    if not any(m.role == "agent" for m in ticket.messages):
        return "no_agent_message"
    return None


def is_empty(text: str) -> bool:
    """Whether a message says nothing once @handles and whitespace are removed."""
    return not _HANDLE_RE.sub("", text).strip()


def is_auto_reply(text: str) -> bool:
    """Whether an agent message looks like an auto-responder (conservative patterns)."""
    return _AUTO_REPLY_RE.search(text) is not None


def escalation_reason(text: str) -> str:
    """A short reason phrase for a hand-off message, by keyword (first rule that matches)."""
    for pattern, reason in _ESCALATION_REASONS:
        if pattern.search(text):
            return reason
    return DEFAULT_ESCALATION_REASON


def customer_handle(messages: Sequence[Message]) -> str | None:
    """The customer's @handle as seen in these messages (see the module docstring)."""
    for message in messages:
        if message.role == "agent":
            match = _OPENING_HANDLE_RE.match(message.text)
            if match:
                return match.group(1)
    for message in messages:
        if message.role == "customer" and message.author_id:
            return message.author_id if message.author_id.startswith("@") else None
    return None


def _normalise(text: str) -> str:
    """Fold case, handles, digits and whitespace for near-duplicate detection."""
    text = re.sub(r"@\w+|\[handle\]", "@", text.lower())
    return re.sub(r"\s+", " ", re.sub(r"\d+", "0", text)).strip()


def _group(ticket: Ticket) -> str | None:
    """The escalation group recorded on the ticket, if any."""
    for key in ("escalation_group", "group"):
        value = ticket.extra.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class _Prepared:
    """A ticket's messages, redacted once, with per-message PII for prefix contexts."""

    def __init__(self, ticket: Ticket, order: int, redact_pii: bool) -> None:
        self.ticket = ticket
        self.order = order
        self.redact_pii = redact_pii
        if redact_pii:
            pairs = [redact_message(m) for m in ticket.messages]
            subject = redact(ticket.subject) if ticket.subject is not None else None
            self.messages = tuple(m for m, _ in pairs)
            self.found = [f for _, f in pairs]
            self.subject = subject.text if subject is not None else None
            self.subject_found = subject.found if subject is not None else {}
        else:
            self.messages = ticket.messages
            self.found = [{} for _ in ticket.messages]
            self.subject = ticket.subject
            self.subject_found = {}

    def example(self, position: int, decision: Decision | None) -> Example:
        """The example whose context is every message before ``position``."""
        raw_before = self.ticket.messages[:position]
        handle = customer_handle(raw_before)
        pii: dict[str, list[str]] = {}
        if self.redact_pii:
            found = merge_found(self.subject_found, *self.found[:position])
            pii = {kind: list(dict.fromkeys(values)) for kind, values in found.items()}
            team = {m.group(1) for m in (_OPENING_HANDLE_RE.match(msg.text) for msg in raw_before
                                         if msg.role == "customer") if m}
            handles = [h for h in pii.pop("HANDLE", []) if h != handle and h not in team]
            handles = ([handle] if handle else []) + handles
            if handles:
                pii["HANDLE"] = handles
        context = Context(
            messages=self.messages[:position],
            subject=self.subject,
            channel=self.ticket.channel,
            category=self.ticket.category,
            customer_handle=("[HANDLE]" if handle and self.redact_pii else handle),
        )
        return Example(self.ticket.id, position, context, decision, self.ticket.created_at,
                       self.order, pii)

    def decision(self, position: int, escalate: bool) -> Decision:
        """The decision taught by the agent message at ``position``."""
        reply = self.messages[position].text
        if not escalate:
            return Decision(action="reply", reply=reply)
        return Decision(action="escalate", reply=reply, group=_group(self.ticket),
                        reason=escalation_reason(self.ticket.messages[position].text))


def _last_agent(ticket: Ticket) -> int | None:
    """Index of the ticket's last agent message, or None."""
    agents = [i for i, m in enumerate(ticket.messages) if m.role == "agent"]
    return agents[-1] if agents else None


def curate(tickets: Iterable[Ticket], redact_pii: bool = True) -> Curation:
    """Turn tickets into training examples by the curation rules; report what was dropped."""
    report = CurationReport()
    examples: list[Example] = []
    seen: set[tuple[str, str]] = set()
    for order, ticket in enumerate(tickets):
        report.tickets_seen += 1
        reason = ticket_drop_reason(ticket)
        if reason is not None:
            report.drop(reason)
            continue
        report.tickets_kept += 1
        prepared = _Prepared(ticket, order, redact_pii)
        last_agent = _last_agent(ticket)
        last_customer = ""
        for position, message in enumerate(ticket.messages):
            if message.role == "customer":
                last_customer = prepared.messages[position].text
            if message.role != "agent":
                continue
            if is_empty(message.text):
                report.drop("empty")
                continue
            if is_auto_reply(message.text):
                report.drop("auto_reply")
                continue
            escalate = bool(ticket.escalated) and position == last_agent
            decision = prepared.decision(position, escalate)
            key = (_normalise(last_customer), _normalise(decision.reply))
            if key in seen:
                report.drop("near_duplicate")
                continue
            seen.add(key)
            examples.append(prepared.example(position, decision))
            report.examples_kept += 1
            report.examples_escalate += int(escalate)
    return Curation(examples, report)


def scoring_example(ticket: Ticket, *, order: int = 0, redact_pii: bool = True) -> Example | None:
    """The example at the ticket's last agent message, with no curation filters (holdouts)."""
    position = _last_agent(ticket)
    if position is None:
        return None
    prepared = _Prepared(ticket, order, redact_pii)
    return prepared.example(position, prepared.decision(position, bool(ticket.escalated)))


def scoring_examples(tickets: Sequence[Ticket], limit: int | None = None,
                     redact_pii: bool = True) -> tuple[list[Example], int]:
    """Scoring examples of the tickets that have an agent message, evenly thinned to ``limit``
    (``trainer.split.evenly``), and how many tickets had none."""
    examples = [e for i, t in enumerate(tickets)
                if (e := scoring_example(t, order=i, redact_pii=redact_pii)) is not None]
    return evenly(examples, limit), len(tickets) - len(examples)


def suggestion_example(ticket: Ticket, *, order: int = 0, redact_pii: bool = True) -> Example:
    """The context to suggest the next agent message from (decision None when it is open)."""
    if ticket.messages[-1].role == "agent":
        example = scoring_example(ticket, order=order, redact_pii=redact_pii)
        assert example is not None  # the last message is an agent message
        return example
    prepared = _Prepared(ticket, order, redact_pii)
    return prepared.example(len(ticket.messages), None)
