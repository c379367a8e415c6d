"""The prompt format: what the adapter reads (context) and writes (decision + reply).

Context (the user turn of the base model's chat template)::

    Channel: twitter | Category: AppleSupport | Customer: @jane
    Subject: Watch not counting steps
    Similar past resolutions:
    [1] Let's look into this together. Which iOS version ...
    [2] ...
    Conversation:
    Customer: ...
    Agent: ...
    Customer: ...

Target (the assistant turn), parsed strictly by :func:`parse_target`::

    ACTION: reply
    REPLY: <the message to send>

    ACTION: escalate
    GROUP: <group or ->
    REASON: <short reason>
    REPLY: <the hand-off message to send>

The first token after ``ACTION:`` carries the decision, so its probability is read directly
from the logits at that position (see ``trainer.inference``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trainer.interaction import Message

SYSTEM_PROMPT = (
    "You are a customer support agent. Write the next agent message for this ticket in the "
    "team's own words and tone, or escalate it when the team would hand it off."
)
ACTIONS = ("reply", "escalate")
TARGET_PREFIX = "ACTION:"
MAX_MESSAGE_CHARS = 1200
MAX_EXAMPLE_CHARS = 500
ROLE_LABELS = {"customer": "Customer", "agent": "Agent", "note": "Internal note"}


class FormatError(ValueError):
    """A generation that does not follow the target format."""


@dataclass(frozen=True)
class Decision:
    """What the agent did next: reply, or escalate (with reason and group) — plus the text."""

    action: str
    reply: str
    reason: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {self.action!r}")


@dataclass(frozen=True)
class Context:
    """Everything the model sees before it writes: ticket facts, history and similar cases."""

    messages: Sequence[Message]
    subject: str | None = None
    channel: str | None = None
    category: str | None = None
    customer_handle: str | None = None
    examples: Sequence[str] = field(default_factory=tuple)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_target(decision: Decision) -> str:
    """The exact text the adapter is trained to write for this decision."""
    reply = decision.reply.strip()
    if decision.action == "reply":
        return f"ACTION: reply\nREPLY: {reply}"
    group = _one_line(decision.group or "") or "-"
    reason = _one_line(decision.reason or "") or "-"
    return f"ACTION: escalate\nGROUP: {group}\nREASON: {reason}\nREPLY: {reply}"


_TARGET_RE = re.compile(
    r"\A\s*ACTION:[ \t]*(?P<action>reply|escalate)[ \t]*\n"
    r"(?:GROUP:[ \t]*(?P<group>[^\n]*)\n)?"
    r"(?:REASON:[ \t]*(?P<reason>[^\n]*)\n)?"
    r"REPLY:[ \t]*(?P<reply>.*)\Z",
    re.DOTALL,
)


def parse_target(text: str) -> Decision:
    """Parse a generation strictly; raise FormatError when it does not follow the format."""
    match = _TARGET_RE.match(text)
    if match is None:
        raise FormatError("generation does not follow 'ACTION: …\\nREPLY: …'")
    action = match["action"]
    reply = match["reply"].strip()
    group = (match["group"] or "").strip()
    reason = (match["reason"] or "").strip()
    if action == "reply" and (match["group"] is not None or match["reason"] is not None):
        raise FormatError("a reply must not carry GROUP or REASON")
    if action == "escalate" and match["reason"] is None:
        raise FormatError("an escalation must give a REASON")
    if not reply:
        raise FormatError("empty REPLY")
    return Decision(
        action=action,
        reply=reply,
        reason=None if reason in ("", "-") else reason,
        group=None if group in ("", "-") else group,
    )


def _header(ctx: Context) -> list[str]:
    facts = []
    if ctx.channel:
        facts.append(f"Channel: {_one_line(ctx.channel)}")
    if ctx.category:
        facts.append(f"Category: {_one_line(ctx.category)}")
    if ctx.customer_handle:
        facts.append(f"Customer: {_one_line(ctx.customer_handle)}")
    lines = [" | ".join(facts)] if facts else []
    if ctx.subject:
        lines.append(f"Subject: {_clip(_one_line(ctx.subject), 200)}")
    if ctx.examples:
        lines.append("Similar past resolutions:")
        lines.extend(
            f"[{i}] {_clip(_one_line(e), MAX_EXAMPLE_CHARS)}"
            for i, e in enumerate(ctx.examples, start=1)
        )
    lines.append("Conversation:")
    return lines


def _turn(message: Message) -> str:
    return f"{ROLE_LABELS[message.role]}: {_clip(message.text, MAX_MESSAGE_CHARS)}"


def render_context(ctx: Context, count_tokens: Callable[[str], int] | None = None,
                   budget: int | None = None) -> str:
    """Render the user turn, trimming the oldest turns to fit ``budget`` tokens.

    The header (channel, category, subject, similar resolutions) and the first customer
    message are always kept; after them the most recent turns are kept, newest first, while
    they fit. Similar resolutions are dropped from the last one first if even that is too long.
    """
    turns = [_turn(m) for m in ctx.messages]
    first_customer = next((i for i, m in enumerate(ctx.messages) if m.role == "customer"), None)
    examples = list(ctx.examples)
    while True:
        header = _header(Context(ctx.messages, ctx.subject, ctx.channel, ctx.category,
                                 ctx.customer_handle, examples))
        if count_tokens is None or budget is None:
            return "\n".join(header + turns)
        pinned = [turns[first_customer]] if first_customer is not None else []
        used = count_tokens("\n".join(header + pinned))
        if used <= budget or not examples:
            break
        examples.pop()
    kept: list[int] = []
    for index in range(len(turns) - 1, -1, -1):
        if index == first_customer:
            continue
        cost = count_tokens(turns[index]) + 1
        if used + cost > budget:
            break
        kept.append(index)
        used += cost
    if first_customer is not None:
        kept.append(first_customer)
    chosen = sorted(kept)
    lines = list(header)
    for position, index in enumerate(chosen):
        if position and index != chosen[position - 1] + 1:
            lines.append("[…]")
        lines.append(turns[index])
    return "\n".join(lines)


def chat_prompt(tokenizer: object, user_text: str) -> str:
    """Wrap the context in the base model's chat template, ready for the assistant's turn."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_text},
    ]
    apply = getattr(tokenizer, "apply_chat_template", None)
    if apply is not None and getattr(tokenizer, "chat_template", None):
        return str(apply(messages, tokenize=False, add_generation_prompt=True))
    return f"{SYSTEM_PROMPT}\n\n{user_text}\n\n"
