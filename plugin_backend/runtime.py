"""What a web or worker process holds: settings, database sessions and Redis."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugin_backend.config import Settings
from plugin_backend.queue import RedisHandle, open_redis


@dataclass
class Runtime:
    """Settings plus the connections built from them, shared by views, services and jobs."""

    settings: Settings
    sessions: Any            # sessionmaker
    redis_handle: RedisHandle

    @property
    def redis(self) -> Any:
        """The Redis connection."""
        return self.redis_handle.redis

    @classmethod
    def build(cls, settings: Settings, redis_handle: RedisHandle | None = None) -> Runtime:
        """Connect the database (migrated) and Redis (embedded when REDIS_URL is unset)."""
        from plugin_backend.db import connect

        sessions = connect(settings.db_url)
        handle = redis_handle or open_redis(settings.redis_url, settings.home)
        return cls(settings=settings, sessions=sessions, redis_handle=handle)

    def close(self) -> None:
        """Dispose of the engine and close Redis (stopping an embedded server we started)."""
        self.sessions.kw["bind"].dispose()
        self.redis_handle.close()


def secret_key(settings: Settings) -> str:
    """CLONEDESK_SECRET_KEY, else a random key created once in $CLONEDESK_HOME/secret_key."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.home) / "secret_key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(tmp, path)
        tmp.unlink()
    return path.read_text().strip()
