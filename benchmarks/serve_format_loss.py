"""How well an adapter fits the prompts it will see when suggesting: the answer-token loss on
an account's validation examples, rendered exactly as at suggestion time, before and after a
short training run on the account's own training pairs.

The account pipeline's data (time order, splits, curation, retrieval-augmented pairs) for the
first ``--limit`` tickets of ``--data``; the validation tickets' examples get the 3 most
similar past replies (no dropout) and the full ``context_budget``, with no length cut, as
``Suggester`` builds them. Run it on two commits to compare how they build training examples
(same seed, same steps). Writes benchmarks/results/serve_format_loss.json (or ``--out``).

    .venv/bin/python benchmarks/serve_format_loss.py --data ../shared/data/canonical/bitext.jsonl \\
        --limit 2000 --steps 60
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def serve_loss(model: Any, tokenizer: Any, pairs: list[Any], budget: int) -> float:
    """Mean answer-token cross-entropy of ``pairs``, each prompt rendered as at suggestion time."""
    import torch

    from trainer import prompt
    from trainer.suggest import token_counter

    count_tokens = token_counter(tokenizer)
    total, tokens = 0.0, 0
    model.eval()
    for context, decision in pairs:
        prompt_ids = tokenizer(prompt.chat_prompt(
            tokenizer, prompt.render_context(context, count_tokens, budget)),
            add_special_tokens=False)["input_ids"]
        answer = tokenizer(prompt.render_target(decision),
                           add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([prompt_ids + answer], device=model.device)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1:-1].float()
        target = torch.tensor(answer, device=model.device)
        total += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
        tokens += len(answer)
    return total / tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "test-cache")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_format_loss.json")
    args = parser.parse_args()

    from trainer import base_model, pipeline
    from trainer.config import TrainConfig
    from trainer.embeddings import MemoizedEncoder, shared_embedder
    from trainer.interaction import read_jsonl
    from trainer.train import encode_example, train_adapter

    code = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                     check=True, capture_output=True, text=True).stdout.strip(),
            "dirty": bool(subprocess.run(["git", "status", "--porcelain", "--", "trainer"],
                                         cwd=REPO, check=True, capture_output=True,
                                         text=True).stdout.strip())}
    tickets = list(read_jsonl(str(args.data)))[: args.limit]
    account = pipeline.account_data(tickets)
    options = pipeline.PipelineOptions()
    fit_index, pairs = pipeline.training_pairs(account.fit_examples,
                                               MemoizedEncoder(shared_embedder()), options)
    validation_ids = {t.id for t in account.inner.holdout}
    held = [e for e in account.curation.examples if e.ticket_id in validation_ids]
    held = pipeline.rag_examples(held, fit_index, options.rag_k)
    held_pairs = [(e.context, e.decision) for e in held if e.decision is not None]

    config = TrainConfig(cache_dir=str(args.cache_dir), max_steps=args.steps,
                         checkpoint_every_steps=0)
    model, tokenizer = base_model.load(config.base_model, args.cache_dir, device=config.device)
    encoded = [encode_example(tokenizer, c, d, config) for c, d in pairs]
    prompt_len = [sum(1 for label in labels if label == -100) for _, labels in encoded]
    starts = sum(1 for ids, _ in encoded
                 if tokenizer.decode(ids[:3]).startswith("<|im_start|>system"))
    before = serve_loss(model, tokenizer, held_pairs, config.context_budget)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_adapter(pairs, Path(tmp), config, base=(model, tokenizer))
    after = serve_loss(model, tokenizer, held_pairs, config.context_budget)
    report = {
        "date": date.today().isoformat(), **code,
        "machine": platform.platform(), "data": str(args.data), "tickets": len(tickets),
        "training_examples": len(encoded),
        "training_tokens": sum(len(ids) for ids, _ in encoded),
        "training_examples_starting_with_the_system_turn": starts,
        "mean_prompt_tokens": round(sum(prompt_len) / len(prompt_len), 1),
        "validation_examples": len(held_pairs), "steps": result.steps,
        "train_loss_last_window": round(result.final_loss, 4),
        "serve_format_loss_before": round(before, 4), "serve_format_loss_after": round(after, 4),
        "train_seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
