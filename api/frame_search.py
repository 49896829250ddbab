"""The catalog products that look most like one frame of a job's video: what the review page's
product sheet offers first when a creator adds a product the tagger missed (by its embedding
alone, as a candidate list; nothing here is a tag)."""

from __future__ import annotations

import threading
from pathlib import Path

from shoptag.indexing.catalog_view import CatalogView
from shoptag.model.base import Embedder
from shoptag.settings import TaggingSettings
from shoptag.tagging.scan import embed_frame_regions
from shoptag.video.sampler import frame_at

# Not on the tagging workers, like thumbnails: a creator browsing the sheet must not wait behind
# a video, nor take a tagging request's place; a region pass is about 60 ms on 2 cores.
_AT_ONCE = 2


class FrameSearch:
    def __init__(self, settings: TaggingSettings) -> None:
        self._settings = settings
        self._slots = threading.BoundedSemaphore(_AT_ONCE)

    def nearest(self, embedder: Embedder, index: CatalogView, video: Path, time_s: float,
                limit: int) -> list[tuple[int, float]]:
        """Up to ``limit`` (product position, best region similarity) for the frame at ``time_s``,
        best first (blocking)."""
        with self._slots:  # decoding the frame included: a seek can decode a second of video
            image = frame_at(video, time_s)
            _, vectors = embed_frame_regions(embedder, image, self._settings)
            results = index.search(vectors, max(limit, self._settings.top_k))
        best: dict[int, float] = {}
        for candidates in results:
            for product, score in candidates:
                best[product] = max(score, best.get(product, -1.0))
        return sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
