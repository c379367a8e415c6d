"""LoRA training on the real embedded base model: a few steps, on tiny examples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from trainer import base_model, prompt
from trainer.config import TrainConfig
from trainer.interaction import Message
from trainer.train import (
    IGNORE_INDEX,
    TrainProgress,
    batch_order,
    collate,
    encode_example,
    train_adapter,
)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def tiny_examples() -> list[tuple[prompt.Context, prompt.Decision]]:
    """Six short tickets: replies and escalations."""
    examples = []
    for i in range(6):
        context = prompt.Context(
            messages=[Message("customer", f"My order {i} is {i + 2} days late. Where is it?")],
            subject=f"Order {i}", channel="email", category="shipping")
        if i % 3 == 2:
            decision = prompt.Decision("escalate", "I'm passing this to our billing team.",
                                       reason="refund request", group="billing")
        else:
            decision = prompt.Decision("reply", f"Sorry about order {i}! A new one ships today.")
        examples.append((context, decision))
    return examples


def small_config(cache: Path, **overrides: Any) -> TrainConfig:
    """A few-step run: short sequences, batches of two, a high learning rate."""
    settings: dict[str, Any] = {
        "cache_dir": str(cache), "max_tokens": 128, "context_budget": 48, "batch_size": 2,
        "log_every": 1, "learning_rate": 1e-3, "warmup_ratio": 0.0, "checkpoint_every_steps": 0}
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def tokenizer(model_cache: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model.resolve(base_model.EMBEDDED_BASE_MODEL,
                                                            model_cache))


def load_base(cache: Path, config: TrainConfig) -> tuple[Any, Any]:
    import torch

    from trainer.device import pick_dtype

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(config.base_dtype) \
        or pick_dtype("cpu")
    return base_model.load(config.base_model, cache, device="cpu", dtype=dtype)


def test_labels_cover_only_the_answer_and_its_stop_token(tokenizer: Any,
                                                         model_cache: Path) -> None:
    config = small_config(model_cache)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # why we build labels ourselves
    context, decision = tiny_examples()[2]
    ids, labels = encode_example(tokenizer, context, decision, config)
    answer = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    start = answer[0]
    assert answer == list(range(start, len(ids)))  # one contiguous span at the end
    assert labels[start:] == ids[start:]
    assert ids[-1] == tokenizer.eos_token_id and labels[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[start:-1]) == prompt.render_target(decision)
    assert tokenizer.decode(ids[:start]).endswith("<|im_start|>assistant\n")
    short = encode_example(tokenizer, *tiny_examples()[0], config)
    batch = collate([(ids, labels), short], tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    assert width == len(ids) > len(short[0])
    pad = len(short[0])
    assert batch["attention_mask"][1, pad:].sum() == 0
    assert (batch["labels"][1, pad:] == IGNORE_INDEX).all()
    assert batch["labels"][1, pad - 1] == tokenizer.eos_token_id  # the stop token survives
    assert batch["attention_mask"][0].sum() == width


def test_long_prompt_is_cut_from_the_left(tokenizer: Any, model_cache: Path) -> None:
    config = small_config(model_cache, context_budget=120)
    long_text = " ".join(f"word{i}" for i in range(300))
    context = prompt.Context(messages=[Message("customer", long_text)])
    decision = prompt.Decision("reply", "Thanks, we are on it.")
    ids, labels = encode_example(tokenizer, context, decision, config)
    assert len(ids) == config.max_tokens
    answer = [i for i in labels if i != IGNORE_INDEX]
    assert tokenizer.decode(answer[:-1]) == prompt.render_target(decision)
    assert answer[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[: len(ids) - len(answer)]).endswith("<|im_start|>assistant\n")


def test_long_target_drops_similar_resolutions_not_the_chat_format(tokenizer: Any,
                                                                     model_cache: Path) -> None:
    config = small_config(model_cache, max_tokens=256, context_budget=200)
    past = [f"Past reply {i}: " + " ".join(f"step{i}{j}" for j in range(10)) for i in range(3)]
    context = prompt.Context(messages=[Message("customer", "Where is my refund?")],
                             subject="Refund", channel="email", examples=past)
    long_reply = "Here is what happens next. " + " ".join(f"detail{i}" for i in range(40))
    short_reply = "Refunds take five days."
    full, _ = encode_example(tokenizer, context, prompt.Decision("reply", short_reply), config)
    ids, labels = encode_example(tokenizer, context, prompt.Decision("reply", long_reply), config)
    answer = sum(1 for label in labels if label != IGNORE_INDEX)
    assert len(ids) <= config.max_tokens < len(full) - 8 + answer    # the full prompt won't fit
    text = tokenizer.decode(ids[: sum(1 for label in labels if label == IGNORE_INDEX)])
    assert text.startswith("<|im_start|>system\n" + prompt.SYSTEM_PROMPT)
    assert "Channel: email" in text and "Subject: Refund" in text
    assert "Customer: Where is my refund?" in text
    assert "[1] Past reply 0" in text and "[3] Past reply 2" not in text  # the last dropped
    assert "[3] Past reply 2" in tokenizer.decode(full)                  # (room for all 3)


def test_batch_order_is_bucketed_and_deterministic() -> None:
    lengths = [5, 50, 7, 48, 6, 49, 8, 47]
    order = batch_order(lengths, batch_size=2, total_steps=8, seed=3)
    assert order == batch_order(lengths, batch_size=2, total_steps=8, seed=3)
    assert sorted(i for batch in order[:4] for i in batch) == list(range(8))  # one epoch
    for batch in order:
        assert max(lengths[i] for i in batch) - min(lengths[i] for i in batch) <= 3


def test_training_changes_only_lora_and_the_adapter_reloads(model_cache: Path,
                                                           tmp_path: Path) -> None:
    import torch
    from peft import PeftModel

    config = small_config(model_cache, max_steps=3)
    model, tokenizer = load_base(model_cache, config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    reports: list[TrainProgress] = []
    result = train_adapter(tiny_examples(), tmp_path / "run", config, reports.append,
                           base=(model, tokenizer))
    assert result.stopped_by == "completed" and result.steps == 3
    assert [r.step for r in reports] == [1, 2, 3] and reports[-1].total_steps == 3
    assert reports[-1].epoch == 1.0 and reports[-1].eta_s == 0.0 and reports[0].eta_s > 0
    assert all(r.tokens_per_s > 0 and r.loss > 0 for r in reports)
    assert result.train_tokens > 0 and result.tokens_per_s > 0 and result.peak_rss_mb > 0
    assert sorted(p.name for p in result.adapter_dir.iterdir()
                  if p.name.startswith("adapter_")) == ["adapter_config.json",
                                                        "adapter_model.safetensors"]
    assert not (tmp_path / "run" / "checkpoint").exists()
    after = dict(model.named_parameters())
    lora_b = [p for n, p in after.items() if "lora_B" in n]
    assert len(lora_b) == 30 * 7 and all(p.abs().sum() > 0 for p in lora_b)  # B starts at 0
    for name, param in after.items():
        if "lora_" not in name:
            assert torch.equal(param, before[name.replace(".base_layer", "")]), name

    fresh, _ = load_base(model_cache, config)
    reloaded = PeftModel.from_pretrained(fresh, result.adapter_dir).eval()
    text = prompt.chat_prompt(tokenizer, prompt.render_context(tiny_examples()[0][0]))
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ours = model(**inputs).logits.float()
        theirs = reloaded(**inputs).logits.float()
        with reloaded.disable_adapter():
            base_logits = reloaded(**inputs).logits.float()
        greedy = {"max_new_tokens": 8, "do_sample": False,
                  "pad_token_id": tokenizer.eos_token_id}
        ours_text = model.generate(**inputs, **greedy)
        theirs_text = reloaded.generate(**inputs, **greedy)
    torch.testing.assert_close(ours, theirs, atol=1e-3, rtol=1e-3)
    assert not torch.allclose(ours, base_logits, atol=1e-2)  # the adapter does something
    assert torch.equal(ours_text, theirs_text)


def test_cpu_attention_follows_the_batch_width_and_is_restored(model_cache: Path) -> None:
    import torch

    from trainer.train import EAGER_MAX_TOKENS, _loss, _training_mode

    model, _ = load_base(model_cache, small_config(model_cache))
    original = model.config._attn_implementation
    ids = torch.randint(100, 20000, (2, EAGER_MAX_TOKENS + 40),
                        generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :-30] = -100
    batch = {"input_ids": ids, "labels": labels}
    losses = {}
    with torch.no_grad(), _training_mode(model, model, "cpu", None) as attend:
        for width, kernel in ((EAGER_MAX_TOKENS, "eager"), (EAGER_MAX_TOKENS + 1, "sdpa")):
            attend(width)
            assert model.config._attn_implementation == kernel
            with torch.autocast("cpu", dtype=torch.bfloat16):
                losses[kernel] = float(_loss(model, batch, True))
    assert model.config._attn_implementation == original and not model.training
    # the same causal attention either way: equal losses up to bf16 rounding
    assert losses["eager"] == pytest.approx(losses["sdpa"], rel=2e-2)


def test_micro_batches_bound_the_padded_tokens_of_a_pass() -> None:
    from trainer.train import micro_batches

    rows = [([1] * n, [-100] * n) for n in (300, 120, 500, 256)]
    parts = micro_batches(rows, 1024)
    assert [[len(ids) for ids, _ in part] for part in parts] == [[500, 300], [256, 120]]
    assert all(len(p) * len(p[0][0]) <= 1024 for p in parts)
    assert [[len(ids) for ids, _ in p] for p in micro_batches(rows, 256)] == \
        [[500], [300], [256], [120]]                      # a longer row still goes, alone
    assert len(micro_batches(rows[1:2] * 4, 1024)) == 1   # 4 x 120 tokens: one pass
    # widths rounded up to a multiple count as the pass's size: 3 x 384 > 1024
    three = [([1] * 330, [-100] * 330)] * 3
    assert [len(p) for p in micro_batches(three, 1024)] == [3]
    assert [len(p) for p in micro_batches(three, 1024, 64)] == [2, 1]
    batch = collate(three[:1], 0, 64)
    assert batch["input_ids"].shape == (1, 384) and int(batch["attention_mask"].sum()) == 330
    assert (batch["labels"][0, 330:] == -100).all()


def test_micro_batched_steps_learn_what_one_pass_learns(model_cache: Path,
                                                         tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    results, deltas = {}, {}
    for budget in (4096, 40):                    # one pass per step, or one row per pass
        config = small_config(model_cache, max_steps=2, micro_batch_tokens=budget)
        model, tokenizer = load_base(model_cache, config)
        results[budget] = train_adapter(tiny_examples(), tmp_path / str(budget), config,
                                        base=(model, tokenizer))
        weights = load_file(str(results[budget].adapter_dir / "adapter_model.safetensors"))
        deltas[budget] = torch.cat([w.flatten().float() for k, w in sorted(weights.items())
                                    if "lora_B" in k])            # lora_B starts at zero
    assert results[40].train_tokens == results[4096].train_tokens
    assert results[40].final_loss == pytest.approx(results[4096].final_loss, rel=2e-2)
    cosine = torch.nn.functional.cosine_similarity(deltas[40], deltas[4096], dim=0)
    assert float(cosine) > 0.98


def test_time_budget_stops_cleanly_with_a_usable_adapter(model_cache: Path,
                                                         tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config = small_config(model_cache, epochs=200.0, max_minutes=0.1)
    result = train_adapter(tiny_examples(), tmp_path / "run", config)
    # The budget, not the 200 epochs, ended the run (no wall-clock assertion: CI load varies).
    assert result.stopped_by == "time_budget"
    assert 1 <= result.steps < 600
    weights = load_file(result.adapter_dir / "adapter_model.safetensors")
    assert len(weights) == 2 * 30 * 7
    assert (result.adapter_dir / "adapter_config.json").is_file()


def test_resume_after_interruption_matches_an_uninterrupted_run(model_cache: Path,
                                                                tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config = small_config(model_cache, max_steps=4, epochs=2.0, checkpoint_every_steps=2)

    class Interrupted(Exception):
        pass

    def crash_at_step_3(report: TrainProgress) -> None:
        if report.step == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_adapter(tiny_examples(), tmp_path / "run", config, crash_at_step_3)
    assert (tmp_path / "run" / "checkpoint" / "state.pt").is_file()
    assert not (tmp_path / "run" / "adapter").exists()  # nothing looks complete
    steps: list[int] = []
    resumed = train_adapter(tiny_examples(), tmp_path / "run", config,
                            lambda r: steps.append(r.step))
    assert resumed.resumed_from == 2 and steps == [3, 4] and resumed.steps == 4
    straight = train_adapter(tiny_examples(), tmp_path / "straight", config)
    assert straight.resumed_from == 0
    a = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    b = load_file(straight.adapter_dir / "adapter_model.safetensors")
    for name in b:
        assert (a[name] - b[name]).abs().max() < 1e-5, name


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from tests.trainer.test_train import small_config, tiny_examples
    from trainer.train import train_adapter
    config = small_config(Path({cache!r}), epochs=4.0, checkpoint_every_steps=1)
    train_adapter(tiny_examples(), Path({out!r}), config, lambda r: time.sleep(0.5))
""")


