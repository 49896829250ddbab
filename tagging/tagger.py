"""The tagging pipeline: video -> sampled frames -> regions -> embeddings -> catalog matches
-> per-product segments -> tags."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from shoptag.errors import ConfigError
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder, default_threshold
from shoptag.settings import TaggingSettings, VideoLimits
from shoptag.tagging.alternatives import merge_colocated
from shoptag.tagging.decision import Evidence, decide, is_aligned, is_verified, tracking_horizon_s
from shoptag.tagging.results import Alternative, IndexRef, ProductTag, TagResult
from shoptag.tagging.scan import Scan, Scanner
from shoptag.tagging.time_segments import Hit, build_segments
from shoptag.video.sampler import VideoSampler

logger = logging.getLogger(__name__)


def tagging_threshold(embedder: Embedder, settings: TaggingSettings) -> float:
    """The embedding threshold in use: the one given, or the model's measured one."""
    threshold = (settings.threshold if settings.threshold is not None
                 else default_threshold(embedder, settings.region_pooling))
    if threshold is None:
        raise ConfigError(f"no threshold has been measured for {embedder.spec}; pass --threshold "
                          f"(measure one with scripts/measure_threshold.py)")
    return threshold


class Tagger:
    def __init__(self, embedder: Embedder, index: CatalogIndex, settings: TaggingSettings,
                 limits: VideoLimits) -> None:
        self._embedder = embedder
        self._index = index
        settings = settings.resolved()
        self._settings = settings
        self._limits = limits
        self.threshold = tagging_threshold(embedder, settings)
        self._scanner = Scanner(embedder, index, settings, self.threshold)

    def scan(self, video: Path, name: str | None = None) -> Scan:
        """Sample ``video`` and record every frame's evidence per candidate product, before any
        threshold (see ``tagging.scan``): ``tag`` builds on it, and so does threshold
        measurement."""
        return self._scanner.scan(VideoSampler(video, self._settings.fps, self._limits, name))

    def tag(self, video: Path, name: str | None = None) -> TagResult:
        """``name``: how results and messages call the video (default: its path)."""
        return self.tag_scan(self.scan(video, name), name or video)

    def tag_sampled(self, sampler: VideoSampler, on_frame: Callable[[int], None] | None = None) -> TagResult:
        """Tag a video already opened (and probed) at this tagger's ``fps``; ``on_frame`` is told
        how many sampled frames are done after each one."""
        if abs(sampler.fps - self._settings.fps) > 1e-9:
            raise ConfigError(f"video opened at {sampler.fps} fps for a tagger sampling {self._settings.fps}")
        return self.tag_scan(self._scanner.scan(sampler, on_frame), sampler.name)

    def tag_scan(self, scan: Scan, video: str | Path, threshold: float | None = None) -> TagResult:
        """Tags from a finished scan; ``threshold`` overrides the tagger's (evaluation sweeps
        thresholds over one scan instead of decoding and embedding again)."""
        threshold = self.threshold if threshold is None else threshold
        rules = replace(self._scanner.rules, threshold=threshold)
        started = time.perf_counter()
        confirmed: dict[int, list[float]] = defaultdict(list)  # product -> times it was verified or aligned
        for frame in scan.frames:
            for product, check in frame.verified.items():
                if is_verified(check, rules):
                    confirmed[product].append(frame.time_s)
            for product, found in frame.aligned.items():
                if is_aligned(found, rules):
                    confirmed[product].append(frame.time_s)
        horizon_s = tracking_horizon_s(self._settings)
        hits: dict[int, list[Hit]] = defaultdict(list)
        for frame in scan.frames:
            for product in frame.matches.keys() | frame.verified.keys() | frame.aligned.keys():
                similarity, region = frame.matches.get(product, (0.0, None))
                evidence = Evidence(
                    frame.time_s, similarity, region, frame.titles.get(product), frame.verified.get(product),
                    frame.aligned.get(product),
                    near_confirmed=any(abs(frame.time_s - t) <= horizon_s for t in confirmed.get(product, ())))
                hit = decide(evidence, self._scanner.traits(product), rules)
                if hit is not None:
                    hits[product].append(hit)
        skip_reasons = Counter(frame.defect for frame in scan.frames if frame.defect)
        if skip_reasons:
            logger.info("skipped %d of %d sampled frames: %s", sum(skip_reasons.values()),
                        len(scan.frames), dict(skip_reasons))
        return TagResult(
            video=str(video),
            duration_s=scan.duration_s,
            width=scan.width,
            height=scan.height,
            model=self._embedder.identity,
            profile=self._settings.profile,
            index=IndexRef(path=str(self._index.path), created=self._index.created,
                           version=self._index.version),
            frames_sampled=len(scan.frames),
            frames_skipped=sum(skip_reasons.values()),
            tags=self._tags(hits, scan.duration_s),
            skip_reasons=dict(skip_reasons),
            stage_seconds={**scan.stage_seconds, "aggregate": time.perf_counter() - started},
        )

    def _alike(self, a: int, b: int) -> bool:
        """Are two products' catalog images near-identical (best image pair's similarity)?"""
        vectors = self._index.embeddings
        first = np.asarray(vectors[list(self._index.products[a].image_ids)])
        second = np.asarray(vectors[list(self._index.products[b].image_ids)])
        return float((first @ second.T).max()) >= self._settings.alternative_similarity

    def _tags(self, hits: dict[int, list[Hit]], duration_s: float) -> list[ProductTag]:
        settings = self._settings
        hits, alternatives = merge_colocated(hits, 1.0 / settings.fps, self._alike)
        tags = []
        for product_position, product_hits in hits.items():
            segments = build_segments(product_hits, 1.0 / settings.fps, duration_s,
                                      settings.max_gap_s, settings.min_hits, settings.min_embedding_hits)
            if not settings.include_uncertain:
                segments = [s for s in segments if not s.uncertain]
            if not segments:
                continue
            product = self._index.products[product_position]
            tags.append(ProductTag(
                product_id=product.product_id, title=product.title, catalog=self._index.catalog_of(product_position),
                url=product.url, score=max(s.score for s in segments), segments=segments,
                alternatives=[Alternative(product_id=self._index.products[p].product_id,
                                          title=self._index.products[p].title, catalog=self._index.catalog_of(p))
                              for p in alternatives[product_position]]))
        return sorted(tags, key=lambda t: t.score, reverse=True)
