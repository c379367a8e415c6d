"""`clonedesk keys create|revoke` and `clonedesk connect zendesk|intercom`: an account's edges."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from plugin_backend.cli import _sessions, _settings


@click.group()
def keys() -> None:
    """Account API keys (for /api/v1)."""


@keys.command("create")
@click.option("--tenant", required=True, help="Account name.")
@click.pass_context
def keys_create(ctx: click.Context, tenant: str) -> None:
    """Create an API key and print it (shown once; only its hash is stored)."""
    from plugin_backend.accounts import create_api_key

    click.echo(_on_tenant(ctx, tenant, create_api_key))


@keys.command("revoke")
@click.option("--tenant", required=True, help="Account name.")
@click.pass_context
def keys_revoke(ctx: click.Context, tenant: str) -> None:
    """Revoke every API key of the account."""
    from plugin_backend.accounts import revoke_api_keys

    click.echo(f"{_on_tenant(ctx, tenant, revoke_api_keys)} key(s) revoked")


def _on_tenant(ctx: click.Context, tenant: str, action: Callable[[Any, Any], Any]) -> Any:
    """``action(session, tenant_row)`` in one transaction; an unknown account is a CLI error."""
    from plugin_backend.store import UnknownTenant, get_tenant

    with _sessions(_settings(ctx))() as session:
        try:
            return action(session, get_tenant(session, tenant))
        except UnknownTenant as exc:
            raise click.ClickException(str(exc)) from None


def _parse_map(pairs: tuple[str, ...], what: str) -> dict[str, int]:
    mapping = {}
    for pair in pairs:
        name, _, number = pair.rpartition("=")
        if not name or not number.isdigit():
            raise click.BadParameter(f"{pair!r}: use NAME=ID", param_hint=what)
        mapping[name] = int(number)
    return mapping


def _install(ctx: click.Context, tenant: str, platform: str, external_id: str,
             settings: dict[str, object], secrets: dict[str, object]) -> None:
    from plugin_backend.accounts import install
    from plugin_backend.store import UnknownTenant

    with _sessions(_settings(ctx))() as session:
        try:
            row = install(session, tenant, platform, external_id, settings,
                          {k: v for k, v in secrets.items() if v})
        except (UnknownTenant, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{platform} {external_id} -> account {tenant} "
                   f"(settings: {json.dumps(row.settings, sort_keys=True)}; "
                   f"secrets stored: {', '.join(sorted(row.secrets)) or 'none'})")


@click.group()
def connect() -> None:
    """Link an account to its Zendesk or Intercom (secrets are stored, never printed)."""


@connect.command("zendesk")
@click.option("--tenant", required=True, help="Account name.")
@click.option("--subdomain", required=True, help="The Zendesk subdomain (acme for "
                                                 "acme.zendesk.com).")
@click.option("--installation-id", help="The app installation id (signed-URL audience).")
@click.option("--webhook-secret", envvar="ZENDESK_WEBHOOK_SECRET",
              help="Signing secret of the CloneDesk webhook [env ZENDESK_WEBHOOK_SECRET].")
@click.option("--oauth-token", envvar="ZENDESK_OAUTH_TOKEN",
              help="OAuth access token [env ZENDESK_OAUTH_TOKEN].")
@click.option("--group", "groups", multiple=True, metavar="NAME=ID",
              help="Escalation group name → Zendesk group id (repeatable).")
@click.pass_context
def connect_zendesk(ctx: click.Context, tenant: str, subdomain: str, installation_id: str | None,
                    webhook_secret: str | None, oauth_token: str | None,
                    groups: tuple[str, ...]) -> None:
    """Link the account to a Zendesk subdomain."""
    settings: dict[str, object] = {"groups": _parse_map(groups, "--group")} if groups else {}
    if installation_id:
        settings["installation_id"] = installation_id
    _install(ctx, tenant, "zendesk", subdomain.lower(), settings,
             {"webhook_secret": webhook_secret, "oauth_token": oauth_token})


@connect.command("intercom")
@click.option("--tenant", required=True, help="Account name.")
@click.option("--workspace", required=True, help="The Intercom workspace (app) id.")
@click.option("--access-token", envvar="INTERCOM_ACCESS_TOKEN",
              help="OAuth access token [env INTERCOM_ACCESS_TOKEN].")
@click.option("--region", type=click.Choice(["us", "eu", "au"]), default="us",
              show_default=True)
@click.option("--team", "teams", multiple=True, metavar="NAME=ID",
              help="Escalation group name → Intercom team id (repeatable).")
@click.pass_context
def connect_intercom(ctx: click.Context, tenant: str, workspace: str, access_token: str | None,
                     region: str, teams: tuple[str, ...]) -> None:
    """Link the account to an Intercom workspace."""
    settings: dict[str, object] = {"region": region}
    if teams:
        settings["teams"] = _parse_map(teams, "--team")
    _install(ctx, tenant, "intercom", workspace, settings, {"access_token": access_token})
