"""Time-ordered splits: train on older tickets, hold out (and validate on) the newest ones.

Ordering rule: when every ticket has a ``created_at``, tickets are ordered by
``(created_at, file position)`` — naive timestamps are read as UTC, so naive and aware values
compare without error. When *any* ticket lacks ``created_at`` there is no trustworthy time
axis, so all tickets are ordered by file position (the order they were given in).

Size rule: the held-out part holds ``round(n * fraction)`` tickets, rounded half up, but at
least 1 and at most ``n - 1`` when ``n >= 2`` and ``fraction > 0`` (both parts are non-empty).
A single ticket always goes to training. Both parts are returned oldest first.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np

from trainer.interaction import Ticket

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Older tickets to learn from (``train``) and the newest ones held out."""

    train: list[Ticket]
    holdout: list[Ticket]


def _utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def time_order(tickets: Iterable[Ticket]) -> list[Ticket]:
    """Tickets oldest first, by the module's ordering rule (deterministic)."""
    items = list(tickets)
    missing = sum(1 for t in items if t.created_at is None)
    if missing:
        if missing < len(items):
            log.warning("%d of %d tickets lack created_at; ordering all by file position",
                        missing, len(items))
        return items
    stamped = [(_utc(t.created_at), i, t) for i, t in enumerate(items)
               if t.created_at is not None]
    return [ticket for _, _, ticket in sorted(stamped, key=lambda entry: entry[:2])]


def holdout_size(n: int, fraction: float) -> int:
    """How many of ``n`` tickets go to the held-out part for ``fraction``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    if n < 2 or fraction == 0.0:
        return 0
    size = math.floor(n * fraction + 0.5)
    return min(max(size, 1), n - 1)


def _newest(tickets: Iterable[Ticket], fraction: float) -> Split:
    """Split off the newest ``fraction`` of ``tickets``."""
    ordered = time_order(tickets)
    cut = len(ordered) - holdout_size(len(ordered), fraction)
    return Split(train=ordered[:cut], holdout=ordered[cut:])


def holdout_split(tickets: Iterable[Ticket], fraction: float = 0.2) -> Split:
    """Hold out the newest ``fraction`` of tickets (never used for any choice)."""
    return _newest(tickets, fraction)


def validation_split(train: Sequence[Ticket], fraction: float = 0.1) -> Split:
    """Split the newest ``fraction`` of the training window off as validation (``holdout``)."""
    return _newest(train, fraction)


def split_ids(split: Split) -> dict[str, list[str]]:
    """The ticket ids of each part, oldest first, to store alongside an adapter."""
    return {"train": [t.id for t in split.train], "holdout": [t.id for t in split.holdout]}


def window(tickets: Sequence[Ticket]) -> dict[str, Any]:
    """How many tickets, and the first and last ``created_at`` among them (ISO, or None)."""
    stamps = [t.created_at for t in tickets if t.created_at is not None]
    return {"tickets": len(tickets),
            "first_created_at": min(stamps).isoformat() if stamps else None,
            "last_created_at": max(stamps).isoformat() if stamps else None}


def evenly(items: Sequence[T], limit: int | None) -> list[T]:
    """At most ``limit`` items evenly spread over ``items`` (first and last kept; None: all)."""
    if limit is None or len(items) <= limit:
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))
    return [items[i] for i in picks.tolist()]
