"""Write index versions: a build replaces the whole catalog; a rebase applies one writer's
change to whatever version is current once it holds the lock (see ``indexing.versions``), so
that two writers never lose each other's acknowledged changes.

A change costs what it changes, not what the catalog holds: the new version lists the
segments of the one it is built from (``indexing.segments``), with the products it removes or
replaces left out, plus one new segment of the products it adds or replaces. Small segments
are merged as they accumulate (``_merged``: four of a size tier make one of the next), so a
version lists a few segments per tier, and each image is rewritten a few times per tier it
climbs; merges that would rewrite more than ``AUTO_MERGE_MAX_IMAGES`` wait for ``compact``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from shoptag.errors import IndexBuildError, IndexLoadError, IndexModelMismatchError
from shoptag.files import file_sha256
from shoptag.indexing.catalog import Catalog
from shoptag.indexing.embedding import EntryEmbedder, embed_entries
from shoptag.indexing.images import ImageReader
from shoptag.indexing.manifest import FORMAT_VERSION, Manifest
from shoptag.indexing.records import Entry, Skipped
from shoptag.indexing.segment_writer import NewSegment
from shoptag.indexing.segments import LAYOUT_NAME, Placement, write_layout
from shoptag.indexing.store import CatalogIndex, Placed
from shoptag.indexing.vectors import AUTO_APPROXIMATE_FROM, METRIC, resolve_type
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder

logger = logging.getLogger(__name__)

# Versions kept for rollback when a writer is not told otherwise (``Settings.index.keep``).
DEFAULT_KEEP = 3
# Segments of fewer images than this are all of tier 0; each tier up holds segments
# SEGMENTS_PER_TIER times larger. SEGMENTS_PER_TIER segments of one tier at the end of a
# version are merged into one (of the next tier), unless that would rewrite more images than
# AUTO_MERGE_MAX_IMAGES (about 25 s of HNSW building at 1280 dims on 2 cores), which is
# left to ``compact``. A segment whose products are mostly removed is rewritten alone.
TIER_FLOOR_IMAGES = 1_000
SEGMENTS_PER_TIER = 4
AUTO_MERGE_MAX_IMAGES = 100_000
MAX_REMOVED_FRACTION = 0.5


@dataclass
class BuildReport:
    path: Path
    version: str
    products: int
    images: int
    index_type: str
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class ModelRef:
    """The model a version's vectors come from: what its manifest records."""

    spec: str
    identity: str
    dim: int

    @classmethod
    def of(cls, embedder: Embedder) -> ModelRef:
        return cls(embedder.spec, embedder.identity, embedder.dim)


@dataclass(frozen=True)
class Change:
    """What one writer changes: products added or replaced (by product id), products removed."""

    upserts: tuple[Entry, ...] = ()
    removed: frozenset[str] = frozenset()


def build_index(catalog: Catalog, embedder: Embedder, out: Path, reader: ImageReader,
                index_type: str = "auto", keep: int = DEFAULT_KEEP,
                on_image: Callable[[], None] | None = None, bank: np.ndarray | None = None,
                embed: EntryEmbedder = embed_entries) -> BuildReport:
    """Embed every catalog image (with ``embed``: in process, or on Ray) and write a new version
    of the index at ``out``; with a background ``bank`` (``tagging.calibration``), each image's
    score against it is stored too."""
    IndexFolder(out).check_writable()  # before spending minutes embedding
    entries, stats = embed(catalog.products, catalog.base_dir, embedder, reader, on_image=on_image)
    skipped = list(catalog.skipped) + stats.skipped
    if not entries:
        raise IndexBuildError(
            f"nothing could be indexed from {catalog.path}: {len(skipped)} item(s) skipped"
            + (f", first: {skipped[0].where}: {skipped[0].reason}" if skipped else ""))
    index = write_version(out, ModelRef.of(embedder), entries, index_type, keep, bank)
    m = index.manifest
    logger.info("indexed %d products (%d images) into %s version %s; skipped %d", m.products, m.images, out,
                m.version, len(skipped))
    return BuildReport(Path(out), m.version, m.products, m.images, m.index_type, skipped)


