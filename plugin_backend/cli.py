"""`clonedesk` command line. Heavy modules are imported inside commands: --help stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from plugin_backend.config import Settings

EXIT_REJECTED = 3


def _settings(ctx: click.Context) -> Settings:
    from plugin_backend.config import Settings

    if ctx.obj is None:
        try:
            ctx.obj = Settings.from_env()
        except ValueError as exc:
            raise click.UsageError(f"configuration: {exc}") from None
    return ctx.obj


def _sessions(settings: Settings) -> Any:
    from plugin_backend.db import connect

    return connect(settings.db_url)


# Commands whose process loads the models: they run on CLONEDESK_ALLOCATOR's allocator.
MODEL_COMMANDS = frozenset({"demo", "train", "suggest", "preview", "evaluate", "serve",
                            "worker", "models"})


def _is_program() -> bool:
    """Whether this process is the ``clonedesk`` program (console script or ``python -m
    plugin_backend``), not a program that calls ``main`` (a test's CliRunner): only the
    program itself may be re-executed."""
    started = Path(sys.argv[0])
    return started.name == "clonedesk" or (started.name == "__main__.py"
                                           and started.parent.name == "plugin_backend")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """CloneDesk: learn how your best agents reply and escalate, then suggest it."""
    if ctx.invoked_subcommand in MODEL_COMMANDS and _is_program():
        from plugin_backend.allocator import AllocatorError, ensure

        try:
            ensure(_settings(ctx).allocator)   # may re-execute this process (see allocator)
        except AllocatorError as exc:
            raise click.UsageError(str(exc)) from None


@main.command("import")
@click.option("--tenant", required=True, help="Account name (created if new).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_cmd(ctx: click.Context, tenant: str, file: Path) -> None:
    """Import tickets from an interaction JSONL v1 FILE (idempotent upsert by id)."""
    from plugin_backend.importer import import_file
    from plugin_backend.store import validate_tenant_name

    try:
        validate_tenant_name(tenant)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from None
    settings = _settings(ctx)
    result = import_file(file, _sessions(settings), tenant, settings.import_batch)
    for error in result.errors:
        click.echo(f"{file}:{error.line}: rejected: {error.reason}", err=True)
    if result.rejected > len(result.errors):
        click.echo(f"… and {result.rejected - len(result.errors)} more rejected lines", err=True)
    click.echo(f"tenant {tenant}: {result.inserted} inserted, {result.updated} updated, "
               f"{result.rejected} rejected ({result.lines} lines read)")
    if result.rejected:
        click.echo(f"{result.rejected} records were rejected; the valid rest was imported.",
                   err=True)
        sys.exit(EXIT_REJECTED)


@main.group()
def tickets() -> None:
    """Inspect stored tickets."""


@tickets.command("stats")
@click.option("--tenant", required=True, help="Account name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def tickets_stats(ctx: click.Context, tenant: str, as_json: bool) -> None:
    """Print ticket counts by status, category and escalation."""
    import json
    from dataclasses import asdict

    from plugin_backend.store import UnknownTenant, get_tenant, ticket_stats

    sessions = _sessions(_settings(ctx))
    with sessions() as session:
        try:
            stats = ticket_stats(session, get_tenant(session, tenant))
        except UnknownTenant as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(asdict(stats), indent=2))
        return
    click.echo(f"tenant {tenant}: {stats.total} tickets")
    for title, counts in (("status", stats.by_status), ("category", stats.by_category),
                          ("escalation", stats.by_escalation)):
        click.echo(f"\nby {title}:")
        for key, count in counts.items():
            click.echo(f"  {key:<30} {count:>8}")


@main.group()
def models() -> None:
    """Manage the base model and embeddings."""


@models.command("prepare")
@click.option("--force", is_flag=True, help="Convert again even when cached.")
@click.pass_context
def models_prepare(ctx: click.Context, force: bool) -> None:
    """Convert the embedded base model to cached safetensors and check the embeddings."""
    import time

    from trainer import base_model, embeddings

    settings = _settings(ctx)
    started = time.monotonic()
    try:
        if settings.base_model == base_model.EMBEDDED_BASE_MODEL:
            path = base_model.prepare_embedded(settings.cache_dir, force=force)
            click.echo(f"base model: {settings.base_model} -> {path.resolve()}")
        else:
            click.echo(f"base model: {settings.base_model} (used as given; nothing to convert)")
        click.echo(f"embeddings: all-MiniLM-L6-v2 at {embeddings.model_dir()}")
    except (base_model.BaseModelError, embeddings.EmbeddingModelMissing) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ready in {time.monotonic() - started:.1f} s")


@main.command("settings")
def settings_cmd() -> None:
    """List every setting: environment variable, default, meaning."""
    from plugin_backend.config import settings_table

    for env, default, meaning in settings_table():
        click.echo(f"{env:<28} {default:<34} {meaning}")


def _register_optional_commands() -> None:
    """Attach commands that live in their own modules (demo, training, serving)."""
    from plugin_backend import (
        cli_accounts,
        cli_demo,
        cli_preview,
        cli_serve,
        cli_train,
        cli_zendesk,
    )

    main.add_command(cli_demo.demo)
    main.add_command(cli_train.train)
    main.add_command(cli_train.suggest)
    main.add_command(cli_train.adapters)
    main.add_command(cli_preview.preview)
    main.add_command(cli_preview.evaluate)
    main.add_command(cli_serve.serve)
    main.add_command(cli_serve.worker)
    main.add_command(cli_accounts.keys)
    main.add_command(cli_accounts.connect)
    main.add_command(cli_zendesk.zendesk)


_register_optional_commands()
