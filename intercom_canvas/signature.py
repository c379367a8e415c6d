"""Intercom at the edge: Canvas Kit ``X-Body-Signature`` and webhook ``X-Hub-Signature``.

Both are HMACs keyed with the app's client secret over the *raw* request body, verified
before the body is parsed (re-serialised JSON would not match):

* Canvas Kit: ``X-Body-Signature`` = hex(HMAC-SHA256(client_secret, body))
* webhooks:   ``X-Hub-Signature`` = ``sha1=`` + hex(HMAC-SHA1(client_secret, body))
"""

from __future__ import annotations

import hashlib
import hmac

from plugin_backend.errors import Unauthorized


def canvas_signature(client_secret: str, raw_body: bytes) -> str:
    """The X-Body-Signature Intercom sends for this body."""
    return hmac.new(client_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def webhook_signature(client_secret: str, raw_body: bytes) -> str:
    """The X-Hub-Signature Intercom sends for this webhook body."""
    digest = hmac.new(client_secret.encode("utf-8"), raw_body, hashlib.sha1).hexdigest()
    return f"sha1={digest}"


def verify_canvas(client_secret: str | None, signature: str | None, raw_body: bytes) -> None:
    """Raise Unauthorized unless X-Body-Signature matches the raw body."""
    if not client_secret:
        raise Unauthorized("Intercom client secret not configured")
    if not signature or not hmac.compare_digest(canvas_signature(client_secret, raw_body),
                                                signature.strip().lower()):
        raise Unauthorized("wrong or missing X-Body-Signature")


def verify_webhook(client_secret: str | None, signature: str | None, raw_body: bytes) -> None:
    """Raise Unauthorized unless X-Hub-Signature matches the raw body."""
    if not client_secret:
        raise Unauthorized("Intercom client secret not configured")
    if not signature or not hmac.compare_digest(webhook_signature(client_secret, raw_body),
                                                signature.strip().lower()):
        raise Unauthorized("wrong or missing X-Hub-Signature")
