"""Suggestion latency of a trained account on real data: what an agent waits for when the
suggestion was not precomputed, with and without prompt-lookup speculative decoding.

For each data file: import it into a fresh home (the product's importer), train a short
adapter with the product's account pipeline (holdout = newest 20%), then time single-ticket
suggestions for an even spread of holdout tickets through the worker's own path
(``plugin_backend.suggesters.SuggesterPool`` → ``Suggester`` → ``LocalBackend``):

* warm: the worker process already holds the base model, the embedder and the adapter; the
  ticket is new (not cached). Every ticket is timed twice, plain decoding (``lookahead=0``) and
  speculative (``lookahead`` draft tokens looked up in the prompt), alternating which goes
  first; the two suggestions must be identical (speculation verifies every draft token).
* cold: a fresh Python process (imports, base model, embedder, adapter, then one suggestion),
  as a worker's first request after a restart.

The account's served mode is timed; when the pipeline chose retrieval (no generation, served in
milliseconds) the retrieval-augmented adapter mode is timed instead and the JSON says so.

    .venv/bin/python benchmarks/account_latency.py [--limit 2000] [--max-steps 40] \\
        [--tickets 30] [--threads 2] ../shared/data/canonical/tweetsumm.jsonl

Prints the numbers and writes benchmarks/results/account_latency_<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = Path(__file__).with_name("results")
SHARED = REPO.parent / "shared" / "data" / "canonical"
TENANT = "bench"

COLD = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
import torch
from plugin_backend.config import Settings
from plugin_backend.suggesters import SuggesterPool
from plugin_backend.db import connect
sys.path.insert(0, "benchmarks")
from account_latency import with_model
from plugin_backend.store import get_tenant, get_ticket
from trainer.curate import suggestion_example
home, cache, ticket_id, mode, threads = sys.argv[1:6]
torch.set_num_threads(int(threads))
t1 = time.perf_counter()
sessions = connect(f"sqlite:///{home}/clonedesk.db")
with sessions() as session:
    ticket = get_ticket(session, get_tenant(session, "bench"), ticket_id)
pool = SuggesterPool(Settings(home=Path(home), model_cache=Path(cache)))
suggester = with_model(pool)
t2 = time.perf_counter()
draft = suggester.drafts([suggestion_example(ticket)], mode)[0]
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "load_s": t2 - t1, "first_suggestion_s": t3 - t2,
                  "total_s": t3 - t0, "action": draft.suggestion.action}))
"""


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def train(path: Path, home: Path, args: argparse.Namespace) -> list[Any]:
    """Import and train in ``home``; return the holdout tickets."""
    from quality import first_lines

    from plugin_backend.db import connect
    from plugin_backend.importer import import_file
    from plugin_backend.store import get_tenant, iter_tickets
    from trainer.config import TrainConfig
    from trainer.embeddings import shared_embedder
    from trainer.inference import LocalBackend
    from trainer.pipeline import PipelineOptions, train_account
    from trainer.registry import AdapterRegistry

    sessions = connect(f"sqlite:///{home / 'clonedesk.db'}")
    import_file(first_lines(path, args.limit, home), sessions, TENANT, 500)
    with sessions() as session:
        tickets = list(iter_tickets(session, get_tenant(session, TENANT)))
    config = TrainConfig(cache_dir=str(args.cache_dir), max_steps=args.max_steps)
    backend = LocalBackend(config.base_model, args.cache_dir, device=config.device)
    registry = AdapterRegistry(home / "adapters", TENANT)
    started = time.monotonic()
    train_account(tickets, home / "work", registry, config, shared_embedder(),
                  PipelineOptions(max_validation_tickets=args.validation_tickets),
                  log=lambda line: print(" ", line, flush=True), backend=backend)
    import resource

    trained_s = time.monotonic() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"  trained in {trained_s:.0f} s, peak RSS so far {peak_gb:.2f} GB", flush=True)
    args.train_record = {"train_s": round(trained_s, 1), "peak_rss_gb": round(peak_gb, 2)}
    current = registry.current()
    assert current is not None
    holdout_ids = set(current.metadata["split"]["holdout_ids"])
    return [t for t in tickets if t.id in holdout_ids]


def with_model(pool: Any) -> Any:
    """The account's suggester, given the language model even when it serves by retrieval
    (the pool leaves the model out then: nothing to generate)."""
    from trainer.suggest import Suggester, token_counter

    suggester = pool.suggester(TENANT)
    if suggester.backend is None:
        tokenizer = pool.tokenizer()
        suggester = Suggester(suggester.account, pool.backend(), token_counter(tokenizer),
                              tokenizer)
    return suggester


