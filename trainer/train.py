"""LoRA training of the base model on (Context, Decision) examples, resumable and time-boxed.

Each example is the chat prompt (system + rendered context) followed by the target text and
the stop token; the loss is on the target tokens only, stop token included. Speed on CPU
(see benchmarks/train_speed.py): length-bucketed, right-padded batches (widths a multiple of
16, so the allocator reuses its blocks); logits only where there is a label; no attention
mask (right padding under a causal mask never reaches a real token); eager attention up to
256 tokens, SDPA beyond; a step's batch split into passes of at most ``micro_batch_tokens``
padded tokens (memory bound, same gradient; a GPU takes a whole step in one pass); bf16 base
weights under bf16 autocast where the CPU has native bf16 (``trainer.device``), fp32 without
autocast elsewhere; fused AdamW.

Layout of ``output_dir``::

    checkpoint/state.pt   resumable state (written atomically, removed once training completes)
    adapter/              the final PEFT adapter: adapter_config.json + adapter_model.safetensors
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import resource
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trainer import prompt
from trainer.config import TrainConfig

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"
ADAPTER_DIR = "adapter"
MIN_PROMPT_TOKENS = 16
SORT_CHUNK_BATCHES = 16
SAVE_RESERVE_S = 2.0  # kept free under max_minutes for writing the adapter
EAGER_MAX_TOKENS = 256  # CPU: eager attention up to this batch width, SDPA beyond
# Batch widths are rounded up to this: dozens of shapes instead of hundreds lets the
# allocator reuse freed blocks. Measured at 4 x 300-512 tokens: RSS flat at 2.36 GB over 60
# steps, against 2.4 -> 3.2 GB in 40 and still growing (6 GB after 360 steps of an account
# run) with exact widths; a multiple of 64 also stayed flat but padded ~13% more tokens.
PAD_MULTIPLE = 16
TRIM_EVERY_STEPS = 25  # hand freed heap memory back to the OS (trainer.device)
# Models whose logits are exactly lm_head(final hidden state): the loss skips prompt positions.
ANSWER_ONLY_LOGITS = frozenset({"llama", "mistral", "qwen2", "qwen3"})
# Settings that change what is trained; a checkpoint made under others is not resumed.
RESUME_KEYS = ("base_model", "lora_r", "lora_alpha", "lora_dropout", "target_modules",
               "learning_rate", "weight_decay", "max_grad_norm", "warmup_ratio", "epochs",
               "max_steps", "batch_size", "max_tokens", "context_budget", "seed", "base_dtype")

Example = tuple[prompt.Context, prompt.Decision]
Encoded = tuple[list[int], list[int]]


@dataclass(frozen=True)
class TrainProgress:
    """One progress report: where training is and how fast it goes."""

    step: int
    total_steps: int
    loss: float
    tokens_per_s: float
    eta_s: float
    epoch: float


@dataclass(frozen=True)
class TrainResult:
    """What a training call produced; train_tokens counts the whole run, resumed parts too."""

    adapter_dir: Path
    steps: int
    epochs_done: float
    train_tokens: int
    tokens_per_s: float
    final_loss: float
    stopped_by: str
    seconds: float
    peak_rss_mb: float
    resumed_from: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metrics (for clonedesk.json)."""
        data = asdict(self)
        data["adapter_dir"] = str(self.adapter_dir)
        return data


