"""Suggestion latency of trainer.inference.LocalBackend with the real base model (CPU or GPU).

Prompts: the first 32 tweetsumm tickets, each rendered up to its last agent message (the
message a suggestion would replace) with ``prompt.Context`` → ``render_context`` →
``chat_prompt``. Adapters: random LoRA adapters (r=16, alpha=32, all seven projections,
seeded lora_B), so generations rarely stop early. The warm single-ticket pass therefore caps
generation at the 95th percentile of the real agent replies' length (in tokens, with the
"ACTION: reply\\nREPLY: " line and the stop token), about what a trained adapter writes; the
worst case, every token up to ``--max-new-tokens``, is timed on the first 8 prompts.

Measures: cold single-ticket latency in a fresh process (imports + base model load + adapter
load + first generation, capped like the warm pass; ``process_wall_s`` adds the interpreter's
start and the allocator's re-execution), warm single-ticket latency p50/p95, time to first
token (the decision: prefill + the token after "ACTION:"), batched throughput (batch 16),
adapter swap time (merged and unmerged), decode speed (merged / unmerged adapter, bf16 / fp32
base; median of 3 interleaved rounds) and transformers' DynamicCache vs StaticCache. The
benchmark and its fresh processes run on ``CLONEDESK_ALLOCATOR`` (mimalloc by default), as
``clonedesk worker`` and ``clonedesk suggest`` do.

    .venv/bin/python benchmarks/suggest_latency.py [--prompts 32] [--max-new-tokens 160]
        [--threads N]   # 1 on a machine whose cores other jobs share

Prints the numbers and writes benchmarks/results/suggest_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from plugin_backend import allocator  # stdlib only: safe before torch

RESULTS = Path(__file__).with_name("results")
DATA = REPO.parent / "shared" / "data" / "canonical" / "tweetsumm.jsonl"
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CONTEXT_BUDGET = 768

COLD = """
import json, os, sys, time
from plugin_backend import allocator
allocator.ensure(os.environ.get("CLONEDESK_ALLOCATOR", allocator.MIMALLOC))  # as a worker does
t0 = time.perf_counter()
from pathlib import Path
from trainer.inference import AdapterRef, LocalBackend
import torch, transformers, peft
t1 = time.perf_counter()
backend = LocalBackend(sys.argv[1], Path(sys.argv[2]), device=sys.argv[6])
backend.load()
t2 = time.perf_counter()
backend.activate(AdapterRef("bench-a", Path(sys.argv[3])))
t3 = time.perf_counter()
gen = backend.generate([json.loads(sys.argv[4])], AdapterRef("bench-a", Path(sys.argv[3])),
                       max_new_tokens=int(sys.argv[5]))[0]
t4 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "base_load_s": t2 - t1, "adapter_load_s": t3 - t2,
                  "first_generation_s": t4 - t3, "total_s": t4 - t0, "tokens": gen.tokens}))
"""


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """p50 / p95 / mean / max of a list of numbers, rounded."""
    return {"p50": round(pct(values, 50), digits), "p95": round(pct(values, 95), digits),
            "mean": round(statistics.fmean(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def build_prompts(tokenizer: Any, count: int, data: Path = DATA) -> tuple[list[str], list[int]]:
    """Chat prompts for the first ``count`` usable tickets, and their real replies' lengths."""
    from trainer import prompt
    from trainer.interaction import read_jsonl

    prompts, reply_tokens = [], []

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    for ticket in read_jsonl(str(data)):
        agents = [i for i, m in enumerate(ticket.messages) if m.role == "agent"]
        if not agents or agents[-1] == 0:
            continue
        last = agents[-1]
        context = prompt.Context(messages=ticket.messages[:last], subject=ticket.subject,
                                 channel=ticket.channel, category=ticket.category)
        prompts.append(prompt.chat_prompt(
            tokenizer, prompt.render_context(context, count_tokens, CONTEXT_BUDGET)))
        target = prompt.render_target(prompt.Decision("reply", ticket.messages[last].text))
        reply_tokens.append(count_tokens(target) + 1)          # + <|im_end|>
        if len(prompts) == count:
            break
    return prompts, reply_tokens


def make_adapter(spec: str, cache: Path, folder: Path, seed: int) -> Path:
    """A random LoRA adapter (r=16 on all seven projections) saved as a PEFT folder."""
    import torch
    from peft import LoraConfig, get_peft_model

    from trainer import base_model

    model, _ = base_model.load(spec, cache, device="cpu")
    torch.manual_seed(seed)                       # lora_A's initialisation
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32,
                                                  target_modules=ALL_PROJECTIONS))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    peft_model.save_pretrained(str(folder))
    return folder