def warm(home: Path, holdout: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    """Single-ticket suggestions in a warm worker, plain and speculative, interleaved."""
    import torch

    from plugin_backend.config import Settings
    from plugin_backend.suggesters import SuggesterPool
    from trainer.curate import suggestion_example
    from trainer.suggest import ADAPTER_MODES

    torch.set_num_threads(args.threads)
    pool = SuggesterPool(Settings(home=home, model_cache=args.cache_dir))
    suggester = with_model(pool)
    backend = pool.backend()
    mode = suggester.account.mode
    timed_mode = mode if mode in ADAPTER_MODES else "adapter_rag"
    step = max(1, len(holdout) // args.tickets)
    chosen = holdout[::step][:args.tickets]
    examples = [suggestion_example(t) for t in chosen]
    suggester.drafts(examples[:1], timed_mode)                  # load adapter, warm kernels
    times: dict[int, list[float]] = {0: [], args.lookahead: []}
    same, tokens = 0, []
    proposed = accepted = 0
    for i, example in enumerate(examples):
        replies = {}
        for lookahead in ((0, args.lookahead) if i % 2 == 0 else (args.lookahead, 0)):
            backend.lookahead = lookahead
            before = list(backend.draft_stats)
            started = time.perf_counter()
            draft = suggester.drafts([example], timed_mode)[0]
            times[lookahead].append(time.perf_counter() - started)
            replies[lookahead] = (draft.suggestion.action, draft.suggestion.reply)
            if lookahead:
                proposed += backend.draft_stats[0] - before[0]
                accepted += backend.draft_stats[1] - before[1]
        same += replies[0] == replies[args.lookahead]
        tokens.append(len(suggester.tokenizer(replies[0][1], add_special_tokens=False)
                          ["input_ids"]))
        print(f"  ticket {i + 1}/{len(examples)}: plain {times[0][-1]:.2f} s, speculative "
              f"{times[args.lookahead][-1]:.2f} s, {tokens[-1]} reply tokens", flush=True)

    def summary(values: list[float]) -> dict[str, float]:
        return {"p50_s": round(statistics.median(values), 2), "p95_s": round(pct(values, 95), 2),
                "max_s": round(max(values), 2)}

    return {"served_mode": mode, "timed_mode": timed_mode, "tickets": len(examples),
            "reply_tokens_p50": statistics.median(tokens), "reply_tokens_p95": pct(tokens, 95),
            "plain": summary(times[0]), "speculative": summary(times[args.lookahead]),
            "lookahead": args.lookahead, "draft_tokens_proposed": proposed,
            "draft_tokens_accepted": accepted,
            "acceptance": round(accepted / proposed, 3) if proposed else None,
            "identical_suggestions": same}


def cold(home: Path, holdout: list[Any], mode: str, args: argparse.Namespace
         ) -> list[dict[str, float]]:
    """A fresh worker process's first suggestion, for a few holdout tickets."""
    runs = []
    for ticket in holdout[:args.cold_runs]:
        out = subprocess.run([sys.executable, "-c", COLD, str(home), str(args.cache_dir),
                              ticket.id, mode, str(args.threads)], cwd=REPO, check=True,
                             capture_output=True, text=True)
        run = {k: round(v, 2) if isinstance(v, float) else v
               for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
        print(f"  cold: {run}", flush=True)
        runs.append(run)
    return runs


def main() -> None:
    """Train, time and record each data file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="*", default=[SHARED / "tweetsumm.jsonl"])
    parser.add_argument("--limit", type=int, default=None, help="first N tickets of each file")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--validation-tickets", type=int, default=30)
    parser.add_argument("--tickets", type=int, default=30, help="holdout tickets timed warm")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--lookahead", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "test-cache")
    args = parser.parse_args()
    missing = [p for p in args.data if not p.is_file()]
    if missing:
        parser.error(f"missing data files: {', '.join(map(str, missing))}")
    machine = f"{platform.platform()} ({platform.processor() or platform.machine()})"
    for path in args.data:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            print(f"{path.name}: import and train ({args.max_steps} steps)", flush=True)
            holdout = train(path, home, args)
            result = warm(home, holdout, args)
            result["cold"] = cold(home, holdout, result["timed_mode"], args)
            result["training"] = args.train_record
        result.update(data=path.name, date=date.today().isoformat(), machine=machine,
                      options=" ".join(sys.argv[1:]))
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"account_latency_{path.stem}.json"
        out.write_text(json.dumps(result, indent=1))
        print(json.dumps({k: v for k, v in result.items() if k != "cold"}, indent=1))
        print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
