"""The apps' own short sessions, issued after a platform check (signed URL, signature).

A session is a signed, timestamped token (itsdangerous) carrying the tenant, the platform
and the agent; it is sent back as ``Authorization: Bearer``. The tenant comes only from
here — never from a parameter the browser could change.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plugin_backend.errors import Unauthorized

SESSION_MAX_AGE_S = 3600
_SALT = "clonedesk-app-session-v1"


@dataclass(frozen=True)
class AppSession:
    """Who is using an app: the account, the helpdesk, the agent."""

    tenant: str
    platform: str
    agent_id: str | None = None


def issue_session(secret: str, session: AppSession) -> str:
    """A token for this session, valid for SESSION_MAX_AGE_S seconds."""
    serializer = URLSafeTimedSerializer(secret, salt=_SALT)
    return str(serializer.dumps([session.tenant, session.platform, session.agent_id]))


def verify_session(secret: str, token: str, max_age_s: int = SESSION_MAX_AGE_S) -> AppSession:
    """The session a token carries; Unauthorized when forged, malformed or expired."""
    serializer = URLSafeTimedSerializer(secret, salt=_SALT)
    try:
        tenant, platform, agent_id = serializer.loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise Unauthorized("session expired: reopen the ticket to start a new one") from None
    except (BadSignature, ValueError, TypeError):
        raise Unauthorized("invalid session") from None
    return AppSession(tenant=tenant, platform=platform, agent_id=agent_id)
