"""TrainConfig: every knob of a LoRA training run, documented and validated in one place.

In the peft/trl style: a dataclass whose fields carry ``metadata={"help": ...}`` (the CLI is
generated from it) and whose ``__post_init__`` raises ``ValueError`` naming the bad field.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from trainer.base_model import EMBEDDED_BASE_MODEL

log = logging.getLogger(__name__)

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
BASE_DTYPES = ("auto", "fp32", "bf16")
DEFAULT_CACHE_DIR = Path("~/.cache/clonedesk")
# micro_batch_tokens=None: on a CPU a pass's memory grows with its tokens; on a GPU a pass of
# this model costs ~0.2 s of kernel launches whatever its length (an H200 trained the Bitext
# account at 3,900-4,000 tokens/s in passes of 1,024 tokens, 6,400-8,400 in one pass a step)
CPU_MICRO_BATCH_TOKENS = 1024
GPU_MICRO_BATCH_TOKENS = 16384


@dataclass
class TrainConfig:
    """Settings of one LoRA training run (stored with every adapter in clonedesk.json)."""

    base_model: str = field(
        default=EMBEDDED_BASE_MODEL,
        metadata={"help": "Base causal LM: the embedded SmolLM2, a local HF folder or a hub id."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where the converted base model is cached (None: ~/.cache/clonedesk)."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (alpha / r)."})
    lora_dropout: float = field(
        default=0.0, metadata={"help": "Dropout on the LoRA input; 0 is fastest and works well."}
    )
    target_modules: tuple[str, ...] = field(
        default=ALL_PROJECTIONS,
        metadata={"help": "Linear layers that get a LoRA adapter (all seven projections)."},
    )
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "Clip the gradient norm to this (0 disables clipping)."}
    )
    warmup_ratio: float = field(
        default=0.03, metadata={"help": "Fraction of the steps spent warming the LR up linearly."}
    )
    epochs: float = field(
        default=1.0, metadata={"help": "Passes over the examples; fractions are allowed."}
    )
    max_steps: int | None = field(
        default=None, metadata={"help": "Stop after this many optimizer steps (None: epochs)."}
    )
    max_minutes: float | None = field(
        default=None,
        metadata={"help": "Wall-clock budget of one call; stops cleanly with an adapter."},
    )
    batch_size: int = field(default=4, metadata={"help": "Examples per optimizer step."})
    micro_batch_tokens: int | None = field(
        default=None,
        metadata={"help": "Most padded tokens one forward/backward pass holds: a step whose "
                          "batch is larger runs as several passes with the same gradient. "
                          "None: 1,024 on a CPU (bounds training memory; 4 x 256 tokens still "
                          "go in one pass), 16,384 on a GPU (a whole step in one pass: there "
                          "each pass costs about the same whatever its length)."}
    )
    max_tokens: int = field(
        default=512,
        metadata={"help": "Longest example in tokens (prompt + target); room for the context "
                          "budget, the chat template and a long reply."}
    )
    context_budget: int = field(
        default=320,
        metadata={"help": "Tokens for the rendered user turn: header, 3 similar past replies "
                          "(~90 tokens each on the demo account) and the newest turns."}
    )
    seed: int = field(default=0, metadata={"help": "Seed for LoRA init and data order."})
    checkpoint_every_steps: int = field(
        default=50, metadata={"help": "Write a resumable checkpoint every N steps (0: never)."}
    )
    log_every: int = field(
        default=10, metadata={"help": "Report progress (callback and log) every N steps."}
    )
    device: str | None = field(
        default=None, metadata={"help": "'cpu', 'cuda', 'cuda:1'… (None: a GPU when present)."}
    )
    cpu_threads: int | None = field(
        default=None,
        metadata={"help": "torch threads while training on CPU (None: torch's default, one per "
                          "core); use fewer on a machine shared with other busy processes."},
    )
    base_dtype: str = field(
        default="auto",
        metadata={"help": "Dtype of the frozen base weights: 'auto' (bf16 on a GPU or a CPU "
                          "with native bf16, else fp32), 'bf16' or 'fp32'; the LoRA weights "
                          "stay fp32; compute runs under bf16 autocast where bf16 is native."},
    )

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)
        _require(isinstance(self.base_model, str) and self.base_model.strip(), "base_model",
                 "must be a non-empty string", self.base_model)
        _require(self.cache_dir is None or (isinstance(self.cache_dir, str) and self.cache_dir),
                 "cache_dir", "must be a non-empty string or None", self.cache_dir)
        for name in ("lora_r", "lora_alpha", "batch_size", "max_tokens", "context_budget",
                     "log_every"):
            _require(_is_int(getattr(self, name)) and getattr(self, name) > 0, name,
                     "must be a positive integer", getattr(self, name))
        _require(_is_int(self.seed) and self.seed >= 0, "seed",
                 "must be a non-negative integer", self.seed)
        _require(_is_int(self.checkpoint_every_steps) and self.checkpoint_every_steps >= 0,
                 "checkpoint_every_steps", "must be a non-negative integer",
                 self.checkpoint_every_steps)
        _require(self.micro_batch_tokens is None or (_is_int(self.micro_batch_tokens)
                                                     and self.micro_batch_tokens > 0),
                 "micro_batch_tokens", "must be a positive integer or None",
                 self.micro_batch_tokens)
        _require(self.cpu_threads is None or (_is_int(self.cpu_threads) and self.cpu_threads > 0),
                 "cpu_threads", "must be a positive integer or None", self.cpu_threads)
        _require(self.max_steps is None or (_is_int(self.max_steps) and self.max_steps > 0),
                 "max_steps", "must be a positive integer or None", self.max_steps)
        _require(_is_real(self.lora_dropout) and 0.0 <= self.lora_dropout < 1.0,
                 "lora_dropout", "must be in [0, 1)", self.lora_dropout)
        _require(_is_real(self.learning_rate) and 0.0 < self.learning_rate < 1.0,
                 "learning_rate", "must be in (0, 1)", self.learning_rate)
        _require(_is_real(self.weight_decay) and self.weight_decay >= 0.0, "weight_decay",
                 "must be >= 0", self.weight_decay)
        _require(_is_real(self.max_grad_norm) and self.max_grad_norm >= 0.0, "max_grad_norm",
                 "must be >= 0", self.max_grad_norm)
        _require(_is_real(self.warmup_ratio) and 0.0 <= self.warmup_ratio < 1.0,
                 "warmup_ratio", "must be in [0, 1)", self.warmup_ratio)
        _require(_is_real(self.epochs) and self.epochs > 0.0, "epochs",
                 "must be a positive number", self.epochs)
        _require(self.max_minutes is None or (_is_real(self.max_minutes) and self.max_minutes > 0),
                 "max_minutes", "must be a positive number or None", self.max_minutes)
        _require(self.target_modules and all(isinstance(m, str) and m
                                             for m in self.target_modules),
                 "target_modules", "must be a non-empty list of module names",
                 self.target_modules)
        _require(self.context_budget < self.max_tokens, "context_budget",
                 f"must be smaller than max_tokens ({self.max_tokens})", self.context_budget)
        _require(self.device is None or (isinstance(self.device, str) and self.device),
                 "device", "must be a device name or None", self.device)
        _require(self.base_dtype in BASE_DTYPES, "base_dtype",
                 f"must be one of {BASE_DTYPES}", self.base_dtype)

    def resolved_cache_dir(self) -> Path:
        """The base-model cache folder as an absolute path (``~`` expanded)."""
        return Path(self.cache_dir or DEFAULT_CACHE_DIR).expanduser().absolute()

    def micro_batch_limit(self, device: str) -> int:
        """``micro_batch_tokens``, or its default for ``device`` ('cpu', 'cuda', 'cuda:1'…)."""
        if self.micro_batch_tokens is not None:
            return self.micro_batch_tokens
        return CPU_MICRO_BATCH_TOKENS if device == "cpu" else GPU_MICRO_BATCH_TOKENS

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from ``to_dict()`` output; unknown keys are ignored with a warning."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            log.warning("ignoring unknown TrainConfig fields: %s", ", ".join(unknown))
        return cls(**{k: v for k, v in data.items() if k in known})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _require(ok: Any, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"TrainConfig.{name} {rule}, got {value!r}")
