"""Catalog images to vectors and local features: read, reuse what the index already holds
(by content hash), decode and embed the rest in bounded batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shoptag.errors import ImageLoadError
from shoptag.indexing.images import ImageReader, decode_image
from shoptag.indexing.local_features import catalog_features
from shoptag.indexing.records import Product, Skipped
from shoptag.indexing.store import Entry, ImageVector
from shoptag.model.base import Embedder

logger = logging.getLogger(__name__)

# Decoded images wait for the embedder in small groups, flushed at a count or a byte budget,
# whichever comes first: a request of many large photos holds one batch of pixels at a time.
_EMBED_GROUP = 16
_EMBED_BYTES = 64 * 1024 * 1024


@dataclass
class EmbedStats:
    embedded: int = 0
    reused: int = 0
    failed: int = 0
    skipped: list[Skipped] = field(default_factory=list)


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
    and their local features detected. Unreadable images, and products left without any, are
    reported in the stats and skipped."""
    known = known or {}
    stats = EmbedStats()
    pending: list[tuple[list, int, np.ndarray]] = []  # (slots, position, pixels)
    drafts: list[tuple[Product, list]] = []

    def flush() -> None:
        vectors = embedder.embed_images([pixels for _, _, pixels in pending])
        for (slots, position, pixels), vector in zip(pending, vectors, strict=True):
            ref, sha256 = slots[position]  # the placeholder left when the image was decoded
            slots[position] = ImageVector(ref, sha256, vector, catalog_features(pixels))
        pending.clear()

    for product in products:
        slots: list = []
        for ref in product.images:
            try:
                image = reader.read(ref, base_dir)
                if image.sha256 in known:
                    reused = known[image.sha256]
                    features = reused.features
                    if features is None or features.template is None:
                        features = catalog_features(decode_image(image.data, reader.limits, ref))
                    slots.append(ImageVector(ref, image.sha256, reused.vector, features))
                    stats.reused += 1
                else:
                    pixels = decode_image(image.data, reader.limits, ref)
                    slots.append((ref, image.sha256))
                    pending.append((slots, len(slots) - 1, pixels))
                    stats.embedded += 1
            except ImageLoadError as exc:
                stats.failed += 1
                stats.skipped.append(Skipped(f"{product.source} image {ref}", exc.message))
                logger.warning("skipped %s image %r: %r", product.source, ref, exc.message)
            finally:
                if on_image:
                    on_image()
            if len(pending) >= _EMBED_GROUP or sum(p.nbytes for _, _, p in pending) >= _EMBED_BYTES:
                flush()
        drafts.append((product, slots))
    if pending:
        flush()
    entries = []
    for product, slots in drafts:
        if slots:
            entries.append(Entry(product, tuple(slots)))
        else:
            stats.skipped.append(Skipped(product.source, f"product {product.product_id!r} has no loadable image"))
    return entries, stats
