"""Zendesk through zenpy: one ticket's conversation as an interaction v1 ``Ticket``.

Built per account from explicit credentials (an OAuth token, or an agent's email + API
token for self-hosted setups), always with a timeout and with zenpy's sleep-on-429 disabled
(``ratelimit_budget``): a rate limit becomes :class:`ConnectorError` with status 429 and the
job is retried later by RQ. No zenpy or requests exception leaves this module.
"""

from __future__ import annotations

import html
import re
from typing import Any

from trainer.interaction import Ticket, parse_ticket

DEFAULT_TIMEOUT_S = 10.0
_TAG_RE = re.compile(r"<[^>]+>")


class ConnectorError(RuntimeError):
    """A helpdesk API call failed; ``status_code`` when the API answered."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _plain(comment: Any) -> str:
    text = getattr(comment, "plain_body", None) or getattr(comment, "body", None)
    if text is None:
        text = _TAG_RE.sub(" ", getattr(comment, "html_body", "") or "")
    return html.unescape(str(text)).strip()


class ZendeskConnector:
    """Reads tickets of one Zendesk account."""

    def __init__(self, subdomain: str, oauth_token: str | None = None,
                 email: str | None = None, api_token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, session: Any = None) -> None:
        from zenpy import Zenpy

        if not oauth_token and not (email and api_token):
            raise ConnectorError("Zendesk needs an OAuth token or an email and API token")
        credentials: dict[str, Any] = (
            {"oauth_token": oauth_token} if oauth_token else {"email": email, "token": api_token})
        self.subdomain = subdomain
        self._client = Zenpy(subdomain=subdomain, timeout=timeout, session=session,
                             ratelimit_budget=0, disable_cache=True, **credentials)

    def fetch_ticket(self, ticket_id: str | int) -> Ticket:
        """The ticket with its public and private comments, roles from the requester."""
        try:
            ticket = self._client.tickets(id=int(ticket_id))
            comments = list(self._client.tickets.comments(ticket=int(ticket_id)))
        except ValueError:
            raise ConnectorError(f"Zendesk ticket ids are numbers, got {ticket_id!r}") from None
        except Exception as exc:  # noqa: BLE001 -- zenpy/requests errors stay in here
            raise _wrapped(exc) from None
        return ticket_from_zendesk(ticket, comments)


def _wrapped(exc: Exception) -> ConnectorError:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if type(exc).__name__ == "RatelimitBudgetExceeded":
        status = 429
    return ConnectorError(f"Zendesk API call failed ({type(exc).__name__}"
                          f"{f', HTTP {status}' if status else ''})", status)


def ticket_from_zendesk(ticket: Any, comments: list[Any]) -> Ticket:
    """Map a zenpy Ticket and its comments to interaction v1."""
    requester = getattr(ticket, "requester_id", None)
    messages = []
    for comment in comments:
        text = _plain(comment)
        if not text:
            continue
        author = getattr(comment, "author_id", None)
        if not getattr(comment, "public", True):
            role = "note"
        elif requester is not None and author == requester:
            role = "customer"
        else:
            role = "agent"
        created = getattr(comment, "created_at", None)
        messages.append({"role": role, "text": text,
                         "author_id": str(author) if author is not None else None,
                         "created_at": str(created) if created else None})
    via = getattr(ticket, "via", None)
    satisfaction = getattr(ticket, "satisfaction_rating", None) or {}
    score = satisfaction.get("score") if isinstance(satisfaction, dict) else None
    status = str(getattr(ticket, "status", "open") or "open")
    return parse_ticket({
        "id": str(ticket.id),
        "created_at": str(ticket.created_at) if getattr(ticket, "created_at", None) else None,
        "subject": getattr(ticket, "subject", None),
        "channel": getattr(via, "channel", None) if via is not None else None,
        "tags": list(getattr(ticket, "tags", None) or []),
        "messages": messages,
        "status": status,
        "csat": score if score in ("good", "bad") else None,
        "group_id": getattr(ticket, "group_id", None),
    })
