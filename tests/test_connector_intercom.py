"""IntercomConnector against a fake Intercom REST API speaking its wire format (API 2.x JSON,
as in Intercom's API reference and python-intercom 5.x's types), through httpx.MockTransport.

``FakeIntercom`` is shared with tests/test_intercom_canvas.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from plugin_backend.connectors import ConnectorError
from plugin_backend.connectors.intercom import IntercomConnector, plain_text

TOKEN = "dG9rOmZha2UtaW50ZXJjb20tdG9rZW4="
CUSTOMER_TEXT = ("Hi, my order NW-552211 for the Trail Jacket still shows in transit after "
                 "ten days. Can you check where it is?\n\nThanks,\nSamuel")


def _author(kind: str, author_id: str, name: str) -> dict[str, Any]:
    return {"type": kind, "id": author_id, "name": name, "email": f"{name.lower()}@example.com"}


def _part(part_id: str, part_type: str, body: str | None, author: dict[str, Any],
          created_at: int, **extra: Any) -> dict[str, Any]:
    return {"type": "conversation_part", "id": part_id, "part_type": part_type, "body": body,
            "created_at": created_at, "updated_at": created_at, "notified_at": created_at,
            "assigned_to": None, "author": author, "attachments": [], "external_id": None,
            "redacted": False, **extra}


def conversation_json(conversation_id: str = "215467431298761", customer_text: str = CUSTOMER_TEXT,
                      parts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ``GET /conversations/{id}?display_as=plaintext`` answer: a customer-initiated chat."""
    return {
        "type": "conversation", "id": conversation_id, "title": None,
        "created_at": 1717236000, "updated_at": 1717239600, "waiting_since": 1717239600,
        "snoozed_until": None, "open": True, "state": "open", "read": True,
        "priority": "not_priority", "admin_assignee_id": None, "team_assignee_id": None,
        "tags": {"type": "tag.list", "tags": [
            {"type": "tag", "id": "81", "name": "shipping", "applied_at": 1717236100,
             "applied_by": {"type": "admin", "id": "991267"}}]},
        "conversation_rating": None,
        "source": {"type": "conversation", "id": "403918330", "delivered_as": "customer_initiated",
                   "subject": "", "body": customer_text,
                   "author": _author("user", "6657b1e7f5c2d1a0d1e0c0aa", "Samuel"),
                   "attachments": [], "url": "https://shop.example.com/orders", "redacted": False},
        "contacts": {"type": "contact.list", "contacts": [
            {"type": "contact", "id": "6657b1e7f5c2d1a0d1e0c0aa", "external_id": "cus_18"}]},
        "teammates": {"type": "admin.list", "teammates": []},
        "custom_attributes": {}, "first_contact_reply": None, "sla_applied": None,
        "statistics": {"type": "conversation_statistics", "count_reopens": 0,
                       "count_assignments": 1, "count_conversation_parts": 1},
        "conversation_parts": {"type": "conversation_part.list",
                               "conversation_parts": parts or [], "total_count": len(parts or [])},
    }


def error_json(code: str, message: str) -> dict[str, Any]:
    """Intercom's ``error.list`` body."""
    return {"type": "error.list", "request_id": "req_0001",
            "errors": [{"code": code, "message": message}]}


