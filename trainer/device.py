"""Pick the compute device and dtype: a GPU when present, else the CPU."""

from __future__ import annotations

from typing import Any


def pick_device(preferred: str | None = None) -> str:
    """Return 'cuda' when a GPU is available (or `preferred` when given), else 'cpu'."""
    import torch

    if preferred:
        return preferred
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(device: str) -> Any:
    """bf16 where the device supports it, fp16 on older GPUs; bf16 on CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16
