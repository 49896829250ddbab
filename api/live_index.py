"""The index the service answers from, changeable while it serves.

Readers take a snapshot once per request and keep it to the end, so a running tagging request
sees one consistent index version. Each change reads and embeds its images first, then writes
a new version built from the version current on disk under the index's writer lock
(``indexing.writer.rebase_version``): a version written meanwhile by another process
(`shoptag index update` from cron, another service) or another request keeps its changes, and
a crash never loses an acknowledged change nor exposes one that was not written. A version
switched outside the service (an update, a rollback) is picked up by the next snapshot.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from shoptag.errors import ShopTagError
from shoptag.indexing.edits import remove_product, upsert_product
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import IndexedProduct, Product
from shoptag.indexing.store import CatalogIndex
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
        self._lock = threading.Lock()  # guards reloading and replacing ``current``
        self._unloadable: str | None = None  # a version on disk that failed to load: not retried

    def snapshot(self) -> CatalogIndex:
        """The current version, reloaded first if it was switched on disk (blocking: a reload
        reads and checks the new version's files). A version that cannot be loaded is logged
        and the one in memory keeps serving."""
        try:
            on_disk = self._folder.current_name()
        except ShopTagError as exc:
            logger.error("index pointer unreadable, still serving %s: %s", self.current.version, exc.message)
            return self.current
        if on_disk in (self.current.version, self._unloadable):
            return self.current
        with self._lock:
            if on_disk not in (self.current.version, self._unloadable):
                try:
                    # Segments it shares with the version in memory are not read again.
                    self.current = CatalogIndex.load(self.current.path, self._embedder, reuse=self.current)
                    logger.info("index version %s loaded (switched on disk)", self.current.version)
                except ShopTagError as exc:
                    self._unloadable = on_disk
                    logger.error("index version %s cannot be loaded, still serving %s: %s", on_disk,
                                 self.current.version, exc.message)
            return self.current

    def upsert(self, product: Product, base_dir: Path) -> tuple[IndexedProduct, CatalogIndex, bool]:
        """Add or replace ``product``; returns (indexed product, new version, created)."""
        version, created = upsert_product(self.snapshot(), product, self._embedder, self._reader, base_dir,
                                          self._keep)
        self._publish(version)
        return version.product(product.product_id), version, created

    def remove(self, product_id: str) -> CatalogIndex:
        version = remove_product(self.snapshot(), product_id, self._keep)
        self._publish(version)
        return version

    def _publish(self, version: CatalogIndex) -> None:
        # Two writers may publish out of order; the next snapshot then sees that this is not
        # the version on disk and loads that one.
        with self._lock:
            self.current = version
