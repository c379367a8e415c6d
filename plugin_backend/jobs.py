"""RQ entry points. Jobs take ids, are idempotent, and write results to storage and Redis.

Run by ``clonedesk worker`` (or ``SimpleWorker(...).work(burst=True)`` in tests). The
process-wide :class:`WorkerContext` holds the runtime and the warm suggesters (one base
model; each account's adapter loaded once and reloaded on promotion).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from plugin_backend.config import Settings
from plugin_backend.db import SuggestionRow
from plugin_backend.runtime import Runtime
from plugin_backend.store import get_tenant, get_ticket
from plugin_backend.suggestions import cache_key, conversation_digest, present

log = logging.getLogger(__name__)

_CONTEXT: WorkerContext | None = None


class WorkerContext:
    """What a worker process keeps between jobs: runtime and the suggester pool."""

    def __init__(self, runtime: Runtime, pool: Any = None) -> None:
        from plugin_backend.suggesters import SuggesterPool

        self.runtime = runtime
        self.pool = pool if pool is not None else SuggesterPool(runtime.settings)


def configure(context: WorkerContext | None) -> None:
    """Install the context jobs of this process use (``clonedesk worker`` and tests)."""
    global _CONTEXT
    _CONTEXT = context


def context() -> WorkerContext:
    """The installed context, or one built from the environment on first use."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = WorkerContext(Runtime.build(Settings.from_env()))
    return _CONTEXT


def _fail(message: str) -> None:
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta["error"] = message
        job.save_meta()
    raise RuntimeError(message)


def compute_suggestion(tenant: str, ticket_id: str, version: str, digest: str) -> str:
    """Suggest for the stored ticket's current state; cache it; returns the cache key.

    ``version``/``digest`` are what the web asked for; when the model was promoted or the
    conversation changed since, the suggestion is for the newest state and stored under
    that state's key (the job's meta says which).
    """
    from rq import get_current_job

    from plugin_backend.suggesters import NoAdapter

    ctx = context()
    rt = ctx.runtime
    with rt.sessions() as session:
        tenant_row = get_tenant(session, tenant)
        ticket = get_ticket(session, tenant_row, ticket_id)
    if ticket is None:
        _fail(f"ticket {ticket_id!r} is not stored for this account")
    assert ticket is not None
    try:
        suggester = ctx.pool.suggester(tenant)
    except NoAdapter as exc:
        _fail(str(exc))
    current = ctx.pool.registry(tenant).current()
    [suggestion] = suggester.suggest([ticket])
    suggestion_id = f"sg_{secrets.token_hex(12)}"
    payload = present(suggestion, tenant, current.version, suggestion_id,
                      rt.settings.min_confidence)
    with rt.sessions() as session:
        session.add(SuggestionRow(
            id=suggestion_id, tenant_id=tenant_row.id, ticket_external_id=ticket.id,
            model_version=current.version, action=suggestion.action, reply=suggestion.reply,
            confidence=float(suggestion.confidence), category=suggestion.category,
            payload=payload))
        session.commit()
    key = cache_key(tenant, current.version, ticket.id, conversation_digest(ticket))
    rt.redis.set(key, json.dumps(payload, ensure_ascii=False), ex=rt.settings.suggestion_ttl_s)
    job = get_current_job()
    if job is not None:
        job.meta["written_key"] = key
        job.save_meta()
    log.info("suggestion %s for tenant %s ticket %s (%s, %s)", suggestion_id, tenant,
             ticket_id, suggestion.action, current.version)
    return key


def connector_for(installation: Any) -> Any:
    """The helpdesk client of an installation, from its stored secrets (with a timeout)."""
    secrets_ = installation.secrets or {}
    if installation.platform == "zendesk":
        from plugin_backend.connectors.zendesk import ZendeskConnector

        return ZendeskConnector(installation.external_id,
                                oauth_token=secrets_.get("oauth_token"),
                                email=secrets_.get("email"), api_token=secrets_.get("api_token"))
    from plugin_backend.connectors.intercom import IntercomConnector

    return IntercomConnector(secrets_.get("access_token", ""),
                             region=(installation.settings or {}).get("region", "us"))


def refresh_ticket(tenant: str, platform: str, ticket_id: str, precompute: bool) -> str:
    """Fetch one ticket/conversation from the helpdesk, store it, and — when ``precompute``
    and a customer is waiting — compute its suggestion so the sidebar opens from cache."""
    from plugin_backend.accounts import installations_of
    from plugin_backend.store import upsert_tickets
    from plugin_backend.suggestions import current_version

    rt = context().runtime
    with rt.sessions() as session:
        tenant_row = get_tenant(session, tenant)
        found = [i for i in installations_of(session, tenant_row) if i.platform == platform]
    if not found:
        _fail(f"account {tenant!r} has no {platform} installation")
    connector = connector_for(found[0])
    try:
        ticket = fetch_with(connector, platform, ticket_id)
    finally:
        if hasattr(connector, "close"):
            connector.close()
    with rt.sessions() as session:
        upsert_tickets(session, get_tenant(session, tenant), [ticket])
        session.commit()
    spoken = [m.role for m in ticket.messages if m.role != "note"]  # notes don't answer
    waiting = bool(spoken) and spoken[-1] == "customer"
    if not (precompute and waiting):
        return "stored"
    version = current_version(rt, tenant)
    return compute_suggestion(tenant, ticket.id, version, conversation_digest(ticket))


def fetch_with(connector: Any, platform: str, ticket_id: str) -> Any:
    """The connector's ticket; a ConnectorError fails the job with a clean message."""
    try:
        if platform == "zendesk":
            return connector.fetch_ticket(ticket_id)
        return connector.fetch_conversation(ticket_id)
    except Exception as exc:  # connectors raise ConnectorError only
        _fail(f"{platform} fetch failed: {exc}")
        raise
