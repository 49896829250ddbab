"""Read files named by users or by stored data without trusting what they are: regular files
only (a device such as /dev/zero, a FIFO or a socket is refused before any read, and a FIFO is
never waited on), and never more bytes than a cap."""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from shoptag.errors import ShopTagError


def open_regular(path: Path, error: type[ShopTagError], name: str, max_bytes: int | None = None) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (of at most ``max_bytes``, where
    given); otherwise raise ``error`` with a message about ``name`` (how the caller knows the
    file: a ref, a video name)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; reads are blocking again below.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise error(f"{name}: file not found") from exc
    except OSError as exc:
        raise error(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    except ValueError as exc:  # a NUL byte in the path
        raise error(f"{name!r}: not a usable path ({exc})") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise error(f"{name}: not a regular file; refused")
        if max_bytes is not None and status.st_size > max_bytes:
            raise error(f"{name}: {status.st_size} bytes is over the limit of {max_bytes}")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: Path, max_bytes: int, error: type[ShopTagError], name: str) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; a larger one is refused after
    reading ``max_bytes + 1`` of them, whatever its size claims to be."""
    with open_regular(path, error, name, max_bytes) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise error(f"{name}: more than {max_bytes} bytes is over the limit")
    return data


def file_sha256(path: Path) -> str:
    """The sha256 of a file this process wrote or installed (for stored data, ``VerifiedFiles``)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class VerifiedFiles:
    """Checksums of stored files that cannot be trusted to be regular files (index files a
    merchant's folder holds), each opened with ``open_regular``. A file whose identity on disk
    is unchanged (device, inode, size, modification and change times: any write changes the
    change time) is not hashed again: a catalog let go and loaded again is not re-read whole.
    At most ``limit`` files are remembered, the oldest forgotten first. Thread-safe."""

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._known: OrderedDict[tuple, str] = OrderedDict()

    def check(self, folder: Path, name: str, expected: str, error: type[ShopTagError], where: str = "") -> None:
        """``error`` (its message starting with ``where``) unless ``folder / name`` is a regular
        file, not a link to one, whose sha256 is ``expected``."""
        path = folder / name
        if path.is_symlink():
            raise error(f"{where}{name}: a link, not a regular file; refused")
        if not os.path.lexists(path):
            raise error(f"{where}missing {name}")
        if self.sha256(path, error, f"{where}{name}") != expected:
            raise error(f"{where}{name} does not match its manifest checksum")

    def sha256(self, path: Path, error: type[ShopTagError], name: str) -> str:
        with open_regular(path, error, name) as handle:
            status = os.fstat(handle.fileno())
            key = (str(path), status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
            with self._lock:
                known = self._known.get(key)
            if known is not None:
                return known
            try:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError as exc:
                raise error(f"{name}: cannot be read ({exc.strerror or exc})") from exc
        with self._lock:
            self._known[key] = digest
            while len(self._known) > self._limit:
                self._known.popitem(last=False)
        return digest


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(temporary path)`` beside ``path``, then move it into place, so that concurrent
    readers never see half a file; the temporary file is removed if ``write`` fails. Raises
    ``OSError`` where the folder cannot be created or written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def hold_lock(path: Path, error: type[ShopTagError], busy: str) -> int:
    """An exclusive lock on the file ``path`` (made if missing, never through a link), held by
    the descriptor returned until it is closed; ``error(busy)`` when another holds it."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise error(f"{path}: cannot be locked ({exc.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise error(busy) from None
    return descriptor
