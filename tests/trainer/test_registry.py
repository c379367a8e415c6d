"""AdapterRegistry: versions, promote/rollback, atomicity and input checks (real files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.registry import AdapterRegistry, RegistryError


def make_adapter(path: Path, tag: str = "a") -> Path:
    """A minimal PEFT-shaped folder (the registry only copies files)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 16}))
    (path / "adapter_model.safetensors").write_bytes(f"weights-{tag}".encode())
    return path


@pytest.fixture
def registry(tmp_path: Path) -> AdapterRegistry:
    return AdapterRegistry(tmp_path / "adapters", "acme")


def test_register_copies_files_and_metadata(registry: AdapterRegistry, tmp_path: Path) -> None:
    source = make_adapter(tmp_path / "out")
    meta = {"base_model": {"id": "embedded:x", "sha256": "ab"}, "examples": {"train": 10}}
    version = registry.register(source, meta)
    assert version == "v0001"
    entry = registry.get(version)
    assert entry.path == registry.tenant_dir / "versions" / "v0001"
    assert (entry.path / "adapter_model.safetensors").read_bytes() == b"weights-a"
    assert entry.metadata["examples"] == {"train": 10}
    assert entry.metadata["version"] == "v0001" and entry.metadata["created_at"]
    assert registry.get(1) == entry
    assert registry.current() is None  # registering does not promote
    assert registry.register(source, {}) == "v0002"
    assert [v.version for v in registry.versions()] == ["v0001", "v0002"]


def test_promote_and_rollback(registry: AdapterRegistry, tmp_path: Path) -> None:
    v1 = registry.register(make_adapter(tmp_path / "one", "1"), {})
    v2 = registry.register(make_adapter(tmp_path / "two", "2"), {})
    with pytest.raises(RegistryError, match="no previous"):
        registry.rollback()
    registry.promote(v1)
    with pytest.raises(RegistryError, match="no previous"):
        registry.rollback()
    registry.promote(v2)
    pointer = json.loads((registry.tenant_dir / "current.json").read_text())
    assert pointer == {"current": "v0002", "previous": "v0001"}
    registry.promote(v2)  # promoting the current one keeps the rollback target
    assert registry.previous().version == "v0001"  # type: ignore[union-attr]
    assert registry.rollback().version == "v0001"
    assert registry.current().version == "v0001"  # type: ignore[union-attr]
    assert registry.rollback().version == "v0002"  # rollback swaps, so it undoes itself
    with pytest.raises(RegistryError, match="no version v0009"):
        registry.promote("v0009")
    assert registry.current().version == "v0002"  # type: ignore[union-attr]


def test_update_metadata(registry: AdapterRegistry, tmp_path: Path) -> None:
    version = registry.register(make_adapter(tmp_path / "out"), {"metrics": {"acc": 0.5}})
    entry = registry.update_metadata(version, {"metrics": {"acc": 0.7}, "note": "ok"})
    assert entry.metadata["metrics"] == {"acc": 0.7} and entry.metadata["note"] == "ok"
    assert registry.get(version).metadata["version"] == version
    with pytest.raises(RegistryError, match="version"):
        registry.update_metadata(version, {"version": "v0005"})
    with pytest.raises(RegistryError, match="JSON"):
        registry.update_metadata(version, {"when": object()})
    assert not list(entry.path.glob(".*.tmp"))


def test_crash_leftovers_are_ignored_and_cleaned(registry: AdapterRegistry,
                                                 tmp_path: Path) -> None:
    v1 = registry.register(make_adapter(tmp_path / "out"), {})
    registry.promote(v1)
    # A writer killed mid-copy: a staging dir and a half-written pointer temp file.
    staging = registry.tenant_dir / ".staging-crashed"
    make_adapter(staging)
    (registry.tenant_dir / ".current.json.999.tmp").write_text('{"current": "v00')
    # A version folder without its metadata is not a version.
    (registry.versions_dir / "v0007").mkdir()
    (registry.versions_dir / "v0007" / "adapter_config.json").write_text("{}")
    assert [v.version for v in registry.versions()] == ["v0001"]
    assert registry.current().version == "v0001"  # type: ignore[union-attr]
    v_next = registry.register(make_adapter(tmp_path / "two", "2"), {})
    assert v_next == "v0008"
    assert not staging.exists()
    assert not list(registry.tenant_dir.glob(".*.tmp"))
    with pytest.raises(RegistryError):
        registry.promote("v0007")
    assert registry.current().version == "v0001"  # type: ignore[union-attr]


def test_current_json_only_names_existing_versions(registry: AdapterRegistry,
                                                   tmp_path: Path) -> None:
    for i in range(3):
        registry.promote(registry.register(make_adapter(tmp_path / f"a{i}", str(i)), {}))
        pointer = json.loads((registry.tenant_dir / "current.json").read_text())
        for name in (pointer["current"], pointer["previous"]):
            assert name is None or (registry.versions_dir / name / "clonedesk.json").is_file()


@pytest.mark.parametrize("missing", ["adapter_config.json", "adapter_model.safetensors"])
def test_incomplete_adapter_is_refused(registry: AdapterRegistry, tmp_path: Path,
                                       missing: str) -> None:
    source = make_adapter(tmp_path / "out")
    (source / missing).unlink()
    with pytest.raises(RegistryError, match=missing):
        registry.register(source, {})
    assert registry.versions() == []
    assert not list(registry.tenant_dir.glob(".staging-*"))


def test_metadata_must_be_json(registry: AdapterRegistry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="JSON"):
        registry.register(make_adapter(tmp_path / "out"), {"config": {1, 2}})
    assert registry.versions() == []


@pytest.mark.parametrize("tenant", ["", "..", ".", "../evil", "a/b", "a\\b", ".hidden",
                                    "a..b", "x" * 129, "tab\t", "café", None])
def test_bad_tenant_names(tmp_path: Path, tenant: object) -> None:
    with pytest.raises(RegistryError, match="tenant"):
        AdapterRegistry(tmp_path, tenant)  # type: ignore[arg-type]


def test_tenants_are_isolated(tmp_path: Path) -> None:
    one = AdapterRegistry(tmp_path, "one")
    two = AdapterRegistry(tmp_path, "two-2.b_c")
    one.promote(one.register(make_adapter(tmp_path / "out"), {}))
    assert two.versions() == [] and two.current() is None


@pytest.mark.parametrize("version", ["1", "v1", "v0001/..", 0, -3, True])
def test_bad_version_names(registry: AdapterRegistry, version: object) -> None:
    with pytest.raises(RegistryError, match="version"):
        registry.get(version)  # type: ignore[arg-type]
