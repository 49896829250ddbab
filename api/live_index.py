"""The index the service answers from, changeable while it serves.

Readers take ``current`` once per request and keep that snapshot to the end, so a running
tagging request sees one consistent index version. Writers are serialised; each change writes
a new version to disk before it becomes ``current``, so a crash never loses an acknowledged
change and never exposes one that was not written.
"""

from __future__ import annotations

import threading
from pathlib import Path

from shoptag.indexing.catalog import Product
from shoptag.indexing.edits import remove_product, upsert_product
from shoptag.indexing.store import CatalogIndex, IndexedProduct
from shoptag.model.base import Embedder
from shoptag.settings import ImageLimits


class LiveIndex:
    def __init__(self, index: CatalogIndex, embedder: Embedder, limits: ImageLimits) -> None:
        self.current = index
        self._embedder = embedder
        self._limits = limits
        self._write_lock = threading.Lock()

    def upsert(self, product: Product, base_dir: Path) -> tuple[IndexedProduct, CatalogIndex, bool]:
        """Add or replace ``product``; returns (indexed product, new version, created)."""
        with self._write_lock:
            created = product.product_id not in self.current
            updated = upsert_product(self.current, product, self._embedder, self._limits, base_dir)
            self.current = updated
        return updated.product(product.product_id), updated, created

    def remove(self, product_id: str) -> CatalogIndex:
        with self._write_lock:
            self.current = remove_product(self.current, product_id)
            return self.current
