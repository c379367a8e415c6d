"""Training speed by ``micro_batch_tokens`` (tokens per forward/backward pass) on the device
the trainer picks, with an account's real training pairs.

The pairs are the account pipeline's for the first ``--limit`` tickets of ``--data`` (or a
pickle of them, ``--pairs``, written here with ``--write-pairs`` where the embedder is
installed). The settings alternate, the first run a warm-up, each ``--steps`` steps.
``--random-weights-like DIR`` trains a randomly initialised model of DIR's architecture and
tokenizer instead of the configured base model, for a machine the weights cannot reach (the
values of the weights do not change the work of a step). Writes
benchmarks/results/train_passes.json (or ``--out``).

    .venv/bin/python benchmarks/train_passes.py --data ../shared/data/canonical/bitext.jsonl \\
        --steps 40 --settings 1024,1024,2048,1024,2048
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
from datetime import date
from pathlib import Path

from train_memory import training_pairs  # the account pipeline's pairs (benchmarks/)

REPO = Path(__file__).resolve().parents[1]


def random_base(like: Path, target: Path) -> str:
    """A randomly initialised bf16 model of ``like``'s config, saved with its tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(like),
                                             dtype=torch.bfloat16)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(like).save_pretrained(target)
    return str(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared" / "data" / "canonical" / "bitext.jsonl")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--pairs", type=Path, help="pickled pairs (instead of --data)")
    parser.add_argument("--write-pairs", type=Path, help="pickle the pairs here and stop")
    parser.add_argument("--random-weights-like", type=Path)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--settings", default="1024,1024,2048,1024,2048")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "test-cache")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" /
                        "train_passes.json")
    args = parser.parse_args()

    pairs = (pickle.loads(args.pairs.read_bytes()) if args.pairs
             else training_pairs(args.data, args.limit))
    if args.write_pairs:
        args.write_pairs.write_bytes(pickle.dumps(pairs))
        print(f"wrote {len(pairs)} pairs to {args.write_pairs}")
        return

    import torch

    from trainer.config import TrainConfig
    from trainer.device import describe
    from trainer.train import train_adapter

    work = Path(tempfile.mkdtemp(prefix="train-passes-"))
    base = (random_base(args.random_weights_like, work / "base")
            if args.random_weights_like else TrainConfig().base_model)
    runs = []
    for setting in [int(s) for s in args.settings.split(",")]:
        config = TrainConfig(base_model=base, cache_dir=str(args.cache_dir),
                             max_steps=args.steps, micro_batch_tokens=setting,
                             checkpoint_every_steps=0, log_every=args.steps)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        with tempfile.TemporaryDirectory() as tmp:
            result = train_adapter(pairs, Path(tmp), config)
        run = {"micro_batch_tokens": setting, "steps": result.steps,
               "tokens_per_s": round(result.tokens_per_s, 1),
               "s_per_step": round(result.train_tokens / result.steps / result.tokens_per_s, 3),
               "gpu_peak_gb": (round(torch.cuda.max_memory_allocated() / 2**30, 2)
                               if torch.cuda.is_available() else None)}
        runs.append(run)
        print(run, flush=True)
    report = {"date": date.today().isoformat(), "device": describe(),
              "weights": "random" if args.random_weights_like else "base model",
              "pairs": len(pairs), "runs": runs, "first_run": "warm-up"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