class FakeIntercom:
    """Intercom's REST API for conversations: find, reply (comment/note), parts (assignment).

    Records every request; ``fail`` = (status, body) answers every request with that error;
    ``raise_exc`` raises a transport exception instead (a timeout).
    """

    def __init__(self, conversations: dict[str, dict[str, Any]] | None = None) -> None:
        self.conversations = conversations or {}
        self.requests: list[httpx.Request] = []
        self.fail: tuple[int, Any] | None = None
        self.raise_exc: type[Exception] | None = None

    def client(self) -> httpx.Client:
        """An httpx client whose transport is this fake."""
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def connector(self, region: str = "us", token: str = TOKEN) -> IntercomConnector:
        """A connector talking to this fake."""
        return IntercomConnector(token, region=region, httpx_client=self.client())

    def posts(self) -> list[tuple[str, dict[str, Any]]]:
        """(path, JSON body) of every POST received."""
        return [(r.url.path, json.loads(r.content)) for r in self.requests if r.method == "POST"]

    def handle(self, req: httpx.Request) -> httpx.Response:
        """Answer one request as Intercom would."""
        self.requests.append(req)
        if self.raise_exc is not None:
            raise self.raise_exc("timed out", request=req)  # type: ignore[call-arg]
        if self.fail is not None:
            return httpx.Response(self.fail[0], json=self.fail[1])
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json=error_json("unauthorized", "Access Token Invalid"))
        match = re.fullmatch(r"/conversations/([^/]+)(/reply|/parts)?", req.url.path)
        conversation = self.conversations.get(match.group(1)) if match else None
        if conversation is None:
            return httpx.Response(404, json=error_json("not_found", "Resource Not Found"))
        if req.method == "GET" and match and match.group(2) is None:
            return httpx.Response(200, json=conversation)
        if req.method == "POST" and match and match.group(2):
            body = json.loads(req.content)
            part_type = body.get("message_type")
            allowed = ("admin",) if match.group(2) == "/reply" else ("admin", "team")
            if body.get("type") not in allowed or not body.get("admin_id"):
                return httpx.Response(400, json=error_json("parameter_invalid", "admin_id"))
            parts = conversation["conversation_parts"]["conversation_parts"]
            parts.append(_part(str(len(parts) + 1), part_type, body.get("body"),
                               _author("admin", body["admin_id"], "Maria"), 1717240000))
            if part_type == "assignment":
                conversation["team_assignee_id"] = body.get("assignee_id")
            return httpx.Response(200, json=conversation)
        return httpx.Response(405, json=error_json("method_not_allowed", "Not allowed"))


@pytest.fixture
def fake() -> FakeIntercom:
    """A fake Intercom holding one conversation with every kind of part."""
    parts = [
        _part("1", "assignment", None, _author("admin", "991267", "Maria"), 1717236200,
              assigned_to={"type": "team", "id": "5123"}),
        _part("2", "comment", "Hi Samuel, let me check that for you.",
              _author("admin", "991267", "Maria"), 1717236300),
        _part("3", "note", "<p>Carrier <b>delayed</b> &amp; re-routed</p><p>see ticket</p>",
              _author("admin", "991267", "Maria"), 1717236400),
        _part("4", "comment", "Your parcel is in Leeds.", _author("bot", "42", "Operator"),
              1717236500),
        _part("5", "comment", "Thanks, any ETA?", _author("lead", "6657b1e7f5c2", "Samuel"),
              1717236600),
        _part("6", "close", None, _author("admin", "991267", "Maria"), 1717236700),
        _part("7", "open", "", _author("user", "6657b1e7f5c2d1a0d1e0c0aa", "Samuel"),
              1717236800),
    ]
    return FakeIntercom({"215467431298761": conversation_json(parts=parts)})


def test_fetch_conversation_request_and_mapping(fake: FakeIntercom) -> None:
    ticket = fake.connector().fetch_conversation(215467431298761)
    [req] = fake.requests
    assert req.method == "GET" and req.url.host == "api.intercom.io"
    assert req.url.path == "/conversations/215467431298761"
    assert req.url.params["display_as"] == "plaintext"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.extensions["timeout"]["read"] == 10.0  # the connector's own timeout, always
    assert ticket.id == "215467431298761" and ticket.status == "open"
    assert ticket.channel == "chat" and ticket.tags == ("shipping",)
    assert [(m.role, m.text) for m in ticket.messages] == [
        ("customer", CUSTOMER_TEXT),
        ("agent", "Hi Samuel, let me check that for you."),
        ("note", "Carrier delayed & re-routed\nsee ticket"),
        ("agent", "Your parcel is in Leeds."),
        ("customer", "Thanks, any ETA?"),
    ]
    assert ticket.messages[0].author_id == "6657b1e7f5c2d1a0d1e0c0aa"
    created = ticket.messages[1].created_at
    assert created is not None and created.isoformat() == "2024-06-01T10:05:00+00:00"
    assert ticket.reopened is False and ticket.csat is None


def test_region_picks_the_regional_host(fake: FakeIntercom) -> None:
    fake.connector(region="eu").fetch_conversation("215467431298761")
    fake.connector(region="au").fetch_conversation("215467431298761")
    assert [r.url.host for r in fake.requests] == ["api.eu.intercom.io", "api.au.intercom.io"]
    with pytest.raises(ConnectorError, match="region"):
        fake.connector(region="mars")
    with pytest.raises(ConnectorError, match="access token"):
        IntercomConnector("", httpx_client=fake.client())


