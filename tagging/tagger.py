"""The tagging pipeline: video -> sampled frames -> regions -> embeddings -> catalog matches
-> per-product segments -> tags."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shoptag.boxes import Box
from shoptag.errors import ConfigError
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder, default_threshold, embed_regions
from shoptag.settings import TaggingSettings, VideoLimits
from shoptag.tagging.alternatives import merge_colocated
from shoptag.tagging.segments import GEOMETRY, Hit, Segment, build_segments
from shoptag.tagging.titles import TitleEvidence
from shoptag.tagging.verify import GeometricVerifier, Verification, frame_features
from shoptag.video.quality import frame_defect
from shoptag.video.regions import multiscale_boxes
from shoptag.video.sampler import VideoSampler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alternative:
    """A near-identical catalog product seen at the same place as the tagged one."""

    product_id: str
    title: str

    def as_json(self) -> dict:
        return {"product_id": self.product_id, "title": self.title}


@dataclass(frozen=True)
class ProductTag:
    product_id: str
    title: str
    url: str | None
    score: float
    segments: list[Segment]
    alternatives: list[Alternative] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "product_id": self.product_id,
            "title": self.title,
            "url": self.url,
            "score": round(self.score, 4),
            "segments": [s.as_json() for s in self.segments],
            "alternatives": [a.as_json() for a in self.alternatives],
        }


@dataclass
class TagResult:
    video: str
    duration_s: float
    width: int  # of the video's frames: boxes are in these pixels
    height: int
    model: str
    index_path: str
    index_created: str
    index_version: str
    frames_sampled: int
    frames_skipped: int
    tags: list[ProductTag]
    skip_reasons: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "video": self.video,
            "duration_s": round(self.duration_s, 3),
            "width": self.width,
            "height": self.height,
            "model": self.model,
            "index": {"path": self.index_path, "created": self.index_created,
                      "version": self.index_version},
            "frames_sampled": self.frames_sampled,
            "frames_skipped": self.frames_skipped,
            "tags": [t.as_json() for t in self.tags],
        }


@dataclass(frozen=True)
class FrameMatches:
    time_s: float
    defect: str | None  # why the frame was skipped, or None
    matches: dict[int, tuple[float, Box]]  # product position -> best (score, region)
    verified: dict[int, Verification] = field(default_factory=dict)  # product position -> geometry
    titles: dict[int, float] = field(default_factory=dict)  # product position -> best region-title similarity


@dataclass
class Scan:
    frames: list[FrameMatches]
    duration_s: float
    stage_seconds: dict[str, float]
    width: int = 0  # of the decoded frames
    height: int = 0


def verified_confidence(inliers: int, min_inliers: int) -> float:
    """A verified hit's score: inliers / (inliers + min_inliers), so 0.5 at the inlier bar and
    rising slowly with more geometric evidence (24 -> 0.67, 48 -> 0.80, 200 -> 0.94). Unlike an
    embedding similarity, whose range differs per product and per model, it means the same for
    every product."""
    return inliers / (inliers + min_inliers)


def embedding_confidence(similarity: float, bar: float) -> float:
    """An embedding hit's score: 0.5 at the product's bar and 1 at identical embeddings, linear
    between (below 0.5: under the bar, an uncertain hit), so it reads like ``verified_confidence``
    whatever the product's bar."""
    return 0.5 + 0.5 * (similarity - bar) / max(1.0 - bar, 1e-6)


def embed_frame_regions(embedder: Embedder, image: np.ndarray,
                        settings: TaggingSettings) -> tuple[list[Box], np.ndarray]:
    """The frame's regions (``region_scales``) and their vectors, as tagging searches them."""
    height, width = image.shape[:2]
    boxes = multiscale_boxes(width, height, settings.region_scales)
    return boxes, embed_regions(embedder, image, boxes, settings.region_pooling)


