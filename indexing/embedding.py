"""Catalog images to vectors and local features: read, reuse what the index already holds
(by content hash), decode and embed the rest, each distinct image once, in bounded batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shoptag.errors import ImageLoadError
from shoptag.indexing.images import ImageReader, decode_image
from shoptag.indexing.local_features import LocalFeatures, catalog_features
from shoptag.indexing.records import Entry, ImageVector, Product, Skipped
from shoptag.indexing.thumbnails import thumbnail_jpeg
from shoptag.model.base import Embedder

logger = logging.getLogger(__name__)

# Decoded images wait for the embedder in small groups, flushed at a count or a byte budget,
# whichever comes first: a request of many large photos holds one batch of pixels at a time.
_EMBED_GROUP = 16
_EMBED_BYTES = 64 * 1024 * 1024


@dataclass
class EmbedStats:
    embedded: int = 0  # images embedded (each content hash once)
    reused: int = 0  # image uses given a vector already known or embedded for another use
    failed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    incomplete: set[str] = field(default_factory=set)  # ids of products with an image that failed


@dataclass(frozen=True)
class ImageOutcome:
    """What reading one image ref gave: its content hash, vector, local features and thumbnail,
    or why it failed."""

    sha256: str | None
    vector: np.ndarray | None
    features: LocalFeatures | None
    error: str | None
    thumbnail: bytes | None = None


# How an index's writer turns products into entries (``embed_entries`` here, or on Ray:
# ``batch.ray_engine.RayEmbedding``).
EntryEmbedder = Callable[..., "tuple[list[Entry], EmbedStats]"]


def embed_entries(
    products: Iterable[Product],
    base_dir: Path,
    embedder: Embedder,
    reader: ImageReader,
    known: dict[str, ImageVector] | None = None,
    on_image: Callable[[], None] | None = None,
) -> tuple[list[Entry], EmbedStats]:
    """Read every image of ``products``. An image whose content hash is in ``known`` reuses its
    stored vector and local features (it is not even decoded, unless a version from before
    local features or their templates left it without them); the others are decoded, embedded
    and their local features detected. Either happens once per content hash: an image shared
    by several products (or listed twice) is embedded once, and its other uses count as
    reused. Unreadable images, and products left without any, are reported in the stats and
    skipped."""
    products = list(products)
    vectors = _Vectors(embedder, reader, known or {})
    read: dict[str, str] = {}  # ref -> sha256
    failed: dict[str, str] = {}  # ref -> why
    for product in products:
        for ref in product.images:
            if ref not in read and ref not in failed:
                try:
                    image = reader.read(ref, base_dir)
                    vectors.add(image.sha256, image.data, ref)
                    read[ref] = image.sha256
                except ImageLoadError as exc:
                    failed[ref] = exc.message
            if on_image:
                on_image()
            vectors.flush_when_full()
    vectors.flush()
    outcomes = {}
    for ref, sha256 in read.items():
        vector, features, thumbnail = vectors.done(sha256)
        outcomes[ref] = ImageOutcome(sha256, vector, features, None, thumbnail)
    outcomes.update((ref, ImageOutcome(None, None, None, why)) for ref, why in failed.items())
    return entries_of(products, outcomes, known or {})


def entries_of(products: Sequence[Product], outcomes: dict[str, ImageOutcome],
               known: dict[str, ImageVector]) -> tuple[list[Entry], EmbedStats]:
    """The entries of ``products`` from what reading each of their image refs gave, in catalog
    order, and the stats: each content hash not in ``known`` counts as embedded at its first use,
    every other use as reused; each use of a failed ref as failed."""
    stats = EmbedStats()
    seen: set[str] = set()
    entries = []
    for product in products:
        images = []
        for ref in product.images:
            outcome = outcomes[ref]
            if outcome.error is not None:
                stats.failed += 1
                stats.incomplete.add(product.product_id)
                stats.skipped.append(Skipped(f"{product.source} image {ref}", outcome.error))
                logger.warning("skipped %s image %r: %r", product.source, ref, outcome.error)
                continue
            if outcome.sha256 in known or outcome.sha256 in seen:
                stats.reused += 1
            else:
                stats.embedded += 1
            seen.add(outcome.sha256)
            images.append(ImageVector(ref, outcome.sha256, outcome.vector, outcome.features,
                                      thumbnail=outcome.thumbnail))
        if images:
            entries.append(Entry(product, tuple(images)))
        else:
            stats.skipped.append(Skipped(product.source, f"product {product.product_id!r} has no loadable image"))
    return entries, stats


class _Vectors:
    """Vector, local features and thumbnail per content hash: reused from ``known``, or made in
    bounded batches of decoded images waiting for the embedder (``pending``)."""

    def __init__(self, embedder: Embedder, reader: ImageReader, known: dict[str, ImageVector]) -> None:
        self._embedder = embedder
        self._reader = reader
        self._known = known
        self._done: dict[str, tuple[np.ndarray, LocalFeatures, bytes | None]] = {}
        self._pending: dict[str, np.ndarray] = {}  # sha256 -> decoded pixels, in arrival order

    def add(self, sha256: str, data: bytes, ref: str) -> None:
        """Make sure the image with these bytes will have a vector. ``ImageLoadError`` when it
        has to be decoded and cannot be (nothing is then recorded for it)."""
        if sha256 in self._done or sha256 in self._pending:
            return
        stored = self._known.get(sha256)
        if stored is not None:
            # A version from before local features (None) or before their templates (template
            # None) left the stored image without them: decode it and detect them now (and make its
            # thumbnail meanwhile). A missing thumbnail alone is not worth decoding every reused
            # image of every update: the service makes one on demand instead.
            features, thumbnail = stored.features, stored.thumbnail
            if features is None or features.template is None:
                pixels = decode_image(data, self._reader.limits, ref)
                features, thumbnail = catalog_features(pixels), thumbnail or thumbnail_jpeg(pixels)
            self._done[sha256] = (stored.vector, features, thumbnail)
            return
        self._pending[sha256] = decode_image(data, self._reader.limits, ref)

    def flush_when_full(self) -> None:
        if len(self._pending) >= _EMBED_GROUP or sum(p.nbytes for p in self._pending.values()) >= _EMBED_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        embedded = self._embedder.embed_images(list(self._pending.values()))
        for (sha256, pixels), vector in zip(self._pending.items(), embedded, strict=True):
            self._done[sha256] = (vector, catalog_features(pixels), thumbnail_jpeg(pixels))
        self._pending.clear()

    def done(self, sha256: str) -> tuple[np.ndarray, LocalFeatures, bytes | None]:
        """(vector, local features, thumbnail) of an image added and flushed."""
        return self._done[sha256]