def _sync() -> None:
    """Wait for the GPU's queued work (a no-op on a CPU), so a timing covers it."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn: Any) -> tuple[float, Any]:
    """(seconds, result) of fn(), the GPU's work included."""
    _sync()
    start = time.perf_counter()
    result = fn()
    _sync()
    return time.perf_counter() - start, result


def decode_speed(backend: Any, prompt_text: str, adapter: Any, tokens: int) -> dict[str, float]:
    """Prefill (first-token) time and per-token decode time for one prompt."""
    first, _ = timed(lambda: backend.generate([prompt_text], adapter, max_new_tokens=1))
    total, gen = timed(lambda: backend.generate([prompt_text], adapter, max_new_tokens=tokens))
    per_token = (total - first) / max(1, gen[0].tokens - 1)
    return {"first_token_s": round(first, 3), "decode_ms_per_token": round(per_token * 1000, 1)}


def cache_comparison(spec: str, cache: Path, prompt_text: str, new_tokens: int,
                     device: str) -> dict[str, Any]:
    """transformers' generate() with the default DynamicCache vs StaticCache (no compile)."""
    import torch

    from trainer import base_model

    model, tokenizer = base_model.load(spec, cache, device=device)
    inputs = tokenizer(prompt_text + "ACTION:", return_tensors="pt",
                       add_special_tokens=False).to(device)
    times: dict[str, list[float]] = {"dynamic": [], "static": []}
    tokens: dict[str, list[int]] = {}
    for round_ in range(4):                  # round 0 warms up; the median of the other 3
        for kind, extra in (("dynamic", {}), ("static", {"cache_implementation": "static"})):
            with torch.inference_mode():
                seconds, ids = timed(lambda extra=extra: model.generate(
                    **inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                    disable_compile=True, **extra))   # on a GPU it would compile StaticCache
            if round_:
                times[kind].append(seconds)
            tokens[kind] = ids[0, inputs["input_ids"].shape[1]:].tolist()
    return {"dynamic_s": round(statistics.median(times["dynamic"]), 3),
            "static_s": round(statistics.median(times["static"]), 3),
            "same_tokens": tokens["dynamic"] == tokens["static"]}


