"""The tagging pipeline: video -> sampled frames -> regions -> embeddings -> catalog matches
-> per-product segments -> tags."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shoptag.errors import ConfigError
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder, default_threshold
from shoptag.settings import TaggingSettings, VideoLimits
from shoptag.tagging.alternatives import merge_colocated
from shoptag.tagging.results import ALIGNMENT, GEOMETRY, Alternative, IndexRef, ProductTag, TagResult
from shoptag.tagging.scan import FrameMatches, Scan, Scanner
from shoptag.tagging.segments import Hit, build_segments
from shoptag.video.sampler import VideoSampler

logger = logging.getLogger(__name__)


def verified_confidence(inliers: int, min_inliers: int) -> float:
    """A verified hit's score: inliers / (inliers + min_inliers), so 0.5 at the inlier bar and
    rising slowly with more geometric evidence (24 -> 0.67, 48 -> 0.80, 200 -> 0.94). Unlike an
    embedding similarity, whose range differs per product and per model, it means the same for
    every product."""
    return inliers / (inliers + min_inliers)


def embedding_confidence(similarity: float, bar: float) -> float:
    """An embedding hit's score: 0.5 at the product's bar and 1 at identical embeddings, linear
    between (below 0.5: under the bar, an uncertain hit), so it reads like ``verified_confidence``
    whatever the product's bar. An aligned hit's correlation is scored the same way."""
    return 0.5 + 0.5 * (similarity - bar) / max(1.0 - bar, 1e-6)


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
        started = time.perf_counter()
        confirmed: dict[int, list[float]] = defaultdict(list)  # product -> times it was verified
        for frame in scan.frames:
            for product, check in frame.verified.items():
                if check.inliers >= self._settings.min_inliers:
                    confirmed[product].append(frame.time_s)
            for product, found in frame.aligned.items():
                if self._scanner.aligned(found):
                    confirmed[product].append(frame.time_s)
        reach_s = self._settings.max_gap_s + 1.0 / self._settings.fps + 1e-6
        hits: dict[int, list[Hit]] = defaultdict(list)
        for frame in scan.frames:
            for product in frame.matches.keys() | frame.verified.keys() | frame.aligned.keys():
                near = any(abs(frame.time_s - t) <= reach_s for t in confirmed.get(product, ()))
                hit = self._hit(frame, product, threshold, near)
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
            index=IndexRef(path=str(self._index.path), created=self._index.manifest.created,
                           version=self._index.version),
            frames_sampled=len(scan.frames),
            frames_skipped=sum(skip_reasons.values()),
            tags=self._tags(hits, scan.duration_s),
            skip_reasons=dict(skip_reasons),
            stage_seconds={**scan.stage_seconds, "aggregate": time.perf_counter() - started},
        )

    def _hit(self, frame: FrameMatches, product: int, threshold: float, near_verified: bool) -> Hit | None:
        """An aligned textureless product (``Scanner.aligned``) is a hit with its aligned outline
        as box, its correlation scored like an embedding over the ``min_alignment`` bar. A
        verified product is a hit with its outline as box, scored by its inliers
        (``verified_confidence``); a textured product that geometry did not confirm is not,
        however similar it looks (a look-alike). Otherwise the embedding similarity (blended
        with the title's similarity by ``text_weight`` for models with a text tower) must reach
        the product's bar (``embedding_bar``) and is scored by ``embedding_confidence``; one
        that reaches only the global threshold is an uncertain hit, kept on request.

        A textureless product that alignment can judge needs, for an embedding hit, its photo
        aligned in the frame too, if less well than for an aligned hit (``Scanner.supported``).
        Within ``max_gap_s`` of a verified or aligned frame (``near_verified``), a textureless
        product needs only its background bar, and an alignment a little less correlation:
        they then continue a confirmed track instead of making a claim alone."""
        score, box = frame.matches.get(product, (0.0, None))
        if product in frame.titles:
            weight = self._settings.text_weight
            score = (1 - weight) * score + weight * frame.titles[product]
        base = threshold
        aligned = frame.aligned.get(product)
        if aligned is not None and self._scanner.aligned(aligned, near_verified):
            return Hit(frame.time_s, embedding_confidence(aligned.correlation, self._settings.min_alignment),
                       aligned.box, ALIGNMENT)
        if self._scanner.verifier is not None:
            check = frame.verified.get(product)
            if check is not None and check.inliers >= self._settings.min_inliers:
                return Hit(frame.time_s, verified_confidence(check.inliers, self._settings.min_inliers), check.box,
                           GEOMETRY, check.keypoints)
            if self._scanner.textured(product):
                return None
            if not near_verified and self._scanner.alignable(product) and not self._scanner.supported(aligned):
                return None  # its photo would align where it really is
            base = self._settings.verify_floor if near_verified else base + self._settings.fallback_margin
        bar = self.embedding_bar(product, base)
        if score >= bar or (self._settings.include_uncertain and score >= threshold):
            return Hit(frame.time_s, embedding_confidence(score, bar), box)
        return None

    def embedding_bar(self, product: int, base: float) -> float:
        """What a product seen by its embedding alone must reach: ``base``, or its background
        score (its highest similarity to product-free footage) plus ``background_margin`` where
        that is higher, so products that resemble everything need more."""
        background = self._index.background_score(product)
        return base if background is None else max(base, background + self._settings.background_margin)

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
