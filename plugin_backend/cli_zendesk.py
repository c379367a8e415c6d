"""`clonedesk zendesk package|validate`: check and zip the Zendesk sidebar app (zendesk_app/).

Both work offline: they apply Zendesk's documented package rules themselves, where
``zcli apps:validate`` needs a Zendesk account. Upload the zip with ``zcli apps:create``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

APP_DIR = Path(__file__).resolve().parents[1] / "zendesk_app"
DEFAULT_OUTPUT = Path("dist") / "clonedesk-zendesk.zip"


@click.group()
def zendesk() -> None:
    """The Zendesk sidebar app package."""


@zendesk.command("package")
@click.option("--backend-url", required=True, metavar="URL",
              help="https base URL of the CloneDesk backend, e.g. https://clonedesk.acme.com")
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_OUTPUT, show_default=True, help="Zip file to write.")
@click.option("--app-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=APP_DIR, show_default=False, help="App folder (default: zendesk_app/).")
def package_cmd(backend_url: str, output: Path, app_dir: Path) -> None:
    """Validate the app and zip it with its sidebar pointed at the backend."""
    from plugin_backend.zendesk_package import (
        SIDEBAR_PATH,
        PackageError,
        build_package,
        normalise_backend_url,
    )

    try:
        base = normalise_backend_url(backend_url)
    except PackageError as exc:
        raise click.BadParameter(str(exc), param_hint="--backend-url") from None
    try:
        path = build_package(app_dir, output, base)
    except PackageError as exc:
        for problem in exc.problems:
            click.echo(f"{app_dir}: {problem}", err=True)
        click.echo(f"not packaged: {len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"wrote {path} (sidebar {base}{SIDEBAR_PATH})")
    click.echo(f"upload it with: npx @zendesk/zcli apps:create {path}")


@zendesk.command("validate")
@click.argument("app_dir", required=False, default=None,
                type=click.Path(file_okay=False, path_type=Path))
def validate_cmd(app_dir: Path | None) -> None:
    """Check APP_DIR (default: zendesk_app/) against Zendesk's package rules."""
    from plugin_backend.zendesk_package import validate_package

    app_dir = app_dir or APP_DIR
    problems = validate_package(app_dir)
    for problem in problems:
        click.echo(f"{app_dir}: {problem}", err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{app_dir}: valid")
