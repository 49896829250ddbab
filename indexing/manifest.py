"""``manifest.json``: what an index folder holds and which model made it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from shoptag.errors import IndexLoadError

FORMAT_VERSION = 1
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
    # Unique per written folder; responses name the version they searched. Older
    # manifests lack it, hence the default.
    version: str = ""

    def write(self, folder: Path) -> None:
        (folder / MANIFEST_NAME).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        if not folder.is_dir():
            raise IndexLoadError(f"index folder {folder} does not exist")
        if not path.is_file():
            raise IndexLoadError(f"{folder} is not a ShopTag index (no {MANIFEST_NAME})")
        try:
            raw = json.loads(path.read_text())
            manifest = cls(**raw)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            raise IndexLoadError(f"{path} is unreadable or incomplete: {exc}") from exc
        if manifest.format_version != FORMAT_VERSION:
            raise IndexLoadError(
                f"{folder} has index format {manifest.format_version}; this ShopTag reads "
                f"format {FORMAT_VERSION}: rebuild it with `shoptag index build`"
            )
        return manifest

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
