"""Calibration against real product-free footage: the background bank.

Some products look like everything: a gradient, a line drawing on white, a plain box. Their
embedding is close to regions of any street or room, so one global threshold either lets them
be tagged everywhere or silences the distinctive ones. The bank holds the region embeddings of
product-free frames (by default the bundled CC0 street clip); each catalog image's highest
similarity to it is stored with the index version, and a product seen by its embedding alone
must beat its own background score by a margin, not just the global threshold.
"""

from __future__ import annotations

import numpy as np

from shoptag.bundled import FOOTAGE, media_path
from shoptag.errors import VideoDecodeError
from shoptag.model.base import Embedder
from shoptag.settings import Settings
from shoptag.tagging.scan import embed_frame_regions
from shoptag.video.sampler import VideoSampler

BANK_FPS = 2.0


def background_bank(embedder: Embedder, settings: Settings | None = None) -> np.ndarray:
    """Region embeddings (n, dim) of the product-free footage ``settings.index.background_footage``
    names (default: the bundled street clip), made the way tagging makes them."""
    settings = settings or Settings()
    footage = list(settings.index.background_footage) or [media_path(FOOTAGE)]
    vectors = []
    for video in footage:
        for frame in VideoSampler(video, BANK_FPS, settings.video).frames():
            vectors.append(embed_frame_regions(embedder, frame.image, settings.tagging)[1])
    if not vectors:
        raise VideoDecodeError(f"no frame of the background footage ({', '.join(map(str, footage))}) could be "
                               f"sampled for the background bank")
    return np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
