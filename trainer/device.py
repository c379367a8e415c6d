"""Pick the compute device and dtype: a GPU when present, else the CPU.

bf16 pays on a CPU only with native bf16 instructions (AVX512-BF16 or AMX); on an AVX2-only
CPU torch emulates it and a training step runs tens of times slower than in fp32 (measured
on an AMD EPYC without AVX-512: 12 steps did not finish in 20 minutes). So the CPU gets bf16
only where ``/proc/cpuinfo`` (or torch's oneDNN check) says it is native, fp32 otherwise.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def pick_device(preferred: str | None = None) -> str:
    """Return 'cuda' when a GPU is available (or `preferred` when given), else 'cpu'."""
    import torch

    if preferred:
        return preferred
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def describe(device: str | None = None) -> dict[str, Any]:
    """What a benchmark ran on: the device, its name, the compute dtype and library versions."""
    import platform

    import torch
    import transformers

    device = pick_device(device)
    name = (torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda")
            else platform.processor() or platform.machine())
    return {"device": device, "name": name, "dtype": str(pick_dtype(device)).split(".")[-1],
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "transformers": transformers.__version__}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return any(flag in line.split() for flag in _BF16_FLAGS)
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_dtype(device: str) -> Any:
    """bf16 where the device computes it natively, fp16 on older GPUs, else fp32."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def resident_gb() -> float:
    """This process's resident memory now, in GiB (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


def release_free_memory() -> bool:
    """Hand memory the process has freed back to the operating system (glibc ``malloc_trim``).

    Tensors freed on a CPU stay in glibc's heap, in pieces later allocations of other shapes
    cannot always reuse, so a long run's resident memory creeps up (an account run grew to
    6 GB before training widths were padded). Called between the phases of a training run and
    every ``TRIM_EVERY_STEPS`` steps; a no-op (False) where the C library has no malloc_trim.
    Forcing big tensors through mmap instead (``M_MMAP_THRESHOLD``) halved training speed.
    The commands that load models run on mimalloc instead (``plugin_backend.allocator``),
    which reuses those blocks; there glibc's trim has nothing to hand back, only ``gc`` acts.
    """
    import gc

    gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, looked up once; None where the C library has none."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
