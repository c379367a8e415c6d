"""One account's whole training run on real data: curation → retrieval-augmented LoRA →
escalation policy → mode choice and calibration on the validation slice.

Prints the validation table the mode choice was made on (adapter + retrieved replies, adapter
alone, plain retrieval: acceptable rate, decision accuracy, escalation F1, cosine,
specificity, raw-confidence AUC) and the training numbers, and writes
benchmarks/results/account_training_<dataset>.json. The holdout is not scored here (that is
the accuracy preview's job); these are validation numbers, the ones the product chooses on.

    .venv/bin/python benchmarks/account_training.py --data ../shared/data/canonical/tweetsumm.jsonl \\
        --minutes 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from plugin_backend import allocator
from trainer.config import TrainConfig
from trainer.device import describe, resident_gb
from trainer.embeddings import shared_embedder
from trainer.interaction import read_jsonl
from trainer.pipeline import PipelineOptions, train_account
from trainer.registry import AdapterRegistry

RESULTS = Path(__file__).with_name("results")
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Run the pipeline once and report."""
    # as `clonedesk train` runs: on CLONEDESK_ALLOCATOR's allocator (re-executes once)
    allocator.ensure(os.environ.get("CLONEDESK_ALLOCATOR", allocator.MIMALLOC))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=20.0, help="training-loop budget")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--validation-tickets", type=int, default=100)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "test-cache")
    parser.add_argument("--limit", type=int, default=None, help="first N tickets only")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop training after N steps (to time the other phases)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON result (default: results/account_training_<data>.json)")
    args = parser.parse_args()

    tickets = list(read_jsonl(str(args.data)))[: args.limit]
    config = TrainConfig(cache_dir=str(args.cache_dir), epochs=args.epochs,
                         max_minutes=args.minutes, max_steps=args.max_steps)
    # (seconds since start, resident GB now, the pipeline's log line)
    phases: list[tuple[float, float, str]] = []

    def log(line: str) -> None:
        phases.append((round(time.monotonic() - started, 1), round(resident_gb(), 2), line))
        print(f"  {phases[-1][0]:7.1f} s  {phases[-1][1]:5.2f} GB  {line}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        registry = AdapterRegistry(Path(tmp) / "adapters", "bench")
        started = time.monotonic()
        run = train_account(tickets, Path(tmp) / "work", registry, config, shared_embedder(),
                            PipelineOptions(max_validation_tickets=args.validation_tickets),
                            log=log)
        seconds = time.monotonic() - started
    meta = run.metadata
    modes = meta["validation"]["modes"]
    print(f"\n{args.data.name}: {len(tickets)} tickets, {meta['counts']['fit_examples']} training "
          f"examples; {run.train.steps} steps, {run.train.epochs_done:.2f} epochs, "
          f"{run.train.tokens_per_s:.0f} tokens/s, stopped by {run.train.stopped_by}; "
          f"total {seconds / 60:.1f} min")
    print(f"{'mode':<12} {'acceptable':>10} {'decision':>9} {'esc F1':>7} {'cosine':>7} "
          f"{'specific':>9} {'conf AUC':>9}")
    for mode, m in modes.items():
        auc = m["raw_confidence_auc"]
        print(f"{mode:<12} {m['acceptable_rate']:>10.1%} {m['decision_accuracy']:>9.1%} "
              f"{m['escalation']['f1']:>7.3f} {m['mean_cosine']:>7.3f} {m['specific_rate']:>9.1%} "
              f"{'-' if auc is None else f'{auc:.3f}':>9}")
    print(f"chosen: {meta['serving']['mode']}; escalation: {meta['serving']['policy']['reason']}")
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "python": platform.python_version()},
        "device": describe(config.device),
        "allocator": allocator.in_use(),
        "data": str(args.data), "tickets": len(tickets), "minutes": args.minutes,
        "seconds_total": round(seconds, 1),
        # the whole run's high-water mark (training, validation scoring, calibration)
        "peak_rss_gb_process": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "train": run.train.to_dict(), "counts": meta["counts"], "split": {
            k: v for k, v in meta["split"].items() if not k.endswith("_ids")},
        "serving": {"mode": meta["serving"]["mode"], "mode_reason": meta["serving"]["mode_reason"],
                    "policy": meta["serving"]["policy"]},
        "validation": meta["validation"],
        "log": phases,      # each log line's time and resident memory, by phase
    }
    if result["device"]["device"].startswith("cuda"):
        import torch

        result["gpu_peak_allocated_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"_{args.max_steps}steps" if args.max_steps else ""
    out = args.out or RESULTS / f"account_training_{args.data.stem}{suffix}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
