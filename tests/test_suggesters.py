"""plugin_backend.suggesters: the worker's pool of account suggesters, warmed before jobs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import TRAINED_TENANT


def test_warm_up_loads_promoted_accounts_and_skips_broken_ones(
        trained_account: dict[str, Any], model_cache: Path, tmp_path: Path) -> None:
    from plugin_backend.config import Settings
    from plugin_backend.suggesters import SuggesterPool
    from trainer.registry import AdapterRegistry

    adapters = tmp_path / "adapters"
    adapters.mkdir()
    shutil.copytree(trained_account["home"] / "adapters" / TRAINED_TENANT,
                    adapters / TRAINED_TENANT, symlinks=True)
    (adapters / "broken").mkdir()
    (adapters / "broken" / "current.json").write_text("{not json")
    (adapters / "never-promoted").mkdir()
    settings = Settings(home=tmp_path, model_cache=model_cache)
    registry = AdapterRegistry(adapters, TRAINED_TENANT)
    current = registry.current()
    assert current is not None

    idle = SuggesterPool(settings)
    assert idle.warm_up(limit=0) == [] and idle._embedder is None      # --preload 0
    # served by retrieval: the warm-up builds the suggester and never loads the model
    registry.update_metadata(current.version, {
        "serving": {**current.metadata["serving"], "mode": "retrieval"}})
    pool = SuggesterPool(settings)
    assert pool.warm_up() == [TRAINED_TENANT]
    assert pool._cache[TRAINED_TENANT][1] is pool.suggester(TRAINED_TENANT)
    assert pool._backend is None
    # served by the adapter: the warm-up also loads the base model and merges the adapter
    registry.update_metadata(current.version, {
        "serving": {**current.metadata["serving"], "mode": "adapter_rag"}})
    pool = SuggesterPool(settings)
    assert pool.warm_up() == [TRAINED_TENANT]
    suggester = pool._cache[TRAINED_TENANT][1]
    assert suggester is pool.suggester(TRAINED_TENANT)       # the first job finds it ready
    assert pool.backend().cached_adapters == [suggester.account.adapter.name]