def write_version(root: Path, model: ModelRef, entries: list[Entry], index_type: str,
                  keep: int = DEFAULT_KEEP, bank: np.ndarray | None = None) -> CatalogIndex:
    """Write ``entries`` as the whole of a new version of the index at ``root`` and make it
    current, whatever the current version holds (a build)."""
    plan = _Plan.whole(model, entries, index_type, bank)
    folder = IndexFolder(root)
    with folder.writing(keep) as (staging, name, parent):
        written = plan.write(folder, staging, name, parent)
    return written


def rebase_version(root: Path, model: ModelRef, change: Callable[[CatalogIndex], Change],
                   started_from: CatalogIndex, keep: int = DEFAULT_KEEP,
                   index_type: str | None = None, compact: bool = False) -> CatalogIndex:
    """Write a new version made by ``change`` from the version that is current while this
    writer holds the lock, and make it current. Writers compute their change (read images,
    embed them) from ``started_from`` without the lock; ``change`` then applies it to the
    version current under the lock, so a version another writer made meanwhile is built upon,
    never overwritten. ``index_type`` None keeps that version's type; another type, or
    ``compact``, rewrites the version into one segment.

    The new version is prepared (new segments' search indexes built) from ``started_from``
    before the lock is taken, and prepared again under the lock only when another writer got
    there first: the lock is then held for writing files, as long as writers do not overlap."""
    plan = _Plan.of(model, started_from, change(started_from), index_type, compact)
    folder = IndexFolder(root)
    with folder.writing(keep) as (staging, name, parent):
        if parent != started_from.version:
            if parent is None:
                raise IndexLoadError(f"index {root} has no current version to change")
            base = CatalogIndex.read(root, reuse=started_from)
            if base.manifest.model_identity != model.identity:
                raise IndexModelMismatchError(
                    f"index {root} was rebuilt with {base.manifest.model_identity} while this change was "
                    f"prepared with {model.identity}; nothing was written")
            plan = _Plan.of(model, base, change(base), index_type, compact)
        written = plan.write(folder, staging, name, parent)
    return written


def compact_index(index: CatalogIndex, keep: int = DEFAULT_KEEP) -> CatalogIndex:
    """Rewrite the current version into one segment: removed products' data dropped, and the
    search index built over the whole catalog (the costs of a build, without embedding)."""
    m = index.manifest
    return rebase_version(index.path, ModelRef(m.model_spec, m.model_identity, m.dim), lambda base: Change(),
                          index, keep, compact=True)


@dataclass
class _Pending:
    """Products for a segment not yet built: new ones, or those of segments being merged."""

    entries: list[Entry]

    @property
    def live_images(self) -> int:
        return sum(len(entry.images) for entry in self.entries)


def _entries_of(slot: Placed | _Pending) -> list[Entry]:
    if isinstance(slot, _Pending):
        return slot.entries
    view = slot.segment.view
    return view.entries(exclude={view.products[position].product_id for position in slot.removed})


