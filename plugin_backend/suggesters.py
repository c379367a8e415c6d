"""Suggesters for the worker: an account's promoted adapter version → a ready ``Suggester``.

One inference back end per process (local transformers, or an OpenAI-compatible multi-LoRA
server per ``CLONEDESK_INFERENCE``), shared by every account; each account's version (its
adapter, retrieval indexes, policy and calibration) is loaded once and reloaded when the
registry's current version changes (promotion or rollback).

With the ``openai`` back end the server must serve each account's adapter under the name
``<tenant>-<version>`` (e.g. vLLM ``--lora-modules acme-v0003=/srv/adapters/acme/versions/v0003``
or LoRAX's ``adapter_id``); prompts are still rendered here with the base tokenizer.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from trainer.registry import POINTER_FILE, AdapterRegistry, RegistryError

if TYPE_CHECKING:
    from plugin_backend.config import Settings
    from trainer.suggest import Suggester

log = logging.getLogger(__name__)


class NoAdapter(LookupError):
    """The account has no promoted adapter yet (train one first)."""


class SuggesterPool:
    """Builds and caches one Suggester per (account, current version)."""

    def __init__(self, settings: Settings, backend: Any = None, embedder: Any = None) -> None:
        self.settings = settings
        self._backend = backend
        self._embedder = embedder
        self._tokenizer: Any = None
        self._cache: dict[str, tuple[str, Suggester]] = {}
        self._lock = threading.Lock()

    def registry(self, tenant: str) -> AdapterRegistry:
        """The tenant's adapter registry."""
        return AdapterRegistry(self.settings.adapters_dir, tenant)

    def backend(self) -> Any:
        """The process-wide inference back end (built on first use)."""
        if self._backend is None:
            from trainer.inference import make_backend

            s = self.settings
            if s.inference == "openai":
                self._backend = make_backend("openai", base_url=s.inference_url,
                                             api_key=s.inference_api_key)
            else:
                self._backend = make_backend("local", base_model_spec=s.base_model,
                                             cache_dir=s.cache_dir, device=s.device)
        return self._backend

    def tokenizer(self) -> Any:
        """The base model's tokenizer (from the local back end when there is one)."""
        if self._tokenizer is None:
            backend = self.backend()
            if hasattr(backend, "tokenizer"):
                self._tokenizer = backend.tokenizer
            else:
                from trainer.suggest import load_tokenizer

                self._tokenizer = load_tokenizer(self.settings.base_model,
                                                 self.settings.cache_dir)
        return self._tokenizer

    def embedder(self) -> Any:
        """The shared sentence embedder."""
        if self._embedder is None:
            from trainer.embeddings import shared_embedder

            self._embedder = shared_embedder()
        return self._embedder

    def warm_up(self, limit: int = 4) -> list[str]:
        """Load now what a first request would wait for: the embedder, and for the ``limit``
        accounts promoted most recently their suggester, the base model and their adapter
        (``clonedesk worker`` calls this before taking jobs). Returns the accounts warmed."""
        from trainer.suggest import ADAPTER_MODES

        if limit < 1:
            return []
        self.embedder()
        root = self.settings.adapters_dir
        promoted = []
        for folder in (root.iterdir() if root.is_dir() else []):
            try:
                current = AdapterRegistry(root, folder.name).current()
            except (RegistryError, OSError) as exc:
                log.warning("not warming %s: %s", folder.name, exc)
                continue
            if current is not None:     # the pointer changes on promotion and rollback
                promoted.append(((folder / POINTER_FILE).stat().st_mtime, folder.name))
        warmed = []
        for _, tenant in sorted(promoted, reverse=True)[:limit]:
            try:
                suggester = self.suggester(tenant)
                activate = getattr(suggester.backend, "activate", None)
                if suggester.account.mode in ADAPTER_MODES and activate is not None:
                    activate(suggester.account.adapter)
            except Exception as exc:  # noqa: BLE001 -- a broken account must not stop the worker
                log.warning("not warming %s: %s: %s", tenant, type(exc).__name__, exc)
                continue
            warmed.append(tenant)
        return warmed

    def suggester(self, tenant: str) -> Suggester:
        """The Suggester for the tenant's current version; NoAdapter when there is none."""
        from trainer.suggest import Account, Suggester, token_counter

        current = self.registry(tenant).current()
        if current is None:
            raise NoAdapter(f"account {tenant!r} has no promoted adapter: run "
                            f"`clonedesk train --tenant {tenant}` first")
        with self._lock:
            cached = self._cache.get(tenant)
            if cached is not None and cached[0] == current.version:
                return cached[1]
            account = Account.load(current.path, f"{tenant}-{current.version}", self.embedder())
            needs_model = account.mode != "retrieval"
            backend = self.backend() if needs_model else None
            tokenizer = self.tokenizer() if needs_model else None
            suggester = Suggester(account, backend,
                                  token_counter(tokenizer) if tokenizer is not None else None,
                                  tokenizer)
            self._cache[tenant] = (current.version, suggester)
            return suggester
