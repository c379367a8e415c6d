"""Canvas Kit endpoints of the Intercom inbox app: ``POST /intercom/initialize`` and ``/submit``.

Every request is checked at the edge, in this order: ``X-Body-Signature`` over the raw body
(401), the JSON (400), the workspace's installation (404). After that the app always
answers 200 with a canvas: a failure of Intercom's API or of the suggestion service becomes
an error canvas the teammate can read, never a 500. The canvas services below know nothing
of Flask; the routes verify, call one, and render its bytes (see ``components``).

``stored_data`` carries ``conversation_id`` and ``suggestion_id`` or ``job_id``; a suggestion
and a job are looked up for the request's own account, so a stale or foreign id is a
"not found", and a draft is never sent to a conversation other than its own.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request

from intercom_canvas import components as ui
from intercom_canvas.signature import verify_canvas
from plugin_backend.accounts import find_installation
from plugin_backend.api import runtime
from plugin_backend.connectors import ConnectorError
from plugin_backend.db import SuggestionRow, Tenant
from plugin_backend.errors import ApiError, BadRequest, NotFound, json_body
from plugin_backend.events import record_event
from plugin_backend.runtime import Runtime
from plugin_backend.store import get_tenant
from plugin_backend.suggestions import Pending, Ready, poll_suggestion, request_suggestion
from trainer.interaction import Ticket

log = logging.getLogger(__name__)

bp = Blueprint("intercom", __name__, url_prefix="/intercom")

WAIT_S = 2.0          # how long a request waits for a job before answering "Preparing…"
POLL_STEP_S = 0.1
_ID_RE = re.compile(r"[0-9A-Za-z_\-]{1,64}")


@dataclass(frozen=True)
class Workspace:
    """The verified request's account: tenant name, Intercom workspace and its installation."""

    tenant: str
    workspace_id: str
    settings: dict[str, Any]
    secrets: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class CanvasRequest:
    """What a Canvas Kit request says: who, which conversation, what was clicked and typed."""

    admin_id: str | None
    conversation_id: str | None
    component_id: str | None = None
    input_values: dict[str, Any] = field(default_factory=dict)
    stored_data: dict[str, Any] = field(default_factory=dict)

    def stored(self, **extra: Any) -> dict[str, Any]:
        """The stored_data of the next canvas: the conversation plus ``extra``."""
        return {"conversation_id": self.conversation_id, **extra}


def connector_for(workspace: Workspace) -> Any:
    """The workspace's IntercomConnector (its OAuth token and region; 10 s timeout)."""
    from plugin_backend.connectors.intercom import IntercomConnector

    return IntercomConnector(str(workspace.secrets.get("access_token") or ""),
                             region=str(workspace.settings.get("region") or "us"))


# --- the edge ------------------------------------------------------------------------------

def _id(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) \
            or not _ID_RE.fullmatch(str(value)):
        raise BadRequest(f"'{name}' must be an Intercom id")
    return str(value)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def verified_request() -> tuple[Workspace, CanvasRequest]:
    """Verify the signature over the raw body, parse it, find the workspace's account."""
    rt = runtime()
    raw = request.get_data(cache=True)
    verify_canvas(rt.settings.intercom_client_secret, request.headers.get("X-Body-Signature"),
                  raw)
    data = json_body(request)
    workspace_id = data.get("workspace_id")
    if not isinstance(workspace_id, str) or not workspace_id or len(workspace_id) > 255:
        raise BadRequest("'workspace_id' is required")
    with rt.sessions() as session:
        installation = find_installation(session, "intercom", workspace_id)
        if installation is None:
            raise NotFound(f"Intercom workspace {workspace_id!r} is not connected to "
                           f"CloneDesk")
        tenant = session.get(Tenant, installation.tenant_id)
        workspace = Workspace(tenant.name, workspace_id, dict(installation.settings or {}),
                              dict(installation.secrets or {}))
    return workspace, parse_canvas_request(data)


def parse_canvas_request(data: dict[str, Any]) -> CanvasRequest:
    """The parts of an initialize/submit body the app uses (ids validated, the rest ignored).

    ``stored_data`` comes back inside ``current_canvas``; the conversation is the request's
    own (``conversation.id``, else ``context.conversation_id``), never taken from a canvas
    when the request names one.
    """
    current = _object(data.get("current_canvas"))
    stored = _object(current.get("stored_data")
                     or _object(current.get("current_canvas")).get("stored_data")
                     or data.get("stored_data"))
    conversation = _object(data.get("conversation")).get("id") or \
        _object(data.get("context")).get("conversation_id") or \
        stored.get("conversation_id")
    component_id = data.get("component_id")
    return CanvasRequest(
        admin_id=_id(_object(data.get("admin")).get("id"), "admin.id"),
        conversation_id=_id(conversation, "conversation.id"),
        component_id=component_id[:64] if isinstance(component_id, str) else None,
        input_values=_object(data.get("input_values")),
        stored_data=stored)


