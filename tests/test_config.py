"""Settings come from an explicit environment mapping; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin_backend.config import Settings
from trainer.base_model import EMBEDDED_BASE_MODEL


def test_defaults_and_overrides() -> None:
    default = Settings.from_env({})
    assert default.base_model == EMBEDDED_BASE_MODEL
    assert default.db_url.startswith("sqlite:///") and default.db_url.endswith("var/clonedesk.db")
    assert default.cache_dir == Path("var/models")
    custom = Settings.from_env({"CLONEDESK_HOME": "/srv/cd", "DATABASE_URL": "postgres://u@h/db",
                                "CLONEDESK_BASE_MODEL": "/models/qwen"})
    assert custom.db_url == "postgresql+psycopg://u@h/db"
    assert custom.cache_dir == Path("/srv/cd/models") and custom.base_model == "/models/qwen"


@pytest.mark.parametrize("env, name", [
    ({"CLONEDESK_IMPORT_BATCH": "many"}, "CLONEDESK_IMPORT_BATCH"),
    ({"CLONEDESK_IMPORT_BATCH": "0"}, "CLONEDESK_IMPORT_BATCH"),
    ({"CLONEDESK_INFERENCE": "gpu"}, "CLONEDESK_INFERENCE"),
    ({"CLONEDESK_INFERENCE": "openai"}, "CLONEDESK_INFERENCE_URL"),
])
def test_bad_values_name_the_variable(env: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env(env)


def test_api_key_never_in_repr() -> None:
    s = Settings.from_env({"CLONEDESK_INFERENCE": "openai", "CLONEDESK_INFERENCE_URL": "http://x",
                           "CLONEDESK_INFERENCE_API_KEY": "sk-secret-123"})
    assert "sk-secret-123" not in repr(s)


def test_readme_documents_every_setting() -> None:
    from plugin_backend.config import settings_table
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    for env, _default, _meaning in settings_table():
        assert f"| `{env}` |" in readme, f"{env} missing from README's settings table"
