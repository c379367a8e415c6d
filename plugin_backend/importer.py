"""Import CloneDesk interaction JSONL v1 into the ticket store.

Streaming (one line in memory at a time, plus the ids seen in this file), idempotent (upsert
by account + id), committed in batches. Invalid lines are reported with their line number
and reason and skipped; the valid rest is imported. A ticket is one row, so a ticket is
either stored whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session, sessionmaker

from plugin_backend.store import get_or_create_tenant, upsert_tickets
from trainer.interaction import InvalidTicket, Ticket, parse_line

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 32 * 1024 * 1024
MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class LineError:
    """A rejected line: its number and why."""

    line: int
    reason: str


@dataclass
class ImportResult:
    """What an import did."""

    lines: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[LineError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        """Tickets written (inserted or updated)."""
        return self.inserted + self.updated


def _read_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes); bytes is None for a line over MAX_LINE_BYTES (skipped)."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:  # discard the rest of the oversized line
                rest = handle.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


def import_stream(
    handle: IO[bytes],
    sessions: sessionmaker[Session],
    tenant_name: str,
    batch_size: int = 500,
    on_progress: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Import every valid ticket of a JSONL byte stream for ``tenant_name``."""
    result = ImportResult()
    seen: dict[str, int] = {}
    batch: list[Ticket] = []

    def reject(number: int, reason: str) -> None:
        result.rejected += 1
        if len(result.errors) < MAX_REPORTED_ERRORS:
            result.errors.append(LineError(number, reason))

    with sessions() as session:
        tenant = get_or_create_tenant(session, tenant_name)

        def flush() -> None:
            try:
                counts = upsert_tickets(session, tenant, batch)
                session.commit()
            except Exception:
                session.rollback()
                raise
            result.inserted += counts.inserted
            result.updated += counts.updated
            batch.clear()
            if on_progress is not None:
                on_progress(result)

        for number, raw in _read_lines(handle):
            result.lines = number
            if raw is None:
                reject(number, f"line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB")
                continue
            if not raw.strip():
                continue
            try:
                ticket = parse_line(raw)
            except InvalidTicket as exc:
                reject(number, str(exc))
                continue
            first = seen.get(ticket.id)
            if first is not None:
                reject(number, f"duplicate id {ticket.id[:80]!r} (first seen on line {first})")
                continue
            seen[ticket.id] = number
            batch.append(ticket)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    log.info("import for tenant %s: %d inserted, %d updated, %d rejected",
             tenant_name, result.inserted, result.updated, result.rejected)
    return result


def import_file(path: Path, sessions: sessionmaker[Session], tenant_name: str,
                batch_size: int = 500,
                on_progress: Callable[[ImportResult], None] | None = None) -> ImportResult:
    """Import a JSONL file (see ``import_stream``)."""
    with open(path, "rb") as handle:
        return import_stream(handle, sessions, tenant_name, batch_size, on_progress)