def _render(response: dict[str, Any]) -> Response:
    return Response(ui.to_json_bytes(response), status=200, mimetype="application/json")


@bp.post("/initialize")
def initialize() -> Response:
    """A teammate opened a conversation: the first canvas (suggestion, or "Preparing…")."""
    workspace, canvas_request = verified_request()
    return _render(initialize_canvas(runtime(), workspace, canvas_request))


@bp.post("/submit")
def submit() -> Response:
    """A button was clicked: act on it (send, note, escalate, regenerate, refresh)."""
    workspace, canvas_request = verified_request()
    action = SUBMIT_ACTIONS.get(canvas_request.component_id or "")
    if action is None:
        raise BadRequest(f"unknown component_id {canvas_request.component_id!r}")
    return _render(action(runtime(), workspace, canvas_request))


# --- canvas services (no Flask) ------------------------------------------------------------

def initialize_canvas(rt: Runtime, ws: Workspace, req: CanvasRequest,
                      regenerate: bool = False) -> dict[str, Any]:
    """Read the conversation from Intercom and show its suggestion (or the job computing it)."""
    if req.conversation_id is None:
        return ui.error_canvas("Open a conversation to see a suggested reply.", retry=False)
    try:
        with connector_for(ws) as connector:
            ticket = connector.fetch_conversation(req.conversation_id)
    except ConnectorError as exc:
        return ui.error_canvas(f"Could not read the conversation from Intercom: {exc}",
                               req.stored())
    return suggestion_for(rt, ws, req, ticket, regenerate)


def suggestion_for(rt: Runtime, ws: Workspace, req: CanvasRequest, ticket: Ticket,
                   regenerate: bool) -> dict[str, Any]:
    """Ask for the ticket's suggestion, wait up to WAIT_S for it, render what there is."""
    if not any(m.role == "customer" for m in ticket.messages):
        return ui.result_canvas("Nothing to suggest yet: the customer has not written.",
                                req.stored())
    try:
        outcome = wait_for(rt, ws.tenant,
                           request_suggestion(rt, ws.tenant, ticket, regenerate=regenerate))
    except ApiError as exc:
        return ui.error_canvas(exc.message, req.stored())
    return outcome_canvas(rt, ws, req, outcome)


def wait_for(rt: Runtime, tenant: str, outcome: Ready | Pending,
             wait_s: float | None = None) -> Ready | Pending:
    """Poll a pending job every POLL_STEP_S until it is ready or ``wait_s`` has passed."""
    deadline = time.monotonic() + (WAIT_S if wait_s is None else wait_s)
    while isinstance(outcome, Pending) and time.monotonic() < deadline:
        time.sleep(POLL_STEP_S)
        outcome = poll_suggestion(rt, tenant, outcome.job_id)
    return outcome


def outcome_canvas(rt: Runtime, ws: Workspace, req: CanvasRequest,
                   outcome: Ready | Pending) -> dict[str, Any]:
    """The pending canvas, or the suggestion canvas (recording that it was shown)."""
    if isinstance(outcome, Pending):
        return ui.pending_canvas(outcome.job_id, req.stored())
    suggestion = outcome.suggestion
    if suggestion.get("show"):
        record(rt, ws, req, {"kind": "shown", "suggestion_id": suggestion["suggestion_id"]})
    return ui.suggestion_canvas(suggestion, req.stored(suggestion_id=suggestion["suggestion_id"]),
                                teams=ws.settings.get("teams"))


def record(rt: Runtime, ws: Workspace, req: CanvasRequest, data: dict[str, Any]) -> None:
    """Store an agent event; a failure is logged and never breaks the teammate's action."""
    try:
        with rt.sessions() as session:
            record_event(session, get_tenant(session, ws.tenant), data, platform="intercom",
                         agent_id=req.admin_id)
    except ApiError as exc:
        log.warning("intercom %s event not recorded for tenant %s: %s", data.get("kind"),
                    ws.tenant, exc.message)


