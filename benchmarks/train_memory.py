"""Resident memory of the training loop over a run, per memory allocator.

The training examples are an account's, built as the account pipeline builds them (curation,
split, retrieval-augmented prompts); each allocator then trains the same first ``--steps``
steps in its own process (``CLONEDESK_ALLOCATOR``: glibc's ``system``, ``mimalloc``, and
jemalloc where the system has ``libjemalloc.so.2``), sampling its resident memory every 20 ms:
per window of 10 steps, the highest value (a step's peak) and the value after the window's last
step. Writes benchmarks/results/train_memory.json.

    .venv/bin/python benchmarks/train_memory.py --data ../shared/data/canonical/bitext.jsonl \\
        --limit 2000 --steps 80
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from plugin_backend import allocator

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
WINDOW = 10


def training_pairs(data: Path, limit: int | None) -> list[Any]:
    """The (context, decision) pairs ``pipeline.train_account`` trains on for these tickets."""
    from trainer import pipeline
    from trainer.embeddings import MemoizedEncoder, shared_embedder
    from trainer.interaction import read_jsonl

    account = pipeline.account_data(list(read_jsonl(str(data)))[:limit])
    _, pairs = pipeline.training_pairs(account.fit_examples, MemoizedEncoder(shared_embedder()),
                                       pipeline.PipelineOptions())
    return pairs


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.steps`` steps on the pickled pairs under this process's allocator."""
    from trainer.config import TrainConfig
    from trainer.device import resident_gb
    from trainer.train import train_adapter

    pairs = pickle.loads(Path(args.pairs).read_bytes())
    peak = [0.0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], resident_gb())
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    windows: list[dict[str, float]] = []

    def progress(report: Any) -> None:
        windows.append({"step": report.step, "peak_gb": round(peak[0], 2),
                        "after_gb": round(resident_gb(), 2)})
        peak[0] = 0.0

    config = TrainConfig(cache_dir=str(args.cache_dir), max_steps=args.steps,
                         log_every=WINDOW)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_adapter(pairs, Path(tmp), config, progress)
    return {"allocator": allocator.in_use(), "tokens_per_s": round(result.tokens_per_s, 1),
            "steps": result.steps, "peak_rss_gb": round(result.peak_rss_mb / 1024, 2),
            "windows": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared" / "data" / "canonical" / "bitext.jsonl")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "test-cache")
    parser.add_argument("--allocators", default=None,
                        help="comma-separated CLONEDESK_ALLOCATOR values (default: system, "
                             "mimalloc, and jemalloc when installed)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        allocator.ensure(args.child)
        print(json.dumps(run_child(args)))
        return
    choices = args.allocators.split(",") if args.allocators else [allocator.SYSTEM,
                                                                    allocator.MIMALLOC]
    jemalloc = ctypes.util.find_library("jemalloc")
    if not args.allocators and jemalloc:
        found = [Path(d) / jemalloc for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64",
                                               "/usr/lib/aarch64-linux-gnu", "/usr/lib")]
        choices += [str(p) for p in found if p.is_file()][:1]
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "data": str(args.data), "tickets": args.limit, "steps": args.steps, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        pairs_file = Path(tmp) / "pairs.pkl"
        pairs_file.write_bytes(pickle.dumps(training_pairs(args.data, args.limit)))
        for choice in choices:
            out = subprocess.run(
                [sys.executable, __file__, "--child", choice, "--pairs", str(pairs_file),
                 "--steps", str(args.steps), "--cache-dir", str(args.cache_dir)],
                capture_output=True, text=True, check=True, cwd=REPO)
            run = json.loads(out.stdout.strip().splitlines()[-1])
            report["runs"].append(run)
            peaks = " ".join(f"{w['peak_gb']:.2f}" for w in run["windows"])
            print(f"{run['allocator']:<20} {run['tokens_per_s']:6.1f} tok/s  peak RSS "
                  f"{run['peak_rss_gb']:.2f} GB  step peaks per {WINDOW} steps: {peaks}",
                  flush=True)
    RESULTS.mkdir(exist_ok=True)
    out_file = RESULTS / "train_memory.json"
    out_file.write_text(json.dumps(report, indent=2))
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
