"""Uploaded bytes to a private folder under a server-made name; the client's filename is
only ever a label, never part of a path."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    sha256: str
    size: int


def private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def save_upload(source: BinaryIO, folder: Path, suffix: str = ".upload") -> SavedUpload:
    """Copy ``source`` into ``folder`` and hash it on the way (blocking: call from a thread)."""
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("xb") as handle:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SavedUpload(path, digest.hexdigest(), size)


def clear_folder(folder: Path) -> None:
    """Remove what a previous run left behind (uploads of requests it never finished)."""
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
