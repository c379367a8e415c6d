"""`clonedesk preview` (the holdout accuracy preview) and `clonedesk evaluate` (a labelled file).

Both score the tenant's current adapter version and the baselines on the same tickets, print a
readable summary (or the report JSON with ``--json``) and write the report as JSON and as a
self-contained HTML page under ``CLONEDESK_HOME/reports/<tenant>/``. ``preview`` also records
its headline numbers in the version's ``clonedesk.json`` (key ``preview``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from plugin_backend.cli import _sessions, _settings
from plugin_backend.cli_train import EXIT_NO_ADAPTER, read_tickets

EXIT_REJECTED = 3
_METHOD_HELP = ("Comma-separated baselines: rag_nearest, rag_base, base_zero_shot, "
                "typical_reply, typical_reply_category (default: all).")


def _methods(value: str | None) -> tuple[str, ...]:
    from trainer.baselines import BASELINES

    if not value:
        return BASELINES
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; choose from "
                                 f"{', '.join(BASELINES)}", param_hint="--baselines")
    return names


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _current_version(ctx: click.Context, tenant: str) -> tuple[Any, Any]:
    """The tenant's registry and current version; exits 4 when there is none."""
    from trainer.registry import AdapterRegistry, RegistryError

    try:
        registry = AdapterRegistry(_settings(ctx).adapters_dir, tenant)
    except RegistryError as exc:
        raise click.BadParameter(str(exc), param_hint="--tenant") from None
    current = registry.current()
    if current is None:
        click.echo(f"Error: account {tenant!r} has no promoted adapter: run "
                   f"`clonedesk train --tenant {tenant}` first", err=True)
        sys.exit(EXIT_NO_ADAPTER)
    return registry, current


def _score(ctx: click.Context, version: tuple[Any, Any], tickets: list[Any], source: str,
           max_tickets: int | None, methods: tuple[str, ...], stem: str,
           max_new_tokens: int = 160) -> tuple[dict[str, Any], Path, Path]:
    """Run the preview on ``tickets``; write ``<stem>.json`` and ``<stem>.html``."""
    from plugin_backend.preview_report import render_html
    from plugin_backend.suggesters import SuggesterPool
    from trainer.preview import PreviewOptions, run_preview
    from trainer.suggest import Account

    settings = _settings(ctx)
    service = SuggesterPool(settings)
    registry, current = version
    tenant = registry.tenant
    account = Account.load(current.path, f"{tenant}-{current.version}", service.embedder())
    # The adapter itself is always scored, so the model is always needed.
    backend, tokenizer = service.backend(), service.tokenizer()
    report = run_preview(tickets, account, {"version": current.version,
                                            "metadata": current.metadata},
                         backend, tokenizer, service.embedder(),
                         PreviewOptions(max_tickets=max_tickets, methods=methods,
                                        max_new_tokens=max_new_tokens),
                         source=source, log=lambda line: click.echo(f"  {line}", err=True))
    folder = settings.reports_dir / tenant
    json_path = folder / f"{current.version}-{stem}.json"
    html_path = folder / f"{current.version}-{stem}.html"
    _write_atomic(json_path, json.dumps(report, indent=1, ensure_ascii=False))
    _write_atomic(html_path, render_html(report))
    return report, json_path, html_path


def _summary(report: dict[str, Any]) -> list[str]:
    """The readable summary lines of a report."""
    from plugin_backend.preview_report import label

    o = report["methods"]["clonedesk"]["overall"]
    window = report["evaluated_window"]
    lines = [
        (f"accuracy preview — tenant {report['tenant']}, adapter {report['adapter_version']} "
        f"(served mode {report['mode']}; escalation signal "
        f"{report['escalation_signal']['signal']})"),
        (f"scored {report['counts']['scored']} {report['source']} tickets "
        f"({window['first_created_at'] or 'no dates'} → {window['last_created_at'] or ''})"),
    ]
    if o["threshold"] is None:
        lines.append("projected automated-resolution rate: 0.0% (no confidence threshold "
                     "reaches 90% acceptable suggestions)")
    else:
        lines.append(f"projected automated-resolution rate: "
                     f"{o['projected_automated_resolution_rate']:.1%} (confidence ≥ "
                     f"{o['threshold']:.3f}, where {o['precision']:.1%} were acceptable)")
    high = o["calibrated_at_0.9"]
    lines.append(f"calibrated confidence ≥ 0.9 on {high['share']:.1%} of tickets"
                 + (f", {high['precision']:.1%} of them acceptable"
                    if high["precision"] is not None else ""))
    lines.append("")
    lines.append(f"{'method':<32}{'acceptable':>11}{'automated':>11}{'decision':>10}"
                 f"{'esc F1':>8}{'cosine':>8}{'specific':>10}{'ECE':>7}")
    for name, m in report["methods"].items():
        x = m["overall"]
        lines.append(f"{label(name):<32}{x['acceptable_rate']:>11.1%}"
                     f"{x['projected_automated_resolution_rate']:>11.1%}"
                     f"{x['decision_accuracy']:>10.1%}{x['escalation']['f1']:>8.2f}"
                     f"{x['reply_quality']['mean_cosine']:>8.3f}"
                     f"{x['reply_quality']['specific_rate']:>10.1%}"
                     f"{x['confidence']['ece']:>7.3f}")
    lines.append("")
    names = list(report["methods"])
    lines.append("acceptable by category: " + " / ".join(label(n) for n in names[:3]))
    for category, n in report["categories"].items():
        rates = " / ".join(f"{report['methods'][m]['by_category'][category]['acceptable_rate']:.0%}"
                           for m in names[:3])
        lines.append(f"  {category[:30]:<30} {n:>5} tickets  {rates}")
    return lines


