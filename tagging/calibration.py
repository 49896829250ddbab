"""Calibration against real product-free footage: the background bank.

Some products look like everything: a gradient, a line drawing on white, a plain box. Their
embedding is close to regions of any street or room, so one global threshold either lets them
be tagged everywhere or silences the distinctive ones. The bank holds the region embeddings of
product-free frames (by default the bundled CC0 street clip); each catalog image's highest
similarity to it is stored with the index version, and a product seen by its embedding alone
must beat its own background score by a margin, not just the global threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shoptag.bundled import media_path
from shoptag.model.base import Embedder, embed_regions
from shoptag.settings import TaggingSettings, VideoLimits
from shoptag.video.regions import multiscale_boxes
from shoptag.video.sampler import VideoSampler

BANK_FPS = 2.0


def background_bank(embedder: Embedder, footage: list[Path] | None = None,
                    settings: TaggingSettings | None = None, limits: VideoLimits | None = None) -> np.ndarray:
    """Region embeddings (n, dim) of product-free ``footage`` (default: the bundled street
    clip), made the way tagging makes them."""
    settings = settings or TaggingSettings()
    vectors = []
    for video in footage or [media_path("city.mp4")]:
        for frame in VideoSampler(video, BANK_FPS, limits or VideoLimits()).frames():
            height, width = frame.image.shape[:2]
            boxes = multiscale_boxes(width, height, settings.region_scales)
            vectors.append(embed_regions(embedder, frame.image, boxes, settings.region_pooling))
    return np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
