"""An index folder holds versions, and a ``current`` pointer to one of them:

    my-index/
      current -> versions/20261124T230102-3fa2c1    (a relative symlink)
      versions/20261124T230102-3fa2c1/   manifest.json, vectors.faiss, embeddings.npy, ...
      versions/.tmp-.../                  a version being written (removed if left behind)
      .lock                               held while a version is written

A new version is written completely (files fsynced) under a temporary name, renamed into
``versions/``, and only then does ``current`` switch, by renaming a new symlink over the old
one — an atomic step. A writer killed at any moment (even SIGKILL) leaves ``current`` on a
complete version; the next writer removes the leftovers.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from shoptag.errors import IndexBuildError, IndexLoadError
from shoptag.indexing.manifest import MANIFEST_NAME, Manifest

logger = logging.getLogger(__name__)

CURRENT = "current"
VERSIONS = "versions"
_LOCK = ".lock"
_STAGING_PREFIX = ".tmp-"


def new_version_name() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class IndexFolder:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions = self.root / VERSIONS

    def current_dir(self) -> Path:
        pointer = self.root / CURRENT
        if not self.root.is_dir():
            raise IndexLoadError(f"index folder {self.root} does not exist")
        if (self.root / MANIFEST_NAME).is_file():
            raise IndexLoadError(f"{self.root} is an index of an older format: rebuild it with `shoptag index build`")
        if not pointer.is_symlink():
            raise IndexLoadError(f"{self.root} is not a ShopTag index (no '{CURRENT}' pointer)")
        target = self.root / os.readlink(pointer)
        if not target.is_dir():
            raise IndexLoadError(f"index {self.root}: '{CURRENT}' points to a missing version {target.name}")
        return target

    def current_name(self) -> str | None:
        pointer = self.root / CURRENT
        return Path(os.readlink(pointer)).name if pointer.is_symlink() else None

    def history(self) -> list[str]:
        """Version names from current back through its parents (those still on disk)."""
        names, name = [], self.current_name()
        while name and (self.versions / name / MANIFEST_NAME).is_file() and name not in names:
            names.append(name)
            name = Manifest.read(self.versions / name).parent
        return names

    def check_writable(self) -> None:
        """Refuse to turn a folder that holds something else into an index."""
        if not self.root.exists():
            return
        if not self.root.is_dir():
            raise IndexBuildError(f"{self.root} exists and is not a folder; refusing to replace it")
        entries = {entry.name for entry in self.root.iterdir()}
        if entries and not ((self.root / CURRENT).is_symlink() or VERSIONS in entries):
            raise IndexBuildError(f"{self.root} exists and is not a ShopTag index; refusing to write into it")

    @contextmanager
    def writing(self) -> Iterator[tuple[Path, str, str | None]]:
        """Yields (staging folder, version name, parent version) under the writer lock; on a
        clean exit the staging folder becomes a version and ``current`` points to it. The
        parent is read under the lock, so a version another writer just finished is never
        skipped in the history (and pruned as if abandoned)."""
        self.check_writable()
        self.versions.mkdir(parents=True, exist_ok=True)
        with (self.root / _LOCK).open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexBuildError(f"another process is writing index {self.root}; try again later") from None
            self._remove_leftovers()
            parent = self.current_name()
            name = new_version_name()
            staging = self.versions / f"{_STAGING_PREFIX}{name}"
            staging.mkdir()
            try:
                yield staging, name, parent
                _fsync_dir(staging)
                staging.rename(self.versions / name)
                _fsync_dir(self.versions)
                self.point_to(name)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise

    def point_to(self, name: str) -> None:
        temporary = self.root / f".{CURRENT}-{uuid.uuid4().hex[:8]}"
        os.symlink(Path(VERSIONS) / name, temporary)
        os.replace(temporary, self.root / CURRENT)
        _fsync_dir(self.root)

    def prune(self, keep: int) -> list[str]:
        """Keep current and its ``keep - 1`` latest ancestors; remove every other version."""
        kept = set(self.history()[:keep])
        removed = []
        for entry in self.versions.iterdir():
            if entry.name not in kept and not entry.name.startswith(_STAGING_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return removed

    def _remove_leftovers(self) -> None:
        for entry in self.versions.iterdir():
            if entry.name.startswith(_STAGING_PREFIX):
                logger.warning("removing %s, left by an interrupted write", entry)
                shutil.rmtree(entry, ignore_errors=True)
        for entry in self.root.glob(f".{CURRENT}-*"):
            entry.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
