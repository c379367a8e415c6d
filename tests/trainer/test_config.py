"""TrainConfig: defaults, validation naming the bad field, dict round trip."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from trainer.base_model import EMBEDDED_BASE_MODEL
from trainer.config import ALL_PROJECTIONS, TrainConfig


def test_defaults() -> None:
    config = TrainConfig()
    assert config.base_model == EMBEDDED_BASE_MODEL
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.0)
    assert config.target_modules == ALL_PROJECTIONS
    assert len(config.target_modules) == 7
    assert config.learning_rate == 2e-4 and config.epochs == 1.0
    assert config.max_minutes is None and config.batch_size == 4 and config.max_tokens == 512
    assert config.base_dtype == "auto"  # bf16 only where the device computes it natively


def test_micro_batch_default_depends_on_the_device() -> None:
    config = TrainConfig()
    assert config.micro_batch_tokens is None
    assert config.micro_batch_limit("cpu") == 1024      # bounds a CPU pass's memory
    assert config.micro_batch_limit("cuda") == config.micro_batch_limit("cuda:1") == 16384
    assert config.batch_size * config.max_tokens <= config.micro_batch_limit("cuda")
    assert TrainConfig(micro_batch_tokens=300).micro_batch_limit("cuda") == 300


def test_every_field_has_help() -> None:
    for f in fields(TrainConfig):
        assert f.metadata.get("help"), f.name


@pytest.mark.parametrize("name, value", [
    ("lora_r", 0),
    ("lora_alpha", -1),
    ("lora_dropout", 1.0),
    ("learning_rate", 0.0),
    ("epochs", 0),
    ("epochs", float("nan")),
    ("max_minutes", 0),
    ("max_steps", 0),
    ("batch_size", 2.5),
    ("max_tokens", True),
    ("context_budget", 512),
    ("seed", -1),
    ("checkpoint_every_steps", -5),
    ("warmup_ratio", 1.0),
    ("log_every", 0),
    ("base_dtype", "fp16"),
    ("target_modules", ()),
    ("base_model", ""),
    ("device", ""),
    ("cpu_threads", 0),
    ("micro_batch_tokens", 0),
    ("micro_batch_tokens", 1.5),
])
def test_validation_names_the_bad_field(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        TrainConfig(**{name: value})


def test_dict_round_trip_through_json() -> None:
    config = TrainConfig(lora_r=8, max_minutes=1.5, target_modules=("q_proj", "v_proj"),
                         cache_dir="/tmp/cache", base_dtype="fp32")
    data = json.loads(json.dumps(config.to_dict()))
    assert data["target_modules"] == ["q_proj", "v_proj"]
    assert TrainConfig.from_dict(data) == config


def test_from_dict_ignores_unknown_fields_and_still_validates() -> None:
    assert TrainConfig.from_dict({"lora_r": 4, "retired_knob": 1}).lora_r == 4
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": 0})
