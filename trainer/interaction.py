"""CloneDesk interaction JSONL v1: the one ticket model every part of CloneDesk speaks.

See docs/interaction-jsonl-v1.md. Parsing is strict about the fields CloneDesk uses and
keeps unknown fields untouched in ``Ticket.extra``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROLES = ("customer", "agent", "note")
CSAT_VALUES = ("good", "bad")
MAX_ID_CHARS = 255
MAX_MESSAGE_CHARS = 100_000
MAX_MESSAGES = 1_000
KNOWN_FIELDS = frozenset(
    {"id", "created_at", "subject", "channel", "category", "tags", "messages", "status",
     "escalated", "reopened", "csat"}
)


class InvalidTicket(ValueError):
    """A record that is not a valid interaction v1 ticket; the message says why."""


@dataclass(frozen=True)
class Message:
    """One message of a ticket's conversation."""

    role: str
    text: str
    author_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Ticket:
    """One ticket (or conversation) with its outcome labels."""

    id: str
    messages: tuple[Message, ...]
    status: str = "solved"
    created_at: datetime | None = None
    subject: str | None = None
    channel: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    escalated: bool | None = None
    reopened: bool | None = None
    csat: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Serialise back to an interaction v1 record (unknown fields included)."""
        record: dict[str, Any] = dict(self.extra)
        record.update(
            id=self.id,
            created_at=_iso(self.created_at),
            subject=self.subject,
            channel=self.channel,
            category=self.category,
            tags=list(self.tags),
            messages=[
                {"role": m.role, "author_id": m.author_id, "text": m.text,
                 "created_at": _iso(m.created_at)}
                for m in self.messages
            ],
            status=self.status,
            escalated=self.escalated,
            reopened=self.reopened,
            csat=self.csat,
        )
        return record


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _optional_str(record: dict[str, Any], name: str, where: str = "") -> str | None:
    value = record.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidTicket(f"{where}{name!r} must be a string or null, got {type(value).__name__}")


def _optional_bool(record: dict[str, Any], name: str) -> bool | None:
    value = record.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidTicket(f"{name!r} must be true, false or null, got {value!r}")


def _parse_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidTicket(f"{where} must be an ISO-8601 string or null")
    try:
        return datetime.fromisoformat(value)  # 3.11+ reads a trailing Z
    except ValueError:
        raise InvalidTicket(f"{where} is not ISO-8601: {value[:40]!r}") from None


def _parse_message(raw: Any, index: int) -> Message:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise InvalidTicket(f"{where} must be an object")
    role = raw.get("role")
    if role not in ROLES:
        raise InvalidTicket(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
    text = raw.get("text")
    if not isinstance(text, str):
        raise InvalidTicket(f"{where}.text must be a string")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidTicket(
            f"{where}.text is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}"
        )
    return Message(
        role=role,
        text=text,
        author_id=_optional_str(raw, "author_id", f"{where}."),
        created_at=_parse_time(raw.get("created_at"), f"{where}.created_at"),
    )


def parse_ticket(record: Any) -> Ticket:
    """Validate one decoded JSON record and return a Ticket, or raise InvalidTicket."""
    if not isinstance(record, dict):
        raise InvalidTicket("a ticket must be a JSON object")
    ticket_id = record.get("id")
    if ticket_id is None:
        raise InvalidTicket("missing required field 'id'")
    if not isinstance(ticket_id, str) or not ticket_id.strip():
        raise InvalidTicket("'id' must be a non-empty string")
    if len(ticket_id) > MAX_ID_CHARS:
        raise InvalidTicket(f"'id' is longer than {MAX_ID_CHARS} characters")
    raw_messages = record.get("messages")
    if not isinstance(raw_messages, list):
        raise InvalidTicket("missing required field 'messages' (a list)")
    if not raw_messages:
        raise InvalidTicket("'messages' must hold at least one message")
    if len(raw_messages) > MAX_MESSAGES:
        raise InvalidTicket(f"'messages' holds more than {MAX_MESSAGES} messages")
    messages = tuple(_parse_message(m, i) for i, m in enumerate(raw_messages))
    tags = record.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidTicket("'tags' must be a list of strings")
    status = record.get("status", "solved")
    if not isinstance(status, str) or not status:
        raise InvalidTicket("'status' must be a non-empty string")
    csat = record.get("csat")
    if csat is not None and csat not in CSAT_VALUES:
        raise InvalidTicket(f"'csat' must be 'good', 'bad' or null, got {csat!r}")
    return Ticket(
        id=ticket_id,
        messages=messages,
        status=status,
        created_at=_parse_time(record.get("created_at"), "'created_at'"),
        subject=_optional_str(record, "subject"),
        channel=_optional_str(record, "channel"),
        category=_optional_str(record, "category"),
        tags=tuple(tags),
        escalated=_optional_bool(record, "escalated"),
        reopened=_optional_bool(record, "reopened"),
        csat=csat,
        extra={k: v for k, v in record.items() if k not in KNOWN_FIELDS},
    )


def parse_line(line: bytes | str) -> Ticket:
    """Decode one JSONL line (bytes must be UTF-8) and validate it."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidTicket(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidTicket(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    return parse_ticket(record)


def read_jsonl(path: str) -> Iterator[Ticket]:
    """Yield the valid tickets of a JSONL file, raising on the first invalid line."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield parse_line(line)
            except InvalidTicket as exc:
                raise InvalidTicket(f"{path}:{number}: {exc}") from None
