"""`clonedesk train`, `clonedesk suggest` and `clonedesk adapters list|promote|rollback`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from plugin_backend.cli import _sessions, _settings

EXIT_NO_ADAPTER = 4


def _tenant_tickets(ctx: click.Context, tenant: str) -> list[Any]:
    from plugin_backend.store import UnknownTenant, get_tenant, iter_tickets

    sessions = _sessions(_settings(ctx))
    with sessions() as session:
        try:
            return list(iter_tickets(session, get_tenant(session, tenant)))
        except UnknownTenant as exc:
            raise click.ClickException(str(exc)) from None


class _Bar:
    """A one-line progress bar on stderr: step, loss, tokens/s, ETA."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, p: Any) -> None:
        width = 24
        filled = int(width * p.step / max(p.total_steps, 1))
        eta = f"{int(p.eta_s // 60)}:{int(p.eta_s % 60):02d}"
        line = (f"[{'#' * filled}{'.' * (width - filled)}] step {p.step}/{p.total_steps} "
                f"epoch {p.epoch:.2f} loss {p.loss:.3f} {p.tokens_per_s:.0f} tok/s ETA {eta}")
        click.echo(("\r" + line) if self.tty else line, err=True, nl=not self.tty)

    def close(self) -> None:
        if self.tty:
            click.echo("", err=True)


@click.command()
@click.option("--tenant", required=True, help="Account name.")
@click.option("--max-minutes", type=click.FloatRange(min=0.1), default=None,
              help="Time budget of the training loop; it stops cleanly with a usable adapter.")
