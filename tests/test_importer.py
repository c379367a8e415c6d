"""Importer on real SQLite and PostgreSQL: streaming, idempotent, per-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

from sqlalchemy import func, select

from plugin_backend.db import TicketRow
from plugin_backend.importer import import_file, import_stream
from plugin_backend.store import get_tenant, iter_tickets, ticket_stats
from tests.conftest import shared_file


def _line(record: dict) -> bytes:
    return (json.dumps(record) + "\n").encode()


def _ticket(ticket_id: str, text: str = "hello", **extra: object) -> dict:
    return {"id": ticket_id, "messages": [{"role": "customer", "text": text},
                                          {"role": "agent", "text": "hi there"}],
            "status": "solved", **extra}


def _count(sessions, tenant: str) -> int:
    with sessions() as s:
        t = get_tenant(s, tenant)
        return s.scalar(select(func.count()).select_from(TicketRow)
                        .where(TicketRow.tenant_id == t.id))


def test_bad_lines_are_reported_and_the_rest_imported(sessions) -> None:
    big = "x" * (10 * 1024 * 1024)
    data = b"".join([
        _line(_ticket("a")),
        b'{"id": "b", "messages": [\n',                                # truncated JSON
        b'{"id": "c\xff", "messages": []}\n',                          # not UTF-8
        _line({"messages": [{"role": "agent", "text": "x"}]}),         # missing id
        _line(_ticket("d") | {"messages": []}),                        # empty messages
        _line(_ticket("e") | {"escalated": "no"}),                     # wrong type
        _line(_ticket("f", text=big)),                                 # 10 MB message
        _line(_ticket("a", text="again")),                             # duplicate id in file
        _line(_ticket("g") | {"messages": [{"role": "robot", "text": "x"}]}),  # unknown role
        b"\n",
        _line(_ticket("h")),
        b'{"id": "i", "messages": [{"role": "agent", "text": "cut',   # truncated last line
    ])
    result = import_stream(io.BytesIO(data), sessions, "acme", batch_size=2)
    assert result.inserted == 2 and result.rejected == 9
    by_line = {e.line: e.reason for e in result.errors}
    assert "invalid JSON" in by_line[2]
    assert "UTF-8" in by_line[3]
    assert "missing required field 'id'" in by_line[4]
    assert "at least one message" in by_line[5]
    assert "'escalated'" in by_line[6]
    assert "the limit is" in by_line[7]
    assert "duplicate id 'a' (first seen on line 1)" in by_line[8]
    assert "role must be one of" in by_line[9]
    assert "invalid JSON" in by_line[12]
    with sessions() as s:
        tickets = list(iter_tickets(s, get_tenant(s, "acme")))
    assert [t.id for t in tickets] == ["a", "h"]
    assert tickets[0].messages[0].text == "hello"  # the duplicate did not overwrite it


def test_reimport_upserts_and_keeps_arrival_order(sessions) -> None:
    first = b"".join(_line(_ticket(f"t{i}")) for i in range(5))
    import_stream(io.BytesIO(first), sessions, "acme", batch_size=2)
    second = _line(_ticket("t3", text="edited", category="billing")) + _line(_ticket("t9"))
    result = import_stream(io.BytesIO(second), sessions, "acme")
    assert (result.inserted, result.updated) == (1, 1)
    with sessions() as s:
        tickets = list(iter_tickets(s, get_tenant(s, "acme")))
    assert [t.id for t in tickets] == ["t0", "t1", "t2", "t3", "t4", "t9"]
    assert tickets[3].messages[0].text == "edited" and tickets[3].category == "billing"


def test_tenants_are_isolated(sessions) -> None:
    import_stream(io.BytesIO(_line(_ticket("same", text="from A"))), sessions, "alpha")
    import_stream(io.BytesIO(_line(_ticket("same", text="from B"))), sessions, "beta")
    with sessions() as s:
        a = list(iter_tickets(s, get_tenant(s, "alpha")))
        b = list(iter_tickets(s, get_tenant(s, "beta")))
    assert a[0].messages[0].text == "from A" and b[0].messages[0].text == "from B"


def test_real_datasets_import_exactly_and_idempotently(sessions) -> None:
    for name, expected in (("tweetsumm.jsonl", 857), ("bitext.jsonl", 4514)):
        path = shared_file(name)
        tenant = Path(name).stem
        first = import_file(path, sessions, tenant, batch_size=1000)
        assert (first.inserted, first.updated, first.rejected) == (expected, 0, 0)
        second = import_file(path, sessions, tenant, batch_size=1000)
        assert (second.inserted, second.updated, second.rejected) == (0, expected, 0)
        assert _count(sessions, tenant) == expected
    with sessions() as s:
        stats = ticket_stats(s, get_tenant(s, "tweetsumm"))
    assert stats.total == 857
    assert stats.by_escalation == {"not escalated": 654, "escalated": 203}
    assert stats.by_status == {"solved": 857}
    assert sum(stats.by_category.values()) == 857
