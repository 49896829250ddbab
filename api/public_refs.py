"""Image refs as a client sees them: a URL as it is; a photo uploaded through the API as
``upload:<sha256>``; a file under the service's image root relative to it; any other file by
its name. Paths on the server are none of a client's business."""

from __future__ import annotations

from pathlib import Path

from shoptag.indexing.records import IndexedProduct


class PublicRefs:
    def __init__(self, product_photos: Path, image_root: Path | None) -> None:
        self._product_photos = product_photos
        self._image_root = None if image_root is None else image_root.resolve()

    def ref(self, ref: str) -> str:
        if "://" in ref:
            return ref
        path = Path(ref)
        if path.is_relative_to(self._product_photos):
            return f"upload:{path.name}"
        if self._image_root is not None and path.is_relative_to(self._image_root):
            return str(path.relative_to(self._image_root))
        return path.name if path.is_absolute() else ref

    def product(self, product: IndexedProduct) -> IndexedProduct:
        """``product`` with its image refs as a client sees them."""
        images = tuple(image.model_copy(update={"ref": self.ref(image.ref)}) for image in product.images)
        return product.model_copy(update={"images": images})
