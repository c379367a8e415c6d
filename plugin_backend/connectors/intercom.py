"""Intercom through python-intercom 5.x: read a conversation, reply, add a note, assign a team.

Built per workspace from explicit arguments (the installation's OAuth access token and its
region), always with a timeout and without the SDK's retries (it retries only when asked),
so a rate limit becomes :class:`ConnectorError` with status 429 at once. ``httpx_client``
lets tests speak Intercom's wire format through an ``httpx.MockTransport``. No ``ApiError``,
httpx or pydantic exception leaves this module, and no message carries the token.

Conversation → interaction v1 (``conversations.find(display_as="plaintext")``):

* the source message and every part with a body, in order; parts without a body (assignment,
  open, close, snooze without a message) are skipped;
* ``note`` parts (and ``note_and_reopen``) → role ``note``; other parts by author type:
  ``user``/``contact``/``lead`` → ``customer``; ``admin``/``bot``/``team`` → ``agent``;
* HTML left in a body (the source of an email, a note) is reduced to text.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any, Self

import httpx

from plugin_backend.connectors import ConnectorError
from trainer.interaction import MAX_MESSAGE_CHARS, MAX_MESSAGES, InvalidTicket, Ticket, parse_ticket

DEFAULT_TIMEOUT_S = 10.0
REGIONS = ("us", "eu", "au")
CUSTOMER_AUTHORS = frozenset({"user", "contact", "lead"})
CHANNELS = {"conversation": "chat"}  # Intercom source.type → interaction v1 channel
_TAG_RE = re.compile(r"<[a-zA-Z/!][^>]*>")
_BREAK_RE = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6])\s*/?>", re.IGNORECASE)


def _environment(region: str) -> Any:
    from intercom import IntercomEnvironment

    environments = {"us": IntercomEnvironment.US_PRODUCTION,
                    "eu": IntercomEnvironment.EU_PRODUCTION,
                    "au": IntercomEnvironment.AU_PRODUCTION}
    if region not in environments:
        raise ConnectorError(f"Intercom region must be one of {', '.join(REGIONS)}, "
                             f"got {region!r}")
    return environments[region]


class IntercomConnector:
    """Reads and writes conversations of one Intercom workspace."""

    def __init__(self, access_token: str, region: str = "us",
                 timeout: float = DEFAULT_TIMEOUT_S,
                 httpx_client: httpx.Client | None = None) -> None:
        from intercom import Intercom

        if not access_token:
            raise ConnectorError("Intercom needs the workspace's OAuth access token")
        self.region = region
        self._owned = httpx_client is None
        self._http = httpx_client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._client = Intercom(token=access_token, environment=_environment(region),
                                timeout=timeout, httpx_client=self._http)

    def close(self) -> None:
        """Close the HTTP client when this connector created it."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> Self:
        """Use as a context manager: closed on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the HTTP client."""
        self.close()

    def fetch_conversation(self, conversation_id: str | int) -> Ticket:
        """The conversation (source and parts, plain text) as an interaction v1 ticket."""
        conversation = self._call(lambda: self._client.conversations.find(
            conversation_id=str(conversation_id), display_as="plaintext"))
        return ticket_from_intercom(conversation)

    def reply(self, conversation_id: str | int, admin_id: str | int, body: str) -> None:
        """Post a public reply (``message_type: comment``) as this admin."""
        self._admin_reply(conversation_id, admin_id, body, "comment")

    def add_note(self, conversation_id: str | int, admin_id: str | int, body: str) -> None:
        """Add an internal note (``message_type: note``) as this admin."""
        self._admin_reply(conversation_id, admin_id, body, "note")

    def assign_team(self, conversation_id: str | int, admin_id: str | int,
                    team_id: str | int) -> None:
        """Assign the conversation to a team (``message_type: assignment``, ``type: team``)."""
        from intercom.conversations import ConversationsManageRequestBody_Assignment

        request = ConversationsManageRequestBody_Assignment(
            type="team", admin_id=str(admin_id), assignee_id=str(team_id))
        self._call(lambda: self._client.conversations.manage(
            conversation_id=str(conversation_id), request=request))

    def _admin_reply(self, conversation_id: str | int, admin_id: str | int, body: str,
                     message_type: str) -> None:
        from intercom import AdminReplyConversationRequest

        if not body.strip():
            raise ConnectorError("the message to post is empty")
        request = AdminReplyConversationRequest(message_type=message_type, type="admin",
                                                admin_id=str(admin_id), body=body)
        self._call(lambda: self._client.conversations.reply(
            conversation_id=str(conversation_id), request=request))

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except ConnectorError:
            raise
        except Exception as exc:  # noqa: BLE001 -- SDK/httpx/pydantic errors stay in here
            raise wrapped_error(exc) from None


