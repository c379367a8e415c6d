"""Intercom Canvas Kit app: the pure component builders, then initialize/submit end to end
(real database, real Redis, real RQ worker and model; Intercom's REST API faked on the wire)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intercom_canvas import components as ui
from intercom_canvas.signature import canvas_signature
from tests.conftest import TEST_INTERCOM_SECRET
from tests.test_connector_intercom import TOKEN, FakeIntercom, conversation_json

CONVERSATION = "215467431298761"
ADMIN = "991267"


def _suggestion(**overrides: Any) -> dict[str, Any]:
    base = {"suggestion_id": "sg_1", "ticket_id": CONVERSATION, "action": "reply",
            "reply": "Hi Samuel, your parcel arrives tomorrow. — Maria", "confidence": 0.9134,
            "confidence_label": "High", "show": True,
            "escalation": {"advised": False, "reason": None, "group": None},
            "category": "shipping", "model_version": "v0001"}
    return {**base, **overrides}


def _escalating(reply: str = "Hi Samuel, I am passing this to our billing team.") -> dict:
    return _suggestion(action="escalate", reply=reply, escalation={
        "advised": True, "group": "Billing",
        "reason": "The customer mentions a chargeback with their bank over a $740 order."})


def _components(response: dict[str, Any]) -> list[dict[str, Any]]:
    return response["canvas"]["content"]["components"]


def _ids(response: dict[str, Any]) -> list[str]:
    return [c["id"] for c in _components(response) if c["type"] == "button"]


def _texts(response: dict[str, Any]) -> list[str]:
    return [c["text"] for c in _components(response) if c["type"] == "text"]


# --- builders ---------------------------------------------------------------------------------

def test_basic_components() -> None:
    assert ui.text("Hi", "muted") == {"type": "text", "text": "Hi", "style": "muted"}
    assert ui.textarea("reply_text", "Draft", "x") == {
        "type": "textarea", "id": "reply_text", "label": "Draft", "value": "x"}
    assert ui.textarea("a", "b", error=True, disabled=True, placeholder="p")["error"] is True
    assert ui.button("send_reply", "Send reply") == {
        "type": "button", "id": "send_reply", "label": "Send reply", "style": "primary",
        "action": {"type": "submit"}}
    assert ui.spacer("xl") == {"type": "spacer", "size": "xl"}
    assert ui.divider() == {"type": "divider"}
    for bad in (lambda: ui.text("x", "huge"), lambda: ui.button("a", "b", "danger"),
                lambda: ui.spacer("xxl")):
        with pytest.raises(ValueError):
            bad()
    response = ui.canvas([ui.divider()], {"job_id": "j", "suggestion_id": None})
    assert response == {"canvas": {"content": {"components": [{"type": "divider"}]},
                                   "stored_data": {"job_id": "j"}}}


def test_height_estimates() -> None:
    assert ui.component_height(ui.text("x" * 45)) == 20
    assert ui.component_height(ui.text("x" * 100)) == 60          # 3 lines of ~45 chars
    assert ui.component_height(ui.text("a\nb")) == 40              # each line break a line
    assert ui.component_height(ui.text("Suggested reply", "header")) == 24
    assert ui.component_height(ui.textarea("t", "l", "x" * 5000)) == 120  # fixed: it scrolls
    assert ui.component_height(ui.button("b", "B")) == 40
    assert ui.component_height(ui.divider()) == 16
    assert [ui.component_height(ui.spacer(s)) for s in ("xs", "s", "m", "l", "xl")] == \
        [4, 8, 16, 24, 32]
    response = ui.canvas([ui.text("Title", "header"), ui.spacer("m"), ui.button("b", "B")])
    assert ui.estimate_height(response) == 24 + 16 + 40


def test_suggestion_canvas_reply() -> None:
    response = ui.suggestion_canvas(_suggestion(), {"conversation_id": CONVERSATION,
                                                    "suggestion_id": "sg_1"})
    [draft] = [c for c in _components(response) if c["type"] == "textarea"]
    assert draft["id"] == "reply_text" and draft["value"] == _suggestion()["reply"]
    assert "Confidence: High · 0.91" in _texts(response)
    assert _texts(response)[0] == "Suggested reply"
    assert _ids(response) == ["send_reply", "add_note", "regenerate"]   # not advised: no Escalate
    assert response["canvas"]["stored_data"] == {"conversation_id": CONVERSATION,
                                                 "suggestion_id": "sg_1"}
    assert ui.estimate_height(response) <= ui.FIRST_CANVAS_MAX_PX
    edited = ui.suggestion_canvas(_suggestion(), {}, draft="My own words", notice="Not posted")
    assert _texts(edited)[0] == "Not posted" and _components(edited)[0]["style"] == "error"
    assert [c["value"] for c in _components(edited) if c["type"] == "textarea"] == ["My own words"]


def test_suggestion_canvas_escalation() -> None:
    advised = ui.suggestion_canvas(_escalating(), {}, teams={"Billing": 5123})
    assert _ids(advised) == ["send_reply", "add_note", "escalate", "regenerate"]
    [advice] = [t for t in _texts(advised) if t.startswith("Escalate to Billing")]
    assert "chargeback" in advice and len(advice) <= ui.SIDE_TEXT_CHARS
    assert ui.estimate_height(advised) <= ui.FIRST_CANVAS_MAX_PX
    no_team = ui.suggestion_canvas(_escalating(), {}, teams={"Escalations": 9})
    assert "escalate" not in _ids(no_team)
    assert any("no Intercom team mapped" in t for t in _texts(no_team))
    hand_off_only = ui.suggestion_canvas(_escalating(reply=""), {}, teams={"Billing": 5123})
    assert _ids(hand_off_only) == ["escalate", "regenerate"]
    assert not [c for c in _components(hand_off_only) if c["type"] == "textarea"]


def test_low_confidence_shows_no_draft() -> None:
    response = ui.suggestion_canvas(_suggestion(show=False, confidence=0.12,
                                                confidence_label="Low"), {"suggestion_id": "s"})
    assert ui.NO_SUGGESTION in _texts(response)
    assert [c["style"] for c in _components(response) if c.get("text") == ui.NO_SUGGESTION] == \
        ["muted"]
    assert _ids(response) == ["regenerate"]
    assert not [c for c in _components(response) if c["type"] == "textarea"]
    assert _suggestion()["reply"] not in json.dumps(response)


def test_pending_result_and_error_canvases() -> None:
    pending = ui.pending_canvas("suggest-abc", {"conversation_id": CONVERSATION})
    assert "Preparing a suggestion…" in _texts(pending) and _ids(pending) == ["refresh"]
    assert pending["canvas"]["stored_data"] == {"conversation_id": CONVERSATION,
                                                "job_id": "suggest-abc"}
    sent = ui.result_canvas("Reply sent", {"conversation_id": CONVERSATION})
    assert _texts(sent) == ["Reply sent"] and _components(sent)[0]["style"] == "paragraph"
    failed = ui.result_canvas("Not assigned: rate limited", error=True)
    assert _components(failed)[0]["style"] == "error"
    error = ui.error_canvas("x" * 1000)
    assert [c["style"] for c in _components(error) if c["type"] == "text"] == ["header", "error"]
    assert len(_texts(error)[1]) == 300 and _ids(error) == ["retry"]
    assert _ids(ui.error_canvas("Open a conversation", retry=False)) == []
    for response in (pending, sent, failed, error):
        assert ui.estimate_height(response) <= ui.FIRST_CANVAS_MAX_PX


def test_a_70_kb_draft_is_cut_to_fit_64_kb() -> None:
    # multi-byte text (é is 2 bytes, 🧭 is 4, quotes and newlines are escaped in JSON)
    reply = ("Bonjour \"Samuel\", été 🧭 ok\n" * 3000)[:70_000]
    assert len(reply.encode("utf-8")) > 70 * 1024
    response = ui.suggestion_canvas(_escalating(reply=reply), {"suggestion_id": "s" * 40},
                                    teams={"Billing": 5123})
    raw = ui.to_json_bytes(response)
    assert len(raw) <= ui.MAX_RESPONSE_BYTES
    assert len(raw) > ui.MAX_RESPONSE_BYTES - 300          # cut no more than needed (near a space)
    raw.decode("utf-8")                                    # never inside a UTF-8 sequence
    [draft] = [c for c in _components(response) if c["type"] == "textarea"]
    assert reply.startswith(draft["value"]) and len(draft["value"]) > 20_000
    assert ui.TRUNCATED_NOTICE in _texts(response)
    assert _ids(response) == ["send_reply", "add_note", "escalate", "regenerate"]
    assert ui.estimate_height(response) <= ui.FIRST_CANVAS_MAX_PX   # the fullest first canvas
    assert ui.estimate_height(response) == 384
    small = ui.suggestion_canvas(_suggestion(), {})
    assert ui.TRUNCATED_NOTICE not in _texts(small)


def test_parse_canvas_request() -> None:
    from intercom_canvas.views import parse_canvas_request
    from plugin_backend.errors import BadRequest

    previous = ui.pending_canvas("suggest-1", {"conversation_id": CONVERSATION})
    parsed = parse_canvas_request(_submit_payload("refresh", previous, {"reply_text": "hi"}))
    assert (parsed.admin_id, parsed.conversation_id, parsed.component_id) == \
        (ADMIN, CONVERSATION, "refresh")
    assert parsed.stored_data == {"conversation_id": CONVERSATION, "job_id": "suggest-1"}
    assert parsed.input_values == {"reply_text": "hi"}
    by_context = parse_canvas_request({"context": {"conversation_id": 42}, "admin": {"id": 7}})
    assert (by_context.conversation_id, by_context.admin_id) == ("42", "7")
    assert parse_canvas_request({}).conversation_id is None
    with pytest.raises(BadRequest):
        parse_canvas_request({"conversation": {"id": "1/../../admins"}})


# --- initialize / submit end to end ------------------------------------------------------------

def _post(client: Any, path: str, payload: Any, signature: str | None | bool = True) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if signature is True:
        headers["X-Body-Signature"] = canvas_signature(TEST_INTERCOM_SECRET, raw)
    elif isinstance(signature, str):
        headers["X-Body-Signature"] = signature
    return client.post(path, data=raw, headers=headers)


def _initialize_payload(conversation_id: str = CONVERSATION,
                        workspace: str = "ws_test") -> dict[str, Any]:
    """What Intercom sends when a teammate opens a conversation with the app installed."""
    return {"workspace_id": workspace, "workspace_region": "us",
            "admin": {"type": "admin", "id": ADMIN, "name": "Maria",
                      "email": "maria@example.com"},
            "card_creation_options": {},
            "context": {"conversation_id": int(conversation_id), "location": "conversation",
                        "locale": "en"},
            "conversation": {"type": "conversation", "id": conversation_id, "state": "open"},
            "contact": {"type": "user", "id": "6657b1e7f5c2d1a0d1e0c0aa"}}


def _submit_payload(component_id: str, previous: dict[str, Any],
                    input_values: dict[str, Any] | None = None,
                    conversation_id: str = CONVERSATION) -> dict[str, Any]:
    return {**_initialize_payload(conversation_id), "component_id": component_id,
            "input_values": input_values or {}, "current_canvas": previous["canvas"]}


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert len(response.get_data()) <= ui.MAX_RESPONSE_BYTES
    return response.get_json()


def _events(backend: dict[str, Any]) -> list[Any]:
    from sqlalchemy import select

    from plugin_backend.db import EventRow

    with backend["runtime"].sessions() as session:
        return list(session.scalars(select(EventRow).order_by(EventRow.id)))


@pytest.fixture
def intercom(backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> FakeIntercom:
    """The trained account installed on workspace ws_test, Intercom faked on the wire."""
    import dataclasses

    from intercom_canvas import views
    from plugin_backend.accounts import install
    from plugin_backend.connectors.intercom import IntercomConnector

    with backend["runtime"].sessions() as session:
        install(session, backend["tenant"], "intercom", "ws_test",
                settings={"teams": {"Billing": 5123}, "region": "eu"},
                secrets={"access_token": TOKEN})
    # every suggestion the tiny test model makes is shown, so the draft flow is exercised
    runtime = backend["runtime"]
    runtime.settings = dataclasses.replace(runtime.settings, min_confidence=0.0)
    fake = FakeIntercom({CONVERSATION: conversation_json(CONVERSATION),
                         "777": conversation_json("777")})

    def connector_for(workspace: Any) -> IntercomConnector:
        assert workspace.settings["region"] == "eu"
        return IntercomConnector(workspace.secrets["access_token"], region="eu",
                                 httpx_client=fake.client())

    monkeypatch.setattr(views, "connector_for", connector_for)
    monkeypatch.setattr(views, "WAIT_S", 0.3)
    return fake


def _suggestion_from_canvas(backend: dict[str, Any], intercom: FakeIntercom) -> dict[str, Any]:
    """initialize → pending; the worker runs; refresh → the suggestion canvas."""
    client = backend["client"]
    pending = _ok(_post(client, "/intercom/initialize", _initialize_payload()))
    assert ui.estimate_height(pending) <= ui.FIRST_CANVAS_MAX_PX
    backend["run_jobs"]()
    return _ok(_post(client, "/intercom/submit", _submit_payload("refresh", pending)))


@pytest.mark.slow
def test_edge_signature_json_workspace(backend: dict[str, Any], intercom: FakeIntercom) -> None:
    client = backend["client"]
    payload = _initialize_payload()
    raw = json.dumps(payload).encode("utf-8")
    wrong = canvas_signature("another-secret", raw)
    for signature in (wrong, None, ""):
        response = _post(client, "/intercom/initialize", raw, signature=signature)
        assert response.status_code == 401 and "X-Body-Signature" in response.get_json()["error"]
    # a body re-serialised after signing no longer matches
    respaced = json.dumps(payload, indent=1).encode("utf-8")
    assert _post(client, "/intercom/initialize", respaced,
                 signature=canvas_signature(TEST_INTERCOM_SECRET, raw)).status_code == 401
    assert intercom.requests == [] and _events(backend) == []

    malformed = _post(client, "/intercom/initialize", b'{"workspace_id": "ws_test",')
    assert malformed.status_code == 400 and "malformed JSON" in malformed.get_json()["error"]
    assert _post(client, "/intercom/initialize", [1, 2]).status_code == 400
    assert _post(client, "/intercom/initialize", {"admin": {"id": ADMIN}}).status_code == 400
    unknown = _post(client, "/intercom/initialize", _initialize_payload(workspace="ws_other"))
    assert unknown.status_code == 404 and "ws_other" in unknown.get_json()["error"]
    bad_id = _post(client, "/intercom/initialize",
                   {**_initialize_payload(), "conversation": {"id": "../admins"}})
    assert bad_id.status_code == 400
    odd = _post(client, "/intercom/submit", _submit_payload("launch", ui.canvas([])))
    assert odd.status_code == 400 and "launch" in odd.get_json()["error"]
    assert intercom.requests == [] and _events(backend) == []


@pytest.mark.slow
def test_initialize_refresh_send_and_note(backend: dict[str, Any],
                                          intercom: FakeIntercom) -> None:
    from plugin_backend.db import SuggestionRow
    from plugin_backend.store import get_tenant, get_ticket

    client = backend["client"]
    pending = _ok(_post(client, "/intercom/initialize", _initialize_payload()))
    assert "Preparing a suggestion…" in _texts(pending) and _ids(pending) == ["refresh"]
    stored = pending["canvas"]["stored_data"]
    assert stored["conversation_id"] == CONVERSATION and stored["job_id"].startswith("suggest-")
    assert ui.estimate_height(pending) <= ui.FIRST_CANVAS_MAX_PX
    [fetch] = intercom.requests
    assert fetch.url.host == "api.eu.intercom.io"
    assert fetch.url.path == f"/conversations/{CONVERSATION}"
    assert fetch.url.params["display_as"] == "plaintext"
    with backend["runtime"].sessions() as session:
        ticket = get_ticket(session, get_tenant(session, backend["tenant"]), CONVERSATION)
    assert ticket is not None and ticket.messages[0].role == "customer"

    still = _ok(_post(client, "/intercom/submit", _submit_payload("refresh", pending)))
    assert _ids(still) == ["refresh"]
    assert still["canvas"]["stored_data"]["job_id"] == stored["job_id"]

    backend["run_jobs"]()
    shown = _ok(_post(client, "/intercom/submit", _submit_payload("refresh", still)))
    suggestion_id = shown["canvas"]["stored_data"]["suggestion_id"]
    with backend["runtime"].sessions() as session:
        row = session.get(SuggestionRow, suggestion_id)
        suggestion, reply = dict(row.payload), row.reply
    assert suggestion["ticket_id"] == CONVERSATION and suggestion["show"] is True
    assert ui.estimate_height(shown) <= ui.FIRST_CANVAS_MAX_PX
    assert f"Confidence: {suggestion['confidence_label']} · {suggestion['confidence']:.2f}" \
        in _texts(shown)
    advised = suggestion["escalation"]["advised"]
    assert ("escalate" in _ids(shown)) == (advised and suggestion["escalation"]["group"]
                                           == "Billing")
    drafts = [c for c in _components(shown) if c["type"] == "textarea"]
    if reply:
        assert [d["value"] for d in drafts] == [reply] and drafts[0]["id"] == "reply_text"
    # the same state opened again: served from the cache, shown at once
    again = _ok(_post(client, "/intercom/initialize", _initialize_payload()))
    assert again["canvas"]["stored_data"]["suggestion_id"] == suggestion_id

    edited = (reply or "Hi Samuel") + "\n\nSorry for the wait! — Maria"
    sent = _ok(_post(client, "/intercom/submit",
                     _submit_payload("send_reply", shown, {"reply_text": edited})))
    assert _texts(sent) == ["Reply sent"]
    assert sent["canvas"]["stored_data"]["suggestion_id"] == suggestion_id
    assert intercom.posts()[-1] == (f"/conversations/{CONVERSATION}/reply", {
        "message_type": "comment", "type": "admin", "admin_id": ADMIN, "body": edited})
    assert intercom.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"

    note = _ok(_post(client, "/intercom/submit",
                     _submit_payload("add_note", shown, {"reply_text": "Carrier delayed."})))
    assert _texts(note) == ["Note added"]
    assert intercom.posts()[-1] == (f"/conversations/{CONVERSATION}/reply", {
        "message_type": "note", "type": "admin", "admin_id": ADMIN, "body": "Carrier delayed."})

    events = [(e.kind, e.platform, e.agent_id, e.suggestion_id) for e in _events(backend)]
    assert events == [(kind, "intercom", ADMIN, suggestion_id)
                      for kind in ("shown", "shown", "sent_edited", "inserted")]
    sent_event = _events(backend)[2]
    assert sent_event.edit_distance is not None and sent_event.edit_distance > 0
    assert sent_event.ticket_external_id == CONVERSATION

    empty = _ok(_post(client, "/intercom/submit",
                      _submit_payload("send_reply", shown, {"reply_text": "  "})))
    assert "Write a reply first." in _texts(empty) and len(intercom.posts()) == 2


@pytest.mark.slow
def test_escalate_regenerate_and_failures(backend: dict[str, Any],
                                          intercom: FakeIntercom) -> None:
    from plugin_backend.db import SuggestionRow

    client = backend["client"]
    shown = _suggestion_from_canvas(backend, intercom)
    suggestion_id = shown["canvas"]["stored_data"]["suggestion_id"]
    # the model advised escalation to Billing (set on the stored suggestion: the tiny test
    # model's advice is not predictable)
    with backend["runtime"].sessions() as session:
        row = session.get(SuggestionRow, suggestion_id)
        row.payload = {**row.payload, "action": "escalate", "escalation": {
            "advised": True, "group": "Billing", "reason": "chargeback over $500"}}
        session.commit()
    assigned = _ok(_post(client, "/intercom/submit", _submit_payload("escalate", shown)))
    assert _texts(assigned) == ["Assigned to Billing"]
    assert intercom.posts()[-1] == (f"/conversations/{CONVERSATION}/parts", {
        "message_type": "assignment", "type": "team", "admin_id": ADMIN, "assignee_id": "5123"})
    escalated = _events(backend)[-1]
    assert escalated.kind == "escalated" and escalated.detail == {"group": "Billing"}

    # an unmapped group: nothing posted, the teammate is told
    with backend["runtime"].sessions() as session:
        row = session.get(SuggestionRow, suggestion_id)
        row.payload = {**row.payload, "escalation": {"advised": True, "group": "Trust & Safety",
                                                     "reason": "account takeover"}}
        session.commit()
    posts = len(intercom.posts())
    unmapped = _ok(_post(client, "/intercom/submit", _submit_payload("escalate", shown)))
    assert "No Intercom team" in _texts(unmapped)[0] and len(intercom.posts()) == posts

    # Intercom failing: a readable canvas (HTTP 200), the edited draft kept, nothing recorded
    events = len(_events(backend))
    intercom.fail = (429, {"type": "error.list",
                           "errors": [{"code": "rate_limit_exceeded", "message": "slow down"}]})
    failed = _ok(_post(client, "/intercom/submit",
                       _submit_payload("send_reply", shown, {"reply_text": "My edit"})))
    assert _components(failed)[0]["style"] == "error" and "rate limited" in _texts(failed)[0]
    assert [c["value"] for c in _components(failed) if c["type"] == "textarea"] == ["My edit"]
    assert _ids(failed)[:2] == ["send_reply", "add_note"]
    broken = _ok(_post(client, "/intercom/initialize", _initialize_payload()))
    assert any("Could not read the conversation" in t for t in _texts(broken))
    assert _ids(broken) == ["retry"] and len(_events(backend)) == events
    intercom.fail = None

    # a suggestion is never posted to another conversation
    posts = len(intercom.posts())
    elsewhere = _ok(_post(client, "/intercom/submit", _submit_payload(
        "send_reply", shown, {"reply_text": "hello"}, conversation_id="777")))
    assert "another conversation" in _texts(elsewhere)[1]
    assert len(intercom.posts()) == posts

    # regenerate: the conversation is read again and a new job computes a new suggestion
    fetches = sum(r.method == "GET" for r in intercom.requests)
    regenerated = _ok(_post(client, "/intercom/submit", _submit_payload("regenerate", shown)))
    assert _ids(regenerated) == ["refresh"]
    first_job = regenerated["canvas"]["stored_data"]["job_id"]
    assert sum(r.method == "GET" for r in intercom.requests) == fetches + 1
    again = _ok(_post(client, "/intercom/submit", _submit_payload("regenerate", shown)))
    assert again["canvas"]["stored_data"]["job_id"] != first_job
    backend["run_jobs"]()
    fresh = _ok(_post(client, "/intercom/submit", _submit_payload("refresh", again)))
    assert fresh["canvas"]["stored_data"]["suggestion_id"] != suggestion_id

    # a job id that is gone: start over instead of failing
    gone = ui.pending_canvas("suggest-" + "0" * 32, {"conversation_id": CONVERSATION})
    restarted = _ok(_post(client, "/intercom/submit", _submit_payload("refresh", gone)))
    assert "suggestion_id" in restarted["canvas"]["stored_data"] or \
        _ids(restarted) == ["refresh"]
