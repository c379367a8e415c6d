"""The clickable demo in a real browser: headless Chromium (Debian package) driven by
Playwright (npm playwright-core) over the real backend, the real sidebar app and ZAF SDK,
a real Redis and a real RQ worker with the trained model. Installed by `make install`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

NPM = REPO / "var" / "npm"
CHROMIUM = os.environ.get("CLONEDESK_CHROMIUM", "/usr/bin/chromium")


def _tools() -> tuple[str, Path]:
    node = shutil.which("node")
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    missing = [name for name, ok in (("node", node), ("chromium", chromium),
                                     ("playwright-core", (NPM / "node_modules" /
                                                          "playwright-core").is_dir()),
                                     ("ZAF SDK build", (NPM / "zaf_sdk.js").is_file()))
               if not ok]
    if missing:
        pytest.fail(f"browser test needs {', '.join(missing)}: run `make install`")
    real = Path("/usr/lib/chromium/chromium")  # Debian's wrapper script execs this binary
    return str(node), real if real.exists() else Path(str(chromium))


def test_agent_sends_the_suggested_reply_from_the_demo_page(backend, tmp_path):
    from sqlalchemy import select
    from werkzeug.serving import make_server

    from plugin_backend import create_app, demo_site
    from plugin_backend.db import EventRow

    node, chromium = _tools()
    runtime = backend["runtime"]
    runtime.settings = demo_site.prepare(runtime.settings, runtime.sessions, backend["tenant"])
    app = create_app({"RUNTIME": runtime, "DEMO": True, "DEMO_TENANT": backend["tenant"],
                      "ZAF_SDK_FILE": str(NPM / "zaf_sdk.js")})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/demo/"
    shot = tmp_path / "demo.png"
    env = dict(os.environ, NODE_PATH=str(NPM / "node_modules"))
    proc = subprocess.Popen([node, str(REPO / "tests" / "browser" / "demo_send.cjs"), url,
                             str(chromium), str(shot)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 420
        while proc.poll() is None and time.monotonic() < deadline:
            # the worker computes what the sidebar asked for; the page may ask again meanwhile
            backend["run_jobs"](concurrent=True)
            time.sleep(0.3)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == []
    label, _, number = result["confidence"].partition(" · ")
    assert label in ("High", "Medium", "Low") and 0.0 <= float(number) <= 1.0
    assert result["draft"] and result["composer"].strip() == result["draft"].strip()
    assert "Submit" in result["notice"]
    assert "Send reply" in " ".join(result["canvasButtons"])
    with runtime.sessions() as session:
        kinds = [e.kind for e in session.scalars(select(EventRow).order_by(EventRow.id))]
        platforms = {e.platform for e in session.scalars(select(EventRow))}
    assert "shown" in kinds and "inserted" in kinds and "sent_unchanged" in kinds, kinds
    assert platforms == {"zendesk"}
    assert shot.stat().st_size > 10_000
