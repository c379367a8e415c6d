"""`clonedesk serve` (development server) and `clonedesk worker` (RQ worker, warm model).

Production: ``gunicorn -w 4 -b 0.0.0.0:8000 'plugin_backend:create_app()'`` with
``REDIS_URL`` set, plus ``clonedesk worker`` processes on as many machines as needed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click

from plugin_backend.cli import _settings


def start_workers(count: int, redis_url: str) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker processes on this Redis (they inherit the environment)."""
    env = dict(os.environ, REDIS_URL=redis_url)
    return [subprocess.Popen([sys.executable, "-m", "plugin_backend", "worker"], env=env)
            for _ in range(count)]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """Ask workers to finish (SIGTERM: RQ's warm shutdown), then wait for them."""
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _open_redis(settings: Any) -> Any:
    """Logging on, then Redis (embedded when REDIS_URL is unset); a clean CLI error if not."""
    from plugin_backend.queue import open_redis

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    try:
        return open_redis(settings.redis_url, settings.home)
    except ConnectionError as exc:
        raise click.ClickException(str(exc)) from None


def run_server(settings: Any, host: str, port: int, workers: int | None,
               demo_tenant: str | None = None) -> None:
    """Serve the app until interrupted, with worker processes beside it; with the embedded
    Redis when REDIS_URL is unset (stopped on exit). ``demo_tenant`` adds the demo pages."""
    from plugin_backend import create_app
    from plugin_backend.queue import redact_url
    from plugin_backend.runtime import Runtime

    handle = _open_redis(settings)
    count = workers if workers is not None else (1 if handle.embedded is not None else 0)
    runtime = Runtime.build(settings, handle)
    config: dict[str, Any] = {"RUNTIME": runtime}
    if demo_tenant is not None:
        from plugin_backend import demo_site

        runtime.settings = demo_site.prepare(settings, runtime.sessions, demo_tenant)
        config.update(DEMO=True, DEMO_TENANT=demo_tenant)
    # SIGTERM (a process manager, `kill`) ends like Ctrl-C: workers and embedded Redis stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    procs = start_workers(count, handle.url)
    click.echo(f"Redis: {'embedded at ' if handle.embedded else ''}{redact_url(handle.url)}; "
               f"{count} worker process(es)", err=True)
    if demo_tenant is not None:
        click.echo(f"\nOpen http://{host}:{port}/demo/ — a stand-in Zendesk ticket view with "
                   f"the CloneDesk sidebar, and the Intercom canvas preview. Ctrl-C stops.")
    try:
        create_app(config).run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        stop_workers(procs)
        runtime.close()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Worker processes to start beside the server "
                   "[default: 1 with the embedded Redis, 0 with REDIS_URL].")
@click.option("--demo", "demo_tenant", default=None, metavar="TENANT",
              help="Also serve the demo pages for this (trained) account at /demo/.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int | None,
          demo_tenant: str | None) -> None:
    """Run the web app for development (Flask's server); see README for production."""
    run_server(_settings(ctx), host, port, workers, demo_tenant)


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--preload", type=click.IntRange(min=0), default=4, show_default=True,
              help="Before taking jobs, load the model and the adapters of this many "
                   "most recently promoted accounts (0: load on the first job).")
@click.pass_context
def worker(ctx: click.Context, burst: bool, preload: int) -> None:
    """Run an RQ worker: suggestions first, then ingestion/training jobs.

    Jobs run in this process (RQ SimpleWorker), so the base model and the accounts'
    adapters stay loaded between jobs. Without REDIS_URL it joins the embedded Redis of
    `clonedesk serve` under $CLONEDESK_HOME/redis.
    """
    from rq import SimpleWorker

    from plugin_backend import jobs
    from plugin_backend.queue import QUEUES, queue
    from plugin_backend.runtime import Runtime

    settings = _settings(ctx)
    handle = _open_redis(settings)
    runtime = Runtime.build(settings, handle)
    context = jobs.WorkerContext(runtime)
    jobs.configure(context)
    try:
        if preload:
            started = time.monotonic()
            warmed = context.pool.warm_up(limit=preload)
            click.echo(f"worker: warmed {len(warmed)} account(s) in "
                       f"{time.monotonic() - started:.1f} s: {', '.join(warmed) or '-'}")
        SimpleWorker([queue(runtime.redis, name) for name in QUEUES],
                     connection=runtime.redis).work(burst=burst, logging_level="INFO")
    finally:
        runtime.close()


