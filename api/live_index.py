"""The index the service answers from, changeable while it serves.

Readers take ``current`` once per request and keep that snapshot to the end, so a running
tagging request sees one consistent index version. Writers are serialised; each change writes
a new version to disk before it becomes ``current``, so a crash never loses an acknowledged
change and never exposes one that was not written.
"""

from __future__ import annotations

import threading
from pathlib import Path

from shoptag.indexing.edits import remove_product, upsert_product
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import Product
from shoptag.indexing.store import CatalogIndex, IndexedProduct
from shoptag.model.base import Embedder


class LiveIndex:
    def __init__(self, index: CatalogIndex, embedder: Embedder, reader: ImageReader, keep: int) -> None:
        self.current = index
        self._embedder = embedder
        self._reader = reader
        self._keep = keep
        self._write_lock = threading.Lock()

    def upsert(self, product: Product, base_dir: Path) -> tuple[IndexedProduct, CatalogIndex, bool]:
        """Add or replace ``product``; returns (indexed product, new version, created)."""
        with self._write_lock:
            created = product.product_id not in self.current
            updated = upsert_product(self.current, product, self._embedder, self._reader, base_dir, self._keep)
            self.current = updated
        return updated.product(product.product_id), updated, created

    def remove(self, product_id: str) -> CatalogIndex:
        with self._write_lock:
            self.current = remove_product(self.current, product_id, self._keep)
            return self.current
