"""An in-memory index of one account's past resolutions: similar cases, their outcomes.

Each record is one resolved step: what the customer had said (``query_text``), what the agent
did (``reply_text``, ``escalated``, ``reason``, ``group``). Query texts and reply texts are
embedded once at build time (unit rows, so a dot product is a cosine similarity); a search is
one matrix multiply per batch of queries.

Category preference: a query with a category searches only that category's records when the
category holds at least ``k`` searchable records (tickets, with ``distinct_tickets``) after
exclusions; otherwise it searches the whole index, so a rare category still gets ``k``
neighbours.

Exclusions: ``exclude_ticket_ids`` removes tickets from the candidates, so during training a
ticket never retrieves itself (or a later message of its own conversation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trainer.adapt import customer_name_before

FORMAT_VERSION = 1
QUERY_MAX_CHARS = 1000
FIRST_MESSAGE_SHARE = 0.3
_QUERY_BLOCK = 1024
_URL_RE = re.compile(r"https?://\S+")
_SPACE_RE = re.compile(r"\s+")

# One entry for every query, or one entry per query (a list or tuple of the query's length).
CategorySpec = str | None | Sequence[str | None]
ExcludeSpec = str | Collection[str] | Sequence[str | Collection[str] | None] | None


class TextEncoder(Protocol):
    """Anything that embeds texts as unit rows, e.g. ``trainer.embeddings.Embedder``."""

    def encode(self, texts: Sequence[str]) -> Any:
        """Return an array of shape (len(texts), dim) with unit-length rows."""
        ...


class MessageLike(Protocol):
    """A conversation message: ``trainer.interaction.Message`` or anything shaped like it."""

    @property
    def role(self) -> str: ...
    @property
    def text(self) -> str: ...


class DecisionLike(Protocol):
    """What the agent did: ``trainer.prompt.Decision`` or anything shaped like it."""

    @property
    def action(self) -> str: ...
    @property
    def reply(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def group(self) -> str | None: ...


class ContextLike(Protocol):
    """The part of ``trainer.prompt.Context`` the index needs."""

    @property
    def messages(self) -> Sequence[MessageLike]: ...
    @property
    def category(self) -> str | None: ...


class ExampleLike(Protocol):
    """The part of ``trainer.curate.Example`` the index needs."""

    @property
    def ticket_id(self) -> str: ...
    @property
    def context(self) -> ContextLike: ...
    @property
    def decision(self) -> DecisionLike | None: ...


@dataclass(frozen=True)
class ResolutionRecord:
    """One past resolved step: the customer's side, then the agent's reply or hand-off."""

    ticket_id: str
    category: str | None
    query_text: str
    reply_text: str
    escalated: bool
    reason: str | None = None
    group: str | None = None
    customer_name: str | None = None   # of the past ticket, so a copied reply can drop it

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolutionRecord:
        """Rebuild a record from ``dataclasses.asdict`` output."""
        return cls(
            ticket_id=str(data["ticket_id"]),
            category=data.get("category"),
            query_text=str(data["query_text"]),
            reply_text=str(data["reply_text"]),
            escalated=bool(data["escalated"]),
            reason=data.get("reason"),
            group=data.get("group"),
            customer_name=data.get("customer_name"),  # absent in indexes saved before it
        )


@dataclass(frozen=True)
class Hit:
    """A retrieved record and its cosine similarity to the query."""

    record: ResolutionRecord
    score: float


def _clean(text: str) -> str:
    return _SPACE_RE.sub(" ", _URL_RE.sub(" ", text)).strip()


def query_text_for(messages: Sequence[MessageLike], max_chars: int = QUERY_MAX_CHARS) -> str:
    """The customer-side text of a conversation, oldest first, at most ``max_chars`` long.

    Customer messages are joined with newlines (agent messages and internal notes are left
    out; links are dropped, whitespace collapsed). When the text is too long, the first
    customer message (usually the problem statement) keeps at most ``FIRST_MESSAGE_SHARE`` of
    the budget and the rest goes to the most recent text, so the latest turns always count.
    A single over-long message keeps its beginning.
    """
    parts = [_clean(m.text) for m in messages if m.role == "customer"]
    parts = [p for p in parts if p]
    text = "\n".join(parts)
    if len(text) <= max_chars or not parts:
        return text
    head_budget = int(max_chars * FIRST_MESSAGE_SHARE)
    if len(parts) == 1 or head_budget < 2:
        return text[:max(max_chars - 1, 0)] + "…"
    head = parts[0] if len(parts[0]) <= head_budget else parts[0][:head_budget - 1] + "…"
    rest = "\n".join(parts[1:])
    tail_budget = max_chars - len(head) - 1
    tail = rest if len(rest) <= tail_budget else "…" + rest[len(rest) - tail_budget + 1:]
    return f"{head}\n{tail}"


def record_from_example(example: ExampleLike) -> ResolutionRecord | None:
    """A record for a curated example; None when it has no decision (nothing to learn from)."""
    decision = example.decision
    if decision is None:
        return None
    return ResolutionRecord(
        ticket_id=example.ticket_id,
        category=example.context.category,
        query_text=query_text_for(example.context.messages),
        reply_text=decision.reply,
        escalated=decision.action == "escalate",
        reason=decision.reason,
        group=decision.group,
        customer_name=customer_name_before(example.context.messages, decision.reply,
                                           getattr(example.context, "subject", None)),
    )


def record_from_ticket(ticket: Any) -> ResolutionRecord | None:
    """A ticket-level record: customer text before the last agent message, that message, and
    ``ticket.escalated`` (None counts as not escalated); None when no agent ever replied."""
    messages = list(ticket.messages)
    last_agent = max((i for i, m in enumerate(messages) if m.role == "agent"), default=None)
    if last_agent is None:
        return None
    return ResolutionRecord(
        ticket_id=ticket.id,
        category=ticket.category,
        query_text=query_text_for(messages[:last_agent]),
        reply_text=messages[last_agent].text,
        escalated=bool(ticket.escalated),
        customer_name=customer_name_before(messages[:last_agent], messages[last_agent].text,
                                           getattr(ticket, "subject", None)),
    )


def _unit_rows(vectors: Any, name: str) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.asarray(array / np.maximum(norms, 1e-12), dtype=np.float32)


def encode_texts(embedder: TextEncoder, texts: Sequence[str]) -> np.ndarray:
    """Embed texts as unit rows, shortest first (less padding per batch), in input order."""
    if not texts:
        array = np.asarray(embedder.encode([]), dtype=np.float32)
        return np.zeros((0, array.shape[1] if array.ndim == 2 else 0), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    vectors = _unit_rows(embedder.encode([texts[i] for i in order]), "embedder output")
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def _per_query(spec: Any, count: int, name: str) -> list[Any]:
    if isinstance(spec, (list, tuple)):
        if len(spec) != count:
            raise ValueError(f"{name} has {len(spec)} entries for {count} queries")
        return list(spec)
    return [spec] * count


def _id_set(entry: str | Collection[str] | None) -> frozenset[str]:
    if entry is None:
        return frozenset()
    if isinstance(entry, str):
        return frozenset((entry,))
    return frozenset(entry)


class ResolutionIndex:
    """Past resolutions of one account, searchable by cosine similarity of customer text."""

    def __init__(self, records: Sequence[ResolutionRecord], query_vectors: Any,
                 reply_vectors: Any, embedder: TextEncoder | None = None) -> None:
        self.records = list(records)
        self.query_vectors = _unit_rows(query_vectors, "query_vectors")
        self.reply_vectors = _unit_rows(reply_vectors, "reply_vectors")
        if not len(self.records) == len(self.query_vectors) == len(self.reply_vectors):
            raise ValueError("records, query_vectors and reply_vectors differ in length")
        if self.query_vectors.shape[1] != self.reply_vectors.shape[1]:
            raise ValueError("query and reply vectors differ in dimension")
        self.embedder = embedder
        self._ticket_rows: dict[str, list[int]] = {}
        self._category_rows: dict[str | None, np.ndarray] = {}
        self._category_tickets: dict[str | None, frozenset[str]] = {}
        by_category: dict[str | None, list[int]] = {}
        for row, record in enumerate(self.records):
            self._ticket_rows.setdefault(record.ticket_id, []).append(row)
            by_category.setdefault(record.category, []).append(row)
        for category, rows in by_category.items():
            self._category_rows[category] = np.asarray(rows, dtype=np.int64)
            self._category_tickets[category] = frozenset(self.records[r].ticket_id for r in rows)

    @classmethod
    def build(cls, records: Iterable[ResolutionRecord], embedder: TextEncoder) -> ResolutionIndex:
        """Embed the records' query and reply texts and index them."""
        records = list(records)
        queries = encode_texts(embedder, [r.query_text for r in records])
        replies = encode_texts(embedder, [r.reply_text for r in records])
        return cls(records, queries, replies, embedder)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def escalation_rate(self) -> float:
        """Share of records that escalated (0.0 for an empty index)."""
        if not self.records:
            return 0.0
        return sum(r.escalated for r in self.records) / len(self.records)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed query texts with the index's embedder (unit rows)."""
        if self.embedder is None:
            raise ValueError("this index has no embedder; pass query vectors or load(embedder=)")
        return encode_texts(self.embedder, list(texts))

    def search(self, queries: Sequence[str] | np.ndarray, k: int = 5,
               category: CategorySpec = None, exclude_ticket_ids: ExcludeSpec = None,
               distinct_tickets: bool = True) -> list[list[Hit]]:
        """The ``k`` most similar records for each query, best first.

        ``queries`` is a list of texts (embedded with the index's embedder) or an array of
        query vectors. ``category`` and ``exclude_ticket_ids`` apply to every query when given
        as a single value (a str, or a set of ids), or per query when given as a list/tuple with
        one entry per query. Excluded tickets are never returned. With ``distinct_tickets`` at
        most one record per ticket is returned (its best-matching one).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if isinstance(queries, np.ndarray):
            vectors = _unit_rows(queries, "queries")
        else:
            vectors = self.embed_queries(list(queries))
        count = len(vectors)
        if not self.records:
            return [[] for _ in range(count)]
        if count and vectors.shape[1] != self.query_vectors.shape[1]:
            raise ValueError(f"query dimension {vectors.shape[1]} does not match the index "
                             f"({self.query_vectors.shape[1]})")
        categories = _per_query(category, count, "category")
        excluded = [_id_set(e) for e in _per_query(exclude_ticket_ids, count, "exclude_ticket_ids")]
        results: list[list[Hit]] = []
        for start in range(0, count, _QUERY_BLOCK):
            sims = vectors[start:start + _QUERY_BLOCK] @ self.query_vectors.T
            for offset, row in enumerate(sims):
                i = start + offset
                results.append(self._top_hits(row, k, categories[i], excluded[i],
                                              distinct_tickets))
        return results

    def _top_hits(self, sims: np.ndarray, k: int, category: str | None,
                  excluded: frozenset[str], distinct: bool) -> list[Hit]:
        allowed = np.ones(len(self.records), dtype=bool)
        for ticket_id in excluded:
            allowed[self._ticket_rows.get(ticket_id, [])] = False
        if category is not None and category in self._category_rows:
            in_category = np.zeros_like(allowed)
            in_category[self._category_rows[category]] = True
            in_category &= allowed
            if self._searchable(category, excluded, distinct) >= k:
                allowed = in_category
        candidates = np.flatnonzero(allowed)
        if candidates.size == 0:
            return []
        wanted = k * 4 if distinct else k
        if candidates.size > wanted:
            top = candidates[np.argpartition(-sims[candidates], wanted - 1)[:wanted]]
            hits = self._ranked(top, sims, k, distinct)
            if len(hits) == k:
                return hits
        return self._ranked(candidates, sims, k, distinct)

    def _ranked(self, rows: np.ndarray, sims: np.ndarray, k: int, distinct: bool) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[str] = set()
        for row in rows[np.argsort(-sims[rows], kind="stable")]:
            record = self.records[row]
            if distinct and record.ticket_id in seen:
                continue
            seen.add(record.ticket_id)
            hits.append(Hit(record, float(sims[row])))
            if len(hits) == k:
                break
        return hits

    def _searchable(self, category: str, excluded: frozenset[str], distinct: bool) -> int:
        """How many records (or tickets, when distinct) of ``category`` survive exclusion."""
        tickets = self._category_tickets[category]
        if distinct:
            return len(tickets) - len(tickets & excluded)
        gone = sum(1 for t in tickets & excluded for r in self._ticket_rows[t]
                   if self.records[r].category == category)
        return int(self._category_rows[category].size) - gone

    def medoid_reply(self, category: str | None = None,
                     include_escalations: bool = False) -> str | None:
        """The most central reply (highest mean cosine to the other replies).

        Restricted to ``category`` when it has records (else the whole index) and to
        non-escalation replies unless ``include_escalations`` or there are none; None when the
        index is empty. Mean cosine to the others of row i is (v_i · Σv - 1) / (m - 1), so this
        is linear in the number of replies.
        """
        rows = np.arange(len(self.records))
        if category is not None and category in self._category_rows:
            rows = self._category_rows[category]
        if not include_escalations:
            replies = np.asarray([r for r in rows if not self.records[r].escalated], dtype=np.int64)
            if replies.size:
                rows = replies
        if rows.size == 0:
            return None
        vectors = self.reply_vectors[rows]
        centrality = vectors @ vectors.sum(axis=0)
        return self.records[int(rows[int(np.argmax(centrality))])].reply_text

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.npz`` (vectors) and ``<path>.json`` (records); return both paths."""
        stem = Path(path)
        if stem.suffix in (".npz", ".json"):
            stem = stem.with_suffix("")
        npz_path, json_path = stem.with_suffix(".npz"), stem.with_suffix(".json")
        stem.parent.mkdir(parents=True, exist_ok=True)
        with open(npz_path, "wb") as handle:
            np.savez(handle, query_vectors=self.query_vectors, reply_vectors=self.reply_vectors)
        meta = {
            "format_version": FORMAT_VERSION,
            "count": len(self.records),
            "dim": int(self.query_vectors.shape[1]),
            "records": [asdict(r) for r in self.records],
        }
        json_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return npz_path, json_path

    @classmethod
    def load(cls, path: str | Path, embedder: TextEncoder | None = None) -> ResolutionIndex:
        """Read an index written by :meth:`save` (pass ``embedder`` to search by text)."""
        stem = Path(path)
        if stem.suffix in (".npz", ".json"):
            stem = stem.with_suffix("")
        meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported index format {meta.get('format_version')!r}")
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as arrays:
            queries, replies = arrays["query_vectors"], arrays["reply_vectors"]
        records = [ResolutionRecord.from_dict(r) for r in meta["records"]]
        if len(records) != meta["count"]:
            raise ValueError("index JSON is inconsistent: record count does not match")
        return cls(records, queries, replies, embedder)
