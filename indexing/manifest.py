"""``manifest.json``: what an index folder holds and which model made it."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from shoptag.bounded_json import loads_bounded
from shoptag.errors import IndexLoadError
from shoptag.files import VerifiedFiles, read_regular

# 2: versioned folders with a `current` pointer, stored embeddings, index types.
# 3: a version lists the segments it shares with others (``indexing.segments``).
FORMAT_VERSION = 3
MANIFEST_NAME = "manifest.json"
_MAX_MANIFEST_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A version's name is also its folder's name: nothing that could lead out of ``versions/``.
VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model_spec: str
    model_identity: str
    dim: int
    metric: str
    products: int
    images: int
    created: str
    files: dict[str, str]  # file name -> sha256
    version: str  # unique per written version; responses name the version they searched
    parent: str | None  # the version that was current when this one was written
    index_type: str  # flat | hnsw | ivfpq

    def write(self, folder: Path) -> None:
        path = folder / MANIFEST_NAME
        with path.open("w") as handle:
            handle.write(json.dumps(asdict(self), indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the version in ``folder``, every field checked: a damaged or crafted
        manifest is refused here, before any file it names is opened."""
        path = folder / MANIFEST_NAME
        if not folder.is_dir():
            raise IndexLoadError(f"index folder {folder} does not exist")
        if not path.is_file():
            raise IndexLoadError(f"{folder} is not a ShopTag index (no {MANIFEST_NAME})")
        try:
            raw = loads_bounded(read_regular(path, _MAX_MANIFEST_BYTES, IndexLoadError, str(path)))
        except ValueError as exc:  # invalid JSON, UTF-8 or nesting
            raise IndexLoadError(f"{path} is unreadable or incomplete: {exc}") from exc
        if isinstance(raw, dict) and raw.get("format_version") != FORMAT_VERSION:
            raise IndexLoadError(
                f"{folder} has index format {raw.get('format_version')}; this ShopTag reads "
                f"format {FORMAT_VERSION}: rebuild it with `shoptag index build`")
        problem = _problem(raw)
        if problem:
            raise IndexLoadError(f"{path} is not a valid manifest: {problem}")
        return cls(**raw)

    def verify_files(self, folder: Path, verified: VerifiedFiles | None = None) -> None:
        """Each listed file is a regular file with its recorded checksum (``IndexLoadError``
        otherwise: a FIFO or a device is refused before it is read)."""
        verified = verified or VerifiedFiles()
        for name, expected in self.files.items():
            verified.check(folder, name, expected, IndexLoadError, f"index {folder}: ")


def is_sha256(text: str) -> bool:
    return bool(_SHA256.fullmatch(text))


_TYPES = {"format_version": int, "model_spec": str, "model_identity": str, "dim": int, "metric": str,
          "products": int, "images": int, "created": str, "files": dict, "version": str,
          "parent": (str, type(None)), "index_type": str}


def _problem(raw: object) -> str | None:
    if not isinstance(raw, dict):
        return "not a JSON object"
    names = {field.name for field in fields(Manifest)}
    if raw.keys() != names:
        return f"fields {sorted(raw.keys() ^ names)} are missing or unknown"
    for name, kind in _TYPES.items():
        if not isinstance(raw[name], kind) or isinstance(raw[name], bool):
            return f"{name} has the wrong type"
    if raw["dim"] < 1 or raw["products"] < 1 or raw["images"] < raw["products"]:
        return "dim, products or images out of range"
    parent = raw["parent"]
    if not VERSION_NAME.fullmatch(raw["version"]) or not (parent is None or VERSION_NAME.fullmatch(parent)):
        return "version or parent is not a version name"
    for name, digest in raw["files"].items():
        # A file name, nothing that could lead out of the version folder.
        if not isinstance(name, str) or Path(name).name != name or name.startswith(".") or name == MANIFEST_NAME:
            return f"file name {name!r} is not allowed"
        if not isinstance(digest, str) or not is_sha256(digest):
            return f"the checksum of {name} is not a sha256"
    return None
