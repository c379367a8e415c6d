"""Per-tenant, versioned LoRA adapters with an atomic ``current`` pointer and one-step rollback.

Layout under ``root``::

    <tenant>/versions/v0001/adapter_config.json      the PEFT folder, as trained
    <tenant>/versions/v0001/adapter_model.safetensors
    <tenant>/versions/v0001/clonedesk.json           metadata (+ version, created_at)
    <tenant>/current.json                            {"current": "v0002", "previous": "v0001"}

Every change is made in a temp file or staging dir, fsynced, then moved in with os.replace,
so a crash leaves either the old or the new state. Mutations hold an flock on
``<tenant>/.lock``; leftovers of crashed writers (``.staging-*``, ``*.tmp``) are ignored and
removed by the next mutation.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors")
METADATA_FILE = "clonedesk.json"
POINTER_FILE = "current.json"
RESERVED_KEYS = ("version", "created_at")
TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
VERSION_RE = re.compile(r"v(\d{4,})")
MAX_REGISTER_TRIES = 100


class RegistryError(ValueError):
    """A registry request that cannot be honoured; the message says why."""


@dataclass(frozen=True)
class AdapterVersion:
    """One registered adapter: its version name, folder and metadata."""

    version: str
    path: Path
    metadata: dict[str, Any]


class AdapterRegistry:
    """The adapters of one tenant under ``root/tenant``."""

    def __init__(self, root: Path, tenant: str) -> None:
        if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant) or ".." in tenant:
            raise RegistryError(
                f"invalid tenant name {tenant!r}: use letters, digits, '.', '_' and '-' "
                "(starting with a letter or digit, no '..', at most 128 characters)")
        self.root = Path(root)
        self.tenant = tenant
        self.tenant_dir = self.root / tenant
        self.versions_dir = self.tenant_dir / "versions"

    def register(self, adapter_dir: Path, metadata: dict[str, Any]) -> str:
        """Copy a PEFT adapter folder in as the next version (not promoted); return its name."""
        adapter_dir = Path(adapter_dir)
        missing = [name for name in REQUIRED_FILES if not (adapter_dir / name).is_file()]
        if missing:
            raise RegistryError(f"{adapter_dir} is not a complete adapter: missing "
                                f"{', '.join(missing)}")
        if not isinstance(metadata, dict):
            raise RegistryError("metadata must be a dict")
        _check_json(metadata)
        with self._locked():
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.tenant_dir))
            try:
                for item in sorted(adapter_dir.iterdir()):
                    if item.is_file() and item.name != METADATA_FILE:
                        shutil.copyfile(item, staging / item.name)
                        _fsync_file(staging / item.name)
                os.chmod(staging, 0o755)
                created_at = datetime.now(UTC).isoformat()
                for _ in range(MAX_REGISTER_TRIES):
                    version = self._next_version()
                    record = {**metadata, "version": version, "created_at": created_at}
                    _write_json(staging / METADATA_FILE, record)
                    _fsync_dir(staging)
                    try:
                        os.replace(staging, self.versions_dir / version)
                    except OSError as exc:  # another writer took this number: try the next
                        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                            continue
                        raise
                    _fsync_dir(self.versions_dir)
                    return version
                raise RegistryError(f"could not allocate a version under {self.versions_dir}")
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def promote(self, version: str | int) -> AdapterVersion:
        """Make ``version`` current; the version it replaces becomes the rollback target."""
        with self._locked():
            target = self.get(version)
            pointer = self._pointer()
            if pointer.get("current") != target.version:
                self._write_pointer(target.version, pointer.get("current"))
            return target

    def rollback(self) -> AdapterVersion:
        """Swap current and previous; RegistryError when there is nothing to roll back to."""
        with self._locked():
            pointer = self._pointer()
            previous, current = pointer.get("previous"), pointer.get("current")
            if not previous:
                raise RegistryError(f"tenant {self.tenant!r} has no previous version to roll "
                                    "back to")
            target = self.get(previous)
            self._write_pointer(target.version, current)
            return target

    def current(self) -> AdapterVersion | None:
        """The promoted version, or None when nothing was promoted yet."""
        name = self._pointer().get("current")
        return self.get(name) if name else None

    def previous(self) -> AdapterVersion | None:
        """The version rollback() would restore, or None."""
        name = self._pointer().get("previous")
        return self.get(name) if name else None

    def versions(self) -> list[AdapterVersion]:
        """All complete versions, oldest first (staging leftovers are not versions)."""
        if not self.versions_dir.is_dir():
            return []
        names = [p.name for p in self.versions_dir.iterdir()
                 if VERSION_RE.fullmatch(p.name) and _complete(p)]
        return [self.get(name) for name in sorted(names, key=lambda n: int(n[1:]))]

    def get(self, version: str | int) -> AdapterVersion:
        """One version by name ('v0003') or number (3); RegistryError when it does not exist."""
        name = _version_name(version)
        path = self.versions_dir / name
        if not _complete(path):
            raise RegistryError(f"tenant {self.tenant!r} has no version {name}")
        try:
            metadata = json.loads((path / METADATA_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path / METADATA_FILE} is unreadable: {exc}") from None
        return AdapterVersion(version=name, path=path, metadata=metadata)

    def update_metadata(self, version: str | int, patch: dict[str, Any]) -> AdapterVersion:
        """Merge ``patch`` into a version's clonedesk.json (atomic rewrite)."""
        if not isinstance(patch, dict):
            raise RegistryError("patch must be a dict")
        reserved = [k for k in RESERVED_KEYS if k in patch]
        if reserved:
            raise RegistryError(f"metadata keys {', '.join(reserved)} cannot be changed")
        _check_json(patch)
        with self._locked():
            entry = self.get(version)
            _write_json(entry.path / METADATA_FILE, {**entry.metadata, **patch})
            return self.get(entry.version)

    # -- internals -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the tenant's lock and clear crashed writers' leftovers."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        with open(self.tenant_dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                for leftover in self.tenant_dir.glob(".staging-*"):
                    shutil.rmtree(leftover, ignore_errors=True)
                for leftover in self.tenant_dir.rglob(".*.tmp"):
                    leftover.unlink(missing_ok=True)
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _next_version(self) -> str:
        numbers = [int(m.group(1)) for p in self.versions_dir.iterdir()
                   if (m := VERSION_RE.fullmatch(p.name))]
        return f"v{max(numbers, default=0) + 1:04d}"

    def _pointer(self) -> dict[str, Any]:
        path = self.tenant_dir / POINTER_FILE
        if not path.is_file():
            return {}
        try:
            pointer = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path} is unreadable: {exc}") from None
        if not isinstance(pointer, dict):
            raise RegistryError(f"{path} is not a JSON object")
        return pointer

    def _write_pointer(self, current: str, previous: str | None) -> None:
        _write_json(self.tenant_dir / POINTER_FILE, {"current": current, "previous": previous})


def _version_name(version: str | int) -> str:
    if isinstance(version, int) and not isinstance(version, bool) and version > 0:
        return f"v{version:04d}"
    if isinstance(version, str) and VERSION_RE.fullmatch(version):
        return version
    raise RegistryError(f"invalid version {version!r}: expected e.g. 'v0003' or 3")


def _complete(path: Path) -> bool:
    return all((path / name).is_file() for name in (*REQUIRED_FILES, METADATA_FILE))


def _check_json(data: dict[str, Any]) -> None:
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"metadata must be JSON-serialisable: {exc}") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temp file beside ``path``, fsync it, then os.replace it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
