"""The `clonedesk` CLI, run as a real subprocess against real databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, shared_file

CLI = [sys.executable, "-m", "plugin_backend"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, check=False, capture_output=True, text=True, cwd=REPO,
                          timeout=600)


def test_help_does_not_import_torch() -> None:
    code = ("import sys; from plugin_backend.cli import main; "
            "print(sorted(m for m in ('torch', 'transformers', 'flask', 'sqlalchemy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
    help_run = subprocess.run(CLI + ["--help"], capture_output=True, text=True, cwd=REPO,
                              check=False)
    assert help_run.returncode == 0 and "import" in help_run.stdout


def test_import_reports_rejections_with_exit_code(cli_env, tmp_path: Path) -> None:
    good = {"id": "1", "messages": [{"role": "customer", "text": "hi"}], "status": "solved",
            "category": "billing", "escalated": True}
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(good) + "\n" + '{"id": "2"}\n')
    result = run(["import", "--tenant", "acme", str(path)], cli_env)
    assert result.returncode == 3, result.stderr
    assert f"{path}:2: rejected:" in result.stderr and "'messages'" in result.stderr
    assert "1 inserted, 0 updated, 1 rejected" in result.stdout
    stats = run(["tickets", "stats", "--tenant", "acme", "--json"], cli_env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == {
        "total": 1, "by_status": {"solved": 1}, "by_category": {"billing": 1},
        "by_escalation": {"escalated": 1}}


def test_bad_tenant_and_unknown_tenant_are_clear_errors(cli_env, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("")
    bad = run(["import", "--tenant", "../etc", str(path)], cli_env)
    assert bad.returncode == 2 and "invalid tenant name" in bad.stderr
    missing = run(["tickets", "stats", "--tenant", "nobody"], cli_env)
    assert missing.returncode == 1 and "no account named 'nobody'" in missing.stderr


def test_import_real_file_twice_gives_same_counts(cli_env) -> None:
    path = shared_file("tweetsumm.jsonl")
    first = run(["import", "--tenant", "tw", str(path)], cli_env)
    assert first.returncode == 0 and "857 inserted, 0 updated, 0 rejected" in first.stdout
    again = run(["import", "--tenant", "tw", str(path)], cli_env)
    assert again.returncode == 0 and "0 inserted, 857 updated, 0 rejected" in again.stdout
    stats = run(["tickets", "stats", "--tenant", "tw"], cli_env)
    assert "tw: 857 tickets" in stats.stdout
    assert "AppleSupport" in stats.stdout and "escalated" in stats.stdout


def test_settings_command_lists_every_variable(cli_env) -> None:
    from plugin_backend.config import settings_table

    out = run(["settings"], cli_env)
    assert out.returncode == 0
    for env, _default, _meaning in settings_table():
        assert env in out.stdout
