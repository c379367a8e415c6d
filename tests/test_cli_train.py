"""`clonedesk train / suggest / adapters` end to end: a real (short) LoRA run on the embedded
base model over a small demo account in SQLite, then suggestions from the promoted version."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from plugin_backend.cli import main
from plugin_backend.demo_data import write_demo_dataset
from tests.conftest import TRAINED_TENANT as TENANT
from trainer.interaction import parse_line
from trainer.registry import AdapterRegistry
from trainer.split import holdout_split
from trainer.suggest import MODES


@pytest.fixture
def trained(trained_account: dict[str, Any]) -> dict[str, Any]:
    """The session's trained demo account (tests/conftest.py)."""
    return trained_account


def tickets_of(path: Path) -> list[Any]:
    return [parse_line(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_train_registers_and_promotes_a_complete_version(trained: dict[str, Any]) -> None:
    assert "version v0001 promoted" in trained["output"]
    assert "default mode:" in trained["output"] and "escalation:" in trained["output"]
    registry = AdapterRegistry(trained["home"] / "adapters", TENANT)
    current = registry.current()
    assert current is not None and current.version == "v0001"
    names = {p.name for p in current.path.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "clonedesk.json",
            "retrieval.npz", "retrieval.json", "escalation.npz", "escalation.json"} <= names
    meta = current.metadata
    assert meta["base_model"]["sha256"]
    assert meta["serving"]["mode"] in MODES
    assert set(meta["serving"]["calibrators"]) == set(MODES)
    assert meta["serving"]["policy"]["signal"] in ("neighbours", "classifier")
    assert meta["train"]["steps"] == 3
    assert meta["validation"]["tickets_scored"] == 6
    assert not (trained["home"] / "training" / TENANT).exists()  # work dir cleaned up


def test_the_holdout_is_the_newest_fifth_and_never_reaches_training(
        trained: dict[str, Any]) -> None:
    tickets = tickets_of(trained["data"])
    expected = {t.id for t in holdout_split(tickets, 0.2).holdout}
    meta = AdapterRegistry(trained["home"] / "adapters", TENANT).current().metadata
    holdout = set(meta["split"]["holdout_ids"])
    assert holdout == expected and len(holdout) == 28
    assert not holdout & set(meta["split"]["validation_ids"])
    folder = AdapterRegistry(trained["home"] / "adapters", TENANT).current().path
    for name in ("retrieval.json", "escalation.json"):
        records = json.loads((folder / name).read_text())["records"]
        assert records and not holdout & {r["ticket_id"] for r in records}
    newest_train = max(t.created_at for t in tickets if t.id not in holdout)
    assert all(t.created_at >= newest_train for t in tickets if t.id in holdout)


def test_suggest_writes_one_line_per_ticket_in_order(trained: dict[str, Any],
                                                     tmp_path: Path) -> None:
    tickets = tickets_of(trained["data"])[-5:]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tickets)
                      + "{not json\n")
    out = tmp_path / "out.jsonl"
    result = trained["runner"].invoke(main, ["suggest", "--tenant", TENANT, "--input",
                                             str(source), "--output", str(out)],
                                      env=trained["env"])
    assert result.exit_code == 3, result.output  # the broken line is reported, the rest done
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [t.id for t in tickets]
    for row in rows:
        assert row["action"] in ("reply", "escalate")
        assert 0.0 <= row["confidence"] <= 1.0
        assert row["mode"] in MODES
        if row["format_ok"] and row["action"] == "reply":
            assert row["reply"]


def test_suggest_without_an_adapter_says_so(trained: dict[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(trained["data"].read_text().splitlines()[0] + "\n")
    result = trained["runner"].invoke(main, ["suggest", "--tenant", "nobody", "--input",
                                             str(source), "--output", str(tmp_path / "o")],
                                      env=trained["env"])
    assert result.exit_code == 4
    assert "no promoted adapter" in result.output


def test_adapters_list_promote_rollback(trained: dict[str, Any]) -> None:
    runner, env = trained["runner"], trained["env"]
    registry = AdapterRegistry(trained["home"] / "adapters", TENANT)
    first = registry.current()
    copy = trained["home"] / "copy"
    shutil.copytree(first.path, copy)
    second = registry.register(copy, {k: v for k, v in first.metadata.items()
                                      if k not in ("version", "created_at")})
    promoted = runner.invoke(main, ["adapters", "promote", "--tenant", TENANT, second], env=env)
    assert promoted.exit_code == 0 and f"{second} is current" in promoted.output
    listed = runner.invoke(main, ["adapters", "list", "--tenant", TENANT, "--json"], env=env)
    rows = json.loads(listed.output)
    assert [(r["version"], r["current"], r["previous"]) for r in rows] == [
        ("v0001", False, True), (second, True, False)]
    back = runner.invoke(main, ["adapters", "rollback", "--tenant", TENANT], env=env)
    assert back.exit_code == 0 and "rolled back to v0001" in back.output
    assert registry.current().version == "v0001"
    missing = runner.invoke(main, ["adapters", "promote", "--tenant", TENANT, "v0042"], env=env)
    assert missing.exit_code == 1 and "no version v0042" in missing.output
    bad = runner.invoke(main, ["adapters", "list", "--tenant", "../etc"], env=env)
    assert bad.exit_code == 2


def test_train_refuses_an_account_with_too_little_data(trained: dict[str, Any],
                                                       tmp_path: Path) -> None:
    runner, env = trained["runner"], trained["env"]
    small = write_demo_dataset(tmp_path / "tiny.jsonl", n=4, seed=1)
    assert runner.invoke(main, ["import", "--tenant", "tiny", str(small)], env=env).exit_code == 0
    result = runner.invoke(main, ["train", "--tenant", "tiny", "--max-steps", "1"], env=env)
    assert result.exit_code == 1 and "import more resolved tickets" in result.output
    assert AdapterRegistry(trained["home"] / "adapters", "tiny").versions() == []
    unknown = runner.invoke(main, ["train", "--tenant", "ghost"], env=env)
    assert unknown.exit_code == 1 and "ghost" in unknown.output


def test_nothing_stored_with_the_adapter_carries_the_tickets_pii(
        trained: dict[str, Any]) -> None:
    emails = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", trained["data"].read_text()))
    assert emails  # the demo account has customers' addresses to leak
    folder = AdapterRegistry(trained["home"] / "adapters", TENANT).current().path
    for path in folder.glob("*.json"):
        text = path.read_text()
        assert not {e for e in emails if e in text}, path.name
    assert "[EMAIL]" in (folder / "escalation.json").read_text()
