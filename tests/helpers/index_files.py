"""Reach into an index folder's files as an attacker or a disk fault would."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from shoptag.indexing.segments import LAYOUT_NAME, segment_dir
from shoptag.indexing.versions import IndexFolder


def segment_of(index: Path, which: int = -1) -> Path:
    """The folder of one segment of the current version (the last by default)."""
    layout = json.loads((IndexFolder(index).current_dir() / LAYOUT_NAME).read_text())
    return segment_dir(index, layout["segments"][which]["name"])


def craft(index: Path, name: str, data: bytes) -> None:
    """Replace a file of the current version's only segment and update every checksum that
    covers it (segment record, version's segment list, manifest), as an attacker would."""
    version = IndexFolder(index).current_dir()
    folder = segment_of(index)
    (folder / name).write_bytes(data)
    record = json.loads((folder / "segment.json").read_text())
    record["files"][name] = hashlib.sha256(data).hexdigest()
    (folder / "segment.json").write_text(json.dumps(record))
    layout = json.loads((version / LAYOUT_NAME).read_text())
    layout["segments"][-1]["digest"] = hashlib.sha256((folder / "segment.json").read_bytes()).hexdigest()
    (version / LAYOUT_NAME).write_text(json.dumps(layout))
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["files"][LAYOUT_NAME] = hashlib.sha256((version / LAYOUT_NAME).read_bytes()).hexdigest()
    (version / "manifest.json").write_text(json.dumps(manifest))
