"""Change one product of an index: add or replace it, or remove it.

Each change writes a new index version built from the version current under the writer lock
(``indexing.writer.rebase_version``), so a version written meanwhile by another process (an
``index update``, another service) keeps its changes. The images are read and embedded before
the lock is taken, reusing vectors of the version the change started from.
"""

from __future__ import annotations

from pathlib import Path

from shoptag.errors import ImageLoadError
from shoptag.indexing.embedding import embed_entries
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import Product
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.writer import DEFAULT_KEEP, Change, ModelRef, rebase_version
from shoptag.model.base import Embedder


def upsert_product(index: CatalogIndex, product: Product, embedder: Embedder, reader: ImageReader,
                   base_dir: Path, keep: int = DEFAULT_KEEP) -> tuple[CatalogIndex, bool]:
    """Add ``product``, or replace the product with its id; returns (new version, created).
    Every image must load: a product is never half-indexed, and on any failure the index
    stays as it was."""
    entries, stats = embed_entries([product], base_dir, embedder, reader, known=index.known_images())
    if stats.skipped:
        raise ImageLoadError("; ".join(f"{s.where}: {s.reason}" for s in stats.skipped))
    created = False

    def change(base: CatalogIndex) -> Change:
        nonlocal created
        created = product.product_id not in base
        return Change(tuple(entries))

    return rebase_version(index.path, ModelRef.of(embedder), change, index, keep), created


def remove_product(index: CatalogIndex, product_id: str, keep: int = DEFAULT_KEEP) -> CatalogIndex:
    """Remove ``product_id`` (``NotFoundError`` when the current version does not hold it)."""

    def change(base: CatalogIndex) -> Change:
        base.product(product_id)
        return Change(removed=frozenset({product_id}))

    m = index.manifest
    return rebase_version(index.path, ModelRef(m.model_spec, m.model_identity, m.dim), change, index, keep)