def test_reply_note_and_assignment_requests(fake: FakeIntercom) -> None:
    connector = fake.connector()
    connector.reply("215467431298761", 991267, "Hi Samuel, it arrives tomorrow.")
    connector.add_note("215467431298761", "991267", "Customer asked twice.")
    connector.assign_team("215467431298761", "991267", 5123)
    assert [r.method for r in fake.requests] == ["POST", "POST", "POST"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    assert all(r.headers["content-type"] == "application/json" for r in fake.requests)
    assert fake.posts() == [
        ("/conversations/215467431298761/reply",
         {"message_type": "comment", "type": "admin", "admin_id": "991267",
          "body": "Hi Samuel, it arrives tomorrow."}),
        ("/conversations/215467431298761/reply",
         {"message_type": "note", "type": "admin", "admin_id": "991267",
          "body": "Customer asked twice."}),
        ("/conversations/215467431298761/parts",
         {"message_type": "assignment", "type": "team", "admin_id": "991267",
          "assignee_id": "5123"}),
    ]
    with pytest.raises(ConnectorError, match="empty"):
        connector.reply("215467431298761", "991267", "  \n")


@pytest.mark.parametrize(("status", "body", "match"), [
    (401, error_json("unauthorized", "Access Token Invalid"), "token was rejected"),
    (404, error_json("not_found", "Resource Not Found"), "not found"),
    (429, error_json("rate_limit_exceeded", "Exceeded rate limit of 1000 in 60 seconds"),
     "rate limited"),
    (500, {"type": "error.list", "errors": [{"code": "server_error", "message": "boom"}]},
     "request failed"),
])
def test_api_errors_become_connector_errors(fake: FakeIntercom, status: int, body: Any,
                                            match: str) -> None:
    fake.fail = (status, body)
    with pytest.raises(ConnectorError, match=match) as caught:
        fake.connector().fetch_conversation("215467431298761")
    assert caught.value.status_code == status
    assert TOKEN not in str(caught.value) and "Bearer" not in str(caught.value)
    assert body["errors"][0]["code"] in str(caught.value)
    with pytest.raises(ConnectorError) as on_post:
        fake.connector().reply("215467431298761", "1", "hello")
    assert on_post.value.status_code == status
    assert len(fake.requests) == 2  # no retries: a 429 comes back at once


def test_wrong_token_and_unknown_conversation(fake: FakeIntercom) -> None:
    with pytest.raises(ConnectorError) as wrong:
        fake.connector(token="not-the-token").fetch_conversation("215467431298761")
    assert wrong.value.status_code == 401 and "not-the-token" not in str(wrong.value)
    with pytest.raises(ConnectorError) as missing:
        fake.connector().fetch_conversation("999")
    assert missing.value.status_code == 404


def test_timeouts_and_transport_errors(fake: FakeIntercom) -> None:
    fake.raise_exc = httpx.ReadTimeout
    with pytest.raises(ConnectorError, match="did not answer in time") as caught:
        fake.connector().fetch_conversation("215467431298761")
    assert caught.value.status_code is None
    fake.raise_exc = httpx.ConnectError
    with pytest.raises(ConnectorError, match="unreachable"):
        fake.connector().assign_team("215467431298761", "1", "2")
    fake_for_timeout = FakeIntercom({"1": conversation_json("1")})
    timed = IntercomConnector(TOKEN, timeout=2.5, httpx_client=fake_for_timeout.client())
    timed.fetch_conversation("1")
    assert fake_for_timeout.requests[0].extensions["timeout"]["read"] == 2.5


def test_conversation_without_text_and_outcome_labels() -> None:
    empty = conversation_json("7", customer_text="")
    rated = conversation_json("8")
    rated.update(state="closed", open=False,
                 conversation_rating={"rating": 5, "remark": "great", "created_at": 1717240000},
                 statistics={"type": "conversation_statistics", "count_reopens": 2},
                 team_assignee_id="5123")
    rated["source"].update(type="email", subject="<p>Order NW-552211</p>")
    fake = FakeIntercom({"7": empty, "8": rated})
    with pytest.raises(ConnectorError, match="no message with text"):
        fake.connector().fetch_conversation("7")
    ticket = fake.connector().fetch_conversation("8")
    assert (ticket.status, ticket.csat, ticket.reopened) == ("closed", "good", True)
    assert ticket.channel == "email" and ticket.subject == "Order NW-552211"
    assert ticket.extra["team_assignee_id"] == "5123"


def test_plain_text() -> None:
    assert plain_text("<p>Hi&nbsp;there,</p><p>line<br>two</p>") == "Hi there,\nline\ntwo"
    assert plain_text("if x < 5 and y > 3") == "if x < 5 and y > 3"  # not HTML: left alone
    assert plain_text(None) == ""
