"""`clonedesk preview` and `clonedesk evaluate` end to end on the session's trained account:
the real adapter, the real base model for the model baselines, the real embeddings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plugin_backend.cli import main
from tests.conftest import TRAINED_TENANT as TENANT
from trainer.baselines import BASELINES
from trainer.registry import AdapterRegistry

FAST = ["--max-tickets", "8", "--max-new-tokens", "24"]


@pytest.fixture(scope="module")
def previewed(trained_account: dict[str, Any]) -> dict[str, Any]:
    runner, env = trained_account["runner"], trained_account["env"]
    result = runner.invoke(main, ["preview", "--tenant", TENANT, *FAST], env=env)
    assert result.exit_code == 0, result.output
    return {**trained_account, "output": result.output}


def test_preview_scores_clonedesk_and_every_baseline_on_the_same_holdout(
        previewed: dict[str, Any]) -> None:
    registry = AdapterRegistry(previewed["home"] / "adapters", TENANT)
    current = registry.current()
    report = json.loads((previewed["home"] / "reports" / TENANT /
                         f"{current.version}-preview.json").read_text())
    assert report["adapter_version"] == current.version and report["source"] == "holdout"
    holdout = current.metadata["split"]["holdout_ids"]
    assert report["counts"]["tickets_given"] == len(holdout)
    assert report["counts"]["scored"] == 8 and set(report["ticket_ids"]) <= set(holdout)
    assert {"clonedesk", *BASELINES} <= set(report["methods"])
    for name, method in report["methods"].items():
        overall = method["overall"]
        assert overall["tickets"] == 8, name
        assert len(method["per_ticket"]["acceptable"]) == 8
        assert overall["acceptable"] == sum(method["per_ticket"]["acceptable"])
        assert 0.0 <= overall["projected_automated_resolution_rate"] <= overall["acceptable_rate"]
        assert sum(c["tickets"] for c in method["by_category"].values()) == 8
        assert set(overall["acceptable_curve"]) == {"0.50", "0.55", "0.60", "0.65", "0.70",
                                                    "0.75", "0.80"}
    assert set(report["lift"]) == set(report["methods"]) - {"clonedesk"}
    assert report["escalation_signal"]["signal"] in ("neighbours", "classifier")
    assert report["training_window"]["tickets"] == 112
    # The headline numbers are recorded with the version (for promotion decisions).
    preview = current.metadata["preview"]
    assert preview["tickets"] == 8
    assert preview["acceptable_rate"] == report["methods"]["clonedesk"]["overall"][
        "acceptable_rate"]


def test_preview_summary_and_html_report(previewed: dict[str, Any]) -> None:
    out = previewed["output"]
    assert "projected automated-resolution rate" in out
    assert "RAG nearest resolution" in out and "Typical reply (account)" in out
    html_path = Path(out.split("report: ")[1].split()[0])
    html = html_path.read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") == 3
    assert "<script" not in html and "cdn" not in html.lower()
    assert 'src="http' not in html and "href=\"http" not in html


def test_preview_json_flag_prints_the_report(previewed: dict[str, Any]) -> None:
    runner, env = previewed["runner"], previewed["env"]
    result = runner.invoke(main, ["preview", "--tenant", TENANT, "--json", "--max-tickets",
                                  "4", "--baselines", "rag_nearest,typical_reply"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert set(report["methods"]) <= {"clonedesk", "adapter_rag", "rag_nearest",
                                      "typical_reply"}
    assert report["counts"]["scored"] == 4


def test_preview_bad_input_gets_clear_errors(previewed: dict[str, Any]) -> None:
    runner, env = previewed["runner"], previewed["env"]
    none = runner.invoke(main, ["preview", "--tenant", "nobody"], env=env)
    assert none.exit_code == 4 and "no promoted adapter" in none.output
    bad = runner.invoke(main, ["preview", "--tenant", TENANT, "--baselines", "magic"], env=env)
    assert bad.exit_code == 2 and "unknown magic" in bad.output


def test_evaluate_scores_an_external_file_and_reports_rejected_lines(
        previewed: dict[str, Any], tmp_path: Path) -> None:
    runner, env = previewed["runner"], previewed["env"]
    lines = previewed["data"].read_text().splitlines()[:6]
    source = tmp_path / "labelled.jsonl"
    source.write_text("\n".join([*lines, "{not json", lines[0]]) + "\n")
    result = runner.invoke(main, ["evaluate", "--tenant", TENANT, "--input", str(source),
                                  *FAST], env=env)
    assert result.exit_code == 3, result.output
    assert "labelled.jsonl:7: rejected" in result.output
    assert "labelled.jsonl:8: rejected: duplicate id" in result.output
    report = json.loads((previewed["home"] / "reports" / TENANT /
                         "v0001-evaluate-labelled.json").read_text())
    assert report["source"] == "file labelled.jsonl" and report["counts"]["scored"] == 6
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{not json\n")
    nothing = runner.invoke(main, ["evaluate", "--tenant", TENANT, "--input", str(empty)],
                            env=env)
    assert nothing.exit_code == 1 and "no valid tickets" in nothing.output
