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
from shoptag.tagging.segments import GEOMETRY, Hit, Segment, build_segments
from shoptag.tagging.titles import TitleEvidence
from shoptag.tagging.verify import GeometricVerifier, Verification, frame_features
from shoptag.video.quality import frame_defect
from shoptag.video.regions import multiscale_boxes
from shoptag.video.sampler import VideoSampler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProductTag:
    product_id: str
    title: str
    url: str | None
    score: float
    segments: list[Segment]

    def as_json(self) -> dict:
        return {
            "product_id": self.product_id,
            "title": self.title,
            "url": self.url,
            "score": round(self.score, 4),
            "segments": [s.as_json() for s in self.segments],
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
        hits: dict[int, list[Hit]] = defaultdict(list)
        for frame in scan.frames:
            for product in frame.matches.keys() | frame.verified.keys():
                hit = self._hit(frame, product, threshold)
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
        height, width = image.shape[:2]
        boxes = multiscale_boxes(width, height, self._settings.region_scales)
        started = time.perf_counter()
        vectors = embed_regions(self._embedder, image, boxes, self._settings.region_pooling)
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

    def _hit(self, frame: FrameMatches, product: int, threshold: float) -> Hit | None:
        """Without verification, the embedding threshold decides and the score is the similarity
        (blended with the title's similarity by ``text_weight`` for models with a text tower).
        With it, a verified product is a hit with its outline as box, scored by its inliers
        (``verified_confidence``); a textured product that geometry did not confirm is not,
        however similar it looks (a look-alike); a textureless one needs threshold + margin."""
        score, box = frame.matches.get(product, (0.0, None))
        if product in frame.titles:
            weight = self._settings.text_weight
            score = (1 - weight) * score + weight * frame.titles[product]
        if self._verifier is None:
            return Hit(frame.time_s, score, box) if score >= threshold else None
        check = frame.verified.get(product)
        if check is not None and check.inliers >= self._settings.min_inliers:
            return Hit(frame.time_s, verified_confidence(check.inliers, self._settings.min_inliers), check.box,
                       GEOMETRY)
        if self._verifier.textured(self._index.products[product].image_ids):
            return None
        return Hit(frame.time_s, score, box) if score >= threshold + self._settings.fallback_margin else None

    def _verify(self, image: np.ndarray, matches: dict[int, tuple[float, Box]], tracked: list[int],
                stage: Counter) -> dict[int, Verification]:
        """Geometric checks of the frame's best candidates above the verification floor, and of
        the tracked products. The scan does not depend on the threshold, so evaluation can sweep
        thresholds over it."""
        settings = self._settings
        ranked = sorted(matches.items(), key=lambda kv: -kv[1][0])
        candidates = [product for product, (score, _) in ranked if score >= settings.verify_floor]
        candidates = list(dict.fromkeys(candidates[: settings.verify_candidates] + tracked))
        if not candidates:
            return {}
        started = time.perf_counter()
        features = frame_features(image)
        checks = {product: self._verifier.verify(features, self._index.products[product].image_ids)
                  for product in candidates}
        stage["verify"] += time.perf_counter() - started
        return {product: check for product, check in checks.items() if check.inliers}

    def _tags(self, hits: dict[int, list[Hit]], duration_s: float) -> list[ProductTag]:
        settings = self._settings
        tags = []
        for product_position, product_hits in hits.items():
            segments = build_segments(product_hits, 1.0 / settings.fps, duration_s,
                                      settings.max_gap_s, settings.min_hits)
            if not segments:
                continue
            product = self._index.products[product_position]
            tags.append(ProductTag(product.product_id, product.title, product.url,
                                   max(s.score for s in segments), segments))
        return sorted(tags, key=lambda t: t.score, reverse=True)
