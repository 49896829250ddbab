"""Build a segment from entries (search index, descriptor index, background scores), then
write it into ``segments/`` under the writer lock: files fsynced in a staging folder, renamed
into place, and only then listed by a version (``indexing.writer``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import numpy as np

from shoptag.files import file_sha256
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.local_features import FEATURES_NAME, LocalFeatures, save_features
from shoptag.indexing.records import Background, Entry, ImageVector, IndexedImage, IndexedProduct
from shoptag.indexing.segment_files import (
    BACKGROUND_NAME,
    DESCRIPTORS_NAME,
    EMBEDDINGS_NAME,
    PRODUCTS_NAME,
    RECORD_NAME,
    VECTORS_NAME,
    SegmentFiles,
    SegmentRecord,
)
from shoptag.indexing.segments import segment_dir, staging_dir
from shoptag.indexing.store import LoadedSegment, segment_of
from shoptag.indexing.thumbnails import THUMBNAILS_NAME, save_thumbnails
from shoptag.indexing.vectors import VectorIndex
from shoptag.indexing.versions import fsync_dir, new_version_name


@dataclass
class NewSegment:
    """A segment ready to be written: numbered products, stacked vectors, a built search index.
    Image ids are numbered afresh; vectors are matched to images by content, not by id."""

    model_identity: str
    products: list[IndexedProduct]
    embeddings: np.ndarray
    vectors: VectorIndex
    features: list[LocalFeatures] | None
    descriptors: DescriptorIndex | None
    background: Background | None
    thumbnails: list[bytes | None]

    @classmethod
    def of(cls, model_identity: str, dim: int, entries: list[Entry], kind: str,
           bank: np.ndarray | None) -> NewSegment:
        images = [image for entry in entries for image in entry.images]
        features = [image.features for image in images]
        embeddings = np.ascontiguousarray(np.stack([image.vector for image in images]),
                                          dtype=np.float32).reshape(len(images), dim)
        vectors = VectorIndex.build(embeddings, np.arange(len(images), dtype=np.int64), kind)
        features = features if all(f is not None for f in features) else None
        # Images are numbered in entry order: the product position of each image.
        image_products = [position for position, entry in enumerate(entries) for _ in entry.images]
        return cls(model_identity, _numbered(entries), embeddings, vectors, features,
                   None if features is None else DescriptorIndex.build(features, image_products),
                   None if bank is None else _background(images, embeddings, bank),
                   [image.thumbnail for image in images])

    @property
    def live_images(self) -> int:
        return len(self.embeddings)

    def write(self, root: Path) -> tuple[str, str, SegmentRecord]:
        """Write the segment into ``root``'s segments (callers hold the writer lock); returns
        its name, the sha256 of its record, and the record."""
        name = new_version_name()
        staging = staging_dir(root, name)
        staging.mkdir(parents=True)
        self.vectors.write(staging / VECTORS_NAME)
        np.save(staging / EMBEDDINGS_NAME, self.embeddings)
        with (staging / PRODUCTS_NAME).open("w", encoding="utf-8") as handle:
            for product in self.products:
                handle.write(json.dumps(product.model_dump(mode="json"), ensure_ascii=False) + "\n")
        files = (VECTORS_NAME, EMBEDDINGS_NAME, PRODUCTS_NAME)
        if self.features is not None:
            save_features(staging / FEATURES_NAME, self.features)
            self.descriptors.write(staging / DESCRIPTORS_NAME)
            files += (FEATURES_NAME, DESCRIPTORS_NAME)
        if self.background is not None:
            np.savez(staging / BACKGROUND_NAME, bank=self.background.bank, image_scores=self.background.image_scores)
            files += (BACKGROUND_NAME,)
        if any(thumbnail is not None for thumbnail in self.thumbnails):
            save_thumbnails(staging / THUMBNAILS_NAME, self.thumbnails)
            files += (THUMBNAILS_NAME,)
        for file_name in files:
            fsync_file(staging / file_name)
        record = SegmentRecord(model_identity=self.model_identity, dim=self.vectors.dim, kind=self.vectors.kind,
                               products=len(self.products), images=self.live_images,
                               files={file_name: file_sha256(staging / file_name) for file_name in files})
        record.write(staging)
        fsync_dir(staging)
        staging.rename(segment_dir(root, name))
        fsync_dir(staging.parent)
        return name, sha256((segment_dir(root, name) / RECORD_NAME).read_bytes()).hexdigest(), record

    def loaded(self, root: Path, name: str, digest: str, record: SegmentRecord) -> LoadedSegment:
        """The segment just written, its embeddings memory-mapped from disk."""
        embeddings = np.load(segment_dir(root, name) / EMBEDDINGS_NAME, mmap_mode="r")
        return segment_of(root, name, digest, record, SegmentFiles(
            self.vectors, self.products, embeddings, self.features, self.background, self.descriptors,
            self.thumbnails))


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


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
