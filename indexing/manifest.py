"""``manifest.json``: what an index folder holds and which model made it."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from shoptag.errors import IndexLoadError

# 2: versioned folders with a `current` pointer, stored embeddings, index types.
FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"


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
        path = folder / MANIFEST_NAME
        if not folder.is_dir():
            raise IndexLoadError(f"index folder {folder} does not exist")
        if not path.is_file():
            raise IndexLoadError(f"{folder} is not a ShopTag index (no {MANIFEST_NAME})")
        try:
            raw = json.loads(path.read_text())
            if isinstance(raw, dict) and raw.get("format_version") != FORMAT_VERSION:
                raise IndexLoadError(
                    f"{folder} has index format {raw.get('format_version')}; this ShopTag reads "
                    f"format {FORMAT_VERSION}: rebuild it with `shoptag index build`")
            return cls(**raw)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            raise IndexLoadError(f"{path} is unreadable or incomplete: {exc}") from exc

    def verify_files(self, folder: Path) -> None:
        for name, expected in self.files.items():
            path = folder / name
            if not path.is_file():
                raise IndexLoadError(f"index {folder} is missing {name}")
            if file_sha256(path) != expected:
                raise IndexLoadError(f"index {folder}: {name} does not match its manifest checksum")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
