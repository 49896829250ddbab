"""Uploaded product photos, kept by content hash so that a later re-index can read them again.

A photo stays only while something needs it: a request still working with it, or a product of
an index version that is kept. A request whose product is refused (an image that does not load,
a write that fails) leaves nothing behind.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from shoptag.api.uploads import save_upload
from shoptag.indexing.store import PRODUCTS_NAME
from shoptag.indexing.versions import IndexFolder


class ProductImages:
    def __init__(self, folder: Path, staging: Path, index: Path) -> None:
        self.folder = folder
        self._staging = staging  # where an upload is written before its hash, and so its name, is known
        self._index = IndexFolder(index)
        self._lock = threading.Lock()
        self._in_use: Counter[str] = Counter()

    def keep(self, source: BinaryIO) -> Path:
        """Store an uploaded photo (blocking); the caller ``release``s it when its request ends."""
        saved = save_upload(source, self._staging)
        with self._lock:
            self._in_use[saved.sha256] += 1
            kept = self.folder / saved.sha256
            saved.path.replace(kept)  # the same name means the same bytes
        return kept

    def release(self, photos: list[Path]) -> None:
        """A request is done with ``photos`` (blocking): those no other request holds and no
        kept index version lists are removed."""
        with self._lock:
            unused = []
            for photo in photos:
                self._in_use[photo.name] -= 1
                if self._in_use[photo.name] <= 0:
                    del self._in_use[photo.name]
                    unused.append(photo)
            listed = self._listed(unused) if unused else set()
            for photo in unused:
                if photo.name not in listed:
                    photo.unlink(missing_ok=True)

    def _listed(self, photos: list[Path]) -> set[str]:
        """The names of those ``photos`` that a product of some kept index version refers to."""
        # A ref is stored as a JSON string: look for it as it is written there.
        wanted = {json.dumps(str(photo), ensure_ascii=False): photo.name for photo in photos}
        found: set[str] = set()
        for version in self._index.versions.iterdir():
            products = version / PRODUCTS_NAME
            if version.name.startswith(".") or not products.is_file():
                continue
            text = products.read_text(encoding="utf-8", errors="replace")
            found |= {name for ref, name in wanted.items() if ref in text}
        return found
