"""Catalog thumbnails for the review page: the JPEG the index stores of a product's first photo
(``indexing.thumbnails``), or for an index built before it stored them, one made from the photo
on demand and cached by image ref (a replaced photo gets a new one)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from shoptag.api.catalogs import Catalog
from shoptag.errors import NotFoundError
from shoptag.indexing.images import ImageReader
from shoptag.indexing.thumbnails import thumbnail_jpeg
from shoptag.settings import Settings

_CACHED = 512
# Not on the tagging workers: a page full of thumbnails must not queue behind a video, nor take
# the places tagging requests need; so a few at once, of their own.
_AT_ONCE = 2


class Thumbnails:
    def __init__(self, settings: Settings, image_reader: ImageReader) -> None:
        self._settings = settings
        self._image_reader = image_reader
        self._of_ref = lru_cache(maxsize=_CACHED)(self._encode)
        self._slots = threading.BoundedSemaphore(_AT_ONCE)

    def of(self, catalog: Catalog, product_id: str) -> bytes:
        """A JPEG of the product's first catalog photo, at most ``THUMBNAIL_SIDE`` px (blocking)."""
        index = catalog.live.snapshot()
        product = index.product(product_id)
        if not product.images:
            raise NotFoundError(f"product {product_id!r} has no image")
        stored = index.thumbnail(product.images[0].id)
        if stored is not None:
            return stored
        with self._slots:
            return self._of_ref(product.images[0].ref)

    def _encode(self, ref: str) -> bytes:
        config = self._settings.service
        root = config.image_root
        if "://" not in ref and not Path(ref).is_absolute():
            # Catalog paths are relative to the catalog file, which the service does not know.
            resolved = (root / ref).resolve() if root is not None else None
            if resolved is None or not resolved.is_relative_to(root.resolve()):
                raise NotFoundError(f"no thumbnail for {ref!r}: the catalog's image paths are relative, the "
                                    "index was built before it stored thumbnails (rebuild it to add them), and "
                                    "the service's image root (SHOPTAG_SERVICE__IMAGE_ROOT) does not hold them")
            ref = str(resolved)
        return thumbnail_jpeg(self._image_reader.load(ref, config.served.parent).pixels)
