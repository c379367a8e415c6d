"""The allocator preload: a real re-executed process, and the CLI's wiring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_backend import allocator
from plugin_backend.cli import main

REPO = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux's")

# Preloads, then reports what the process holds and what a process it starts sees.
CHILD = """
import json, os, subprocess, sys
from plugin_backend.allocator import ensure, loaded_libraries
ensure(sys.argv[1])
grandchild = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('LD_PRELOAD', ''))"],
                            capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({"libs": sorted(l for l in loaded_libraries() if "malloc" in l),
                  "grandchild_preload": grandchild,
                  "mark": os.environ.get("CLONEDESK_PRELOADED"), "argv": sys.argv[1:]}))
"""


def _run_child(choice: str, **env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, choice], capture_output=True, text=True,
                         check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@linux_only
def test_mimalloc_is_preloaded_by_reexecution_and_not_passed_on() -> None:
    if allocator.library_for(allocator.MIMALLOC) is None:
        pytest.fail("cmeel-mimalloc is a Linux dependency of this project: reinstall it")
    report = _run_child("mimalloc")
    assert report["libs"] == ["libmimalloc.so"]
    assert report["argv"] == ["mimalloc"]          # same arguments after re-execution
    assert report["mark"] is None                  # taken out of the environment again
    assert report["grandchild_preload"] == ""      # its own children start on glibc


@linux_only
def test_an_existing_preload_is_kept_for_children() -> None:
    other = allocator.library_for(allocator.MIMALLOC)
    assert other is not None
    # The library already given by the user is not preloaded twice, nor removed.
    report = _run_child("mimalloc", LD_PRELOAD=str(other))
    assert report["libs"] == ["libmimalloc.so"]
    assert report["grandchild_preload"] == str(other)


def test_system_allocator_does_not_reexecute() -> None:
    report = _run_child("system")
    assert report["libs"] == []
    assert report["mark"] is None


def test_reexec_env_puts_the_library_first() -> None:
    env = allocator.reexec_env({"LD_PRELOAD": "/lib/a.so", "X": "1"}, Path("/lib/m.so"))
    assert env["LD_PRELOAD"] == "/lib/m.so:/lib/a.so"
    assert env[allocator.MARK_ENV] == "/lib/m.so"
    assert env["X"] == "1"
    assert allocator.reexec_env({}, Path("/lib/m.so"))["LD_PRELOAD"] == "/lib/m.so"


def test_a_missing_library_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(allocator.AllocatorError, match="no library"):
        allocator.library_for(str(tmp_path / "libnothing.so"))
    assert allocator.library_for(allocator.SYSTEM) is None


def test_cli_model_commands_check_the_allocator_setting(tmp_path: Path, runner, monkeypatch
                                                        ) -> None:  # type: ignore[no-untyped-def]
    """Model commands resolve CLONEDESK_ALLOCATOR before they run (a bad path: exit 2 with
    the reason); other commands do not need it. ``sys.argv[0]`` is made the program's, as
    when ``clonedesk`` runs (the bad path stops it before any re-execution)."""
    monkeypatch.setattr(sys, "argv", [str(REPO / "plugin_backend" / "__main__.py")])
    env = {"CLONEDESK_ALLOCATOR": str(tmp_path / "libnothing.so"),
           "CLONEDESK_HOME": str(tmp_path)}
    bad = runner.invoke(main, ["train", "--help"], env=env)
    assert bad.exit_code == 2
    assert "CLONEDESK_ALLOCATOR: no library" in bad.output
    fine = runner.invoke(main, ["adapters", "--help"], env=env)
    assert fine.exit_code == 0, fine.output


def test_cli_called_from_another_program_is_never_reexecuted(tmp_path: Path, runner,
                                                             monkeypatch
                                                             ) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "argv", ["pytest"])
    env = {"CLONEDESK_ALLOCATOR": str(tmp_path / "libnothing.so"),
           "CLONEDESK_HOME": str(tmp_path)}
    assert runner.invoke(main, ["train", "--help"], env=env).exit_code == 0