@click.option("--epochs", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Passes over the curated examples (fractions allowed).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Stop after this many optimizer steps.")
@click.option("--validation-tickets", type=click.IntRange(min=1), default=100, show_default=True,
              help="At most this many validation tickets are scored to choose the mode.")
@click.option("--validation-max-new-tokens", type=click.IntRange(min=8), default=None,
              help="Tokens generated per validation ticket when the adapter modes are scored "
                   "[default: the serving limit, 160].")
@click.option("--no-promote", is_flag=True, help="Register the new version without promoting it.")
@click.pass_context
def train(ctx: click.Context, tenant: str, max_minutes: float | None, epochs: float,
          max_steps: int | None, validation_tickets: int, no_promote: bool,
          validation_max_new_tokens: int | None = None) -> None:
    """Train the account's adapter on its curated tickets minus the holdout (newest 20%).

    Killed and started again with the same data and options, it resumes from its last
    checkpoint. A version is registered only once complete.
    """
    from trainer.config import TrainConfig
    from trainer.embeddings import shared_embedder
    from trainer.pipeline import NotEnoughData, PipelineOptions, train_account
    settings = _settings(ctx)
    tickets = _tenant_tickets(ctx, tenant)
    registry = _registry(ctx, tenant)
    config = TrainConfig(base_model=settings.base_model, cache_dir=str(settings.cache_dir),
                         epochs=epochs, max_minutes=max_minutes, max_steps=max_steps,
                         device=settings.device)
    bar = _Bar()
    click.echo(f"tenant {tenant}: {len(tickets)} tickets")
    try:
        run = train_account(tickets, settings.home / "training" / tenant, registry, config,
                            shared_embedder(),
                            PipelineOptions(max_validation_tickets=validation_tickets,
                                            **({"max_new_tokens": validation_max_new_tokens}
                                               if validation_max_new_tokens else {})),
                            progress=bar,
                            log=lambda line: click.echo(f"  {line}", err=True),
                            promote=not no_promote)
    except NotEnoughData as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    meta, result = run.metadata, run.train
    click.echo(f"trained {result.steps} steps ({result.epochs_done:.2f} epochs, "
               f"{result.tokens_per_s:.0f} tokens/s, stopped by {result.stopped_by}; "
               f"loss {result.final_loss:.3f})")
    serving = meta["serving"]
    click.echo(f"escalation: {serving['policy']['signal']} at "
               f"{serving['policy']['threshold']:.3f} — {serving['policy']['reason']}")
    click.echo(f"default mode: {serving['mode']} — {serving['mode_reason']}")
    state = "promoted" if run.promoted else "registered (not promoted)"
    click.echo(f"version {run.version} {state}: {registry.get(run.version).path}")


def read_tickets(path: Path, unique_ids: bool = False) -> tuple[list[Any], int]:
    """The valid tickets of an interaction JSONL file and how many lines were rejected; each
    rejected line is reported on stderr as ``FILE:LINE: rejected: REASON``. With
    ``unique_ids`` a repeated id is rejected too."""
    from trainer.interaction import InvalidTicket, parse_line

    tickets, rejected, seen = [], 0, set()
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                ticket = parse_line(line)
                if unique_ids and ticket.id in seen:
                    raise InvalidTicket(f"duplicate id {ticket.id!r}")
            except InvalidTicket as exc:
                click.echo(f"{path}:{number}: rejected: {exc}", err=True)
                rejected += 1
                continue
            seen.add(ticket.id)
            tickets.append(ticket)
    return tickets, rejected


@click.command()
@click.option("--tenant", required=True, help="Account name.")
@click.option("--input", "input_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Tickets in interaction JSONL v1.")
@click.option("--output", "output_path", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Where to write one suggestion per input ticket (JSONL).")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True,
              help="Tickets per batch.")
@click.pass_context
def suggest(ctx: click.Context, tenant: str, input_path: Path, output_path: Path,
            batch: int) -> None:
    """Suggest the next agent message for every ticket of an interaction JSONL file."""
    from plugin_backend.suggesters import NoAdapter, SuggesterPool

    service = SuggesterPool(_settings(ctx))
    try:
        suggester = service.suggester(tenant)
    except NoAdapter as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_NO_ADAPTER)
    tickets, rejected = read_tickets(input_path)
    tmp = output_path.with_name(output_path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for start in range(0, len(tickets), batch):
            for s in suggester.suggest(tickets[start:start + batch]):
                row = {"id": s.ticket_id, **{k: v for k, v in s.to_dict().items()
                                              if k != "ticket_id"}}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            click.echo(f"  {min(start + batch, len(tickets))}/{len(tickets)}", err=True)
    tmp.replace(output_path)
    click.echo(f"{len(tickets)} suggestions written to {output_path} ({rejected} rejected)")
    if rejected:
        sys.exit(3)


@click.group()
def adapters() -> None:
    """List, promote and roll back an account's adapter versions."""


def _registry(ctx: click.Context, tenant: str) -> Any:
    from trainer.registry import AdapterRegistry, RegistryError

    try:
        return AdapterRegistry(_settings(ctx).adapters_dir, tenant)
    except RegistryError as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from None


@adapters.command("list")
@click.option("--tenant", required=True, help="Account name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def adapters_list(ctx: click.Context, tenant: str, as_json: bool) -> None:
    """Every version, oldest first, with its mode, counts and validation numbers."""
    registry = _registry(ctx, tenant)
    current, previous = registry.current(), registry.previous()
    rows = []
    for v in registry.versions():
        meta = v.metadata
        mode = meta.get("serving", {}).get("mode")
        val = meta.get("validation", {}).get("modes", {}).get(mode or "", {})
        rows.append({"version": v.version, "created_at": meta.get("created_at"),
                     "current": current is not None and v.version == current.version,
                     "previous": previous is not None and v.version == previous.version,
                     "mode": mode, "examples": meta.get("counts", {}).get("fit_examples"),
                     "validation_acceptable_rate": val.get("acceptable_rate"),
                     "path": str(v.path)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"tenant {tenant}: no adapter versions yet")
        return
    for r in rows:
        mark = "*" if r["current"] else ("<" if r["previous"] else " ")
        rate = r["validation_acceptable_rate"]
        click.echo(f"{mark} {r['version']}  {r['created_at'] or '':<32} mode {r['mode']:<11} "
                   f"examples {r['examples']}  validation acceptable "
                   f"{'-' if rate is None else f'{rate:.1%}'}")
    click.echo("(* current, < previous: the rollback target)")


@adapters.command("promote")
@click.option("--tenant", required=True, help="Account name.")
@click.argument("version")
@click.pass_context
def adapters_promote(ctx: click.Context, tenant: str, version: str) -> None:
    """Make VERSION (e.g. v0003 or 3) current."""
    from trainer.registry import RegistryError

    try:
        entry = _registry(ctx, tenant).promote(version)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"tenant {tenant}: {entry.version} is current")


@adapters.command("rollback")
@click.option("--tenant", required=True, help="Account name.")
@click.pass_context
def adapters_rollback(ctx: click.Context, tenant: str) -> None:
    """Swap back to the previous version (one step)."""
    from trainer.registry import RegistryError

    try:
        entry = _registry(ctx, tenant).rollback()
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"tenant {tenant}: rolled back to {entry.version}")
