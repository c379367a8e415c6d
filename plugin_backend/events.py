"""Agent actions on suggestions, stored for the metrics and metering that follow.

Kinds: ``shown``, ``inserted``, ``sent`` (stored as ``sent_unchanged`` or ``sent_edited``
with the character edit distance between the suggestion and what was sent), ``discarded``,
``escalated``, ``feedback`` (with ``useful``). An event always names a suggestion of the same
account; anything else is NotFound.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from plugin_backend.db import EventRow, SuggestionRow, Tenant
from plugin_backend.errors import BadRequest, NotFound

CLIENT_KINDS = ("shown", "inserted", "sent", "discarded", "escalated", "feedback")
STORED_KINDS = ("shown", "inserted", "sent_unchanged", "sent_edited", "discarded", "escalated",
                "feedback")
MAX_TEXT_CHARS = 20_000


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance in characters (whitespace at both ends ignored)."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a.strip(), b.strip()))


def record_event(session: Session, tenant: Tenant, data: dict[str, Any], platform: str,
                 agent_id: str | None = None) -> EventRow:
    """Validate one client event for this tenant and store it (committed)."""
    kind = data.get("kind")
    if kind not in CLIENT_KINDS:
        raise BadRequest(f"'kind' must be one of {', '.join(CLIENT_KINDS)}")
    suggestion_id = data.get("suggestion_id")
    if not isinstance(suggestion_id, str) or not suggestion_id:
        raise BadRequest("'suggestion_id' is required")
    suggestion = session.get(SuggestionRow, suggestion_id)
    if suggestion is None or suggestion.tenant_id != tenant.id:
        raise NotFound("no such suggestion")
    text = data.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT_CHARS):
        raise BadRequest(f"'text' must be a string of at most {MAX_TEXT_CHARS} characters")
    useful = data.get("useful")
    if kind == "feedback" and not isinstance(useful, bool):
        raise BadRequest("feedback needs 'useful': true or false")
    distance = None
    if kind in ("sent", "inserted") and text is not None:
        distance = edit_distance(suggestion.reply, text)
    if kind == "sent":
        if text is None:
            raise BadRequest("'sent' needs the 'text' that was sent")
        kind = "sent_unchanged" if distance == 0 else "sent_edited"
    detail = {k: v for k, v in data.items()
              if k in ("group", "reason", "as") and isinstance(v, str | int)
              and len(str(v)) < 300}
    row = EventRow(tenant_id=tenant.id, ticket_external_id=suggestion.ticket_external_id,
                   suggestion_id=suggestion.id, kind=kind, platform=platform,
                   agent_id=agent_id, model_version=suggestion.model_version,
                   category=suggestion.category, edit_distance=distance,
                   useful=useful if kind == "feedback" else None, detail=detail)
    session.add(row)
    session.commit()
    return row
