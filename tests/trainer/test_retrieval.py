"""ResolutionIndex: customer text, category preference, exclusions, medoid, save/load."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from trainer.escalation import neighbour_score, roc_auc
from trainer.interaction import Message, read_jsonl
from trainer.retrieval import (
    Hit,
    ResolutionIndex,
    ResolutionRecord,
    query_text_for,
    record_from_example,
    record_from_ticket,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "canonical"
TWEETSUMM = SHARED_DATA / "tweetsumm.jsonl"
VOCAB = ("refund", "password", "delivery", "late", "login", "money")


class KeywordEncoder:
    """A tiny deterministic embedder: word counts over VOCAB plus an 'other' slot, unit rows."""

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), len(VOCAB) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rows[i, VOCAB.index(word) if word in VOCAB else len(VOCAB)] += 1
            rows[i, len(VOCAB)] += 0.01
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def record(ticket_id: str, category: str, query: str, reply: str = "ok",
           escalated: bool = False) -> ResolutionRecord:
    return ResolutionRecord(ticket_id, category, query, reply, escalated)


@pytest.fixture
def index() -> ResolutionIndex:
    records = [
        record("t1", "BILLING", "refund money", "Refund issued.", escalated=False),
        record("t2", "BILLING", "refund refund", "Refund on its way.", escalated=False),
        record("t3", "BILLING", "money money", "Passing to billing.", escalated=True),
        record("t4", "ACCOUNT", "password login", "Reset link sent."),
        record("t5", "ACCOUNT", "login", "Try again.", escalated=True),
        record("t6", "SHIPPING", "delivery late", "Tracking attached."),
    ]
    return ResolutionIndex.build(records, KeywordEncoder())


def ids(hits: list[Hit]) -> list[str]:
    return [h.record.ticket_id for h in hits]


def test_query_text_is_the_customer_side_without_links() -> None:
    messages = [
        Message("customer", "My   order\nis late https://t.co/abc"),
        Message("agent", "Sorry! Which order?"),
        Message("note", "internal: VIP"),
        Message("customer", "Order 42"),
    ]
    assert query_text_for(messages) == "My order is late\nOrder 42"
    assert query_text_for([Message("agent", "Hello")]) == ""


def test_long_query_keeps_the_first_message_head_and_the_latest_text() -> None:
    messages = [Message("customer", "A" * 500), Message("customer", "B" * 500),
                Message("customer", "the latest words")]
    text = query_text_for(messages, max_chars=200)
    assert len(text) <= 200
    assert text.startswith("A" * 59 + "…\n")  # 30% of the budget, then an ellipsis
    assert text.endswith("B\nthe latest words")


def test_nearest_first_with_cosine_scores(index: ResolutionIndex) -> None:
    [hits] = index.search(["refund"], k=2)
    assert ids(hits) == ["t2", "t1"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert hits[1].score == pytest.approx(1 / np.sqrt(2), abs=1e-3)


def test_category_is_preferred_only_when_it_has_k_entries(index: ResolutionIndex) -> None:
    # ACCOUNT has 2 records: with k=2 the query stays inside it, with k=3 it searches all.
    [inside] = index.search(["refund login"], k=2, category="ACCOUNT")
    assert set(ids(inside)) == {"t4", "t5"}
    [everywhere] = index.search(["refund login"], k=3, category="ACCOUNT")
    assert "t2" in ids(everywhere)
    # An unknown category searches everything.
    [unknown] = index.search(["refund"], k=1, category="NOPE")
    assert ids(unknown) == ["t2"]


def test_exclusions_are_never_returned(index: ResolutionIndex) -> None:
    [hits] = index.search(["refund"], k=10, exclude_ticket_ids="t2")
    assert "t2" not in ids(hits) and len(hits) == 5
    [hits] = index.search(["refund"], k=10, exclude_ticket_ids={"t1", "t2"})
    assert not {"t1", "t2"} & set(ids(hits))
    # Per query: each record searched with its own ticket excluded never finds itself.
    queries = [r.query_text for r in index.records]
    own = [r.ticket_id for r in index.records]
    results = index.search(queries, k=5, exclude_ticket_ids=own)
    for ticket_id, hits in zip(own, results, strict=True):
        assert ticket_id not in ids(hits)


def test_exclusion_counts_against_the_category_minimum(index: ResolutionIndex) -> None:
    # BILLING has 3 records; excluding one leaves 2 < k=3, so the search widens.
    [hits] = index.search(["money"], k=3, category="BILLING", exclude_ticket_ids="t1")
    assert "t1" not in ids(hits)
    assert {h.record.category for h in hits} != {"BILLING"}


def test_batched_search_matches_one_by_one_and_accepts_vectors(index: ResolutionIndex) -> None:
    queries = ["refund", "login password", "late delivery"]
    batched = index.search(queries, k=2, category=["BILLING", None, "SHIPPING"])
    single = [index.search([q], k=2, category=c)[0]
              for q, c in zip(queries, ["BILLING", None, "SHIPPING"], strict=True)]
    assert [ids(h) for h in batched] == [ids(h) for h in single]
    vectors = KeywordEncoder().encode(queries)
    assert [ids(h) for h in index.search(vectors, k=2)] == [ids(h) for h in
                                                            index.search(queries, k=2)]
    with pytest.raises(ValueError, match="entries for 3 queries"):
        index.search(queries, k=2, category=["BILLING"])


def test_one_record_per_ticket_unless_asked() -> None:
    records = [record("a", "X", "refund"), record("a", "X", "refund money"),
               record("b", "X", "money")]
    index = ResolutionIndex.build(records, KeywordEncoder())
    [hits] = index.search(["refund"], k=2)
    assert ids(hits) == ["a", "b"]
    [hits] = index.search(["refund"], k=2, distinct_tickets=False)
    assert ids(hits) == ["a", "a"]


def test_medoid_reply_is_the_most_central_reply() -> None:
    # Reply vectors: two close to e0, one orthogonal. Mean cosines to the others:
    # r0: (0.8 + 0)/2, r1: (0.8 + 0.6)/2, r2: (0 + 0.6)/2 -> r1 is the medoid.
    records = [record("a", "X", "q", "r0"), record("b", "X", "q", "r1"),
               record("c", "Y", "q", "r2"), record("d", "Y", "q", "hand-off", escalated=True)]
    replies = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    index = ResolutionIndex(records, np.eye(4, 3, dtype=np.float32) + 0.1, replies)
    assert index.medoid_reply() == "r1"
    assert index.medoid_reply(category="Y") == "r2"  # escalations left out by default
    assert index.medoid_reply(category="UNKNOWN") == "r1"
    empty = ResolutionIndex([], np.zeros((0, 3)), np.zeros((0, 3)))
    assert empty.medoid_reply() is None
    assert empty.search(np.ones((1, 3)), k=3) == [[]]


def test_save_and_load_round_trip(index: ResolutionIndex, tmp_path: Path) -> None:
    npz, meta = index.save(tmp_path / "adapter" / "resolution_index")
    assert npz.name == "resolution_index.npz" and meta.name == "resolution_index.json"
    loaded = ResolutionIndex.load(tmp_path / "adapter" / "resolution_index.npz",
                                  embedder=KeywordEncoder())
    assert loaded.records == index.records
    np.testing.assert_array_equal(loaded.query_vectors, index.query_vectors)
    assert [ids(h) for h in loaded.search(["refund", "late"], k=3)] == \
        [ids(h) for h in index.search(["refund", "late"], k=3)]
    with pytest.raises(ValueError, match="no embedder"):
        ResolutionIndex.load(tmp_path / "adapter" / "resolution_index").search(["x"], k=1)


def test_index_saved_before_customer_names_still_loads(index: ResolutionIndex,
                                                       tmp_path: Path) -> None:
    _, meta_path = index.save(tmp_path / "retrieval")
    meta = json.loads(meta_path.read_text())
    for row in meta["records"]:
        del row["customer_name"]  # the format before records carried a name
    meta_path.write_text(json.dumps(meta))
    loaded = ResolutionIndex.load(tmp_path / "retrieval", KeywordEncoder())
    assert loaded.records == index.records
    assert all(r.customer_name is None for r in loaded.records)


def test_records_remember_the_customers_first_name() -> None:
    ticket = SimpleNamespace(id="t7", category="C", escalated=False, subject="Late", messages=[
        Message("customer", "Where is NW-482913?\n\nThanks,\nMateo Rossi"),
        Message("agent", "Hi Mateo,\n\nIt ships today.\n\n— Maria, Northwind Support")])
    assert record_from_ticket(ticket).customer_name == "Mateo"  # type: ignore[union-attr]
    decision = SimpleNamespace(action="reply", reply="Hi Ana! Done.", reason=None, group=None)
    example = SimpleNamespace(ticket_id="t8", decision=decision, context=SimpleNamespace(
        messages=[Message("customer", "refund please")], category="C"))
    assert record_from_example(example).customer_name == "Ana"  # type: ignore[union-attr]


def test_records_from_tickets_and_examples() -> None:
    ticket = SimpleNamespace(id="t9", category="C", escalated=True, messages=[
        Message("customer", "help"), Message("agent", "which one?"),
        Message("customer", "the blue one"), Message("agent", "DM us please"),
        Message("customer", "thanks")])
    rec = record_from_ticket(ticket)
    assert rec == ResolutionRecord("t9", "C", "help\nthe blue one", "DM us please", True)
    assert record_from_ticket(SimpleNamespace(id="x", category=None, escalated=None,
                                              messages=[Message("customer", "hi")])) is None
    decision = SimpleNamespace(action="escalate", reply="Passing you on", reason="refund",
                               group="billing")
    example = SimpleNamespace(ticket_id="t9", decision=decision, context=SimpleNamespace(
        messages=[Message("customer", "refund please")], category="C"))
    assert record_from_example(example) == ResolutionRecord(
        "t9", "C", "refund please", "Passing you on", True, "refund", "billing")
    assert record_from_example(SimpleNamespace(ticket_id="t9", decision=None,
                                               context=example.context)) is None


@pytest.mark.slow
def test_real_tweetsumm_neighbours_predict_escalation() -> None:
    """Real embedder on 300 real tickets: older 80% indexed, newer 20% scored."""
    if not TWEETSUMM.is_file():
        pytest.skip(f"real data {TWEETSUMM} is not present beside this checkout")
    from trainer.embeddings import Embedder

    tickets = []
    for ticket in read_jsonl(str(TWEETSUMM)):
        tickets.append(ticket)
        if len(tickets) == 300:
            break
    records = [r for r in map(record_from_ticket, tickets) if r is not None]
    cut = int(len(records) * 0.8)
    older, newer = records[:cut], records[cut:]
    index = ResolutionIndex.build(older, Embedder())

    labels = np.array([r.escalated for r in newer])
    hits = index.search([r.query_text for r in newer], k=10,
                        category=[r.category for r in newer])
    assert 0 < labels.sum() < len(labels)
    assert roc_auc(labels, neighbour_score(hits)) > 0.5

    # Training-time use: every indexed ticket queries the index with itself excluded.
    # (The index's own query vectors are exactly what embedding those texts again gives.)
    own = [r.ticket_id for r in older]
    self_hits = index.search(index.query_vectors, k=10,
                             category=[r.category for r in older], exclude_ticket_ids=own)
    assert all(len(h) == 10 for h in self_hits)
    assert all(t not in {x.record.ticket_id for x in h}
               for t, h in zip(own, self_hits, strict=True))
    # Without the exclusion the ticket itself is the top hit.
    unexcluded = index.search(index.query_vectors, k=1)
    found_self = sum(h[0].record.ticket_id == t for h, t in zip(unexcluded, own, strict=True))
    assert found_self >= 0.9 * len(own)
