"""JSON API v1 against the trained demo account: real Redis, real RQ worker, real model."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _keys(backend: dict[str, Any]) -> tuple[str, str]:
    """An API key for the trained account and one for a second account (no model)."""
    from plugin_backend.accounts import create_api_key
    from plugin_backend.store import get_or_create_tenant, get_tenant

    with backend["runtime"].sessions() as session:
        key_a = create_api_key(session, get_tenant(session, backend["tenant"]))
        key_b = create_api_key(session, get_or_create_tenant(session, "globex"))
    return key_a, key_b


def _ticket(ticket_id: str = "live-1", text: str | None = None) -> dict[str, Any]:
    return {"id": ticket_id, "subject": "Where is my order?", "channel": "email",
            "messages": [{"role": "customer", "text": text or (
                "Hi, my order NW-552211 for the Trail Jacket still shows in transit after "
                "ten days. Can you check where it is?\n\nThanks,\nSamuel")}]}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_suggestion_is_computed_by_the_worker_then_served_from_cache(backend):
    client = backend["client"]
    key, _ = _keys(backend)
    first = client.post("/api/v1/suggestions", json=_ticket(), headers=_auth(key))
    assert first.status_code == 202, first.get_json()
    body = first.get_json()
    assert body["status"] == "pending" and body["poll"].endswith(body["job_id"])
    # the same ticket state asked again while queued → the same job, not a second one
    again = client.post("/api/v1/suggestions", json=_ticket(), headers=_auth(key))
    assert again.get_json()["job_id"] == body["job_id"]
    pending = client.get(body["poll"], headers=_auth(key))
    assert pending.status_code == 202

    assert backend["run_jobs"]() == 1
    done = client.get(body["poll"], headers=_auth(key))
    assert done.status_code == 200, done.get_json()
    s = done.get_json()
    assert s["action"] in ("reply", "escalate") and 0.0 <= s["confidence"] <= 1.0
    assert set(s["escalation"]) == {"advised", "reason", "group"}
    assert s["model_version"] == "v0001" and s["cached"] is False
    assert s["confidence_label"] in ("High", "Medium", "Low")
    assert "Mateo" not in s["reply"]

    cached = client.post("/api/v1/suggestions", json=_ticket(), headers=_auth(key))
    assert cached.status_code == 200 and cached.get_json()["cached"] is True
    assert cached.get_json()["suggestion_id"] == s["suggestion_id"]

    # a new customer message is a new ticket state: computed again
    follow = _ticket()
    follow["messages"] += [{"role": "agent", "text": s["reply"] or "Checking."},
                           {"role": "customer", "text": "Any news? It has been two weeks."}]
    changed = client.post("/api/v1/suggestions", json=follow, headers=_auth(key))
    assert changed.status_code == 202


def test_stored_ticket_by_id_and_regenerate(backend):
    client = backend["client"]
    key, _ = _keys(backend)
    stored_id = json.loads(backend["data"].read_text().splitlines()[0])["id"]
    first = client.post("/api/v1/suggestions", json={"ticket_id": stored_id},
                        headers=_auth(key))
    assert first.status_code == 202
    backend["run_jobs"]()
    assert client.post("/api/v1/suggestions", json={"ticket_id": stored_id},
                       headers=_auth(key)).status_code == 200
    regen = client.post("/api/v1/suggestions", json={"ticket_id": stored_id,
                                                     "regenerate": True}, headers=_auth(key))
    assert regen.status_code == 202 and regen.get_json()["job_id"] != first.get_json()["job_id"]


def test_bad_input_gets_clear_4xx(backend):
    client = backend["client"]
    key, key_b = _keys(backend)
    assert client.post("/api/v1/suggestions", json=_ticket()).status_code == 401
    wrong = client.post("/api/v1/suggestions", json=_ticket(), headers=_auth("cdk_nope"))
    assert wrong.status_code == 401 and "invalid API key" in wrong.get_json()["error"]
    bad = client.post("/api/v1/suggestions", data=b"{not json", headers=_auth(key),
                      content_type="application/json")
    assert bad.status_code == 400 and "malformed JSON" in bad.get_json()["error"]
    assert client.post("/api/v1/suggestions", json=[1, 2], headers=_auth(key)).status_code == 400
    invalid = client.post("/api/v1/suggestions", json={"id": "x", "messages": "hi"},
                          headers=_auth(key))
    assert invalid.status_code == 400 and "invalid ticket" in invalid.get_json()["error"]
    agent_only = {"id": "x", "messages": [{"role": "agent", "text": "hello"}]}
    assert client.post("/api/v1/suggestions", json=agent_only,
                       headers=_auth(key)).status_code == 400
    missing = client.post("/api/v1/suggestions", json={"ticket_id": "no-such"},
                          headers=_auth(key))
    assert missing.status_code == 404
    huge = client.post("/api/v1/suggestions", data=b"x" * 1_100_000, headers=_auth(key),
                       content_type="application/json")
    assert huge.status_code == 413 and huge.get_json()["error"] == "request body too large"
    no_model = client.post("/api/v1/suggestions", json=_ticket(), headers=_auth(key_b))
    assert no_model.status_code == 409 and "no trained model" in no_model.get_json()["error"]
    assert client.get("/api/v1/suggestions/jobs/suggest-unknown",
                      headers=_auth(key)).status_code == 404
    # nothing stored was lost: the trained account still has all its tickets
    from plugin_backend.store import get_tenant, ticket_stats

    with backend["runtime"].sessions() as session:
        stats = ticket_stats(session, get_tenant(session, backend["tenant"]))
    assert stats.total == 140


def test_accounts_are_isolated(backend):
    client = backend["client"]
    key_a, key_b = _keys(backend)
    job = client.post("/api/v1/suggestions", json=_ticket("secret-1"),
                      headers=_auth(key_a)).get_json()
    backend["run_jobs"]()
    suggestion = client.get(job["poll"], headers=_auth(key_a)).get_json()
    # B cannot poll A's job, read A's ticket, nor record events on A's suggestion
    assert client.get(job["poll"], headers=_auth(key_b)).status_code == 404
    assert client.get("/api/v1/tickets/secret-1", headers=_auth(key_b)).status_code == 404
    assert client.get("/api/v1/tickets/secret-1", headers=_auth(key_a)).status_code == 200
    event = {"kind": "shown", "suggestion_id": suggestion["suggestion_id"]}
    assert client.post("/api/v1/events", json=event, headers=_auth(key_b)).status_code == 404
    assert client.post("/api/v1/events", json=event, headers=_auth(key_a)).status_code == 201
    # nor ask for a suggestion of A's stored ticket by id
    by_id = client.post("/api/v1/suggestions", json={"ticket_id": "secret-1"},
                        headers=_auth(key_b))
    assert by_id.status_code in (404, 409)
    # nor see A's adapters or events
    assert client.get("/api/v1/admin/adapters", headers=_auth(key_b)).get_json() == {
        "versions": []}
    assert client.get("/api/v1/admin/events/summary",
                      headers=_auth(key_b)).get_json() == {"events": {}}


def test_events_record_edits_and_feedback(backend):
    client = backend["client"]
    key, _ = _keys(backend)
    job = client.post("/api/v1/suggestions", json=_ticket("ev-1"), headers=_auth(key)).get_json()
    backend["run_jobs"]()
    s = client.get(job["poll"], headers=_auth(key)).get_json()
    sid = s["suggestion_id"]

    def post(event: dict[str, Any]) -> Any:
        return client.post("/api/v1/events", json={"suggestion_id": sid, **event},
                           headers=_auth(key))

    assert post({"kind": "shown"}).get_json()["kind"] == "shown"
    assert post({"kind": "sent", "text": s["reply"]}).get_json()["kind"] == "sent_unchanged"
    edited = post({"kind": "sent", "text": s["reply"] + " Have a great day!"})
    assert edited.status_code == 201 and edited.get_json()["kind"] == "sent_edited"
    assert post({"kind": "feedback", "useful": False}).status_code == 201
    assert post({"kind": "feedback"}).status_code == 400
    assert post({"kind": "sent"}).status_code == 400
    assert post({"kind": "teleported"}).status_code == 400
    from sqlalchemy import select

    from plugin_backend.db import EventRow

    with backend["runtime"].sessions() as session:
        rows = list(session.scalars(select(EventRow).where(EventRow.suggestion_id == sid)
                                    .order_by(EventRow.id)))
    assert [r.kind for r in rows] == ["shown", "sent_unchanged", "sent_edited", "feedback"]
    assert rows[1].edit_distance == 0 and rows[2].edit_distance == len(" Have a great day!")
    assert rows[3].useful is False and all(r.platform == "api" for r in rows)
    summary = client.get("/api/v1/admin/events/summary", headers=_auth(key)).get_json()
    assert summary["events"]["sent_edited"] == 1
