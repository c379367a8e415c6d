"""The memory allocator of the processes that load models: mimalloc, preloaded on Linux.

glibc's malloc fragments under PyTorch's CPU training loop: a step's activations (1-6 MB
tensors of a few dozen shapes) land in different places of the heap every step, so the step's
peak resident memory climbs through a run although what is live between steps does not
(measured in benchmarks/RESULTS.md, "Training memory and the allocator"). mimalloc (the
``cmeel-mimalloc`` wheel, a dependency on Linux) reuses those blocks.

A process cannot change its allocator once it has allocated, so ``ensure`` re-executes the
process once, with the library in ``LD_PRELOAD``, before anything heavy is imported. The
re-executed process takes ``LD_PRELOAD`` back out of its environment: the processes it starts
(an embedded Redis, a browser) get the system allocator, and ``clonedesk`` processes it starts
(workers) preload for themselves.

``CLONEDESK_ALLOCATOR``: ``mimalloc`` (default), ``system`` (glibc's, no re-execution), or the
path of another malloc library (jemalloc's ``libjemalloc.so.2``, say).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

MIMALLOC = "mimalloc"
SYSTEM = "system"
MIMALLOC_DIST = "cmeel-mimalloc"
MIMALLOC_FILE = "cmeel.prefix/lib/libmimalloc.so"
# Set for the re-executed process only: "this process was started with that library".
MARK_ENV = "CLONEDESK_PRELOADED"


class AllocatorError(ValueError):
    """CLONEDESK_ALLOCATOR names a library that is not there."""


def library_for(choice: str) -> Path | None:
    """The library to preload for ``choice`` (None: the system allocator).

    mimalloc missing (a platform without its wheel) falls back to the system allocator with a
    warning; a path that does not exist is a configuration error."""
    if choice == SYSTEM:
        return None
    if choice == MIMALLOC:
        try:
            path = Path(str(metadata.distribution(MIMALLOC_DIST).locate_file(MIMALLOC_FILE)))
        except metadata.PackageNotFoundError:
            path = None
        if path is None or not path.is_file():
            log.warning("mimalloc is not installed (pip package %s): the system allocator "
                        "is used, and CPU training needs more memory", MIMALLOC_DIST)
            return None
        return path
    path = Path(choice)
    if not path.is_file():
        raise AllocatorError(f"CLONEDESK_ALLOCATOR: no library at {choice!r} (use "
                             f"{MIMALLOC!r}, {SYSTEM!r} or the path of a malloc library)")
    return path


def loaded_libraries() -> set[str]:
    """File names of the shared libraries mapped into this process (Linux; else empty)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return set()
    fields = (line.split() for line in maps.splitlines())
    return {Path(f[-1]).name for f in fields if len(f) >= 6 and f[-1].startswith("/")}


def reexec_env(env: Mapping[str, str], library: Path) -> dict[str, str]:
    """The environment that starts this process again with ``library`` preloaded."""
    new = dict(env)
    new["LD_PRELOAD"] = ":".join([str(library), *filter(None, env.get("LD_PRELOAD", "")
                                                         .split(":"))])
    new[MARK_ENV] = str(library)
    return new


def ensure(choice: str = MIMALLOC) -> None:
    """Make this process run on ``choice``'s allocator: re-execute it (same interpreter and
    arguments, ``sys.orig_argv``) with the library preloaded, unless it already was. Call it
    before importing torch. A preload that did not take is logged, never retried."""
    if not sys.platform.startswith("linux"):
        return
    marked = os.environ.pop(MARK_ENV, None)
    if marked is not None:          # the re-executed process: children start on their own
        preload = [p for p in os.environ.get("LD_PRELOAD", "").split(":") if p and p != marked]
        if preload:
            os.environ["LD_PRELOAD"] = ":".join(preload)
        else:
            os.environ.pop("LD_PRELOAD", None)
        if Path(marked).name not in loaded_libraries():
            log.warning("allocator %s could not be preloaded: the system allocator is used",
                        marked)
        return
    library = library_for(choice)
    if library is None or library.name in loaded_libraries():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(sys.orig_argv), reexec_env(os.environ, library))


def in_use() -> str:
    """The preloaded malloc library's file name, or ``system`` (for benchmark reports)."""
    preloaded = sorted(lib for lib in loaded_libraries() if "malloc" in lib)
    return ", ".join(preloaded) or SYSTEM
