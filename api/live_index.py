"""The index the service answers from, changeable while it serves.

Readers take a snapshot once per request and keep it to the end, so a running tagging request
sees one consistent index version. Writers are serialised; each change writes a new version to
disk before it becomes current, so a crash never loses an acknowledged change and never exposes
one that was not written. A version written by another process (`shoptag index update` from
cron, a rollback) is picked up by the next snapshot, and a change made here always starts from
the version on disk, so it never silently drops someone else's update.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from shoptag.errors import ShopTagError
from shoptag.indexing.edits import remove_product, upsert_product
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import Product
from shoptag.indexing.store import CatalogIndex, IndexedProduct
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder

logger = logging.getLogger(__name__)


class LiveIndex:
    def __init__(self, index: CatalogIndex, embedder: Embedder, reader: ImageReader, keep: int) -> None:
        self.current = index
        self._folder = IndexFolder(index.path)
        self._embedder = embedder
        self._reader = reader
        self._keep = keep
        self._lock = threading.RLock()

    def snapshot(self) -> CatalogIndex:
        """The current version, reloaded first if another process switched it (blocking: a
        reload reads and checks the new version's files)."""
        if self._folder.current_name() == self.current.version:
            return self.current
        with self._lock:
            on_disk = self._folder.current_name()
            if on_disk != self.current.version:
                try:
                    self.current = CatalogIndex.load(self.current.path, self._embedder)
                    logger.info("index version %s loaded (switched outside the service)", on_disk)
                except ShopTagError as exc:
                    logger.error("index version %s cannot be loaded, still serving %s: %s", on_disk,
                                 self.current.version, exc.message)
            return self.current

    def upsert(self, product: Product, base_dir: Path) -> tuple[IndexedProduct, CatalogIndex, bool]:
        """Add or replace ``product``; returns (indexed product, new version, created)."""
        with self._lock:
            base = self.snapshot()
            created = product.product_id not in base
            self.current = upsert_product(base, product, self._embedder, self._reader, base_dir, self._keep)
            return self.current.product(product.product_id), self.current, created

    def remove(self, product_id: str) -> CatalogIndex:
        with self._lock:
            self.current = remove_product(self.snapshot(), product_id, self._keep)
            return self.current