def wrapped_error(exc: BaseException) -> ConnectorError:
    """A ConnectorError for an SDK or transport exception (status, error codes; no token)."""
    from intercom.core.api_error import ApiError

    if isinstance(exc, ApiError):
        status = exc.status_code
        codes = _error_codes(exc.body)
        reason = {401: "the access token was rejected", 403: "not allowed for this token",
                  404: "not found", 429: "rate limited"}.get(status or 0, "request failed")
        detail = f": {', '.join(codes)}" if codes else ""
        return ConnectorError(f"Intercom API {reason} (HTTP {status}{detail})", status)
    if isinstance(exc, httpx.TimeoutException):
        return ConnectorError("Intercom API did not answer in time", None)
    if isinstance(exc, httpx.HTTPError):
        return ConnectorError(f"Intercom API unreachable ({type(exc).__name__})", None)
    return ConnectorError(f"Intercom API call failed ({type(exc).__name__})", None)


def _error_codes(body: Any) -> list[str]:
    """The ``errors[].code`` of an Intercom ``error.list`` body (SDK model or plain dict)."""
    errors = body.get("errors") if isinstance(body, dict) else getattr(body, "errors", None)
    codes = []
    for item in errors or []:
        code = item.get("code") if isinstance(item, dict) else getattr(item, "code", None)
        if isinstance(code, str) and re.fullmatch(r"[a-z0-9_.\-]{1,64}", code):
            codes.append(code)
    return codes[:3]


def plain_text(body: str | None) -> str:
    """A message body as plain text: tags removed (line breaks kept), entities decoded."""
    if not body:
        return ""
    text = body
    if _TAG_RE.search(text):
        text = _TAG_RE.sub("", _BREAK_RE.sub("\n", text))
    text = html.unescape(text).replace("\xa0", " ")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _iso(timestamp: Any) -> str | None:
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        return datetime.fromtimestamp(timestamp, UTC).isoformat()
    return None


def _role(part_type: str | None, author_type: str | None) -> str:
    if part_type and "note" in part_type:
        return "note"
    return "customer" if (author_type or "").lower() in CUSTOMER_AUTHORS else "agent"


def _message(role: str, body: str | None, author: Any, created_at: Any) -> dict[str, Any] | None:
    text = plain_text(body)[:MAX_MESSAGE_CHARS]
    if not text:
        return None
    author_id = getattr(author, "id", None)
    return {"role": role, "text": text,
            "author_id": str(author_id) if author_id is not None else None,
            "created_at": _iso(created_at)}


def _csat(rating: Any) -> str | None:
    score = getattr(rating, "rating", None)
    if not isinstance(score, int):
        return None
    return "good" if score >= 4 else "bad" if score <= 2 else None


def ticket_from_intercom(conversation: Any) -> Ticket:
    """Map a python-intercom ``Conversation`` to interaction v1 (see the module docstring)."""
    messages = []
    source = conversation.source
    if source is not None:
        author = source.author
        messages.append(_message(_role(None, getattr(author, "type", None)), source.body,
                                 author, conversation.created_at))
    parts = getattr(conversation.conversation_parts, "conversation_parts", None) or []
    for part in parts:
        messages.append(_message(_role(part.part_type, getattr(part.author, "type", None)),
                                 part.body, part.author, part.created_at))
    kept = [m for m in messages if m is not None][-MAX_MESSAGES:]
    if not kept:
        raise ConnectorError(f"Intercom conversation {conversation.id} has no message with "
                             f"text yet")
    tags = getattr(conversation.tags, "tags", None) or []
    statistics = conversation.statistics
    reopens = getattr(statistics, "count_reopens", None)
    channel = getattr(source, "type", None) if source is not None else None
    record = {
        "id": str(conversation.id),
        "created_at": _iso(conversation.created_at),
        "subject": plain_text(getattr(source, "subject", None)) or conversation.title or None,
        "channel": CHANNELS.get(channel, channel) if isinstance(channel, str) else None,
        "tags": [t.name for t in tags if isinstance(getattr(t, "name", None), str)],
        "messages": kept,
        "status": str(conversation.state or ("open" if conversation.open else "closed")),
        "reopened": reopens > 0 if isinstance(reopens, int) else None,
        "csat": _csat(conversation.conversation_rating),
    }
    if conversation.team_assignee_id:
        record["team_assignee_id"] = str(conversation.team_assignee_id)
    try:
        return parse_ticket(record)
    except InvalidTicket as exc:
        raise ConnectorError(f"Intercom conversation {conversation.id} cannot be read: "
                             f"{exc}") from None
