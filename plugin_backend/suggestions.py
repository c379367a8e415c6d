"""The one place the web asks for a suggestion: the Redis cache, or a job that computes it.

A suggestion belongs to one *state* of a ticket: the account's promoted model version plus a
digest of the conversation (roles and texts). A new customer message or a promotion changes
the key, so a stale suggestion is never served. The web process stores the ticket, enqueues
``plugin_backend.jobs.compute_suggestion`` by dotted path with ids only, and answers 202 until
the worker has written the result under the key; it never imports torch or the trainer's
model code.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from plugin_backend.errors import Conflict, NotFound
from plugin_backend.queue import SUGGEST_QUEUE, queue
from plugin_backend.runtime import Runtime
from plugin_backend.store import get_tenant, upsert_tickets
from trainer.interaction import Ticket
from trainer.registry import AdapterRegistry

JOB_FUNCTION = "plugin_backend.jobs.compute_suggestion"
JOB_TIMEOUT_S = 300
CONFIDENCE_LABELS = ((0.75, "High"), (0.5, "Medium"), (0.0, "Low"))


@dataclass(frozen=True)
class Ready:
    """A computed suggestion (the JSON the apps show)."""

    suggestion: dict[str, Any]


@dataclass(frozen=True)
class Pending:
    """Being computed by a worker: poll ``job_id``."""

    job_id: str


def conversation_digest(ticket: Ticket) -> str:
    """SHA-256 of the conversation state a suggestion answers (roles and texts)."""
    state = [[m.role, m.text] for m in ticket.messages]
    blob = json.dumps([ticket.subject, ticket.channel, state], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_key(tenant: str, version: str, ticket_id: str, digest: str) -> str:
    """Redis key of the suggestion for this account, model version and ticket state."""
    ticket = hashlib.sha256(ticket_id.encode("utf-8")).hexdigest()[:20]
    return f"clonedesk:{tenant}:suggestion:{version}:{ticket}:{digest[:32]}"


def confidence_label(confidence: float) -> str:
    """High / Medium / Low, as the apps show it beside the number."""
    return next(label for bound, label in CONFIDENCE_LABELS if confidence >= bound)


def current_version(rt: Runtime, tenant: str) -> str:
    """The account's promoted adapter version; Conflict when it has none yet."""
    current = AdapterRegistry(rt.settings.adapters_dir, tenant).current()
    if current is None:
        raise Conflict(f"account {tenant!r} has no trained model yet: run "
                       f"`clonedesk train --tenant {tenant}`")
    return current.version


def request_suggestion(rt: Runtime, tenant: str, ticket: Ticket,
                       regenerate: bool = False) -> Ready | Pending:
    """The cached suggestion for this ticket state, or the job now computing it.

    On a miss the ticket is stored (upsert by id) before the job is enqueued, so the job
    reads it by id and ingestion sees the live conversation; ``regenerate`` drops the
    cached one.
    """
    version = current_version(rt, tenant)
    digest = conversation_digest(ticket)
    key = cache_key(tenant, version, ticket.id, digest)
    if regenerate:
        rt.redis.delete(key)
    else:
        cached = rt.redis.get(key)
        if cached is not None:  # this exact conversation state is already stored
            return Ready({**json.loads(cached), "cached": True})
    with rt.sessions() as session:
        upsert_tickets(session, get_tenant(session, tenant), [ticket])
        session.commit()
    return Pending(_enqueue(rt, tenant, ticket.id, version, digest, key, regenerate))


def _enqueue(rt: Runtime, tenant: str, ticket_id: str, version: str, digest: str, key: str,
             regenerate: bool) -> str:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    base = hashlib.sha256(f"{tenant}\0{key}".encode()).hexdigest()[:32]
    job_id = f"suggest-{base}" + (f"-{secrets.token_hex(4)}" if regenerate else "")
    if not regenerate:
        try:
            existing = Job.fetch(job_id, connection=rt.redis)
            if existing.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.STARTED,
                                                       JobStatus.DEFERRED):
                return job_id
            existing.delete()
        except NoSuchJobError:
            pass
    queue(rt.redis, SUGGEST_QUEUE).enqueue(
        JOB_FUNCTION, tenant, ticket_id, version, digest, job_id=job_id,
        job_timeout=JOB_TIMEOUT_S, result_ttl=600, failure_ttl=3600,
        meta={"tenant": tenant, "cache_key": key})
    return job_id


def poll_suggestion(rt: Runtime, tenant: str, job_id: str) -> Ready | Pending:
    """The result of a suggestion job of *this* tenant; NotFound for anyone else's job."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    if not job_id.startswith("suggest-") or len(job_id) > 64:
        raise NotFound("no such suggestion job")
    try:
        job = Job.fetch(job_id, connection=rt.redis)
    except NoSuchJobError:
        raise NotFound("no such suggestion job (it may have expired)") from None
    if job.meta.get("tenant") != tenant:
        raise NotFound("no such suggestion job")
    key = job.meta.get("written_key") or job.meta.get("cache_key")
    cached = rt.redis.get(key) if key else None
    if cached is not None:
        return Ready({**json.loads(cached), "cached": False})
    status = job.get_status()
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        raise Conflict(job.meta.get("error") or "the suggestion could not be computed")
    if status == JobStatus.FINISHED:
        raise Conflict("the suggestion expired from the cache; ask again")
    return Pending(job_id)


def present(suggestion: Any, tenant: str, version: str, suggestion_id: str,
            min_confidence: float) -> dict[str, Any]:
    """The JSON the apps and the API show for a trainer ``Suggestion``."""
    confidence = round(float(suggestion.confidence), 4)
    advised = suggestion.action == "escalate"
    return {
        "suggestion_id": suggestion_id,
        "ticket_id": suggestion.ticket_id,
        "action": suggestion.action,
        "reply": suggestion.reply,
        "confidence": confidence,
        "confidence_label": confidence_label(confidence),
        "show": bool(suggestion.format_ok and confidence >= min_confidence
                     and (suggestion.reply or advised)),
        "escalation": {"advised": advised, "reason": suggestion.escalation_reason,
                       "group": suggestion.escalation_group},
        "category": suggestion.category,
        "mode": suggestion.mode,
        "model_version": version,
        "tenant": tenant,
    }