def test_sigkill_then_resume_from_the_last_checkpoint(model_cache: Path,
                                                      tmp_path: Path) -> None:
    import torch

    out = tmp_path / "run"
    checkpoint = out / "checkpoint" / "state.pt"
    script = KILLED_RUN.format(repo=str(REPO), cache=str(model_cache), out=str(out))
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 90
        while not checkpoint.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert checkpoint.exists(), "the child wrote no checkpoint"
        time.sleep(0.3)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    saved_step = torch.load(checkpoint, weights_only=True)["step"]
    assert 1 <= saved_step < 12
    config = small_config(model_cache, epochs=4.0, checkpoint_every_steps=1)
    result = train_adapter(tiny_examples(), out, config)
    assert result.resumed_from == saved_step and result.steps == 12
    assert result.stopped_by == "completed" and (result.adapter_dir / "adapter_config.json").exists()


def test_corrupt_checkpoint_and_stale_staging_restart_cleanly(model_cache: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "state.pt").write_bytes(b"PK\x03\x04 torn write")
    (out / ".adapter-staging-dead").mkdir()
    (out / ".adapter-staging-dead" / "adapter_config.json").write_text("{")
    result = train_adapter(tiny_examples(), out, small_config(model_cache, max_steps=1))
    assert result.resumed_from == 0 and result.steps == 1
    assert not (out / ".adapter-staging-dead").exists()
    assert sorted(p.name for p in out.iterdir()) == ["adapter"]


def test_no_examples_is_an_error(tmp_path: Path, model_cache: Path) -> None:
    with pytest.raises(ValueError, match="at least one example"):
        train_adapter([], tmp_path / "run", small_config(model_cache))
