"""Uploaded product photos, kept by content hash so that a later re-index can read them again.

A photo stays only while something needs it: a request still working with it, or a product of
an index version that is kept. A request whose product is refused (an image that does not load,
a write that fails) leaves nothing behind, and photos that only pruned versions listed are
removed after a product is replaced or removed, and when the service starts.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

from shoptag.api.uploads import SavedUpload
from shoptag.indexing.segments import kept_image_refs
from shoptag.indexing.store import CatalogIndex

logger = logging.getLogger(__name__)


class ProductImages:
    def __init__(self, folder: Path, index: Path) -> None:
        self.folder = folder
        self._index = index
        self._lock = threading.Lock()
        self._in_use: Counter[str] = Counter()

    def remove_unlisted(self) -> int:
        """Remove the photos no kept index version lists (blocking); returns how many."""
        listed = _names(kept_image_refs(self._index))
        if listed is None:  # the index cannot say what it lists: keep everything
            return 0
        with self._lock:
            unlisted = [photo for photo in self.folder.iterdir()
                        if photo.name not in self._in_use and photo.name not in listed]
            for photo in unlisted:
                photo.unlink(missing_ok=True)
        if unlisted:
            logger.info("removed %d product photo(s) no kept index version lists", len(unlisted))
        return len(unlisted)

    def keep(self, saved: SavedUpload) -> Path:
        """Keep an uploaded photo under its content hash (moving it from where it was received);
        the caller ``release``s it when its request ends."""
        with self._lock:
            self._in_use[saved.sha256] += 1
            kept = self.folder / saved.sha256
            saved.path.replace(kept)  # the same name means the same bytes
        return kept

    def release(self, photos: list[Path], current: CatalogIndex) -> None:
        """A request is done with ``photos`` (blocking): those no other request holds and no
        kept index version lists (``current`` first, then the versions on disk) are removed."""
        with self._lock:
            unused = []
            for photo in photos:
                self._in_use[photo.name] -= 1
                if self._in_use[photo.name] <= 0:
                    del self._in_use[photo.name]
                    unused.append(photo)
            in_current = _names({image.ref for product in current.products for image in product.images})
            unused = [photo for photo in unused if photo.name not in in_current]
            listed = _names(kept_image_refs(self._index)) if unused else set()
            for photo in unused if listed is not None else ():
                if photo.name not in listed:
                    photo.unlink(missing_ok=True)


def _names(refs: set[str] | None) -> set[str] | None:
    """Photos are named by their content hash: a ref names a photo by its last part, however
    the state folder's path was spelled when the ref was stored."""
    return None if refs is None else {Path(ref).name for ref in refs}
