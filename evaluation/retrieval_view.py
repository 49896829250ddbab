"""The retrieval view, for research on the matching itself: how well the catalog search alone
finds the product shown, without verification, tracking or thresholds.

Queries are the benchmark's annotated frames: every frame sampled at ``fps`` where an
appearance's track gives a visible box. Each visible product gives a region query (its box
cropped, as a detector's output would be), and the whole frame is a query for each product
it shows. A query's answer is the rank of the right product among catalog products by best
image similarity, interchangeable products counted once, up to ``MAX_RANK`` (beyond that it
counts as not found, so MRR is MRR@100). Results are Recall@1/5/10 and MRR overall, by product
kind and by on-screen width (the box's visible width in that frame over the frame's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from shoptag.evaluation.annotations import TruthAppearance, VideoAnnotation
from shoptag.evaluation.metrics import retrieval
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder
from shoptag.settings import VideoLimits
from shoptag.video.sampler import VideoSampler

MAX_RANK = 100
KS = (1, 5, 10)
MIN_BOX_SIDE = 8  # px: a sliver of a hidden product is no query
_BATCH = 32


def retrieval_view(videos: list[VideoAnnotation], index: CatalogIndex, embedder: Embedder, canonical: dict[str, str],
                   fps: float, limits: VideoLimits, size_buckets: tuple[tuple[str, float], ...]) -> dict:
    ids = [canonical.get(p.product_id, p.product_id) for p in index.products]
    ranks: dict[str, dict[str, list[int | None]]] = {"region": defaultdict(list), "frame": defaultdict(list)}
    # One query image, its kind and, for each product it should find, (that product, its buckets).
    pending: list[tuple[np.ndarray, str, list[tuple[str, list[str]]]]] = []

    def flush() -> None:
        if not pending:
            return
        vectors = embedder.embed_images([image for image, *_ in pending])
        for (_, kind, wanted), found in zip(pending, index.search(vectors, MAX_RANK), strict=True):
            ordered = list(dict.fromkeys(ids[position] for position, _ in found))  # groups once
            for product, buckets in wanted:
                rank = ordered.index(product) + 1 if product in ordered else None
                for bucket in buckets:
                    ranks[kind][bucket].append(rank)
        pending.clear()

    for video in videos:
        for image, shown in _annotated_frames(video, fps, limits):
            wanted = []
            for appearance, (x, y, w, h) in shown:
                product = canonical.get(appearance.product_id, appearance.product_id)
                buckets = ["all", "size " + next(name for name, upper in size_buckets if w / image.shape[1] < upper)]
                if appearance.kind:
                    buckets.append(f"kind {appearance.kind}")
                pending.append((np.ascontiguousarray(image[y:y + h, x:x + w]), "region", [(product, buckets)]))
                wanted.append((product, buckets))
            pending.append((image, "frame", wanted))
            if len(pending) >= _BATCH:
                flush()
    flush()
    return {"max_rank": MAX_RANK, "fps": fps,
            **{kind: {bucket: retrieval(found, KS).as_json() for bucket, found in sorted(by_bucket.items())}
               for kind, by_bucket in ranks.items()}}


def _annotated_frames(video: VideoAnnotation, fps: float, limits: VideoLimits
                      ) -> Iterator[tuple[np.ndarray, list[tuple[TruthAppearance, tuple[int, int, int, int]]]]]:
    """Each sampled frame where a tracked product is visible, with those products' visible boxes."""
    tracked = [a for a in video.appearances if a.track]
    if not tracked:
        return
    tolerance = 0.5 / fps
    with VideoSampler(video.video, fps, limits) as sampler:
        for frame in sampler.frames():
            height, width = frame.image.shape[:2]
            shown = []
            for appearance in tracked:
                box = appearance.box_at(frame.time_s, tolerance)
                if box is None or not appearance.start_s <= frame.time_s < appearance.end_s:
                    continue
                x, y, w, h = box
                x0, y0 = max(0, x), max(0, y)
                x1, y1 = min(width, x + w), min(height, y + h)
                if min(x1 - x0, y1 - y0) >= MIN_BOX_SIDE:
                    shown.append((appearance, (x0, y0, x1 - x0, y1 - y0)))
            if shown:
                yield frame.image, shown
