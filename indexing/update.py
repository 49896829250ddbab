"""Incremental re-index: bring an index up to date with a catalog, embedding only what changed.

Products are compared by id, images by content hash: an image whose bytes the index already
holds reuses its stored vector (it is read and hashed, never decoded or embedded), new and
changed images are embedded, products gone from the catalog disappear. URL images go through
the fetcher's cache, so an unchanged remote image costs one "not modified" answer.

The update is a change computed against the version it started from (products added,
changed, removed) and applied to the version current once it holds the writer lock, so a
product another writer added or changed meanwhile (the service, say) is kept. It writes only
what changed (``indexing.writer``): added and changed products go to a new segment, after
the products the version already holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shoptag.indexing.catalog import Catalog
from shoptag.indexing.embedding import EntryEmbedder, embed_entries
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import Entry, IndexedProduct, Skipped
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.writer import DEFAULT_KEEP, Change, ModelRef, rebase_version
from shoptag.model.base import Embedder


@dataclass
class UpdateReport:
    path: Path
    version: str
    previous_version: str
    added: int
    changed: int
    removed: int
    unchanged: int
    images_reused: int
    images_embedded: int
    images_failed: int
    seconds: float
    skipped: list[Skipped] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "index": str(self.path), "version": self.version, "previous_version": self.previous_version,
            "products": {"added": self.added, "changed": self.changed, "removed": self.removed,
                         "unchanged": self.unchanged},
            "images": {"reused": self.images_reused, "embedded": self.images_embedded,
                       "failed": self.images_failed},
            "seconds": round(self.seconds, 3),
            "skipped": [{"where": s.where, "reason": s.reason} for s in self.skipped],
        }


def update_index(catalog: Catalog, embedder: Embedder, root: Path, reader: ImageReader,
                 index_type: str | None = None, keep: int = DEFAULT_KEEP,
                 on_image: Callable[[], None] | None = None, keep_on_failure: bool = False,
                 embed: EntryEmbedder = embed_entries) -> UpdateReport:
    """Write a new version of ``root`` matching ``catalog`` (none if nothing changed), its new
    images embedded with ``embed`` (in process, or on Ray).
    ``index_type`` None keeps the current version's type. With ``keep_on_failure``, a stored
    product one of whose images fails to load keeps its stored images and vectors (with the
    catalog's title, url and metadata) instead of losing that image, or itself."""
    started = time.perf_counter()
    old = CatalogIndex.load(root, embedder)
    entries, stats = embed(catalog.products, catalog.base_dir, embedder, reader, known=old.known_images(),
                           on_image=on_image)
    if keep_on_failure:
        entries = _stored_where_failed(catalog, entries, stats.incomplete, old)
    new_ids = [entry.product.product_id for entry in entries]
    upserts = [entry for entry in entries if entry.product.product_id not in old
               or not _same(old.product(entry.product.product_id), entry)]
    added = sum(1 for entry in upserts if entry.product.product_id not in old)
    removed = {p.product_id for p in old.products} - set(new_ids)
    kind = index_type or old.manifest.index_type
    version, previous = old.version, old.version
    if upserts or removed or kind != old.manifest.index_type:
        # What the update left alone stays as the base has it, where another writer may have
        # changed it since; what it does not know of (added meanwhile) stays too.
        change = Change(tuple(upserts), frozenset(removed))
        written = rebase_version(root, ModelRef.of(embedder), lambda base: change, old, keep, index_type)
        version, previous = written.version, written.manifest.parent
    return UpdateReport(Path(root), version, previous, added, len(upserts) - added, len(removed),
                        len(entries) - len(upserts), stats.reused, stats.embedded, stats.failed,
                        time.perf_counter() - started, list(catalog.skipped) + stats.skipped)


def _stored_where_failed(catalog: Catalog, entries: list[Entry], failed: set[str], old: CatalogIndex) -> list[Entry]:
    """``entries`` in the catalog's order, those of stored products in ``failed`` with their stored images."""
    built = {entry.product.product_id: entry for entry in entries}
    stored = {entry.product.product_id: entry for entry in old.entries()} if failed else {}
    kept = []
    for product in catalog.products:
        if product.product_id in failed and product.product_id in stored:
            kept.append(Entry(product, stored[product.product_id].images))
        elif product.product_id in built:
            kept.append(built[product.product_id])
    return kept


def _same(stored: IndexedProduct, entry: Entry) -> bool:
    p = entry.product
    return ((stored.title, stored.url, stored.metadata) == (p.title, p.url, p.metadata)
            and [(i.ref, i.sha256) for i in stored.images] == [(i.ref, i.sha256) for i in entry.images])
