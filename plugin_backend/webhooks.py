"""Helpdesk webhooks: verify, enqueue a job by dotted path, answer 200 at once.

Zendesk (``POST /webhooks/zendesk/<subdomain>``, signed with the installation's webhook
secret) and Intercom (``POST /webhooks/intercom``, ``X-Hub-Signature`` with the app's client
secret; the workspace is ``app_id`` in the body). Delivery is at-least-once and unordered:
jobs have ids derived from the event, so a redelivery does not enqueue twice.

* a ticket/conversation is created or the customer replies → ``refresh_ticket`` with
  ``precompute=True``: fetch it, store it, compute its suggestion before the agent opens it;
* a ticket is solved / a conversation closed → ``refresh_ticket`` with ``precompute=False``:
  store the resolved conversation, new training data for the next retraining.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, jsonify, request

from plugin_backend.accounts import find_installation
from plugin_backend.api import runtime
from plugin_backend.db import Tenant
from plugin_backend.errors import BadRequest, NotFound, json_body
from plugin_backend.queue import SUGGEST_QUEUE, TRAIN_QUEUE, queue
from plugin_backend.zendesk_auth import verify_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

REFRESH_JOB = "plugin_backend.jobs.refresh_ticket"
ZENDESK_PRECOMPUTE = ("zen:event-type:ticket.created", "zen:event-type:ticket.comment_added")
ZENDESK_SOLVED = "zen:event-type:ticket.status_changed"
INTERCOM_PRECOMPUTE = ("conversation.user.created", "conversation.user.replied")
INTERCOM_CLOSED = ("conversation.admin.closed",)


def enqueue_refresh(tenant: str, platform: str, ticket_id: str, precompute: bool,
                    event_id: str) -> str:
    """Enqueue ``refresh_ticket`` once per event (job id derived from the event)."""
    from rq.exceptions import DuplicateJobError

    digest = hashlib.sha256(f"{tenant}\0{platform}\0{ticket_id}\0{event_id}".encode())
    job_id = f"refresh-{digest.hexdigest()[:32]}"
    name = SUGGEST_QUEUE if precompute else TRAIN_QUEUE
    try:
        queue(runtime().redis, name).enqueue(
            REFRESH_JOB, tenant, platform, ticket_id, precompute, job_id=job_id, unique=True,
            job_timeout=300, result_ttl=3600, failure_ttl=24 * 3600, meta={"tenant": tenant})
    except DuplicateJobError:
        pass
    return job_id


def _accepted(job_id: str | None) -> Any:
    return jsonify({"accepted": job_id is not None, "job_id": job_id}), 200


@bp.post("/zendesk/<subdomain>")
def zendesk(subdomain: str) -> Any:
    """A Zendesk event subscription / trigger webhook of one installation."""
    raw = request.get_data(cache=True)
    with runtime().sessions() as session:
        installation = find_installation(session, "zendesk", subdomain)
        if installation is None:
            raise NotFound(f"Zendesk account {subdomain!r} is not connected to CloneDesk")
        secret = installation.secrets.get("webhook_secret")
        tenant = session.get(Tenant, installation.tenant_id).name
    verify_webhook(secret or "", request.headers.get("X-Zendesk-Webhook-Signature"),
                   request.headers.get("X-Zendesk-Webhook-Signature-Timestamp"), raw)
    data = json_body(request)
    kind = data.get("type")
    detail = data.get("detail") if isinstance(data.get("detail"), dict) else {}
    ticket_id = detail.get("id")
    if not isinstance(ticket_id, str | int) or isinstance(ticket_id, bool):
        raise BadRequest("webhook has no ticket id in 'detail.id'")
    event_id = str(data.get("id") or hashlib.sha256(raw).hexdigest())
    if kind in ZENDESK_PRECOMPUTE:
        return _accepted(enqueue_refresh(tenant, "zendesk", str(ticket_id), True, event_id))
    current = str((data.get("event") or {}).get("current", "")).upper()
    if kind == ZENDESK_SOLVED and current in ("SOLVED", "CLOSED"):
        return _accepted(enqueue_refresh(tenant, "zendesk", str(ticket_id), False, event_id))
    return _accepted(None)


@bp.post("/intercom")
def intercom() -> Any:
    """An Intercom webhook notification (conversation topics)."""
    from intercom_canvas.signature import verify_webhook as verify_intercom

    raw = request.get_data(cache=True)
    verify_intercom(runtime().settings.intercom_client_secret,
                    request.headers.get("X-Hub-Signature"), raw)
    data = json_body(request)
    workspace = data.get("app_id")
    with runtime().sessions() as session:
        installation = find_installation(session, "intercom", str(workspace or ""))
        if installation is None:
            raise NotFound(f"Intercom workspace {workspace!r} is not connected to CloneDesk")
        tenant = session.get(Tenant, installation.tenant_id).name
    topic = data.get("topic")
    item = ((data.get("data") or {}).get("item") or {}) if isinstance(data.get("data"),
                                                                      dict) else {}
    conversation_id = item.get("id") if isinstance(item, dict) else None
    if topic == "ping":
        return _accepted(None)
    if not isinstance(conversation_id, str | int) or isinstance(conversation_id, bool):
        raise BadRequest("webhook has no conversation id in 'data.item.id'")
    event_id = str(data.get("id") or hashlib.sha256(raw).hexdigest())
    if topic in INTERCOM_PRECOMPUTE:
        return _accepted(enqueue_refresh(tenant, "intercom", str(conversation_id), True,
                                         event_id))
    if topic in INTERCOM_CLOSED:
        return _accepted(enqueue_refresh(tenant, "intercom", str(conversation_id), False,
                                         event_id))
    return _accepted(None)