def _scoring_options(command: Any) -> Any:
    """The options `preview` and `evaluate` share."""
    for option in reversed((
        click.option("--json", "as_json", is_flag=True, help="Print the report JSON."),
        click.option("--max-tickets", type=click.IntRange(min=2), default=None,
                     help="Score at most this many tickets (an even spread of them)."),
        click.option("--baselines", "baselines_", default=None, help=_METHOD_HELP),
        click.option("--max-new-tokens", type=click.IntRange(min=8), default=160,
                     show_default=True, help="Longest generated reply."),
        click.pass_context,
    )):
        command = option(command)
    return command


def _print(report: dict[str, Any], json_path: Path, html_path: Path, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
        return
    for line in _summary(report):
        click.echo(line)
    click.echo(f"\nreport: {html_path}\njson:   {json_path}")


@click.command()
@click.option("--tenant", required=True, help="Account name.")
@_scoring_options
def preview(ctx: click.Context, tenant: str, as_json: bool, max_tickets: int | None,
            baselines_: str | None, max_new_tokens: int) -> None:
    """Score the current adapter and the baselines on the account's holdout tickets."""
    from plugin_backend.store import UnknownTenant, get_tenant, get_ticket

    methods = _methods(baselines_)
    settings = _settings(ctx)
    registry, current = _current_version(ctx, tenant)
    ids = current.metadata["split"]["holdout_ids"]
    with _sessions(settings)() as session:
        try:
            row = get_tenant(session, tenant)
        except UnknownTenant as exc:
            raise click.ClickException(str(exc)) from None
        tickets = [t for t in (get_ticket(session, row, i) for i in ids) if t is not None]
    if len(tickets) < len(ids):
        click.echo(f"  {len(ids) - len(tickets)} holdout tickets are no longer stored and "
                   "are not scored", err=True)
    try:
        report, json_path, html_path = _score(
            ctx, (registry, current), tickets, "holdout", max_tickets, methods, "preview", max_new_tokens)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    o = report["methods"]["clonedesk"]["overall"]
    registry.update_metadata(current.version, {"preview": {
        "generated_at": report["generated_at"], "tickets": report["counts"]["scored"],
        "acceptable_rate": o["acceptable_rate"],
        "projected_automated_resolution_rate": o["projected_automated_resolution_rate"],
        "decision_accuracy": o["decision_accuracy"], "escalation_f1": o["escalation"]["f1"],
        "baselines": {n: m["overall"]["acceptable_rate"] for n, m in report["methods"].items()
                      if n != "clonedesk"},
        "report_json": str(json_path), "report_html": str(html_path)}})
    _print(report, json_path, html_path, as_json)


@click.command()
@click.option("--tenant", required=True, help="Account name.")
@click.option("--input", "input_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled tickets in interaction JSONL v1 (each scored at its last agent "
                   "message).")
@_scoring_options
def evaluate(ctx: click.Context, tenant: str, input_path: Path, as_json: bool,
             max_tickets: int | None, baselines_: str | None, max_new_tokens: int) -> None:
    """Score the current adapter and the baselines on an external labelled file."""
    methods = _methods(baselines_)
    tickets, rejected = read_tickets(input_path, unique_ids=True)
    if not tickets:
        raise click.ClickException(f"{input_path} holds no valid tickets to score")
    try:
        report, json_path, html_path = _score(
            ctx, _current_version(ctx, tenant), tickets, f"file {input_path.name}", max_tickets, methods,
            f"evaluate-{input_path.stem}", max_new_tokens)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _print(report, json_path, html_path, as_json)
    if rejected:
        click.echo(f"{rejected} lines were rejected (see above)", err=True)
        sys.exit(EXIT_REJECTED)
