"""An index folder holds versions, and a ``current`` pointer to one of them:

    my-index/
      current -> versions/20261124T230102-3fa2c1    (a relative symlink)
      versions/20261124T230102-3fa2c1/   manifest.json, segments.json (which segments it lists)
      versions/.tmp-.../                  a version being written (removed if left behind)
      segments/20261124T230102-9b1d07/    what versions hold, shared among them (``indexing.segments``)
      .lock                               held while a version is written or current moves

A new version is written completely (files fsynced) under a temporary name, renamed into
``versions/``, and only then does ``current`` switch, by renaming a new symlink over the old
one — an atomic step. A writer killed at any moment (even SIGKILL) leaves ``current`` on a
complete version; the next writer removes the leftovers. Writers take turns on ``.lock``
(waiting for it a bounded time), and each one learns which version is current only once it
holds the lock, so that it can build its version from that one: see ``indexing.writer``.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from shoptag.errors import IndexBuildError, IndexLoadError
from shoptag.indexing.manifest import MANIFEST_NAME, VERSION_NAME, Manifest
from shoptag.indexing.segments import SEGMENTS, prune_segments

logger = logging.getLogger(__name__)

CURRENT = "current"
VERSIONS = "versions"
_LOCK = ".lock"
_STAGING_PREFIX = ".tmp-"
# How long a writer waits for another one to finish before giving up. Writers hold the lock only
# to build and write the version's files, not while they read images or embed them.
LOCK_WAIT_S = 60.0
_LOCK_POLL_S = 0.05


def new_version_name() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class IndexFolder:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions = self.root / VERSIONS

    def current_dir(self) -> Path:
        if not self.root.is_dir():
            raise IndexLoadError(f"index folder {self.root} does not exist")
        self._refuse_linked_versions(IndexLoadError)
        if (self.root / MANIFEST_NAME).is_file():
            raise IndexLoadError(f"{self.root} is an index of an older format: rebuild it with `shoptag index build`")
        name = self.current_name()
        if name is None:
            raise IndexLoadError(f"{self.root} is not a ShopTag index (no '{CURRENT}' pointer)")
        target = self.versions / name
        if target.is_symlink() or not target.is_dir():
            raise IndexLoadError(f"index {self.root}: '{CURRENT}' points to a missing version {name}")
        return target

    def current_name(self) -> str | None:
        """The version ``current`` points to; None when there is no pointer. A pointer that
        leads anywhere but to a version folder of this index (an absolute path, ``..``, a
        nested path) is refused, never followed."""
        pointer = self.root / CURRENT
        if not pointer.is_symlink():
            return None
        target = os.readlink(pointer)
        parts = Path(target).parts
        if len(parts) != 2 or parts[0] != VERSIONS or not VERSION_NAME.fullmatch(parts[1]):
            raise IndexLoadError(f"index {self.root}: '{CURRENT}' points to {target!r}, which is not one of "
                                 f"its versions ({VERSIONS}/<version>); refusing to follow it")
        return parts[1]

    def history(self, limit: int | None = None) -> list[str]:
        """Version names from current back through its parents (those still on disk, at most
        ``limit``); the chain ends at a version whose manifest cannot be read."""
        names, name = [], self.current_name()
        while (name and VERSION_NAME.fullmatch(name) and name not in names and (limit is None or len(names) < limit)
               and (self.versions / name / MANIFEST_NAME).is_file()):
            names.append(name)
            try:
                name = Manifest.read(self.versions / name).parent
            except IndexLoadError:
                break
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
        self._refuse_linked_versions(IndexBuildError)

    def _refuse_linked_versions(self, error: type[IndexLoadError] | type[IndexBuildError]) -> None:
        # Versions are read, and pruned, inside this folder only: never through a link elsewhere.
        for name in (VERSIONS, SEGMENTS):
            if (self.root / name).is_symlink():
                raise error(f"index {self.root}: '{name}' is a symbolic link; refusing to follow it")

    @contextmanager
    def locked(self, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
        """Hold the writer lock, waiting up to ``wait_s`` for another writer to finish."""
        self.check_writable()
        self.versions.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW and O_NONBLOCK: a lock file replaced by a symlink or a FIFO is refused, not
        # followed or waited on.
        try:
            descriptor = os.open(self.root / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise IndexBuildError(f"index {self.root}: cannot open its lock file ({exc.strerror})") from exc
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise IndexBuildError(f"index {self.root}: cannot lock it ({exc.strerror})") from exc
                if time.monotonic() >= deadline:
                    raise IndexBuildError(f"another process is writing index {self.root} and did not finish "
                                          f"within {wait_s:g} s; try again later")
                time.sleep(_LOCK_POLL_S)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    @contextmanager
    def writing(self, keep: int, wait_s: float = LOCK_WAIT_S) -> Iterator[tuple[Path, str, str | None]]:
        """Yields (staging folder, version name, parent version) under the writer lock; on a
        clean exit the staging folder becomes a version, ``current`` points to it, and versions
        beyond the ``keep`` latest are removed, all before the lock is released. The parent is
        the version current under the lock: what the new version must be built from."""
        with self.locked(wait_s):
            self._remove_leftovers()
            parent = self.current_name()
            name = new_version_name()
            staging = self.versions / f"{_STAGING_PREFIX}{name}"
            staging.mkdir()
            try:
                yield staging, name, parent
                fsync_dir(staging)
                staging.rename(self.versions / name)
                fsync_dir(self.versions)
                self.point_to(name)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            try:
                self.prune(keep)
            except OSError as exc:  # the new version is current: failing to tidy up is no failure
                logger.error("index %s: old versions not removed: %s", self.root, exc)

    def point_to(self, name: str) -> None:
        """Make version ``name`` current (callers hold the lock: ``writing`` or ``locked``)."""
        temporary = self.root / f".{CURRENT}-{uuid.uuid4().hex[:8]}"
        os.symlink(Path(VERSIONS) / name, temporary)
        os.replace(temporary, self.root / CURRENT)
        fsync_dir(self.root)

    def prune(self, keep: int) -> list[str]:
        """Keep current and its ``keep - 1`` latest ancestors; remove every other version, and
        the segments no kept version lists (under the lock, so that a version another writer
        is about to make current is never taken for an abandoned one)."""
        kept = set(self.history(limit=keep))
        removed = []
        for entry in self.versions.iterdir():
            if (entry.name not in kept and VERSION_NAME.fullmatch(entry.name) and not entry.is_symlink()
                    and entry.is_dir()):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        prune_segments(self.root, [self.versions / name for name in kept])
        return removed

    def _remove_leftovers(self) -> None:
        for entry in self.versions.iterdir():
            if entry.name.startswith(_STAGING_PREFIX):
                logger.warning("removing %s, left by an interrupted write", entry)
                shutil.rmtree(entry, ignore_errors=True)
        for entry in self.root.glob(f".{CURRENT}-*"):
            entry.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
