"""Zendesk sidebar backend: signed-URL JWT (RS256 pinned), sessions, isolation, webhooks."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from plugin_backend.zendesk_auth import webhook_signature

pytestmark = pytest.mark.slow

SUBDOMAIN = "acmehelp"
INSTALLATION = "361000"


def _token(keys: dict[str, Any], **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": f"{SUBDOMAIN}.zendesk.com",
              "aud": f"https://{SUBDOMAIN}.zendesk.com/api/v2/apps/installations/"
                     f"{INSTALLATION}.json",
              "iat": now, "nbf": now, "exp": now + 300, "sub": "9001",
              "context": {"product": "support", "location": "ticket_sidebar"}}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None},
                      keys["private_pem"], algorithm="RS256")


def _connect(backend: dict[str, Any], subdomain: str = SUBDOMAIN, tenant: str | None = None,
             **secrets: str) -> None:
    from plugin_backend.accounts import install
    from plugin_backend.store import get_or_create_tenant

    with backend["runtime"].sessions() as session:
        get_or_create_tenant(session, tenant or backend["tenant"])
        install(session, tenant or backend["tenant"], "zendesk", subdomain,
                settings={"installation_id": INSTALLATION, "groups": {"Billing": 42}},
                secrets=secrets)


def _session_from_page(html: str) -> str:
    import json
    import re

    blob = re.search(r'<script type="application/json" id="clonedesk-config">(.*?)</script>',
                     html, re.DOTALL)
    assert blob is not None
    return json.loads(blob.group(1))["session"]


def test_signed_url_load_renders_the_sidebar_with_a_session(backend, zendesk_keys):
    _connect(backend)
    page = backend["client"].post("/zendesk/sidebar?origin=https%3A%2F%2Facmehelp.zendesk.com"
                                  "&app_guid=abc", data={"token": _token(zendesk_keys)})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/zendesk/assets/sidebar.js" in html and backend["settings"].zaf_sdk_url in html
    session = _session_from_page(html)
    ticket = {"ticket": {"id": "77", "subject": "Refund",
                         "messages": [{"role": "customer",
                                       "text": "I was charged twice for order NW-100200."}]}}
    auth = {"Authorization": f"Bearer {session}"}
    first = backend["client"].post("/zendesk/api/suggestions", json=ticket, headers=auth)
    assert first.status_code == 202
    backend["run_jobs"]()
    done = backend["client"].get(first.get_json()["poll"], headers=auth)
    assert done.status_code == 200
    s = done.get_json()["suggestion"]
    assert s["ticket_id"] == "77" and "group_id" in s["escalation"]
    event = backend["client"].post("/zendesk/api/events", headers=auth, json={
        "kind": "inserted", "suggestion_id": s["suggestion_id"], "text": s["reply"]})
    assert event.status_code == 201
    from sqlalchemy import select

    from plugin_backend.db import EventRow

    with backend["runtime"].sessions() as db:
        row = db.scalar(select(EventRow).where(EventRow.id == event.get_json()["event_id"]))
    assert row.platform == "zendesk" and row.agent_id == "9001" and row.edit_distance == 0


@pytest.mark.parametrize("case", ["expired", "wrong_key", "hs256", "none_alg", "bad_iss",
                                  "aud_other_account", "missing_exp", "other_installation"])
def test_bad_signed_url_tokens_are_refused(backend, zendesk_keys, case):
    _connect(backend)
    if case == "expired":
        token = _token(zendesk_keys, exp=int(time.time()) - 3600, iat=int(time.time()) - 4000)
    elif case == "wrong_key":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        token = _token({"private_pem": pem})
    elif case == "hs256":  # the classic confusion: the public key used as an HMAC secret
        import base64
        import hashlib
        import hmac
        import json

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(time.time())
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64(json.dumps({"iss": f"{SUBDOMAIN}.zendesk.com", "iat": now, "exp": now + 60,
                               "aud": f"https://{SUBDOMAIN}.zendesk.com/api/v2/apps/"
                                      f"installations/{INSTALLATION}.json"}).encode())
        mac = hmac.new(zendesk_keys["public_pem"], f"{header}.{body}".encode(),
                       hashlib.sha256).digest()
        token = f"{header}.{body}.{b64(mac)}"
    elif case == "none_alg":
        token = jwt.encode({"iss": f"{SUBDOMAIN}.zendesk.com"}, None, algorithm="none")
    elif case == "bad_iss":
        token = _token(zendesk_keys, iss="evil.example.com")
    elif case == "aud_other_account":
        token = _token(zendesk_keys, aud="https://other.zendesk.com/api/v2/apps/installations/"
                                         f"{INSTALLATION}.json")
    elif case == "missing_exp":
        token = _token(zendesk_keys, exp=None)
    else:
        token = _token(zendesk_keys, aud=f"https://{SUBDOMAIN}.zendesk.com/api/v2/apps/"
                                         f"installations/999.json")
    page = backend["client"].post("/zendesk/sidebar", data={"token": token})
    assert page.status_code == 401, page.get_json()
    assert "error" in page.get_json()


def test_missing_token_unknown_account_and_forged_session(backend, zendesk_keys):
    client = backend["client"]
    assert client.post("/zendesk/sidebar").status_code == 401
    unknown = client.post("/zendesk/sidebar", data={"token": _token(zendesk_keys)})
    assert unknown.status_code == 404  # no installation for that subdomain yet
    forged = client.post("/zendesk/api/suggestions", json={"ticket_id": "1"},
                         headers={"Authorization": "Bearer acme.forged.token"})
    assert forged.status_code == 401
    from plugin_backend.web_sessions import AppSession, issue_session

    other_secret = issue_session("not-our-secret", AppSession("acme", "zendesk", "1"))
    assert client.post("/zendesk/api/events", json={},
                       headers={"Authorization": f"Bearer {other_secret}"}).status_code == 401


def test_sessions_of_one_account_never_reach_another(backend, zendesk_keys):
    _connect(backend)
    _connect(backend, subdomain="globexhelp", tenant="globex")
    client = backend["client"]
    page_a = client.post("/zendesk/sidebar", data={"token": _token(zendesk_keys)})
    auth_a = {"Authorization": f"Bearer {_session_from_page(page_a.get_data(as_text=True))}"}
    token_b = _token(zendesk_keys, iss="globexhelp.zendesk.com",
                     aud=f"https://globexhelp.zendesk.com/api/v2/apps/installations/"
                         f"{INSTALLATION}.json")
    page_b = client.post("/zendesk/sidebar", data={"token": token_b})
    auth_b = {"Authorization": f"Bearer {_session_from_page(page_b.get_data(as_text=True))}"}
    job = client.post("/zendesk/api/suggestions", headers=auth_a, json={"ticket": {
        "id": "5", "messages": [{"role": "customer", "text": "Where is my parcel?"}]}})
    backend["run_jobs"]()
    s = client.get(job.get_json()["poll"], headers=auth_a).get_json()["suggestion"]
    assert client.get(job.get_json()["poll"], headers=auth_b).status_code == 404
    assert client.post("/zendesk/api/events", headers=auth_b, json={
        "kind": "shown", "suggestion_id": s["suggestion_id"]}).status_code == 404
    # B asking for "ticket 5" gets nothing of A's: B has no model (409), never A's suggestion
    by_id = client.post("/zendesk/api/suggestions", headers=auth_b, json={"ticket_id": "5"})
    assert by_id.status_code in (404, 409)


def test_webhook_signature_matches_zendesk_test_vector():
    secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
    body = b'{"event":"ticket.updated","id":123}'
    assert webhook_signature(secret, "2021-03-25T05:09:27Z", body) == \
        "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM="


def _webhook(backend: dict[str, Any], body: bytes, secret: str = "whsec",
             timestamp: str | None = None, signature: str | None = None) -> Any:
    stamp = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = signature or webhook_signature(secret, stamp, body)
    return backend["client"].post(f"/webhooks/zendesk/{SUBDOMAIN}", data=body,
                                  content_type="application/json",
                                  headers={"X-Zendesk-Webhook-Signature": sig,
                                           "X-Zendesk-Webhook-Signature-Timestamp": stamp})


def test_zendesk_webhooks_verify_then_enqueue_once(backend):
    import json

    from plugin_backend.queue import SUGGEST_QUEUE, TRAIN_QUEUE, queue

    _connect(backend, webhook_secret="whsec")
    solved = json.dumps({"id": "evt-1", "type": "zen:event-type:ticket.status_changed",
                         "detail": {"id": "35"}, "event": {"current": "SOLVED",
                                                           "previous": "OPEN"}}).encode()
    assert _webhook(backend, solved, secret="wrong").status_code == 401
    assert _webhook(backend, solved, timestamp="2021-03-25T05:09:27Z").status_code == 401
    first = _webhook(backend, solved)
    assert first.status_code == 200 and first.get_json()["accepted"] is True
    assert _webhook(backend, solved).get_json()["job_id"] == first.get_json()["job_id"]
    redis = backend["runtime"].redis
    assert queue(redis, TRAIN_QUEUE).count == 1
    comment = json.dumps({"id": "evt-2", "type": "zen:event-type:ticket.comment_added",
                          "detail": {"id": "35"}}).encode()
    assert _webhook(backend, comment).get_json()["accepted"] is True
    assert queue(redis, SUGGEST_QUEUE).count == 1
    other = json.dumps({"id": "evt-3", "type": "zen:event-type:ticket.priority_changed",
                        "detail": {"id": "35"}}).encode()
    assert _webhook(backend, other).get_json()["accepted"] is False
    assert _webhook(backend, b"{oops").status_code == 400
    no_id = json.dumps({"type": "zen:event-type:ticket.created", "detail": {}}).encode()
    assert _webhook(backend, no_id).status_code == 400
    unknown = backend["client"].post("/webhooks/zendesk/nobody", data=solved)
    assert unknown.status_code == 404


class FakeZendesk:
    """Zendesk's REST API for one ticket, as a requests transport adapter (real wire format)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[Any] = []

    def session(self) -> Any:
        import requests
        from requests.adapters import BaseAdapter

        fake = self

        class Adapter(BaseAdapter):
            def send(self, request: Any, **kwargs: Any) -> Any:
                fake.requests.append(request)
                return fake.respond(request)

            def close(self) -> None:
                pass

        session = requests.Session()
        session.mount("https://", Adapter())
        return session

    def respond(self, request: Any) -> Any:
        import json
        from urllib.parse import urlsplit

        from requests.models import Response

        path = urlsplit(request.url).path
        body: dict[str, Any] = {"error": "RecordNotFound"}
        status = self.status
        if status == 200 and path == "/api/v2/tickets/35.json":
            body = {"ticket": {"id": 35, "subject": "Double charge", "status": "open",
                               "requester_id": 501, "created_at": "2026-11-20T10:00:00Z",
                               "via": {"channel": "email"}, "tags": ["billing"],
                               "group_id": None, "satisfaction_rating": None}}
        elif status == 200 and path == "/api/v2/tickets/35/comments.json":
            body = {"comments": [
                {"id": 1, "type": "Comment", "author_id": 501, "public": True,
                 "body": "I was charged twice for order NW-100200. Please refund one.",
                 "plain_body": "I was charged twice for order NW-100200. Please refund one.",
                 "created_at": "2026-11-20T10:00:00Z"},
                {"id": 2, "type": "Comment", "author_id": 77, "public": False,
                 "body": "Checked Stripe: duplicate.", "plain_body": "Checked Stripe: duplicate.",
                 "created_at": "2026-11-20T10:05:00Z"}],
                "next_page": None, "previous_page": None, "count": 2,
                "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                "links": {"next": None, "prev": None}}
        elif status == 200:
            status = 404
        response = Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response


def test_webhook_job_fetches_the_ticket_and_precomputes_its_suggestion(backend, monkeypatch):
    import json

    from plugin_backend import jobs
    from plugin_backend.connectors.zendesk import ZendeskConnector
    from plugin_backend.store import get_tenant, get_ticket

    _connect(backend, webhook_secret="whsec", oauth_token="zd-oauth-token")
    fake = FakeZendesk()
    monkeypatch.setattr(jobs, "connector_for", lambda inst: ZendeskConnector(
        inst.external_id, oauth_token=inst.secrets["oauth_token"], session=fake.session()))
    created = json.dumps({"id": "evt-9", "type": "zen:event-type:ticket.created",
                          "detail": {"id": "35"}}).encode()
    assert _webhook(backend, created).status_code == 200
    backend["run_jobs"]()
    from urllib.parse import urlsplit

    assert [(urlsplit(r.url).hostname, urlsplit(r.url).path) for r in fake.requests] == [
        ("acmehelp.zendesk.com", "/api/v2/tickets/35.json"),
        ("acmehelp.zendesk.com", "/api/v2/tickets/35/comments.json")]
    assert fake.requests[0].headers["Authorization"] == "Bearer zd-oauth-token"
    with backend["runtime"].sessions() as session:
        ticket = get_ticket(session, get_tenant(session, backend["tenant"]), "35")
    assert [m.role for m in ticket.messages] == ["customer", "note"]
    assert ticket.channel == "email" and ticket.status == "open"
    # the precomputed suggestion is in the cache: the sidebar's first request is served from it
    from plugin_backend.suggestions import Ready, request_suggestion

    outcome = request_suggestion(backend["runtime"], backend["tenant"], ticket)
    assert isinstance(outcome, Ready) and outcome.suggestion["cached"] is True


def test_zendesk_api_errors_fail_the_job_cleanly(backend, monkeypatch):
    import json

    from rq.job import Job

    from plugin_backend import jobs
    from plugin_backend.connectors.zendesk import ZendeskConnector

    _connect(backend, webhook_secret="whsec", oauth_token="zd-oauth-token")
    fake = FakeZendesk(status=401)
    monkeypatch.setattr(jobs, "connector_for", lambda inst: ZendeskConnector(
        inst.external_id, oauth_token="zd-oauth-token", session=fake.session()))
    created = json.dumps({"id": "evt-10", "type": "zen:event-type:ticket.created",
                          "detail": {"id": "35"}}).encode()
    job_id = _webhook(backend, created).get_json()["job_id"]
    backend["run_jobs"](allow_failed=True)
    job = Job.fetch(job_id, connection=backend["runtime"].redis)
    assert job.is_failed
    assert "zendesk fetch failed" in job.meta["error"] and "zd-oauth-token" not in \
        job.meta["error"]
