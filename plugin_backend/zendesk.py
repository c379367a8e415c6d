"""Zendesk sidebar: signed-URL first load, the app's assets, and its session-scoped API.

``POST /zendesk/sidebar`` (Zendesk's signed-URL load, form field ``token``) verifies the JWT,
finds the account by the installation's subdomain, and renders ``zendesk_app/assets/
iframe.html`` with a short session injected. The sidebar then calls ``/zendesk/api/*`` with
``Authorization: Bearer <session>``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from jinja2 import Environment, FileSystemLoader, select_autoescape

from plugin_backend.accounts import find_installation, installations_of
from plugin_backend.api import bearer_token, runtime, suggestion_response, ticket_from_body
from plugin_backend.db import Tenant
from plugin_backend.errors import ApiError, NotFound, Unauthorized, json_body
from plugin_backend.events import record_event
from plugin_backend.store import get_tenant
from plugin_backend.suggestions import Ready, poll_suggestion, request_suggestion
from plugin_backend.web_sessions import AppSession, issue_session, verify_session
from plugin_backend.zendesk_auth import verify_signed_url

ZENDESK_APP_DIR = Path(__file__).resolve().parent.parent / "zendesk_app"
ASSETS_DIR = ZENDESK_APP_DIR / "assets"

bp = Blueprint("zendesk", __name__, url_prefix="/zendesk")


@lru_cache(maxsize=4)
def _public_key(path: str) -> bytes:
    return Path(path).read_bytes()


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(str(ASSETS_DIR)),
                       autoescape=select_autoescape(["html"]))


def render_sidebar(session_token: str) -> str:
    """The sidebar page with its config (API base, session) injected as an inert JSON block."""
    return _templates().get_template("iframe.html").render(
        zaf_sdk_url=runtime().settings.zaf_sdk_url,
        asset_base="/zendesk/assets",
        config_json={"api": "/zendesk/api", "session": session_token},
    )


@bp.post("/sidebar")
def sidebar() -> Any:
    """First load from Zendesk: verify the signed URL, start a session, render the app."""
    settings = runtime().settings
    if not settings.zendesk_public_key:
        raise ApiError("Zendesk app public key not configured "
                       "(CLONEDESK_ZENDESK_PUBLIC_KEY)", 503)
    token = request.form.get("token")
    if not token:
        raise Unauthorized("missing signed URL token")
    claims = verify_signed_url(token, _public_key(settings.zendesk_public_key))
    with runtime().sessions() as session:
        installation = find_installation(session, "zendesk", claims.subdomain)
        if installation is None:
            raise NotFound(f"Zendesk account {claims.subdomain!r} is not connected to "
                           f"CloneDesk")
        expected = installation.settings.get("installation_id")
        if expected is not None and str(expected) != claims.installation_id:
            raise Unauthorized("signed URL token is for another app installation")
        tenant = session.get(Tenant, installation.tenant_id)
    app_session = AppSession(tenant=tenant.name, platform="zendesk", agent_id=claims.agent_id)
    html = render_sidebar(issue_session(current_app.config["SECRET_KEY"], app_session))
    return Response(html, mimetype="text/html",
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@bp.get("/assets/<path:name>")
def assets(name: str) -> Any:
    """The app's static assets (sidebar.js, sidebar.css, logos)."""
    if name == "iframe.html":
        raise NotFound("not found")
    return send_from_directory(ASSETS_DIR, name, max_age=300)


def app_session() -> AppSession:
    """The verified sidebar session of this request."""
    found = verify_session(current_app.config["SECRET_KEY"], bearer_token())
    if found.platform != "zendesk":
        raise Unauthorized("not a Zendesk session")
    return found


def _with_group_id(suggestion: dict[str, Any], tenant_name: str) -> dict[str, Any]:
    group = (suggestion.get("escalation") or {}).get("group")
    if not group:
        return {**suggestion, "escalation": {**suggestion["escalation"], "group_id": None}}
    with runtime().sessions() as session:
        tenant = get_tenant(session, tenant_name)
        rows = [i for i in installations_of(session, tenant) if i.platform == "zendesk"]
    groups = rows[0].settings.get("groups", {}) if rows else {}
    escalation = {**suggestion["escalation"], "group_id": groups.get(group)}
    return {**suggestion, "escalation": escalation}


def _respond(outcome: Any, tenant_name: str) -> Any:
    if isinstance(outcome, Ready):
        outcome = Ready(_with_group_id(outcome.suggestion, tenant_name))
    return suggestion_response(outcome, "zendesk.suggestion_job", nested=True)


@bp.post("/api/suggestions")
def suggestions() -> Any:
    """The suggestion for the ticket the sidebar sent (its conversation as ZAF shows it)."""
    found = app_session()
    data = json_body(request)
    with runtime().sessions() as session:
        tenant = get_tenant(session, found.tenant)
    ticket = ticket_from_body(data, tenant)
    outcome = request_suggestion(runtime(), found.tenant, ticket,
                                 regenerate=bool(data.get("regenerate")))
    return _respond(outcome, found.tenant)


@bp.get("/api/suggestions/jobs/<job_id>")
def suggestion_job(job_id: str) -> Any:
    """Poll a suggestion job started by this account's sidebar."""
    found = app_session()
    return _respond(poll_suggestion(runtime(), found.tenant, job_id), found.tenant)


@bp.post("/api/events")
def events() -> Any:
    """Record what the agent did with the suggestion."""
    found = app_session()
    data = json_body(request)
    with runtime().sessions() as session:
        tenant = get_tenant(session, found.tenant)
        row = record_event(session, tenant, data, platform="zendesk", agent_id=found.agent_id)
        event_id, kind = row.id, row.kind
    return jsonify({"event_id": event_id, "kind": kind}), 201
