"""Account admin endpoints (API key): model versions, rollback, the accuracy preview, events.

Everything here is scoped by the key's account; another account's data is unreachable.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select

from plugin_backend.api import api_tenant, runtime
from plugin_backend.db import EventRow
from plugin_backend.errors import Conflict, NotFound
from trainer.registry import AdapterRegistry, RegistryError

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


def _registry(tenant: str) -> AdapterRegistry:
    return AdapterRegistry(runtime().settings.adapters_dir, tenant)


@bp.get("/adapters")
def adapters() -> Any:
    """The account's adapter versions, the current and the previous one."""
    tenant = api_tenant()
    registry = _registry(tenant.name)
    current, previous = registry.current(), registry.previous()
    rows = [{"version": v.version,
             "created_at": v.metadata.get("created_at"),
             "mode": (v.metadata.get("serving") or {}).get("mode"),
             "current": current is not None and v.version == current.version,
             "previous": previous is not None and v.version == previous.version}
            for v in registry.versions()]
    return jsonify({"versions": rows})


@bp.post("/adapters/rollback")
def rollback() -> Any:
    """One-step rollback to the previous version."""
    tenant = api_tenant()
    try:
        restored = _registry(tenant.name).rollback()
    except RegistryError as exc:
        raise Conflict(str(exc)) from None
    return jsonify({"current": restored.version})


@bp.get("/preview")
def preview() -> Any:
    """The current version's accuracy-preview report (HTML), when one was run."""
    tenant = api_tenant()
    current = _registry(tenant.name).current()
    if current is None:
        raise NotFound("no trained model yet")
    path = runtime().settings.reports_dir / tenant.name / f"{current.version}-preview.html"
    if not path.is_file():
        raise NotFound(f"no preview for {current.version}: run "
                       f"`clonedesk preview --tenant {tenant.name}`")
    return Response(path.read_text(encoding="utf-8"), mimetype="text/html")


@bp.get("/events/summary")
def events_summary() -> Any:
    """Event counts by kind (all time) for this account."""
    tenant = api_tenant()
    with runtime().sessions() as session:
        rows = session.execute(select(EventRow.kind, func.count())
                               .where(EventRow.tenant_id == tenant.id)
                               .group_by(EventRow.kind)).all()
    return jsonify({"events": {kind: count for kind, count in rows}})
