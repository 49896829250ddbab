"""The small public-domain/CC0 media shipped in the package (see media/LICENSES.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def media_path(name: str) -> Path:
    return Path(str(resources.files("shoptag") / "media" / name))
