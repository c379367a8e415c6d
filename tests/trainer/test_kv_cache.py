"""trainer.kv_cache: the in-place cache layer against transformers' own DynamicLayer."""

from __future__ import annotations

import pytest
import torch
from transformers.cache_utils import DynamicLayer

from trainer.kv_cache import PreallocatedLayer, preallocated_cache


def states(batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, length, 8, generator=generator),
            torch.randn(batch, 3, length, 8, generator=generator))


@pytest.mark.parametrize("capacity", [64, 4])    # 4: the buffer has to grow twice
def test_every_operation_matches_dynamic_layer(capacity: int) -> None:
    ours, theirs = PreallocatedLayer(capacity), DynamicLayer()
    assert ours.get_seq_length() == theirs.get_seq_length() == 0
    steps = [("update", 4, 5), ("update", 4, 1), ("crop", -2), ("update", 4, 3),
             ("select", [0, 2, 3]), ("update", 3, 1), ("crop", 0), ("select", [2, 2]),
             ("update", 2, 4)]
    for seed, step in enumerate(steps):
        if step[0] == "update":
            key, value = states(step[1], step[2], seed)
            got, expected = ours.update(key, value), theirs.update(key, value)
            for a, b in zip(got, expected):
                assert torch.equal(a, b)
        elif step[0] == "crop":
            ours.crop(step[1])
            theirs.crop(step[1])
        else:
            index = torch.tensor(step[1])
            ours.batch_select_indices(index)
            theirs.batch_select_indices(index)
        assert ours.get_seq_length() == theirs.get_seq_length()
        assert torch.equal(ours.keys, theirs.keys) and torch.equal(ours.values, theirs.values)
    assert ours.get_seq_length() == 5 + 1 - 2 + 3 + 1 + 4
    with pytest.raises(ValueError, match="negative"):
        ours.crop(1)


def test_writes_in_place_while_the_capacity_lasts() -> None:
    layer = PreallocatedLayer(16)
    layer.update(*states(2, 10, 0))
    buffer = layer.keys.data_ptr()
    layer.update(*states(2, 1, 1))
    assert layer.keys.data_ptr() == buffer      # the same storage: nothing was copied
    layer.update(*states(2, 6, 2))               # 17 > 16: grows
    assert layer.get_seq_length() == 17 and layer.keys.shape == (2, 3, 17, 8)


def test_cache_for_a_model_config_uses_the_layer_for_plain_attention() -> None:
    from transformers import LlamaConfig

    config = LlamaConfig(num_hidden_layers=3, hidden_size=32, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64, vocab_size=100)
    cache = preallocated_cache(config, 32)
    assert [type(layer) for layer in cache.layers] == [PreallocatedLayer] * 3
