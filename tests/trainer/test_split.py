"""Time-ordered holdout and validation splits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from trainer.interaction import Message, Ticket, read_jsonl
from trainer.split import Split, holdout_size, holdout_split, split_ids, validation_split

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "canonical"
BASE = datetime(2017, 11, 3, 12, 0, tzinfo=UTC)


def ticket(ticket_id: str, created_at: datetime | None = None) -> Ticket:
    """A minimal ticket with one customer and one agent message."""
    return Ticket(id=ticket_id, created_at=created_at,
                  messages=(Message("customer", "hi"), Message("agent", "hello")))


def ids(tickets: list[Ticket]) -> list[str]:
    return [t.id for t in tickets]


def test_holdout_is_newest_by_created_at_not_file_order() -> None:
    hours = [5, 1, 9, 3, 7, 0, 8, 2, 6, 4]
    tickets = [ticket(f"t{h}", BASE + timedelta(hours=h)) for h in hours]
    split = holdout_split(tickets)
    assert ids(split.holdout) == ["t8", "t9"]
    assert ids(split.train) == [f"t{h}" for h in range(8)]


def test_ties_are_broken_by_file_order() -> None:
    tickets = [ticket("late", BASE + timedelta(days=1))] + [ticket(f"same{i}", BASE)
                                                            for i in range(4)]
    split = holdout_split(tickets, fraction=0.4)
    assert ids(split.train) == ["same0", "same1", "same2"]
    assert ids(split.holdout) == ["same3", "late"]


def test_without_timestamps_file_order_decides() -> None:
    tickets = [ticket(f"t{i}") for i in range(10)]
    split = holdout_split(tickets)
    assert ids(split.holdout) == ["t8", "t9"]
    assert ids(split.train) == [f"t{i}" for i in range(8)]


def test_one_missing_timestamp_means_file_order_for_all() -> None:
    tickets = [ticket("newest", BASE + timedelta(days=9)), ticket("undated"),
               ticket("old", BASE), ticket("older", BASE - timedelta(days=1)),
               ticket("oldest", BASE - timedelta(days=2))]
    split = holdout_split(tickets)
    assert ids(split.train) == ["newest", "undated", "old", "older"]
    assert ids(split.holdout) == ["oldest"]


def test_naive_and_aware_timestamps_mix_naive_as_utc() -> None:
    tickets = [
        ticket("naive_noon", datetime(2017, 11, 3, 12, 0)),
        ticket("utc_11", datetime(2017, 11, 3, 11, 0, tzinfo=UTC)),
        ticket("plus2_1330", datetime(2017, 11, 3, 13, 30, tzinfo=timezone(timedelta(hours=2)))),
        ticket("naive_1130", datetime(2017, 11, 3, 11, 30)),
    ]
    split = holdout_split(tickets, fraction=0.5)
    assert ids(split.train) == ["utc_11", "plus2_1330"]
    assert ids(split.holdout) == ["naive_1130", "naive_noon"]


@pytest.mark.parametrize(("n", "fraction", "expected"), [
    (0, 0.2, 0), (1, 0.2, 0), (2, 0.2, 1), (3, 0.2, 1), (10, 0.2, 2), (12, 0.2, 2),
    (13, 0.2, 3), (5, 0.1, 1), (25, 0.1, 3), (857, 0.2, 171), (4, 0.9, 3), (10, 0.0, 0),
])
def test_holdout_size_rounds_half_up_and_keeps_both_parts(n: int, fraction: float,
                                                          expected: int) -> None:
    assert holdout_size(n, fraction) == expected
    split = holdout_split([ticket(f"t{i}") for i in range(n)], fraction)
    assert len(split.holdout) == expected
    assert len(split.train) == n - expected


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_bad_fraction_is_rejected(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        holdout_split([ticket("a"), ticket("b")], fraction)


def test_split_is_a_deterministic_partition() -> None:
    hours = [3, 3, 1, 7, 7, 7, 2, 0, 5, 4, 6, 3]
    tickets = [ticket(f"t{i}", BASE + timedelta(hours=h)) for i, h in enumerate(hours)]
    first, second = holdout_split(tickets), holdout_split(list(tickets))
    assert first == second
    assert sorted(ids(first.train + first.holdout)) == sorted(ids(tickets))
    assert not set(ids(first.train)) & set(ids(first.holdout))
    newest_train = max(t.created_at for t in first.train if t.created_at)
    assert all(t.created_at and t.created_at >= newest_train for t in first.holdout)


def test_validation_is_newest_tenth_of_training_window() -> None:
    tickets = [ticket(f"t{i:02d}", BASE + timedelta(hours=i)) for i in range(50)][::-1]
    outer = holdout_split(tickets)
    inner = validation_split(outer.train)
    assert ids(outer.holdout) == [f"t{i:02d}" for i in range(40, 50)]
    assert ids(inner.holdout) == [f"t{i:02d}" for i in range(36, 40)]
    assert ids(inner.train) == [f"t{i:02d}" for i in range(36)]


def test_split_ids_are_json_ready() -> None:
    split = Split(train=[ticket("a"), ticket("b")], holdout=[ticket("c")])
    stored = json.loads(json.dumps(split_ids(split)))
    assert stored == {"train": ["a", "b"], "holdout": ["c"]}


def test_real_tweetsumm_holdout_is_the_last_fifth_of_the_file() -> None:
    path = DATA / "tweetsumm.jsonl"
    if not path.is_file():
        pytest.skip(f"real data {path} is not present beside this checkout")
    with open(path, encoding="utf-8") as handle:
        file_ids = [json.loads(line)["id"] for line in handle if line.strip()]
    split = holdout_split(read_jsonl(str(path)))
    expected = int(len(file_ids) * 0.2 + 0.5)
    assert split_ids(split) == {"train": file_ids[:-expected], "holdout": file_ids[-expected:]}
