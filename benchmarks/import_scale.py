"""Import throughput and memory at scale: 100,000 generated tickets, imported twice.

Prints the numbers and writes benchmarks/results/import_scale.json. Memory is the process's
peak RSS growth during the import (resource.getrusage) and the Python heap peak (tracemalloc):
flat memory means neither grows with the number of tickets.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

from plugin_backend.db import connect
from plugin_backend.importer import import_file

RESULTS = Path(__file__).with_name("results")


def write_tickets(path: Path, n: int) -> None:
    """Write n realistic-sized tickets (3 messages each)."""
    with open(path, "w") as out:
        out.writelines(json.dumps({
                "id": f"t{i}", "created_at": f"2026-0{1 + i % 9}-1{i % 10}T10:00:00Z",
                "category": f"cat{i % 11}", "status": "solved", "escalated": i % 20 == 0,
                "messages": [
                    {"role": "customer", "text": f"Order {i} has not arrived yet, " * 8},
                    {"role": "agent", "text": "Thanks for waiting, here is the tracking. " * 6},
                    {"role": "customer", "text": "Thanks!"}],
            }) + "\n" for i in range(n))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n: int, db_url: str | None, tmp: Path) -> dict:
    """Import n tickets twice and measure each pass."""
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "tickets.jsonl"
    write_tickets(data, n)
    sessions = connect(db_url or f"sqlite:///{tmp / 'bench.db'}")
    tenant = f"bench-{n}-{int(time.time())}"
    passes = []
    for label in ("first import", "re-import (upsert)"):
        rss_before = peak_rss_mb()
        tracemalloc.start()
        started = time.perf_counter()
        result = import_file(data, sessions, tenant, batch_size=500)
        seconds = time.perf_counter() - started
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        passes.append({"pass": label, "tickets": result.imported, "seconds": round(seconds, 1),
                       "tickets_per_s": round(result.imported / seconds),
                       "python_heap_peak_mb": round(heap_peak / 2**20, 1),
                       "peak_rss_growth_mb": round(peak_rss_mb() - rss_before, 1)})
        print(passes[-1])
    return {"n": n, "file_mb": round(data.stat().st_size / 2**20, 1), "passes": passes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = measure(args.tickets // 10, args.database_url, Path(tmp) / "small")
    with tempfile.TemporaryDirectory() as tmp:
        large = measure(args.tickets, args.database_url, Path(tmp) / "large")
    report = {"date": date.today().isoformat(), "machine": platform.platform(),
              "database": "postgresql" if args.database_url else "sqlite",
              "runs": [small, large]}
    RESULTS.mkdir(exist_ok=True)
    name = f"import_scale_{report['database']}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
