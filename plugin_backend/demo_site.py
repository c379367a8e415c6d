"""The clickable demo: a stand-in Zendesk ticket view hosting the real sidebar app, next to a
preview of the Intercom canvas built by the real Canvas Kit component builders.

Only registered when the app runs with ``DEMO`` set (``clonedesk demo`` / ``serve --demo``).
The demo plays Zendesk's part honestly: it holds a local RSA key pair standing in for the
Zendesk app's signing key, signs a signed-URL token for its demo installation, and the page
POSTs it to the real ``/zendesk/sidebar``, which verifies it like any Zendesk load. Demo
tickets are copies of holdout tickets cut before the agent's answer, stored under ``live-<id>``
so the stored originals are never overwritten.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, send_file, url_for

from plugin_backend.config import Settings
from plugin_backend.errors import NotFound

REPO = Path(__file__).resolve().parent.parent
STATIC_DIR = Path(__file__).resolve().parent / "static" / "demo"
ZAF_SDK_FILE = REPO / "var" / "npm" / "zaf_sdk.js"
DEMO_SUBDOMAIN = "northwind-demo"
DEMO_INSTALLATION_ID = "1"
LIVE_PREFIX = "live-"

bp = Blueprint("demo", __name__, url_prefix="/demo", static_folder=str(STATIC_DIR),
               static_url_path="/static")


def demo_keys(home: Path) -> tuple[Path, Path]:
    """The demo's stand-in for the Zendesk app key pair (created once, private key 0600)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    folder = home / "demo"
    private, public = folder / "zendesk_app_key.pem", folder / "zendesk_app_public_key.pem"
    if not (private.is_file() and public.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        private.chmod(0o600)
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def prepare(settings: Settings, sessions: Any, tenant: str) -> Settings:
    """Link the demo account to its stand-in Zendesk and return the settings to serve with."""
    from plugin_backend.accounts import install

    _, public = demo_keys(Path(settings.home))
    with sessions() as session:
        install(session, tenant, "zendesk", DEMO_SUBDOMAIN,
                settings={"installation_id": DEMO_INSTALLATION_ID, "groups": _groups(tenant,
                                                                                     settings)})
    return replace(settings, zendesk_public_key=str(public), zaf_sdk_url="/demo/zaf_sdk.js")


def _groups(tenant: str, settings: Settings) -> dict[str, int]:
    """Stand-in Zendesk group ids for the escalation groups the account's model knows."""
    from trainer.registry import AdapterRegistry

    current = AdapterRegistry(settings.adapters_dir, tenant).current()
    names: set[str] = set()
    if current is not None:
        path = current.path / "escalation.json"
        if path.is_file():
            records = json.loads(path.read_text()).get("records", [])
            names = {r["group"] for r in records if isinstance(r, dict) and r.get("group")}
    return {name: 1000 + i for i, name in enumerate(sorted(names))}


def signed_url_token(home: Path) -> str:
    """A signed-URL token for the demo installation, as Zendesk would POST it."""
    import jwt

    private, _ = demo_keys(home)
    now = int(time.time())
    claims = {"iss": f"{DEMO_SUBDOMAIN}.zendesk.com",
              "aud": f"https://{DEMO_SUBDOMAIN}.zendesk.com/api/v2/apps/installations/"
                     f"{DEMO_INSTALLATION_ID}.json",
              "iat": now, "nbf": now, "exp": now + 300, "sub": "demo-agent",
              "context": {"product": "support", "location": "ticket_sidebar"}}
    return jwt.encode(claims, private.read_bytes(), algorithm="RS256")


def demo_tickets(tenant: str) -> list[Any]:
    """Holdout tickets of the current version, newest last (never trained on)."""
    from plugin_backend.api import runtime
    from plugin_backend.store import get_tenant, get_ticket
    from trainer.registry import AdapterRegistry

    rt = runtime()
    current = AdapterRegistry(rt.settings.adapters_dir, tenant).current()
    if current is None:
        raise NotFound("the demo account has no trained model yet")
    ids = current.metadata["split"]["holdout_ids"]
    with rt.sessions() as session:
        row = get_tenant(session, tenant)
        found = [get_ticket(session, row, i) for i in ids[-40:]]
    return [t for t in found if t is not None]


def live_copy(ticket: Any) -> dict[str, Any]:
    """The ticket as the agent finds it: cut before its last agent message, under a live id."""
    record = ticket.to_dict()
    messages = record["messages"]
    last_agent = max((i for i, m in enumerate(messages) if m["role"] == "agent"),
                     default=len(messages))
    record.update(id=LIVE_PREFIX + ticket.id, messages=messages[:last_agent], status="open",
                  escalated=None, csat=None)
    return record


@bp.get("/")
def index() -> Any:
    """Open the demo on the holdout ticket chosen by ``DEMO_TICKET`` or the newest one."""
    tickets = demo_tickets(current_app.config["DEMO_TENANT"])
    if not tickets:
        raise NotFound("no holdout tickets")
    wanted = current_app.config.get("DEMO_TICKET")
    chosen = next((t for t in tickets if t.id == wanted), tickets[-1])
    return redirect(url_for("demo.ticket_page", ticket_id=chosen.id))


@bp.get("/tickets/<ticket_id>")
def ticket_page(ticket_id: str) -> Any:
    """The stand-in Zendesk ticket view with the real sidebar, for one holdout ticket."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from plugin_backend.api import runtime

    tickets = {t.id: t for t in demo_tickets(current_app.config["DEMO_TENANT"])}
    if ticket_id not in tickets:
        raise NotFound("not a demo ticket")
    record = live_copy(tickets[ticket_id])
    record["groups"] = [{"id": gid, "name": name} for name, gid in
                        sorted(_groups(current_app.config["DEMO_TENANT"],
                                       runtime().settings).items())]
    env = Environment(loader=FileSystemLoader(str(STATIC_DIR)),
                      autoescape=select_autoescape(["html"]))
    html = env.get_template("zendesk_ticket.html").render(
        sidebar_url="/zendesk/sidebar", sidebar_token=signed_url_token(runtime().settings.home),
        ticket_json=record, demo_base="/demo/static",
        canvas_url=url_for("demo.intercom_canvas", ticket_id=ticket_id))
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/zaf_sdk.js")
def zaf_sdk() -> Any:
    """A local build of Zendesk's ZAF SDK (npm zendesk_app_framework_sdk), for offline demos."""
    path = Path(current_app.config.get("ZAF_SDK_FILE", ZAF_SDK_FILE))
    if not path.is_file():
        raise NotFound("ZAF SDK not built: run `make install`")
    return send_file(path, mimetype="text/javascript", max_age=3600)


@bp.get("/intercom-canvas/<ticket_id>")
def intercom_canvas(ticket_id: str) -> Any:
    """The Intercom canvas the same suggestion would show (real component builders)."""
    from intercom_canvas.components import suggestion_canvas
    from plugin_backend.api import runtime
    from plugin_backend.store import get_tenant, get_ticket
    from plugin_backend.suggestions import cache_key, conversation_digest, current_version

    rt = runtime()
    tenant = current_app.config["DEMO_TENANT"]
    with rt.sessions() as session:
        ticket = get_ticket(session, get_tenant(session, tenant), LIVE_PREFIX + ticket_id)
    if ticket is None:
        return jsonify({"status": "pending"}), 202
    key = cache_key(tenant, current_version(rt, tenant), ticket.id, conversation_digest(ticket))
    cached = rt.redis.get(key)
    if cached is None:
        return jsonify({"status": "pending"}), 202
    suggestion = json.loads(cached)
    stored = {"suggestion_id": suggestion["suggestion_id"], "conversation_id": ticket.id}
    return jsonify(suggestion_canvas(suggestion, stored))
