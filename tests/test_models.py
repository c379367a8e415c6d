"""The embedded base model and embeddings load offline and work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from trainer import base_model


def test_embedded_model_prepares_once_and_generates(model_cache: Path) -> None:
    path = base_model.prepare_embedded(model_cache)
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert base_model.prepare_embedded(model_cache) == path  # cached: no second conversion
    model, tokenizer = base_model.load(base_model.EMBEDDED_BASE_MODEL, model_cache, "cpu")
    assert not hasattr(model.config, "quantization_config")
    inputs = tokenizer("The capital of France is", return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    text = tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert out.shape[1] > inputs["input_ids"].shape[1] and text.strip()
    ident = base_model.identity(base_model.EMBEDDED_BASE_MODEL, model_cache)
    assert ident["id"] == base_model.EMBEDDED_BASE_MODEL and len(ident["sha256"]) == 64


def test_models_prepare_cli_works_offline(model_cache: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "CLONEDESK_HOME": str(tmp_path), "CLONEDESK_MODEL_CACHE": str(model_cache)}
    out = subprocess.run([sys.executable, "-m", "plugin_backend", "models", "prepare"], check=False,
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr
    assert str(base_model.prepared_dir(model_cache).resolve()) in out.stdout


def test_embeddings_are_unit_vectors_that_rank_meaning() -> None:
    from trainer.embeddings import shared_embedder

    vectors = shared_embedder().encode(
        ["Where is my parcel?", "My package has not arrived yet", "I want to change my password"])
    norms = (vectors ** 2).sum(axis=1)
    assert vectors.shape == (3, 384) and all(abs(n - 1) < 1e-4 for n in norms)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert shared_embedder().encode([]).shape == (0, 384)


def test_memoized_encoder_embeds_each_distinct_text_once() -> None:
    import numpy as np

    from trainer.embeddings import MemoizedEncoder, shared_embedder

    class Counting:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def encode(self, texts: list[str]) -> np.ndarray:
            self.seen += texts
            return shared_embedder().encode(texts)

    inner = Counting()
    memo = MemoizedEncoder(inner)
    texts = ["Where is my parcel?", "My package has not arrived yet", "Where is my parcel?"]
    first = memo.encode(texts)
    again = memo.encode(["I want to change my password", "My package has not arrived yet"])
    assert inner.seen == texts[:2] + ["I want to change my password"]
    direct = shared_embedder().encode(texts + ["I want to change my password"])
    np.testing.assert_allclose(first, direct[:3], atol=1e-5)
    np.testing.assert_allclose(again, direct[[3, 1]], atol=1e-5)
    assert len(memo) == 3 and memo.encode([]).shape == (0, 384)
