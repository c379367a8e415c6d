"""LoRA training speed on real tickets: tokens/s, peak RSS and steps, fp32 vs bf16 base.

    .venv/bin/python benchmarks/train_speed.py --minutes 2 --examples 400

Each run is its own process (so peak RSS is its own), with bf16 autocast; training tokens
are the non-padding tokens of the batches, timed over the training steps (model loading and
tokenising excluded). The variants alternate for --rounds rounds, and each run records the
share of the CPUs other processes took meanwhile: on a shared machine, compare the runs with
the least contention. Writes benchmarks/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from plugin_backend import allocator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "data" / "canonical" / "tweetsumm.jsonl"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "train_speed.json"
DEFAULT_CACHE = REPO / "var" / "test-cache"


def load_examples(path: Path, limit: int) -> list[Any]:
    """Inline curation: one example per agent message, context = the messages before it."""
    from trainer import prompt
    from trainer.interaction import read_jsonl

    examples = []
    for ticket in read_jsonl(str(path)):
        agent_positions = [i for i, m in enumerate(ticket.messages) if m.role == "agent"]
        for position in agent_positions:
            history = ticket.messages[:position]
            if not any(m.role == "customer" for m in history):
                continue
            text = ticket.messages[position].text
            if ticket.escalated and position == agent_positions[-1]:
                decision = prompt.Decision("escalate", text, reason="handed off")
            else:
                decision = prompt.Decision("reply", text)
            context = prompt.Context(messages=history, subject=ticket.subject,
                                     channel=ticket.channel, category=ticket.category)
            examples.append((context, decision))
            if len(examples) >= limit:
                return examples
    return examples


def context_budget(args: argparse.Namespace) -> int:
    """The account default (320), or three quarters of a smaller --max-tokens."""
    from trainer.config import TrainConfig

    return min(TrainConfig.context_budget, args.max_tokens * 3 // 4)


def padding_efficiency(args: argparse.Namespace) -> dict[str, float]:
    """Share of real (non-pad) tokens in the batches: length-bucketed vs plain shuffled."""
    import random

    from transformers import AutoTokenizer

    from trainer import base_model
    from trainer.config import TrainConfig
    from trainer.train import batch_order, encode_example

    config = TrainConfig(cache_dir=str(args.cache_dir), batch_size=args.batch_size,
                         max_tokens=args.max_tokens, context_budget=context_budget(args))
    tokenizer = AutoTokenizer.from_pretrained(base_model.resolve(config.base_model,
                                                                 args.cache_dir))
    lengths = [len(encode_example(tokenizer, c, d, config)[0])
               for c, d in load_examples(args.data, args.examples)]
    steps = len(lengths) // args.batch_size
    shuffled = list(range(len(lengths)))
    random.Random(0).shuffle(shuffled)
    plain = [shuffled[i: i + args.batch_size] for i in range(0, steps * args.batch_size,
                                                              args.batch_size)]

    def efficiency(batches: list[list[int]]) -> float:
        real = sum(lengths[i] for b in batches for i in b)
        return real / sum(len(b) * max(lengths[i] for i in b) for b in batches)

    return {"mean_tokens_per_example": sum(lengths) / len(lengths),
            "bucketed": efficiency(batch_order(lengths, args.batch_size, steps, 0)),
            "shuffled": efficiency(plain)}


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    """Train one variant in this process and return its numbers."""
    import torch

    from trainer.config import TrainConfig
    from trainer.train import train_adapter

    if args.threads:
        torch.set_num_threads(args.threads)
    examples = load_examples(args.data, args.examples)
    config = TrainConfig(cache_dir=str(args.cache_dir), base_dtype=args.variant,
                         context_budget=context_budget(args),
                         batch_size=args.batch_size, max_tokens=args.max_tokens,
                         max_minutes=args.minutes, max_steps=args.steps, epochs=100.0,
                         log_every=10)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_adapter(examples, Path(tmp), config,
                               lambda r: print(f"  [{args.variant}] step {r.step} loss "
                                               f"{r.loss:.3f} {r.tokens_per_s:.0f} tok/s",
                                               file=sys.stderr, flush=True))
    numbers = result.to_dict()
    numbers.pop("adapter_dir")
    numbers.update(base_dtype=args.variant, torch_threads=torch.get_num_threads(),
                   examples=len(examples))
    return numbers


def busy_cpu_seconds() -> float:
    """CPU seconds all processes of this machine have used since boot (from /proc/stat)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_child(variant: str) -> dict[str, Any]:
    """One variant in a fresh process, with how much CPU other processes took meanwhile."""
    started, busy = time.monotonic(), busy_cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--variant", variant],
                           check=True, stdout=subprocess.PIPE, text=True)
    numbers: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    others = max(0.0, busy_cpu_seconds() - busy - own)
    numbers.update(wall_s=wall, cpu_s=own,
                   other_processes_cpu_share=others / (wall * (os.cpu_count() or 1)))
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="per variant, split over the rounds")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate the variants this many times (fairer on a shared box)")
    parser.add_argument("--steps", type=int, default=None, help="per run (overrides minutes)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--variants", default="fp32,bf16")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    choice = os.environ.get("CLONEDESK_ALLOCATOR", allocator.MIMALLOC)
    if args.variant:
        allocator.ensure(choice)    # as `clonedesk train` runs (re-executes this child once)
        args.minutes = args.minutes / args.rounds
        print(json.dumps(run_variant(args)))
        return
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                     if k != "variant"},
        "allocator": choice,
        "padding_efficiency": padding_efficiency(args),
        "runs": [],
    }
    print(f"padding efficiency: {report['padding_efficiency']}")
    variants = args.variants.split(",")
    for round_number in range(1, args.rounds + 1):
        for variant in variants:
            numbers = run_child(variant)
            numbers["round"] = round_number
            report["runs"].append(numbers)
            print(f"round {round_number} {variant}: {numbers['tokens_per_s']:.0f} tok/s, "
                  f"{numbers['steps']} steps, "
                  f"peak RSS {numbers['peak_rss_mb']:.0f} MB, other processes took "
                  f"{100 * numbers['other_processes_cpu_share']:.0f}% of the CPUs", flush=True)
    report["summary"] = {}
    for variant in variants:
        runs = [r for r in report["runs"] if r["base_dtype"] == variant]
        best = min(runs, key=lambda r: r["other_processes_cpu_share"])
        report["summary"][variant] = {
            "tokens_per_s_best": max(r["tokens_per_s"] for r in runs),
            "tokens_per_s_least_contended": best["tokens_per_s"],
            "least_contended_other_share": best["other_processes_cpu_share"],
            "tokens_per_s_all": [round(r["tokens_per_s"], 1) for r in runs],
            "steps": sum(r["steps"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        }
        print(f"{variant}: {report['summary'][variant]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
