"""JSON API v1: suggestions and events for an account, authenticated by its API key.

``POST /api/v1/suggestions`` takes one interaction v1 ticket (or ``{"ticket": {...}}``), or
``{"ticket_id": "..."}`` of a stored ticket, and answers 200 with the suggestion or 202 with
a job id to poll at ``GET /api/v1/suggestions/jobs/<job_id>``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from plugin_backend.accounts import tenant_for_api_key
from plugin_backend.db import Tenant
from plugin_backend.errors import BadRequest, NotFound, Unauthorized, json_body
from plugin_backend.events import record_event
from plugin_backend.runtime import Runtime
from plugin_backend.store import get_ticket
from plugin_backend.suggestions import Pending, Ready, poll_suggestion, request_suggestion
from trainer.interaction import InvalidTicket, Ticket, parse_ticket

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def runtime() -> Runtime:
    """The app's runtime (settings, sessions, Redis)."""
    return current_app.extensions["clonedesk"]


def bearer_token() -> str:
    """The ``Authorization: Bearer`` token, or Unauthorized."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing 'Authorization: Bearer <API key>' header")
    return token.strip()


def api_tenant() -> Tenant:
    """The account that owns the request's API key, or Unauthorized."""
    token = bearer_token()
    with runtime().sessions() as session:
        tenant = tenant_for_api_key(session, token)
    if tenant is None:
        raise Unauthorized("invalid API key")
    return tenant


def ticket_from_body(data: dict[str, Any], tenant: Tenant) -> Ticket:
    """The ticket a suggestion request is about: sent inline, or stored (by id)."""
    record = data.get("ticket", data)
    if "ticket_id" in data and "messages" not in record:
        ticket_id = data["ticket_id"]
        if not isinstance(ticket_id, str | int) or isinstance(ticket_id, bool):
            raise BadRequest("'ticket_id' must be a string")
        with runtime().sessions() as session:
            ticket = get_ticket(session, tenant, str(ticket_id))
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id!r} in this account")
        return ticket
    if not isinstance(record, dict):
        raise BadRequest("'ticket' must be an interaction v1 object")
    record = {"status": "open", **record}
    try:
        ticket = parse_ticket(record)
    except InvalidTicket as exc:
        raise BadRequest(f"invalid ticket: {exc}") from None
    if not any(m.role == "customer" for m in ticket.messages):
        raise BadRequest("invalid ticket: it has no customer message to answer")
    return ticket


def suggestion_response(outcome: Ready | Pending, poll_endpoint: str, nested: bool = False) -> Any:
    """200 with the suggestion (flat, or under "suggestion"), or 202 with where to poll."""
    if isinstance(outcome, Ready):
        return jsonify({"suggestion": outcome.suggestion} if nested else outcome.suggestion), 200
    poll = url_for(poll_endpoint, job_id=outcome.job_id)
    return jsonify({"status": "pending", "job_id": outcome.job_id, "poll": poll}), 202


@bp.post("/suggestions")
def create_suggestion() -> Any:
    """Suggest the next agent message for one ticket."""
    tenant = api_tenant()
    data = json_body(request)
    ticket = ticket_from_body(data, tenant)
    outcome = request_suggestion(runtime(), tenant.name, ticket,
                                 regenerate=bool(data.get("regenerate")))
    return suggestion_response(outcome, "api.get_suggestion_job")


@bp.get("/suggestions/jobs/<job_id>")
def get_suggestion_job(job_id: str) -> Any:
    """Poll a suggestion job of this account."""
    tenant = api_tenant()
    return suggestion_response(poll_suggestion(runtime(), tenant.name, job_id),
                               "api.get_suggestion_job")


@bp.post("/events")
def create_event() -> Any:
    """Record an agent action on a suggestion (shown, inserted, sent, feedback…)."""
    tenant = api_tenant()
    data = json_body(request)
    with runtime().sessions() as session:
        tenant = session.merge(tenant)
        row = record_event(session, tenant, data, platform="api",
                           agent_id=_optional_id(data.get("agent_id")))
        event_id, kind = row.id, row.kind
    return jsonify({"event_id": event_id, "kind": kind}), 201


def _optional_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 255:
        raise BadRequest("'agent_id' must be a short string")
    return str(value)


@bp.get("/tickets/<ticket_id>")
def show_ticket(ticket_id: str) -> Any:
    """One stored ticket of this account (interaction v1)."""
    tenant = api_tenant()
    with runtime().sessions() as session:
        ticket = get_ticket(session, tenant, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id!r} in this account")
    return jsonify(ticket.to_dict())