def stored_suggestion(rt: Runtime, ws: Workspace, req: CanvasRequest) -> dict[str, Any]:
    """The suggestion named in stored_data, of this account and this conversation."""
    suggestion_id = req.stored_data.get("suggestion_id")
    if not isinstance(suggestion_id, str) or not suggestion_id:
        raise NotFound("this canvas has no suggestion; ask for a new one")
    with rt.sessions() as session:
        row = session.get(SuggestionRow, suggestion_id)
        tenant = get_tenant(session, ws.tenant)
        if row is None or row.tenant_id != tenant.id:
            raise NotFound("the suggestion is no longer available; ask for a new one")
        if row.ticket_external_id != req.conversation_id:
            raise NotFound("this suggestion belongs to another conversation")
        return dict(row.payload or {})


def _post(kind: str, done: str) -> Callable[[Runtime, Workspace, CanvasRequest], dict[str, Any]]:
    """A submit action that posts the draft as a reply or a note, then records ``kind``."""

    def action(rt: Runtime, ws: Workspace, req: CanvasRequest) -> dict[str, Any]:
        try:
            suggestion = stored_suggestion(rt, ws, req)
        except ApiError as exc:
            return ui.error_canvas(exc.message, req.stored())
        stored = req.stored(suggestion_id=suggestion.get("suggestion_id"))
        teams = ws.settings.get("teams")
        value = req.input_values.get(ui.REPLY_TEXT_ID)
        body = value if isinstance(value, str) else ""
        if not body.strip() or req.admin_id is None:
            notice = "Write a reply first." if req.admin_id else "Intercom sent no teammate id."
            return ui.suggestion_canvas(suggestion, stored, teams, draft=body, notice=notice)
        try:
            with connector_for(ws) as connector:
                post = connector.reply if kind == "sent" else connector.add_note
                post(req.conversation_id, req.admin_id, body)
        except ConnectorError as exc:
            return ui.suggestion_canvas(suggestion, stored, teams, draft=body,
                                        notice=f"Not posted: {exc}")
        event = {"kind": kind, "suggestion_id": suggestion["suggestion_id"], "text": body}
        if kind == "inserted":
            event["as"] = "note"
        record(rt, ws, req, event)
        return ui.result_canvas(done, stored)

    action.__doc__ = f"Post the draft ({kind}) and say {done!r}."
    return action


def escalate_canvas(rt: Runtime, ws: Workspace, req: CanvasRequest) -> dict[str, Any]:
    """Assign the conversation to the advised group's Intercom team."""
    try:
        suggestion = stored_suggestion(rt, ws, req)
    except ApiError as exc:
        return ui.error_canvas(exc.message, req.stored())
    stored = req.stored(suggestion_id=suggestion.get("suggestion_id"))
    escalation = suggestion.get("escalation") or {}
    group = escalation.get("group")
    team_id = (ws.settings.get("teams") or {}).get(group) if group else None
    if not escalation.get("advised") or team_id in (None, "") or req.admin_id is None:
        return ui.result_canvas(f"No Intercom team is set up for {group or 'this group'}.",
                                stored, error=True)
    try:
        with connector_for(ws) as connector:
            connector.assign_team(req.conversation_id, req.admin_id, team_id)
    except ConnectorError as exc:
        return ui.result_canvas(f"Not assigned: {exc}", stored, error=True)
    record(rt, ws, req, {"kind": "escalated", "suggestion_id": suggestion["suggestion_id"],
                         "group": group})
    return ui.result_canvas(f"Assigned to {group}", stored)


def regenerate_canvas(rt: Runtime, ws: Workspace, req: CanvasRequest) -> dict[str, Any]:
    """Drop the cached suggestion and compute a new one for the conversation as it is now."""
    return initialize_canvas(rt, ws, req, regenerate=True)


def refresh_canvas(rt: Runtime, ws: Workspace, req: CanvasRequest) -> dict[str, Any]:
    """Poll the job named in stored_data; start over when it is gone."""
    job_id = req.stored_data.get("job_id")
    if not isinstance(job_id, str):
        return initialize_canvas(rt, ws, req)
    try:
        outcome = wait_for(rt, ws.tenant, poll_suggestion(rt, ws.tenant, job_id))
    except NotFound:
        return initialize_canvas(rt, ws, req)
    except ApiError as exc:
        return ui.error_canvas(exc.message, req.stored())
    return outcome_canvas(rt, ws, req, outcome)


SUBMIT_ACTIONS: dict[str, Callable[[Runtime, Workspace, CanvasRequest], dict[str, Any]]] = {
    "send_reply": _post("sent", "Reply sent"),
    "add_note": _post("inserted", "Note added"),
    "escalate": escalate_canvas,
    "regenerate": regenerate_canvas,
    "refresh": refresh_canvas,
    "retry": initialize_canvas,
}