def main() -> None:
    """Run every measurement, print them and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "CLONEDESK_TEST_CACHE", REPO / "var" / "test-cache")))
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--worst-case-prompts", type=int, default=8,
                        help="prompts timed at --max-new-tokens (each runs to the cap)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS / "suggest_latency.json")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--device", default=None,
                        help="'cpu', 'cuda'… (default: a GPU when present, as the product picks)")
    args = parser.parse_args()
    # on the allocator `clonedesk worker` runs on (CLONEDESK_ALLOCATOR; re-executes once)
    allocator.ensure(os.environ.get("CLONEDESK_ALLOCATOR", allocator.MIMALLOC))

    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)     # for the cold-start processes
    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    from trainer.base_model import EMBEDDED_BASE_MODEL, prepare_embedded
    from trainer.device import describe, pick_device
    from trainer.inference import AdapterRef, LocalBackend

    device = pick_device(args.device)

    spec = EMBEDDED_BASE_MODEL
    report: dict[str, Any] = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "load_average_start": os.getloadavg(), "base_model": spec, "device": describe(device),
        "allocator": allocator.in_use(),
    }
    seconds, _ = timed(lambda: prepare_embedded(args.cache))
    report["gguf_conversion_s (once per install; 0 when cached)"] = round(seconds, 2)
    work = Path(tempfile.mkdtemp(prefix="suggest-latency-"))
    adapter_a = AdapterRef("bench-a", make_adapter(spec, args.cache, work / "a", 1))
    adapter_b = AdapterRef("bench-b", make_adapter(spec, args.cache, work / "b", 2))

    backend = LocalBackend(spec, args.cache, device=device, max_adapters=4, batch_size=16)
    backend.load()
    prompts, reply_tokens = build_prompts(backend.tokenizer, args.prompts, args.data)
    prompt_tokens = [len(backend.tokenizer(p, add_special_tokens=False)["input_ids"])
                     for p in prompts]
    reply_cap = int(pct(reply_tokens, 95))
    report["prompts"] = {"n": len(prompts), "prompt_tokens": summary(prompt_tokens),
                         "real_reply_tokens": summary(reply_tokens)}

    cold = []
    for _ in range(args.cold_runs):
        started = time.perf_counter()       # interpreter start and re-execution included
        out = subprocess.run(
            [sys.executable, "-c", COLD, spec, str(args.cache), str(adapter_a.path),
             json.dumps(prompts[0]), str(reply_cap), device],
            cwd=REPO, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
        cold.append({**json.loads(out.stdout.strip().splitlines()[-1]),
                     "process_wall_s": time.perf_counter() - started})
    report["cold_single"] = {key: [round(run[key], 3) for run in cold] for key in cold[0]}
    report["cold_single"]["max_new_tokens"] = reply_cap

    backend.activate(adapter_a)
    backend.generate(prompts[:2], adapter_a, max_new_tokens=4)          # warm-up
    ttft = [timed(lambda p=p: backend.generate([p], adapter_a, max_new_tokens=1))[0]
            for p in prompts]
    report["time_to_first_token_s"] = summary(ttft)

    for label, cap, subset in (
            ("warm_single_real_reply_p95_tokens", reply_cap, prompts),
            ("warm_single_max_tokens", args.max_new_tokens, prompts[:args.worst_case_prompts])):
        times, tokens, singles = [], [], []
        for p in subset:
            seconds, gen = timed(
                lambda p=p, cap=cap: backend.generate([p], adapter_a, max_new_tokens=cap))
            times.append(seconds)
            tokens.append(gen[0].tokens)
            singles.append(gen[0])
        if cap == reply_cap:
            reply_cap_singles = singles
        report[label] = {"max_new_tokens": cap, "latency_s": summary(times),
                         "tokens_generated": summary([float(t) for t in tokens])}
        print(label, report[label], flush=True)

    seconds, gens = timed(lambda: backend.generate(prompts, adapter_a,
                                                   max_new_tokens=args.max_new_tokens))
    new_tokens = sum(g.tokens for g in gens)
    capped = (reply_cap, args.max_new_tokens)
    same = [b.action_probs == s.action_probs and (
        b.text == s.text if s.tokens < capped[0] and b.tokens < capped[1]
        else b.text.startswith(s.text) or s.text.startswith(b.text))
        for b, s in zip(gens, reply_cap_singles)]
    report["batch_invariance"] = {
        "prompts": len(same), "batched_equals_single": sum(same),
        "how": "batch-16 generations vs one-by-one: same decision probabilities, same text "
               "(the shorter a prefix of the other where a token cap cut one)"}
    single = report["warm_single_max_tokens"]
    report["batched_16"] = {
        "prompts": len(prompts), "seconds": round(seconds, 2), "new_tokens": new_tokens,
        "new_tokens_per_s": round(new_tokens / seconds, 1),
        "single_stream_new_tokens_per_s": round(
            single["tokens_generated"]["mean"] / single["latency_s"]["mean"], 1)}

    swap: dict[str, Any] = {}
    load_b, _ = timed(lambda: backend.activate(adapter_b))
    swap["merged_adapter_load_s"] = round(load_b, 3)
    swaps = []
    for i in range(40):
        swaps.append(timed(lambda i=i: backend.activate(adapter_a if i % 2 else adapter_b))[0])
    swap["merged_swap_ms"] = summary([s * 1000 for s in swaps], 4)
    backend.merge_budget_mb = 0
    un_a, un_b = AdapterRef("bench-a-unmerged", adapter_a.path), AdapterRef(
        "bench-b-unmerged", adapter_b.path)
    load_un, _ = timed(lambda: backend.activate(un_a))
    backend.activate(un_b)
    swap["unmerged_adapter_load_s"] = round(load_un, 3)
    swaps = [timed(lambda i=i: backend.activate(un_a if i % 2 else un_b))[0] for i in range(40)]
    swap["unmerged_swap_ms"] = summary([s * 1000 for s in swaps], 2)

    fp32 = LocalBackend(spec, args.cache, device=device, dtype=torch.float32)
    fp32.load()
    fp32.generate(prompts[:1], None, max_new_tokens=2)
    cases = {"merged_adapter": (backend, adapter_a), "unmerged_adapter": (backend, un_a),
             "base_bf16": (backend, None), "base_fp32": (fp32, None)}
    rounds: dict[str, list[dict[str, float]]] = {label: [] for label in cases}
    for _ in range(3):                       # interleaved rounds; the median of each
        for label, (which, ref) in cases.items():
            rounds[label].append(decode_speed(which, prompts[1], ref, 32))
    report["decode_median_of_3"] = {
        label: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for label, runs in rounds.items()}
    report["adapter_swap"] = swap
    del fp32
    report["kv_cache_hf_generate_32_tokens_median_of_3"] = cache_comparison(
        spec, args.cache, prompts[1], 32, device)
    report["load_average_end"] = os.getloadavg()

    shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