def encode_example(tokenizer: Any, context: prompt.Context, decision: prompt.Decision,
                   config: TrainConfig) -> Encoded:
    """Token ids and labels of one example: labels are -100 except on the target + stop token.

    A long target leaves less room for the prompt than ``context_budget``: the user turn is
    then rendered again for the room left, so it drops similar resolutions and old turns the
    way ``render_context`` does, and the prompt keeps the chat format it has at suggestion
    time (system turn, header). Only a prompt that cannot shrink that far (its pinned first
    customer message alone is too long) is cut from the left.
    """
    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(budget: int) -> tuple[list[int], int]:
        user_text = prompt.render_context(context, count_tokens, budget)
        ids = tokenizer(prompt.chat_prompt(tokenizer, user_text),
                        add_special_tokens=False)["input_ids"]
        return ids, len(ids) - count_tokens(user_text)   # the template's own tokens

    answer_ids = tokenizer(prompt.render_target(decision), add_special_tokens=False)["input_ids"]
    answer_ids = answer_ids + [tokenizer.eos_token_id]
    room = config.max_tokens - len(answer_ids)
    if room < MIN_PROMPT_TOKENS:  # an overlong target: cut it (and teach no stop there)
        room = min(MIN_PROMPT_TOKENS, config.max_tokens // 2)
        answer_ids = answer_ids[: config.max_tokens - room]
    prompt_ids, template = prompt_tokens(config.context_budget)
    if len(prompt_ids) > room and room - template > 0:
        prompt_ids, _ = prompt_tokens(room - template)
    prompt_ids = prompt_ids[-room:]
    return prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids


def padded_width(encoded: Sequence[Encoded], multiple: int = 1) -> int:
    """The batch's longest row, rounded up to ``multiple``."""
    longest = max(len(ids) for ids, _ in encoded)
    return -(-longest // multiple) * multiple


def collate(encoded: Sequence[Encoded], pad_id: int, multiple: int = 1) -> dict[str, Any]:
    """Right-pad a batch to ``padded_width``: input_ids, attention_mask and labels (-100 on
    padding)."""
    import torch

    width = padded_width(encoded, multiple)
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def micro_batches(rows: Sequence[Encoded], max_tokens: int,
                  multiple: int = 1) -> list[list[Encoded]]:
    """Split one step's examples into passes of at most ``max_tokens`` padded tokens
    (rows × the pass's ``padded_width``; a row longer than that goes alone)."""
    parts: list[list[Encoded]] = []
    current: list[Encoded] = []
    for row in sorted(rows, key=lambda r: -len(r[0])):
        if current and (len(current) + 1) * padded_width(current, multiple) > max_tokens:
            parts.append(current)
            current = []
        current.append(row)
    return parts + [current] if current else parts


def _labelled(labels: Sequence[int]) -> int:
    """Tokens the loss covers (the first position never has a target)."""
    return sum(1 for label in labels[1:] if label != IGNORE_INDEX)


def batch_order(lengths: Sequence[int], batch_size: int, total_steps: int,
                seed: int) -> list[list[int]]:
    """Batches of example indices: shuffled per epoch, sorted by length within chunks."""
    order: list[list[int]] = []
    epoch = 0
    while len(order) < total_steps:
        rng = random.Random(f"{seed}:{epoch}")
        indices = list(range(len(lengths)))
        rng.shuffle(indices)
        chunk = batch_size * SORT_CHUNK_BATCHES
        batches = []
        for start in range(0, len(indices), chunk):
            part = sorted(indices[start: start + chunk], key=lambda i: -lengths[i])
            batches += [part[i: i + batch_size] for i in range(0, len(part), batch_size)]
        rng.shuffle(batches)
        order += batches
        epoch += 1
    return order[:total_steps]


def train_adapter(examples: Sequence[Example], output_dir: Path, config: TrainConfig,
                  progress: Callable[[TrainProgress], None] | None = None, *,
                  base: tuple[Any, Any] | None = None) -> TrainResult:
    """Train a LoRA adapter into ``output_dir/adapter``, resuming ``output_dir/checkpoint``.

    ``base`` is an already loaded (model, tokenizer) to train on; LoRA layers are injected
    into that model in place. ``config.max_minutes`` bounds the wall clock of this call.
    """
    import torch
    from peft.helpers import disable_input_dtype_casting

    from trainer.device import pick_dtype, release_free_memory

    started = time.monotonic()
    deadline = started + config.max_minutes * 60 if config.max_minutes else None
    if not examples:
        raise ValueError("train_adapter needs at least one example")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(output_dir)
    model, tokenizer = base if base is not None else _load_base(config)
    device = str(next(model.parameters()).device)
    amp_dtype = pick_dtype(device)  # fp32 (no autocast) on a CPU without native bf16

    encoded = [encode_example(tokenizer, ctx, decision, config) for ctx, decision in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
        else tokenizer.eos_token_id
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    total_steps = min(total_steps, config.max_steps or total_steps)

    peft_model, trainable = _attach_lora(model, config)
    params = [p for _, p in trainable]
    optimizer, scheduler, scaler = _optimizers(params, config, total_steps, device,
                                               amp_dtype == torch.float16)
    fingerprint = _fingerprint(config, encoded)
    checkpoint = output_dir / CHECKPOINT_DIR / CHECKPOINT_FILE
    state = _resume(checkpoint, fingerprint, len(encoded), trainable,
                    (optimizer, scheduler, scaler))
    if state is None:
        order = batch_order([len(ids) for ids, _ in encoded], config.batch_size, total_steps,
                            config.seed)
        start_step, run_tokens, last_loss = 0, 0, float("nan")
    else:
        order, start_step = state["order"], state["step"]
        run_tokens, last_loss = state["train_tokens"], state["last_loss"]
        log.info("resuming from step %d of %d", start_step, total_steps)

    def save_state() -> None:
        _save_checkpoint(checkpoint, {
            "fingerprint": fingerprint, "step": step, "order": order,
            "train_tokens": run_tokens, "last_loss": last_loss,
            "lora": {n: p.detach().cpu() for n, p in trainable},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.startswith("cuda") else None,
        })

    pass_tokens = config.micro_batch_limit(device)
    causal = peft_model.get_base_model()
    answer_only = getattr(causal.config, "model_type", None) in ANSWER_ONLY_LOGITS
    step, stopped_by, call_tokens, train_seconds = start_step, "completed", 0, 0.0
    window: deque[tuple[float, int, float]] = deque(maxlen=config.log_every)
    with _training_mode(peft_model, causal, device, config.cpu_threads) as attend:
        while step < total_steps:
            done = step - start_step
            if deadline is not None and done and \
                    time.monotonic() + train_seconds / done + SAVE_RESERVE_S > deadline:
                stopped_by = "time_budget"
                break
            tick = time.monotonic()
            rows = [encoded[i] for i in order[step]]
            labelled = max(1, sum(_labelled(labs) for _, labs in rows))
            loss, tokens = 0.0, 0
            for part in micro_batches(rows, pass_tokens, PAD_MULTIPLE):
                batch = {k: v.to(device) for k, v in collate(part, pad_id, PAD_MULTIPLE).items()}
                attend(batch["input_ids"].shape[1])
                with torch.autocast(device_type=device.split(":")[0], dtype=amp_dtype,
                                    enabled=amp_dtype != torch.float32), \
                        disable_input_dtype_casting(peft_model):  # autocast picks the dtypes
                    # the batch's mean over labelled tokens, summed over its passes
                    part_loss = _loss(causal, batch, answer_only) * (
                        sum(_labelled(labs) for _, labs in part) / labelled)
                scaler.scale(part_loss).backward()
                loss = loss + part_loss.detach()     # read once per step (no sync per pass)
                tokens += int(batch["attention_mask"].sum())
            if config.max_grad_norm:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            last_loss = float(loss)
            run_tokens, call_tokens = run_tokens + tokens, call_tokens + tokens
            elapsed = time.monotonic() - tick
            train_seconds += elapsed
            window.append((last_loss, tokens, elapsed))
            if step % TRIM_EVERY_STEPS == 0:
                release_free_memory()
            if config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0 \
                    and step < total_steps:
                save_state()
            if progress is not None and (step % config.log_every == 0 or step == total_steps):
                eta = (total_steps - step) * train_seconds / (step - start_step)
                if deadline is not None:
                    eta = min(eta, max(0.0, deadline - time.monotonic()))
                progress(_report(window, step, total_steps, eta, steps_per_epoch))
    if stopped_by == "time_budget" and config.checkpoint_every_steps:
        save_state()
    adapter_dir = output_dir / ADAPTER_DIR
    _publish_adapter(peft_model, adapter_dir)
    if stopped_by == "completed":
        shutil.rmtree(output_dir / CHECKPOINT_DIR, ignore_errors=True)
    recent = [w[0] for w in window]
    return TrainResult(
        adapter_dir=adapter_dir, steps=step, epochs_done=step / steps_per_epoch,
        train_tokens=run_tokens, tokens_per_s=call_tokens / max(train_seconds, 1e-9),
        final_loss=sum(recent) / len(recent) if recent else last_loss, stopped_by=stopped_by,
        seconds=time.monotonic() - started,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        resumed_from=start_step)


def _load_base(config: TrainConfig) -> tuple[Any, Any]:
    import torch

    from trainer import base_model
    from trainer.device import pick_device, pick_dtype

    device = pick_device(config.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(config.base_dtype) \
        or pick_dtype(device)
    return base_model.load(config.base_model, config.resolved_cache_dir(), device=device,
                           dtype=dtype)


def _attach_lora(model: Any, config: TrainConfig) -> tuple[Any, list[tuple[str, Any]]]:
    """Wrap the model with fresh LoRA layers (seeded); LoRA weights are fp32, the base frozen."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(config.target_modules),
                      bias="none", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    trainable = [(n, p) for n, p in peft_model.named_parameters() if p.requires_grad]
    for _, param in trainable:
        param.data = param.data.float()
    return peft_model, trainable


def _report(window: deque[tuple[float, int, float]], step: int, total_steps: int, eta: float,
            steps_per_epoch: int) -> TrainProgress:
    seconds = sum(w[2] for w in window)
    report = TrainProgress(step=step, total_steps=total_steps,
                           loss=sum(w[0] for w in window) / len(window),
                           tokens_per_s=sum(w[1] for w in window) / max(seconds, 1e-9),
                           eta_s=eta, epoch=step / steps_per_epoch)
    log.info("step %d/%d loss %.4f %.0f tok/s eta %.0fs", step, total_steps, report.loss,
             report.tokens_per_s, report.eta_s)
    return report


def _loss(causal: Any, batch: dict[str, Any], answer_only: bool) -> Any:
    """Mean cross-entropy over labelled tokens; logits only where a label exists."""
    import torch.nn.functional as F

    if not answer_only:
        return causal(**batch, use_cache=False).loss
    # Right padding: real tokens only attend to earlier real tokens under the causal mask.
    hidden = causal.get_decoder()(input_ids=batch["input_ids"], attention_mask=None,
                                  use_cache=False).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    logits = causal.get_output_embeddings()(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), targets[keep])


def _optimizers(params: list[Any], config: TrainConfig, total_steps: int, device: str,
                fp16: bool) -> tuple[Any, Any, Any]:
    """Fused AdamW (when available), warm-up + cosine schedule, and a GradScaler for fp16."""
    import torch

    try:
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate,
                                      weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):  # no fused kernel for this device/dtype
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
    warmup = int(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, warmup, total_steps))
    return optimizer, scheduler, torch.amp.GradScaler(device.split(":")[0], enabled=fp16)


@contextlib.contextmanager
def _training_mode(peft_model: Any, causal: Any, device: str,
                   threads: int | None) -> Iterator[Callable[[int], None]]:
    """Train mode and the thread count; yields ``attend(width)``, called before each batch to
    pick the attention kernel for its padded width: on a CPU eager attention up to
    ``EAGER_MAX_TOKENS`` (faster there), SDPA beyond (eager keeps every layer's fp32
    attention matrix for the backward pass: 5.5 GB peak at 4 × 512 tokens, against 3.3 GB
    with SDPA at the same speed). Elsewhere the model's own choice."""
    import torch

    attention = getattr(causal.config, "_attn_implementation", None)
    switch = device == "cpu" and attention and hasattr(causal, "set_attn_implementation")
    previous_threads = torch.get_num_threads()

    def attend(width: int) -> None:
        wanted = "eager" if width <= EAGER_MAX_TOKENS else "sdpa"
        if switch and causal.config._attn_implementation != wanted:
            causal.set_attn_implementation(wanted)

    if device == "cpu" and threads:
        torch.set_num_threads(threads)
    peft_model.train()
    try:
        yield attend
    finally:
        peft_model.eval()
        torch.set_num_threads(previous_threads)
        if switch and causal.config._attn_implementation != attention:
            causal.set_attn_implementation(attention)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _fingerprint(config: TrainConfig, encoded: Sequence[Encoded]) -> str:
    settings = {k: v for k, v in config.to_dict().items() if k in RESUME_KEYS}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for ids, labels in encoded:
        digest.update(json.dumps([ids, labels]).encode())
    return digest.hexdigest()


def _resume(path: Path, fingerprint: str, n_examples: int, trainable: list[tuple[str, Any]],
            stateful: tuple[Any, Any, Any]) -> dict[str, Any] | None:
    """Load the checkpoint into LoRA weights, optimizer, scheduler, scaler and RNG.

    Returns the saved state, or None (start over) when it is absent, unreadable, or made for
    other data, settings or model.
    """
    import torch

    if not path.is_file():
        return None
    initial = {n: p.detach().clone() for n, p in trainable}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["fingerprint"] != fingerprint or \
                not all(0 <= i < n_examples for batch in state["order"] for i in batch):
            log.warning("checkpoint %s was made for other data or settings; restarting", path)
            return None
        if {n: p.shape for n, p in state["lora"].items()} != \
                {n: p.shape for n, p in trainable}:
            raise KeyError("LoRA parameter names or shapes differ")
        with torch.no_grad():
            for name, param in trainable:
                param.copy_(state["lora"][name])
        for target, key in zip(stateful, ("optimizer", "scheduler", "scaler")):
            if state.get(key):
                target.load_state_dict(state[key])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return state
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file: start over, don't fail
        log.warning("checkpoint %s is unusable (%s); restarting", path, exc)
        with torch.no_grad():
            for name, param in trainable:
                param.copy_(initial[name])
        return None


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temp file, fsync, then os.replace: a crash leaves the old or the new state."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _publish_adapter(peft_model: Any, target: Path) -> None:
    """Save the PEFT folder into a staging dir, fsync it, then move it into place."""
    staging = Path(tempfile.mkdtemp(prefix=".adapter-staging-", dir=target.parent))
    retired = target.with_name(f".adapter-old-{os.getpid()}")
    try:
        peft_model.save_pretrained(staging, safe_serialization=True)
        for item in staging.iterdir():
            os.chmod(item, 0o644)
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(staging, 0o755)
        _fsync_dir(staging)
        if target.exists():
            os.replace(target, retired)
        os.replace(staging, target)
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)


def _remove_stale(output_dir: Path) -> None:
    """Drop what an interrupted run may have left: staging dirs and temp checkpoint files."""
    for item in output_dir.glob(".adapter-*"):
        shutil.rmtree(item, ignore_errors=True)
    for item in (output_dir / CHECKPOINT_DIR).glob(".*.tmp"):
        item.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
