"""Ticket store: tenants and tickets in and out of the database, as trainer ``Ticket`` objects."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin_backend.db import Tenant, TicketRow, utcnow
from trainer.interaction import Ticket, parse_ticket

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class UnknownTenant(LookupError):
    """No account of that name."""


def validate_tenant_name(name: str) -> str:
    """Tenant names are lower-case slugs: they key rows, Redis keys, files and adapters."""
    if not TENANT_NAME.match(name or ""):
        raise ValueError(
            f"invalid tenant name {name!r}: use 1-63 lower-case letters, digits, '-' or '_'"
        )
    return name


def get_tenant(session: Session, name: str) -> Tenant:
    """Return the tenant called ``name`` or raise UnknownTenant."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise UnknownTenant(f"no account named {name!r}")
    return tenant


def get_or_create_tenant(session: Session, name: str) -> Tenant:
    """Return the tenant, creating it (committed) when it does not exist yet."""
    validate_tenant_name(name)
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.commit()
    return tenant


def _row_values(ticket: Ticket) -> dict[str, Any]:
    record = ticket.to_dict()
    return {
        "created_at": ticket.created_at,
        "subject": ticket.subject,
        "channel": ticket.channel,
        "category": ticket.category,
        "status": ticket.status,
        "escalated": ticket.escalated,
        "reopened": ticket.reopened,
        "csat": ticket.csat,
        "tags": list(ticket.tags),
        "messages": record["messages"],
        "extra": dict(ticket.extra),
    }


@dataclass
class UpsertCounts:
    """How many tickets a batch inserted and updated."""

    inserted: int = 0
    updated: int = 0


def upsert_tickets(session: Session, tenant: Tenant, tickets: Sequence[Ticket]) -> UpsertCounts:
    """Insert or update tickets by (tenant, id) in the session's transaction (no commit)."""
    counts = UpsertCounts()
    if not tickets:
        return counts
    ids = [t.id for t in tickets]
    existing = {
        row.external_id: row
        for row in session.scalars(
            select(TicketRow).where(TicketRow.tenant_id == tenant.id,
                                    TicketRow.external_id.in_(ids))
        )
    }
    next_seq = (session.scalar(
        select(func.max(TicketRow.seq)).where(TicketRow.tenant_id == tenant.id)) or 0) + 1
    for ticket in tickets:
        values = _row_values(ticket)
        row = existing.get(ticket.id)
        if row is None:
            row = TicketRow(tenant_id=tenant.id, external_id=ticket.id, seq=next_seq, **values)
            session.add(row)
            existing[ticket.id] = row
            next_seq += 1
            counts.inserted += 1
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            counts.updated += 1
    session.flush()
    return counts


def row_to_ticket(row: TicketRow) -> Ticket:
    """Rebuild the validated Ticket from a stored row."""
    record: dict[str, Any] = dict(row.extra or {})
    record.update(
        id=row.external_id,
        created_at=row.created_at.isoformat() if row.created_at else None,
        subject=row.subject, channel=row.channel, category=row.category,
        tags=row.tags, messages=row.messages, status=row.status,
        escalated=row.escalated, reopened=row.reopened, csat=row.csat,
    )
    return parse_ticket(record)


def iter_tickets(session: Session, tenant: Tenant, chunk: int = 1000) -> Iterator[Ticket]:
    """Yield the tenant's tickets in arrival order (``seq``), streaming in chunks."""
    last = 0
    while True:
        rows = list(session.scalars(
            select(TicketRow).where(TicketRow.tenant_id == tenant.id, TicketRow.seq > last)
            .order_by(TicketRow.seq).limit(chunk)
        ))
        if not rows:
            return
        for row in rows:
            yield row_to_ticket(row)
        last = rows[-1].seq
        session.expunge_all()


def get_ticket(session: Session, tenant: Tenant, external_id: str) -> Ticket | None:
    """One ticket of this tenant by its id, or None (never another tenant's)."""
    row = session.scalar(select(TicketRow).where(
        TicketRow.tenant_id == tenant.id, TicketRow.external_id == external_id))
    return row_to_ticket(row) if row is not None else None


@dataclass
class TicketStats:
    """Counts of a tenant's tickets by status, category and escalation."""

    total: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    by_escalation: dict[str, int]


def ticket_stats(session: Session, tenant: Tenant) -> TicketStats:
    """Aggregate counts computed by the database."""
    def grouped(column: Any) -> Counter[Any]:
        rows = session.execute(
            select(column, func.count()).where(TicketRow.tenant_id == tenant.id).group_by(column)
        )
        return Counter({key: count for key, count in rows})

    escalation_names = {True: "escalated", False: "not escalated", None: "unknown"}
    by_status = grouped(TicketRow.status)
    return TicketStats(
        total=sum(by_status.values()),
        by_status=dict(by_status.most_common()),
        by_category={(k if k is not None else "(none)"): v
                     for k, v in grouped(TicketRow.category).most_common()},
        by_escalation={escalation_names[k]: v
                       for k, v in grouped(TicketRow.escalated).most_common()},
    )
