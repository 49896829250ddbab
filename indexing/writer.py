"""Write index versions: a build replaces the whole catalog; a rebase applies one writer's
change to whatever version is current once it holds the lock (see ``indexing.versions``), so
that two writers never lose each other's acknowledged changes."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from shoptag.errors import IndexBuildError, IndexLoadError, IndexModelMismatchError
from shoptag.files import file_sha256
from shoptag.indexing.catalog import Catalog
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.embedding import EntryEmbedder, embed_entries
from shoptag.indexing.images import ImageReader
from shoptag.indexing.local_features import FEATURES_NAME, LocalFeatures, save_features
from shoptag.indexing.manifest import FORMAT_VERSION, Manifest
from shoptag.indexing.records import Background, Entry, ImageVector, IndexedImage, IndexedProduct, Skipped
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.vectors import METRIC, VectorIndex, resolve_type
from shoptag.indexing.version_files import (
    BACKGROUND_NAME,
    DESCRIPTORS_NAME,
    EMBEDDINGS_NAME,
    IMAGE_IDS_NAME,
    PRODUCTS_NAME,
    VECTORS_NAME,
)
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder

logger = logging.getLogger(__name__)

# Versions kept for rollback when a writer is not told otherwise (``Settings.index.keep``).
DEFAULT_KEEP = 3


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
    prepared = _Prepared.of(model, entries, index_type, bank)
    folder = IndexFolder(root)
    with folder.writing(keep) as (staging, name, parent):
        manifest = prepared.write(staging, name, parent)
    return prepared.loaded(folder, manifest)


def rebase_version(root: Path, model: ModelRef, change: Callable[[CatalogIndex], list[Entry]],
                   started_from: CatalogIndex, keep: int = DEFAULT_KEEP,
                   index_type: str | None = None) -> CatalogIndex:
    """Write a new version made by ``change`` from the version that is current while this
    writer holds the lock, and make it current. Writers compute their change (read images,
    embed them) from ``started_from`` without the lock; ``change`` then applies it to the
    version current under the lock, so a version another writer made meanwhile is built upon,
    never overwritten. ``index_type`` None keeps that version's type.

    The new version is prepared (search index built) from ``started_from`` before the lock is
    taken, and prepared again under the lock only when another writer got there first: the
    lock is then held for writing files, as long as writers do not overlap."""
    prepared = _Prepared.of(model, change(started_from), index_type or started_from.manifest.index_type,
                            _bank(started_from))
    folder = IndexFolder(root)
    with folder.writing(keep) as (staging, name, parent):
        if parent != started_from.version:
            if parent is None:
                raise IndexLoadError(f"index {root} has no current version to change")
            base = CatalogIndex.read(root)
            if base.manifest.model_identity != model.identity:
                raise IndexModelMismatchError(
                    f"index {root} was rebuilt with {base.manifest.model_identity} while this change was "
                    f"prepared with {model.identity}; nothing was written")
            prepared = _Prepared.of(model, change(base), index_type or base.manifest.index_type, _bank(base))
        manifest = prepared.write(staging, name, parent)
    return prepared.loaded(folder, manifest)


@dataclass
class _Prepared:
    """A version ready to be written: numbered products, stacked vectors, a built search index.
    Image ids are numbered afresh; vectors are matched to images by content, not by id."""

    model: ModelRef
    products: list[IndexedProduct]
    embeddings: np.ndarray
    vectors: VectorIndex
    features: list[LocalFeatures] | None
    descriptors: DescriptorIndex | None
    background: Background | None

    @classmethod
    def of(cls, model: ModelRef, entries: list[Entry], index_type: str, bank: np.ndarray | None) -> _Prepared:
        if not entries:
            raise IndexBuildError("an index cannot be left without products")
        images = [image for entry in entries for image in entry.images]
        features = [image.features for image in images]
        embeddings = np.ascontiguousarray(np.stack([image.vector for image in images]),
                                          dtype=np.float32).reshape(len(images), model.dim)
        vectors = VectorIndex.build(embeddings, np.arange(len(images), dtype=np.int64),
                                    resolve_type(index_type, len(images)))
        features = features if all(f is not None for f in features) else None
        # Images are numbered in entry order: the product position of each image.
        image_products = [position for position, entry in enumerate(entries) for _ in entry.images]
        return cls(model, _numbered(entries), embeddings, vectors, features,
                   None if features is None else DescriptorIndex.build(features, image_products),
                   None if bank is None else _background(images, embeddings, bank))

    def write(self, staging: Path, name: str, parent: str | None) -> Manifest:
        self.vectors.write(staging / VECTORS_NAME)
        np.save(staging / EMBEDDINGS_NAME, self.embeddings)
        np.save(staging / IMAGE_IDS_NAME, np.arange(len(self.embeddings), dtype=np.int64))
        with (staging / PRODUCTS_NAME).open("w", encoding="utf-8") as handle:
            for product in self.products:
                handle.write(json.dumps(product.model_dump(mode="json"), ensure_ascii=False) + "\n")
        files = (VECTORS_NAME, EMBEDDINGS_NAME, IMAGE_IDS_NAME, PRODUCTS_NAME)
        if self.features is not None:
            save_features(staging / FEATURES_NAME, self.features)
            self.descriptors.write(staging / DESCRIPTORS_NAME)
            files += (FEATURES_NAME, DESCRIPTORS_NAME)
        if self.background is not None:
            np.savez(staging / BACKGROUND_NAME, bank=self.background.bank, image_scores=self.background.image_scores)
            files += (BACKGROUND_NAME,)
        for file_name in files:
            _fsync_file(staging / file_name)
        manifest = Manifest(
            format_version=FORMAT_VERSION, model_spec=self.model.spec, model_identity=self.model.identity,
            dim=self.model.dim, metric=METRIC, products=len(self.products), images=len(self.embeddings),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            files={file_name: file_sha256(staging / file_name) for file_name in files},
            version=name, parent=parent, index_type=self.vectors.kind)
        manifest.write(staging)
        return manifest

    def loaded(self, folder: IndexFolder, manifest: Manifest) -> CatalogIndex:
        """The version just written, as loaded from disk (its embeddings memory-mapped)."""
        return CatalogIndex(folder.root, folder.versions / manifest.version, manifest, self.vectors, self.products,
                            np.load(folder.versions / manifest.version / EMBEDDINGS_NAME, mmap_mode="r"),
                            self.features, self.background, self.descriptors)


def _bank(index: CatalogIndex) -> np.ndarray | None:
    return None if index.background is None else index.background.bank


def _background(images: list[ImageVector], embeddings: np.ndarray, bank: np.ndarray) -> Background:
    """Scores against the bank: images that kept theirs from the version they come from reuse
    them; new ones are scored."""
    scores = np.array([np.nan if image.background is None else image.background for image in images], np.float32)
    new = np.isnan(scores)
    if new.any():
        scores[new] = Background.scores(embeddings[new], bank)
    return Background(np.ascontiguousarray(bank, dtype=np.float32), scores)


def _numbered(entries: list[Entry]) -> list[IndexedProduct]:
    products, next_id = [], 0
    for entry in entries:
        p = entry.product
        images = tuple(IndexedImage(id=next_id + i, ref=image.ref, sha256=image.sha256)
                       for i, image in enumerate(entry.images))
        next_id += len(images)
        products.append(IndexedProduct(product_id=p.product_id, title=p.title, url=p.url, metadata=p.metadata,
                                       images=images))
    return products


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
