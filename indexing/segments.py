"""Versions share their unchanged data: an index's vectors, products and features live in
immutable *segments*, and a version is a list of segments, each with the products of it that
the version leaves out (removed, or replaced by a newer copy in a later segment):

    my-index/
      segments/20261202T081500-1c9e4a/   segment.json, vectors.faiss, embeddings.npy, ...
      segments/20261202T090210-77b0d2/   (one product added or changed later)
      versions/<version>/                manifest.json, segments.json

An edit writes one small segment and a new ``segments.json``, whatever the catalog's size;
``indexing.writer`` merges small segments as they accumulate and ``shoptag index compact``
rewrites them all into one. Segments are never changed once written, so a loaded segment
serves every version that lists it (a reload reads only the new ones). A segment is written
under the writer lock, like the version that first lists it, and removed once no kept version
lists it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from shoptag.bounded_json import MAX_DEPTH, loads_bounded
from shoptag.errors import IndexLoadError
from shoptag.files import read_regular
from shoptag.indexing.manifest import VERSION_NAME, is_sha256
from shoptag.indexing.segment_files import PRODUCTS_NAME

SEGMENTS = "segments"
LAYOUT_NAME = "segments.json"
# A version lists at most this many segments (the writer keeps far fewer: about four per
# size tier) and removed products (bounded by the writer rewriting mostly-removed segments).
MAX_SEGMENTS = 1_000
_MAX_LAYOUT_BYTES = 64 << 20
_STAGING_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Placement:
    """One segment of a version: its name, the sha256 of its ``segment.json``, and the
    positions of its products that the version leaves out."""

    name: str
    digest: str
    removed: tuple[int, ...] = ()

    def as_json(self) -> dict:
        return {"name": self.name, "digest": self.digest, "removed": list(self.removed)}


def segments_dir(root: Path) -> Path:
    return Path(root) / SEGMENTS


def segment_dir(root: Path, name: str) -> Path:
    return segments_dir(root) / name


def staging_dir(root: Path, name: str) -> Path:
    return segments_dir(root) / f"{_STAGING_PREFIX}{name}"


def write_layout(version_dir: Path, placements: list[Placement]) -> None:
    with (version_dir / LAYOUT_NAME).open("w") as handle:
        handle.write(json.dumps({"segments": [p.as_json() for p in placements]}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_layout(version_dir: Path) -> list[Placement]:
    """The segments a version lists, every field checked (a crafted list never names a path
    outside ``segments/``)."""
    path = version_dir / LAYOUT_NAME
    try:
        raw = loads_bounded(read_regular(path, _MAX_LAYOUT_BYTES, IndexLoadError, str(path)))
    except ValueError as exc:
        raise IndexLoadError(f"{path} is unreadable: {exc}") from exc
    rows = raw.get("segments") if isinstance(raw, dict) else None
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_SEGMENTS:
        raise IndexLoadError(f"{path} does not list 1 to {MAX_SEGMENTS} segments")
    placements = []
    for row in rows:
        if not (isinstance(row, dict) and row.keys() == {"name", "digest", "removed"}
                and isinstance(row["name"], str) and VERSION_NAME.fullmatch(row["name"])
                and isinstance(row["digest"], str) and is_sha256(row["digest"])
                and isinstance(row["removed"], list)
                and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in row["removed"])):
            raise IndexLoadError(f"{path} lists a segment that is not a valid segment entry")
        placements.append(Placement(row["name"], row["digest"], tuple(sorted(set(row["removed"])))))
    if len({p.name for p in placements}) != len(placements):
        raise IndexLoadError(f"{path} lists a segment twice")
    return placements


def prune_segments(root: Path, kept_versions: list[Path]) -> list[str]:
    """Remove the segments that none of ``kept_versions`` lists (callers hold the writer
    lock). When one of them cannot be read, nothing is removed: a segment is never taken for
    unused on a guess."""
    folder = segments_dir(root)
    if not kept_versions or not folder.is_dir() or folder.is_symlink():
        return []
    try:
        listed = {p.name for version_dir in kept_versions for p in read_layout(version_dir)}
    except IndexLoadError:
        return []
    removed = []
    for entry in folder.iterdir():
        if entry.name.startswith(_STAGING_PREFIX) or (
                entry.name not in listed and VERSION_NAME.fullmatch(entry.name) and not entry.is_symlink()):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def kept_image_refs(root: Path) -> set[str] | None:
    """The image refs listed by the segments in the index at ``root`` (every kept version's,
    and any not yet pruned), or None when that cannot be known (no segments, or one that
    cannot be read): then nothing may be taken for unlisted."""
    folder = segments_dir(root)
    if not folder.is_dir() or folder.is_symlink():
        return None
    refs: set[str] = set()
    for entry in folder.iterdir():
        if entry.name.startswith("."):
            continue
        try:
            with (entry / PRODUCTS_NAME).open(encoding="utf-8") as handle:
                rows = [loads_bounded(line, MAX_DEPTH + 1) for line in handle]
            refs.update(image["ref"] for row in rows for image in row["images"])
        except FileNotFoundError:
            continue  # pruned while this reads
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return refs or None
