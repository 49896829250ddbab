"""Change one product of an index: add or replace it, or remove it.

Each change writes a new index version and returns it as a new ``CatalogIndex``; the one
passed in is left as it was, so searches already running on it finish on a consistent
version. Stored vectors of the other products are reused, not recomputed.
"""

from __future__ import annotations

from pathlib import Path

from shoptag.errors import ImageLoadError
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import Product
from shoptag.indexing.store import DEFAULT_KEEP, CatalogIndex, embed_entries, write_version
from shoptag.model.base import Embedder


def upsert_product(index: CatalogIndex, product: Product, embedder: Embedder, reader: ImageReader,
                   base_dir: Path, keep: int = DEFAULT_KEEP) -> CatalogIndex:
    """Add ``product``, or replace the product with its id. Every image must load: a product
    is never half-indexed, and on any failure the index stays as it was."""
    entries, stats = embed_entries([product], base_dir, embedder, reader, known=index.known_images())
    if stats.skipped:
        raise ImageLoadError("; ".join(f"{s.where}: {s.reason}" for s in stats.skipped))
    return _rewrite(index, index.entries(exclude={product.product_id}) + entries, keep)


def remove_product(index: CatalogIndex, product_id: str, keep: int = DEFAULT_KEEP) -> CatalogIndex:
    index.product(product_id)  # raises NotFoundError for an unknown id
    return _rewrite(index, index.entries(exclude={product_id}), keep)


def _rewrite(index: CatalogIndex, entries, keep: int) -> CatalogIndex:
    m = index.manifest
    return write_version(index.path, m.model_spec, m.model_identity, m.dim, entries, m.index_type, keep)