class Tagger:
    def __init__(self, embedder: Embedder, index: CatalogIndex, settings: TaggingSettings,
                 limits: VideoLimits) -> None:
        self._embedder = embedder
        self._index = index
        self._settings = settings
        self._limits = limits
        threshold = (settings.threshold if settings.threshold is not None
                     else default_threshold(embedder, settings.region_pooling))
        if threshold is None:
            raise ConfigError(
                f"no threshold has been measured for {embedder.spec}; pass --threshold "
                f"(measure one with scripts/measure_threshold.py)")
        self.threshold = threshold
        self._verifier = (GeometricVerifier(index.features)
                          if settings.verify and index.features is not None else None)
        self._titles = TitleEvidence(embedder, index.products) if embedder.supports_text else None

    def scan(self, video: Path, name: str | None = None) -> Scan:
        """Sample ``video`` and record every frame's best score and region per candidate
        product, before any threshold: ``tag`` builds on it, and so does threshold measurement.

        A product verified in a recent frame is tracked: it is verified again in the next frames
        even where the embedding no longer ranks it among the best candidates (another product
        in front, motion blur), so its track does not break."""
        sampler = VideoSampler(video, self._settings.fps, self._limits, name)
        frames: list[FrameMatches] = []
        stage: Counter[str] = Counter()
        last_verified: dict[int, float] = {}
        horizon_s = self._settings.max_gap_s + 1.0 / self._settings.fps
        clock = time.perf_counter()
        for frame in sampler.frames():
            stage["decode"] += time.perf_counter() - clock
            defect = frame_defect(frame.image, self._settings.min_brightness, self._settings.min_sharpness)
            matches, titles = ({}, {}) if defect else self._match_frame(frame.image, stage)
            verified = {}
            if matches and self._verifier:
                tracked = ([p for p, seen_s in last_verified.items() if frame.time_s - seen_s <= horizon_s + 1e-6]
                           if self._settings.track else [])
                verified = self._verify(frame.image, matches, tracked, stage)
                last_verified.update((p, frame.time_s) for p, check in verified.items()
                                     if check.inliers >= self._settings.min_inliers)
            frames.append(FrameMatches(frame.time_s, defect, matches, verified, titles))
            clock = time.perf_counter()
        return Scan(frames, sampler.duration_s, dict(stage), sampler.width, sampler.height)

    def tag(self, video: Path, name: str | None = None) -> TagResult:
        """``name``: how results and messages call the video (default: its path)."""
        return self.tag_scan(self.scan(video, name), name or video)

    def tag_scan(self, scan: Scan, video: Path, threshold: float | None = None) -> TagResult:
        """Tags from a finished scan; ``threshold`` overrides the tagger's (evaluation sweeps
        thresholds over one scan instead of decoding and embedding again)."""
        threshold = self.threshold if threshold is None else threshold
        started = time.perf_counter()
        confirmed: dict[int, list[float]] = defaultdict(list)  # product -> times it was verified
        for frame in scan.frames:
            for product, check in frame.verified.items():
                if check.inliers >= self._settings.min_inliers:
                    confirmed[product].append(frame.time_s)
        reach_s = self._settings.max_gap_s + 1.0 / self._settings.fps + 1e-6
        hits: dict[int, list[Hit]] = defaultdict(list)
        for frame in scan.frames:
            for product in frame.matches.keys() | frame.verified.keys():
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
            index_path=str(self._index.path),
            index_created=self._index.manifest.created,
            index_version=self._index.version,
            frames_sampled=len(scan.frames),
            frames_skipped=sum(skip_reasons.values()),
            tags=self._tags(hits, scan.duration_s),
            skip_reasons=dict(skip_reasons),
            stage_seconds={**scan.stage_seconds, "aggregate": time.perf_counter() - started},
        )

    def _match_frame(self, image: np.ndarray,
                     stage: Counter) -> tuple[dict[int, tuple[float, Box]], dict[int, float]]:
        """Best (score, region) per candidate product over all regions of one frame, and, for
        models with a text tower, each candidate's best region-title similarity."""
        started = time.perf_counter()
        boxes, vectors = embed_frame_regions(self._embedder, image, self._settings)
        embedded = time.perf_counter()
        results = self._index.search(vectors, self._settings.top_k)
        stage["embed"] += embedded - started
        stage["search"] += time.perf_counter() - embedded
        best: dict[int, tuple[float, Box]] = {}
        for box, candidates in zip(boxes, results, strict=True):
            for product, score in candidates:
                if score > best.get(product, (-np.inf,))[0]:
                    best[product] = (score, box)
        titles = {}
        if self._titles is not None:
            started = time.perf_counter()
            titles = self._titles.scores(vectors, best)
            stage["titles"] += time.perf_counter() - started
        return best, titles

    def _hit(self, frame: FrameMatches, product: int, threshold: float, near_verified: bool) -> Hit | None:
        """A verified product is a hit with its outline as box, scored by its inliers
        (``verified_confidence``); a textured product that geometry did not confirm is not,
        however similar it looks (a look-alike). Otherwise the embedding similarity (blended
        with the title's similarity by ``text_weight`` for models with a text tower) must reach
        the product's bar (``embedding_bar``) and is scored by ``embedding_confidence``; one
        that reaches only the global threshold is an uncertain hit, kept on request.

        A textureless product verified within ``max_gap_s`` (``near_verified``: geometry has
        just shown it there, from its few points) needs only its background bar in between:
        the embedding then continues a confirmed track instead of making a claim alone."""
        score, box = frame.matches.get(product, (0.0, None))
        if product in frame.titles:
            weight = self._settings.text_weight
            score = (1 - weight) * score + weight * frame.titles[product]
        base = threshold
        if self._verifier is not None:
            check = frame.verified.get(product)
            if check is not None and check.inliers >= self._settings.min_inliers:
                return Hit(frame.time_s, verified_confidence(check.inliers, self._settings.min_inliers), check.box,
                           GEOMETRY)
            if self._verifier.textured(self._index.products[product].image_ids):
                return None
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

    def _verify(self, image: np.ndarray, matches: dict[int, tuple[float, Box]], tracked: list[int],
                stage: Counter) -> dict[int, Verification]:
        """Geometric checks of the frame's best embedding candidates above the verification
        floor, of the products the frame's descriptors vote for, and of the tracked products.
        The scan does not depend on the threshold, so evaluation can sweep thresholds over it."""
        settings = self._settings
        started = time.perf_counter()
        features = frame_features(image)
        voted = []
        if settings.vote_candidates and self._index.descriptors is not None:
            voting = time.perf_counter()
            votes = self._index.descriptors.votes(features.descriptors)
            voted = [p for p, count in sorted(votes.items(), key=lambda kv: -kv[1])[: settings.vote_candidates]
                     if count >= settings.min_votes]
            stage["vote"] += time.perf_counter() - voting
            started += time.perf_counter() - voting  # "verify" is SIFT and matching
        ranked = sorted(matches.items(), key=lambda kv: -kv[1][0])
        candidates = [product for product, (score, _) in ranked if score >= settings.verify_floor]
        candidates = list(dict.fromkeys(candidates[: settings.verify_candidates] + voted + tracked))
        checks = {product: self._verifier.verify(features, self._index.products[product].image_ids)
                  for product in candidates}
        stage["verify"] += time.perf_counter() - started
        return {product: check for product, check in checks.items() if check.inliers}

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
            others = [self._index.products[p] for p in alternatives[product_position]]
            tags.append(ProductTag(product.product_id, product.title, product.url, max(s.score for s in segments),
                                   segments, [Alternative(p.product_id, p.title) for p in others]))
        return sorted(tags, key=lambda t: t.score, reverse=True)
