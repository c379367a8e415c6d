"""Zendesk at the edge: the signed-URL JWT of the sidebar and the webhook signature.

Signed URLs: with ``signedUrls: true`` Zendesk POSTs the sidebar's first load with a form
field ``token``, an RS256 JWT signed with the app's private key. We verify it with the
app's public key, pinned to RS256, and check ``exp``/``iat``, ``iss`` = ``{subdomain}
.zendesk.com`` and ``aud`` = ``https://{subdomain}.zendesk.com/api/v2/apps/installations/
{installation_id}.json``. The account then comes from the installation of that subdomain.

Webhooks: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret as UTF-8
bytes, timestamp + raw body)), with a replay window on
``X-Zendesk-Webhook-Signature-Timestamp``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from plugin_backend.errors import Unauthorized

ISSUER_RE = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})\.zendesk\.com$")
AUDIENCE_RE = re.compile(
    r"^https://([a-z0-9][a-z0-9-]{0,62})\.zendesk\.com/api/v2/apps/installations/(\d+)\.json$")
REPLAY_WINDOW_S = 300


@dataclass(frozen=True)
class SignedUrlClaims:
    """What a verified signed-URL token says: which Zendesk, which installation, which agent."""

    subdomain: str
    installation_id: str
    agent_id: str | None


def verify_signed_url(token: str, public_key_pem: bytes | str) -> SignedUrlClaims:
    """Verify a sidebar signed-URL token; Unauthorized on any failure (never a 500)."""
    import jwt

    try:
        claims = jwt.decode(token, public_key_pem, algorithms=["RS256"],
                            options={"require": ["exp", "iat", "iss", "aud"],
                                     "verify_aud": False}, leeway=30)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("signed URL token expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid signed URL token ({type(exc).__name__})") from None
    issuer = ISSUER_RE.match(str(claims.get("iss", "")))
    audience = AUDIENCE_RE.match(str(claims.get("aud", "")))
    if issuer is None or audience is None:
        raise Unauthorized("signed URL token has an unexpected issuer or audience")
    if audience.group(1) != issuer.group(1):
        raise Unauthorized("signed URL token audience belongs to another Zendesk account")
    sub = claims.get("sub")
    return SignedUrlClaims(subdomain=issuer.group(1), installation_id=audience.group(2),
                           agent_id=str(sub) if sub is not None else None)


def webhook_signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """The signature Zendesk sends for this timestamp and body."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + raw_body,
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook(secret: str, signature: str | None, timestamp: str | None,
                   raw_body: bytes, now: datetime | None = None,
                   window_s: int = REPLAY_WINDOW_S) -> None:
    """Raise Unauthorized unless the signature matches and the timestamp is recent."""
    if not signature or not timestamp:
        raise Unauthorized("missing Zendesk webhook signature headers")
    expected = webhook_signature(secret, timestamp, raw_body)
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("wrong Zendesk webhook signature")
    try:
        sent = datetime.fromisoformat(timestamp)
    except ValueError:
        raise Unauthorized("unreadable Zendesk webhook timestamp") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    age = abs(((now or datetime.now(UTC)) - sent).total_seconds())
    if age > window_s:
        raise Unauthorized("Zendesk webhook timestamp outside the replay window")
