"""Change one product of an index: add or replace it, or remove it.

Each change writes a new index version (the folder is replaced atomically) and returns it as a
new ``CatalogIndex``; the one passed in is left as it was, so searches already running on it
finish on a consistent version.
"""

from __future__ import annotations

from pathlib import Path

from shoptag.errors import ImageLoadError
from shoptag.indexing.catalog import Product, Skipped
from shoptag.indexing.store import CatalogIndex, embed_products
from shoptag.model.base import Embedder
from shoptag.settings import ImageLimits


def upsert_product(index: CatalogIndex, product: Product, embedder: Embedder, limits: ImageLimits,
                   base_dir: Path) -> CatalogIndex:
    """Add ``product``, or replace the product with its id. Every image must load: a product
    is never half-indexed, and on any failure the index stays as it was."""
    skipped: list[Skipped] = []
    vectors, indexed = embed_products([product], base_dir, embedder, limits, skipped,
                                      first_id=index.next_image_id)
    if skipped:
        raise ImageLoadError("; ".join(f"{s.where}: {s.reason}" for s in skipped))
    return index.with_changes(remove=set(), add=indexed, vectors=vectors)


def remove_product(index: CatalogIndex, product_id: str) -> CatalogIndex:
    index.product(product_id)  # raises NotFoundError for an unknown id
    return index.with_changes(remove={product_id}, add=[], vectors=None)
