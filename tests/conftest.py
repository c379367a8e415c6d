"""Shared fixtures: settings, real databases (SQLite and, when reachable, PostgreSQL), CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "canonical"
PG_URL = os.environ.get("CLONEDESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def shared_file(name: str) -> Path:
    """A file of ../shared/data/canonical, or skip the test with a visible reason."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data {path} is not present beside this checkout")
    return path


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """One model cache for the whole run, so the GGUF is converted once."""
    path = Path(os.environ.get("CLONEDESK_TEST_CACHE", REPO / "var" / "test-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 -- any failure means: not reachable here
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clonedesk.db'}"
        return
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sessions(db_url: str):  # type: ignore[no-untyped-def]
    """A migrated database's session factory."""
    from plugin_backend.db import connect

    factory = connect(db_url)
    yield factory
    factory.kw["bind"].dispose()


@pytest.fixture
def cli_env(tmp_path: Path, db_url: str, model_cache: Path) -> dict[str, str]:
    """Environment for running the CLI against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLONEDESK_")}
    env.pop("DATABASE_URL", None)
    env.update(CLONEDESK_HOME=str(tmp_path / "home"), DATABASE_URL=db_url,
               CLONEDESK_MODEL_CACHE=str(model_cache))
    return env


@pytest.fixture
def runner():  # type: ignore[no-untyped-def]
    """Click's CLI runner."""
    from click.testing import CliRunner

    return CliRunner()


TRAINED_TENANT = "acme"


@pytest.fixture(scope="session")
def trained_account(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> dict[str, Any]:
    """A demo account of 140 tickets imported into SQLite and trained for 3 steps (real
    base model, real LoRA run), shared by the CLI tests of training, suggestions and preview."""
    from click.testing import CliRunner

    from plugin_backend.cli import main
    from plugin_backend.demo_data import write_demo_dataset

    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLONEDESK_")}
    env.pop("DATABASE_URL", None)
    env.update(CLONEDESK_HOME=str(home), CLONEDESK_MODEL_CACHE=str(model_cache))
    data = write_demo_dataset(home / "acme.jsonl", n=140, seed=11)
    runner = CliRunner()
    imported = runner.invoke(main, ["import", "--tenant", TRAINED_TENANT, str(data)], env=env)
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(main, ["train", "--tenant", TRAINED_TENANT, "--max-steps", "3",
                                  "--validation-tickets", "6"], env=env)
    assert result.exit_code == 0, result.output
    return {"home": home, "env": env, "data": data, "runner": runner, "output": result.output}
