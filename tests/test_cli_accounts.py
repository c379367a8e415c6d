"""`clonedesk keys` and `clonedesk connect`: keys shown once and stored hashed; secrets never
printed; one helpdesk account never linked to two CloneDesk accounts."""

from __future__ import annotations

import json
from pathlib import Path

from plugin_backend.cli import main


def _account(runner, cli_env, tmp_path: Path, name: str) -> None:
    data = tmp_path / f"{name}.jsonl"
    data.write_text(json.dumps({"id": "1", "messages": [
        {"role": "customer", "text": "hi"}, {"role": "agent", "text": "hello"}]}) + "\n")
    assert runner.invoke(main, ["import", "--tenant", name, str(data)], env=cli_env).exit_code == 0


def test_keys_are_shown_once_and_stored_as_hashes(runner, cli_env, tmp_path):
    from sqlalchemy import select

    from plugin_backend.accounts import tenant_for_api_key
    from plugin_backend.db import ApiKey, connect

    _account(runner, cli_env, tmp_path, "acme")
    created = runner.invoke(main, ["keys", "create", "--tenant", "acme"], env=cli_env)
    assert created.exit_code == 0
    key = created.output.strip()
    assert key.startswith("cdk_") and len(key) > 40
    sessions = connect(cli_env["DATABASE_URL"])
    with sessions() as session:
        assert tenant_for_api_key(session, key).name == "acme"
        stored = session.scalars(select(ApiKey)).all()
        assert all(key not in (row.key_hash, row.prefix) for row in stored)
    revoked = runner.invoke(main, ["keys", "revoke", "--tenant", "acme"], env=cli_env)
    assert "1 key(s) revoked" in revoked.output
    with sessions() as session:
        assert tenant_for_api_key(session, key) is None
    unknown = runner.invoke(main, ["keys", "create", "--tenant", "nobody"], env=cli_env)
    assert unknown.exit_code == 1 and "no account named 'nobody'" in unknown.output
    sessions.kw["bind"].dispose()


def test_connect_stores_secrets_without_printing_them(runner, cli_env, tmp_path):
    from plugin_backend.accounts import find_installation
    from plugin_backend.db import connect

    _account(runner, cli_env, tmp_path, "acme")
    _account(runner, cli_env, tmp_path, "globex")
    result = runner.invoke(main, ["connect", "zendesk", "--tenant", "acme", "--subdomain",
                                  "AcmeHelp", "--installation-id", "77", "--webhook-secret",
                                  "whsec-very-secret", "--group", "Billing=42"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "whsec-very-secret" not in result.output and "webhook_secret" in result.output
    sessions = connect(cli_env["DATABASE_URL"])
    with sessions() as session:
        row = find_installation(session, "zendesk", "acmehelp")
        assert row.secrets == {"webhook_secret": "whsec-very-secret"}
        assert row.settings == {"groups": {"Billing": 42}, "installation_id": "77"}
    stolen = runner.invoke(main, ["connect", "zendesk", "--tenant", "globex", "--subdomain",
                                  "acmehelp"], env=cli_env)
    assert stolen.exit_code == 1 and "linked to another CloneDesk account" in stolen.output
    bad = runner.invoke(main, ["connect", "intercom", "--tenant", "acme", "--workspace", "ws1",
                               "--team", "Billing"], env=cli_env)
    assert bad.exit_code == 2 and "NAME=ID" in bad.output
    ok = runner.invoke(main, ["connect", "intercom", "--tenant", "acme", "--workspace", "ws1",
                              "--access-token", "tok-secret", "--region", "eu"], env=cli_env)
    assert ok.exit_code == 0 and "tok-secret" not in ok.output
    sessions.kw["bind"].dispose()
