"""Catalog thumbnails for the review page: a JPEG of a product's first photo, made on demand
and cached by image ref (a replaced photo gets a new one)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import cv2

from shoptag.api.catalogs import Catalog
from shoptag.errors import ImageLoadError, NotFoundError
from shoptag.indexing.images import ImageReader
from shoptag.pixels import rescaled
from shoptag.settings import Settings

THUMBNAIL_SIDE = 256
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
        product = catalog.live.snapshot().product(product_id)
        if not product.images:
            raise NotFoundError(f"product {product_id!r} has no image")
        with self._slots:
            return self._of_ref(product.images[0].ref)

    def _encode(self, ref: str) -> bytes:
        config = self._settings.service
        root = config.image_root
        if "://" not in ref and not Path(ref).is_absolute():
            # Catalog paths are relative to the catalog file, which the service does not know.
            resolved = (root / ref).resolve() if root is not None else None
            if resolved is None or not resolved.is_relative_to(root.resolve()):
                raise NotFoundError(f"no thumbnail for {ref!r}: the catalog's image paths are relative, and the "
                                    "service's image root (SHOPTAG_SERVICE__IMAGE_ROOT) does not hold them")
            ref = str(resolved)
        rgb = self._image_reader.load(ref, config.served.parent).pixels
        small = rescaled(rgb, min(1.0, THUMBNAIL_SIDE / max(rgb.shape[:2])))
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise ImageLoadError(f"the image of {ref!r} could not be encoded")
        return encoded.tobytes()