@dataclass
class _Plan:
    """A version ready to be written: the segments it keeps, and those it adds, built."""

    model: ModelRef
    index_type: str
    slots: list[Placed | NewSegment]

    @classmethod
    def whole(cls, model: ModelRef, entries: list[Entry], index_type: str, bank: np.ndarray | None) -> _Plan:
        if not entries:
            raise IndexBuildError("an index cannot be left without products")
        kind = resolve_type(index_type, sum(len(entry.images) for entry in entries))
        return cls(model, kind, [NewSegment.of(model.identity, model.dim, entries, kind, bank)])

    @classmethod
    def of(cls, model: ModelRef, base: CatalogIndex, change: Change, index_type: str | None,
           compact: bool) -> _Plan:
        bank = None if base.background is None else base.background.bank
        replaced = change.removed | {entry.product.product_id for entry in change.upserts}
        if compact or (index_type is not None and resolve_type(index_type, base.manifest.images)
                       != base.manifest.index_type):
            return cls.whole(model, base.entries(exclude=replaced) + list(change.upserts),
                             index_type or base.manifest.index_type, bank)
        slots: list[Placed | _Pending] = []
        for placed in base.placed:
            view = placed.segment.view
            removed = placed.removed | {view.position_of(product_id) for product_id in replaced
                                        if product_id in view}
            if len(removed) < len(view.products):
                slots.append(Placed(placed.segment, frozenset(removed)))
        if change.upserts:
            slots.append(_Pending(list(change.upserts)))
        if not slots:
            raise IndexBuildError("an index cannot be left without products")
        kind = base.manifest.index_type
        return cls(model, kind, [NewSegment.of(model.identity, model.dim, slot.entries, _segment_kind(kind, slot),
                                               bank) if isinstance(slot, _Pending) else slot
                                 for slot in _merged(slots)])

    def write(self, folder: IndexFolder, staging: Path, name: str, parent: str | None) -> CatalogIndex:
        """Write the new segments, then the version listing them (callers hold the writer
        lock); the version, loaded."""
        written = [slot if isinstance(slot, Placed) else (slot, *slot.write(folder.root)) for slot in self.slots]
        write_layout(staging, [s.placement if isinstance(s, Placed) else Placement(s[1], s[2]) for s in written])
        manifest = Manifest(
            format_version=FORMAT_VERSION, model_spec=self.model.spec, model_identity=self.model.identity,
            dim=self.model.dim, metric=METRIC, products=sum(_products(slot) for slot in self.slots),
            images=sum(slot.live_images for slot in self.slots),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            files={LAYOUT_NAME: file_sha256(staging / LAYOUT_NAME)},
            version=name, parent=parent, index_type=self.index_type)
        manifest.write(staging)
        placed = [s if isinstance(s, Placed) else Placed(s[0].loaded(folder.root, *s[1:])) for s in written]
        return CatalogIndex(folder.root, folder.versions / name, manifest, placed)


def _products(slot: Placed | NewSegment) -> int:
    return len(slot.products) if isinstance(slot, NewSegment) else len(slot.segment.view.products) - len(slot.removed)


def _merged(slots: list[Placed | _Pending]) -> list[Placed | _Pending]:
    """``slots`` with mostly-removed segments rewritten, and the last run of
    ``SEGMENTS_PER_TIER`` segments of one tier merged into one, as long as there is one."""
    slots = [_Pending(_entries_of(slot)) if isinstance(slot, Placed) and slot.live_images <= AUTO_MERGE_MAX_IMAGES
             and len(slot.removed) > MAX_REMOVED_FRACTION * len(slot.segment.view.products) else slot
             for slot in slots]
    while True:
        tier = _tier(slots[-1].live_images)
        run = 1
        while run < len(slots) and _tier(slots[-run - 1].live_images) == tier:
            run += 1
        merged = sum(slot.live_images for slot in slots[-run:])
        if run < SEGMENTS_PER_TIER or merged > AUTO_MERGE_MAX_IMAGES:
            return slots
        slots[-run:] = [_Pending([entry for slot in slots[-run:] for entry in _entries_of(slot)])]


def _tier(images: int) -> int:
    return 0 if images < TIER_FLOOR_IMAGES else 1 + int(math.log(images / TIER_FLOOR_IMAGES, SEGMENTS_PER_TIER))


def _segment_kind(version_kind: str, slot: _Pending) -> str:
    """A version's small segments are searched exactly: cheaper than any approximate index of
    their size, and ivfpq could not be trained on them."""
    return "flat" if slot.live_images < AUTO_APPROXIMATE_FROM else version_kind
