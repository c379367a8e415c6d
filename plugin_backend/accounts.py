"""How an account is recognised at the edge: API keys and helpdesk installations.

API keys are random tokens shown once and stored as SHA-256 digests. An installation links
the account to one Zendesk subdomain or Intercom workspace and keeps the platform's secrets
(webhook signing secret, OAuth token); secrets are never logged nor returned by an endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin_backend.db import ApiKey, Installation, Tenant, utcnow
from plugin_backend.store import get_tenant

KEY_PREFIX = "cdk_"
PLATFORMS = ("zendesk", "intercom")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(session: Session, tenant: Tenant) -> str:
    """A new API key for the tenant (committed); the only time the key itself is visible."""
    key = KEY_PREFIX + _secrets.token_urlsafe(32)
    session.add(ApiKey(tenant_id=tenant.id, key_hash=_digest(key), prefix=key[:10]))
    session.commit()
    return key


def tenant_for_api_key(session: Session, key: str) -> Tenant | None:
    """The tenant owning this (unrevoked) key, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = _digest(key)
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest,
                                              ApiKey.revoked_at.is_(None)))
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return session.get(Tenant, row.tenant_id)


def revoke_api_keys(session: Session, tenant: Tenant) -> int:
    """Revoke every key of the tenant; returns how many were active."""
    rows = list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant.id,
                                                     ApiKey.revoked_at.is_(None))))
    for row in rows:
        row.revoked_at = utcnow()
    session.commit()
    return len(rows)


def install(session: Session, tenant_name: str, platform: str, external_id: str,
            settings: dict[str, Any] | None = None,
            secrets: dict[str, Any] | None = None) -> Installation:
    """Link the tenant to a helpdesk account (update when already linked to this tenant)."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}")
    if not external_id or len(external_id) > 255:
        raise ValueError("the helpdesk account id must be 1-255 characters")
    tenant = get_tenant(session, tenant_name)
    row = find_installation(session, platform, external_id)
    if row is not None and row.tenant_id != tenant.id:
        raise ValueError(f"{platform} account {external_id!r} is linked to another CloneDesk "
                         f"account")
    if row is None:
        row = Installation(tenant_id=tenant.id, platform=platform, external_id=external_id,
                           settings={}, secrets={})
        session.add(row)
    row.settings = {**row.settings, **(settings or {})}
    row.secrets = {**row.secrets, **(secrets or {})}
    session.commit()
    return row


def find_installation(session: Session, platform: str, external_id: str) -> Installation | None:
    """The installation for a Zendesk subdomain / Intercom workspace id, or None."""
    return session.scalar(select(Installation).where(Installation.platform == platform,
                                                     Installation.external_id == external_id))


def installations_of(session: Session, tenant: Tenant) -> list[Installation]:
    """The tenant's installations."""
    return list(session.scalars(select(Installation).where(Installation.tenant_id == tenant.id)
                                .order_by(Installation.id)))
