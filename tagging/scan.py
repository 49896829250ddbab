"""Scanning a video: for every sampled frame, the evidence for each candidate product, before
any threshold. ``Tagger.tag_scan`` turns a scan into tags; evaluation sweeps thresholds over
one scan instead of decoding and embedding again.

Per frame: the grid regions are embedded and searched (embedding candidates); the frame's
SIFT points verify the best of them, the products its descriptors vote for and the tracked
ones geometrically (``verify``); object proposals give the textureless catalog images that
best match them, which are aligned photometrically (``photometric``). A product verified or
aligned in a recent frame is tracked: it is checked again in the next frames even where no
ranking puts it among the candidates (another product in front, motion blur), and, when a
product is confirmed for the first time in a while, the few frames before are checked for it
too, so that a track starts where the product came into view rather than where it was first
recognised.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from shoptag.boxes import Box
from shoptag.indexing.local_features import LocalFeatures
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder, RegionEmbedder, default_threshold, embed_regions
from shoptag.settings import TaggingSettings
from shoptag.tagging.decision import HitRules, Traits, is_aligned, is_verified, tracking_horizon_s, worth_a_look
from shoptag.tagging.photometric import Alignment, PhotometricVerifier
from shoptag.tagging.titles import TitleEvidence
from shoptag.tagging.verify import GeometricVerifier, Verification, frame_features
from shoptag.video.proposals import object_proposals
from shoptag.video.quality import frame_defect
from shoptag.video.regions import multiscale_boxes
from shoptag.video.sampler import VideoSampler

# Proposals aligned per candidate image: its best two (the best one is often a part of the
# product, or the product with some background).
_BOXES_PER_IMAGE = 2


@dataclass(frozen=True)
class FrameMatches:
    time_s: float
    defect: str | None  # why the frame was skipped, or None
    matches: dict[int, tuple[float, Box]]  # product position -> best (score, region)
    verified: dict[int, Verification] = field(default_factory=dict)  # product position -> geometry
    titles: dict[int, float] = field(default_factory=dict)  # product position -> best region-title similarity
    aligned: dict[int, Alignment] = field(default_factory=dict)  # product position -> best photometric alignment


@dataclass
class Scan:
    frames: list[FrameMatches]
    duration_s: float
    stage_seconds: dict[str, float]
    width: int = 0  # of the decoded frames
    height: int = 0


@dataclass(frozen=True)
class _Looked:
    """What checking a product again in a recent frame needs of it."""

    matches: FrameMatches
    image: np.ndarray
    features: LocalFeatures | None
    proposals: list[Box]
    proposal_vectors: np.ndarray | None


def embed_frame_regions(embedder: Embedder, image: np.ndarray, settings: TaggingSettings,
                        extra: Sequence[Box] = ()) -> tuple[list[Box], np.ndarray]:
    """The frame's regions (``region_scales``) and their vectors, as tagging searches them;
    the vectors of the ``extra`` boxes follow those of the regions, from the same pass."""
    height, width = image.shape[:2]
    boxes = multiscale_boxes(width, height, settings.region_scales)
    return boxes, embed_regions(embedder, image, [*boxes, *extra], settings.region_pooling)


class Scanner:
    def __init__(self, embedder: Embedder, index: CatalogIndex, settings: TaggingSettings, threshold: float) -> None:
        """``threshold``: the embedding threshold in use (for a model that only embeds crops, the
        base of ``aligned_similarity``)."""
        self._embedder = embedder
        self._index = index
        self._settings = settings
        self.verifier = GeometricVerifier(index.features) if settings.verify and index.features is not None else None
        # The templates' preparation depends on the version alone: once per loaded version, not
        # per request (about 50 ms for 166 alignable images, growing with the catalog).
        photometric = (index.derived("photometric", lambda: PhotometricVerifier(
                           index.features, index.embeddings, index.image_ids()))
                       if settings.align and index.features is not None else None)
        # Without a textureless image that has a template there is nothing to align.
        self._photometric = photometric if photometric is not None and len(photometric) else None
        if settings.aligned_similarity is not None:
            aligned_similarity = settings.aligned_similarity
        else:  # the model's measured crop threshold, or the one given for a model that only embeds crops
            crop_threshold = default_threshold(embedder, pooled=False)
            aligned_similarity = (threshold if crop_threshold is None else crop_threshold) \
                - settings.aligned_similarity_slack
        self.rules = HitRules.of(settings, threshold, aligned_similarity, verifying=self.verifier is not None)
        self._titles = TitleEvidence(embedder, index.products) if embedder.supports_text else None

    def scan(self, sampler: VideoSampler, on_frame: Callable[[int], None] | None = None) -> Scan:
        """``sampler``: the video at ``settings.fps`` (a probed one continues from its first frame);
        ``on_frame`` is told how many sampled frames are done after each one."""
        settings = self._settings
        frames: list[FrameMatches] = []
        looked: list[_Looked] = []  # the frames within the tracking horizon, oldest first
        stage: Counter[str] = Counter()
        last_verified: dict[int, float] = {}
        last_aligned: dict[int, float] = {}
        horizon_s = tracking_horizon_s(settings)

        def recent(last_seen: dict[int, float], time_s: float) -> set[int]:
            return {p for p, seen_s in last_seen.items() if time_s - seen_s <= horizon_s} if settings.track else set()

        clock = time.perf_counter()
        for frame in sampler.frames():
            stage["decode"] += time.perf_counter() - clock
            defect = frame_defect(frame.image, settings.min_brightness, settings.min_sharpness)
            if defect:
                frames.append(FrameMatches(frame.time_s, defect, {}))
                if on_frame is not None:
                    on_frame(len(frames))
                clock = time.perf_counter()
                continue
            proposals, proposal_vectors, matches, titles = self._match_frame(frame.image, stage)
            current = FrameMatches(frame.time_s, None, matches, {}, titles)
            features = None
            if self.verifier and matches:
                started = time.perf_counter()
                features = frame_features(frame.image)
                stage["verify"] += time.perf_counter() - started
                tracked = recent(last_verified, frame.time_s)
                current.verified.update(self._verify(features, matches, tracked, stage))
                verified = {p for p, check in current.verified.items() if is_verified(check, self.rules)}
                new = verified - tracked
                last_verified.update((p, frame.time_s) for p in verified)
                if new and settings.track:
                    self._look_back_verify(looked, frame.time_s - horizon_s, new, stage)
            if self._photometric:
                tracked = recent(last_aligned, frame.time_s)
                looks = self._alignable_looks(matches)
                current.aligned.update(self._align(frame.image, proposals, proposal_vectors, tracked | looks,
                                                   settings.align_candidates, stage))
                confirmed = {p for p, found in current.aligned.items() if is_aligned(found, self.rules, p in tracked)}
                last_aligned.update((p, frame.time_s) for p in confirmed)
                if confirmed - tracked and settings.track:
                    self._look_back_align(looked, frame.time_s - horizon_s, confirmed - tracked, stage)
            frames.append(current)
            looked = [f for f in looked if f.matches.time_s >= frame.time_s - horizon_s]
            looked.append(_Looked(current, frame.image, features, proposals, proposal_vectors))
            if on_frame is not None:
                on_frame(len(frames))
            clock = time.perf_counter()
        return Scan(frames, sampler.duration_s, dict(stage), sampler.width, sampler.height)

    def traits(self, product: int) -> Traits:
        """What the decision needs to know of a product, whatever the frame."""
        return Traits(self.textured(product), self.alignable(product), self._index.background_score(product))

    def alignable(self, product: int) -> bool:
        """Can photometric alignment judge the product (a template with detail in one of its photos)?"""
        return self._photometric is not None and any(
            self._photometric.alignable(i) for i in self._index.products[product].image_ids)

    def _alignable_looks(self, matches: dict[int, tuple[float, Box]]) -> set[int]:
        """The best embedding candidates above the verification floor that alignment can judge:
        they are aligned too, as geometry verifies the best ones it can judge."""
        looks = [p for p in self._above_floor(matches) if self.alignable(p)]
        return set(looks[: self._settings.verify_candidates])

    def _above_floor(self, matches: dict[int, tuple[float, Box]]) -> list[int]:
        """The embedding candidates that reach the verification floor, best first."""
        ranked = sorted(matches.items(), key=lambda kv: -kv[1][0])
        return [product for product, (score, _) in ranked if score >= self._settings.verify_floor]

    def textured(self, product: int) -> bool:
        """Can geometry judge the product (enough SIFT points in one of its photos)?"""
        return self.verifier is not None and self.verifier.textured(self._index.products[product].image_ids)

    def _match_frame(self, image: np.ndarray, stage: Counter) -> tuple[
            list[Box], np.ndarray | None, dict[int, tuple[float, Box]], dict[int, float]]:
        """The frame's object proposals (when textureless products are aligned) with their
        region embeddings (None where the model cannot pool them from its one pass), the best
        (score, region) per candidate product over all regions of one frame, and, for models
        with a text tower, each candidate's best region-title similarity."""
        proposals: list[Box] = []
        if self._photometric is not None:
            started = time.perf_counter()
            proposals = object_proposals(image, self._settings.max_proposals)
            stage["propose"] += time.perf_counter() - started
        started = time.perf_counter()
        pooled = self._settings.region_pooling and isinstance(self._embedder, RegionEmbedder)
        boxes, vectors = embed_frame_regions(self._embedder, image, self._settings, proposals if pooled else ())
        proposal_vectors = vectors[len(boxes):] if pooled and proposals else None
        vectors = vectors[:len(boxes)]
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
        return proposals, proposal_vectors, best, titles

    def _verify(self, features: LocalFeatures, matches: dict[int, tuple[float, Box]], tracked: set[int],
                stage: Counter) -> dict[int, Verification]:
        """Geometric checks of the frame's best embedding candidates above the verification
        floor, of the products the frame's descriptors vote for, and of the tracked products."""
        settings = self._settings
        voted = []
        if settings.vote_candidates and self._index.descriptors is not None:
            started = time.perf_counter()
            votes = self._index.descriptors.votes(features.descriptors)
            voted = [p for p, count in sorted(votes.items(), key=lambda kv: -kv[1])[: settings.vote_candidates]
                     if count >= settings.min_votes]
            stage["vote"] += time.perf_counter() - started
        candidates = self._above_floor(matches)[: settings.verify_candidates]
        return self._verify_products(features, [*candidates, *voted, *sorted(tracked)], stage)

    def _verify_products(self, features: LocalFeatures, products: Sequence[int], stage: Counter,
                         ) -> dict[int, Verification]:
        started = time.perf_counter()
        checks = {product: self.verifier.verify(features, self._index.products[product].image_ids)
                  for product in dict.fromkeys(products)}
        stage["verify"] += time.perf_counter() - started
        return {product: check for product, check in checks.items() if check.inliers}

    def _align(self, image: np.ndarray, proposals: list[Box], vectors: np.ndarray | None, products: set[int],
               count: int, stage: Counter) -> dict[int, Alignment]:
        """Photometric checks of the ``count`` textureless catalog images that best match the
        frame's object proposals, and of the images of ``products``: the best alignment per
        product, with its box's crop similarity where the correlation is high enough to count."""
        started = time.perf_counter()
        images = [i for p in sorted(products) for i in self._index.products[p].image_ids]
        candidates = self._photometric.candidates(image, proposals, vectors, count, _BOXES_PER_IMAGE, images)
        best: dict[int, Alignment] = {}
        for image_id, boxes in candidates.items():
            product = self._index.product_of_image(image_id)
            for box in boxes:
                found = self._photometric.align(image, image_id, box)
                if found is not None and (product not in best or found.correlation > best[product].correlation):
                    best[product] = found
        strong = [p for p, found in best.items() if worth_a_look(found, self.rules)]
        if strong:  # a crop of each aligned box, embedded like a catalog photo
            boxes = [best[p].box for p in strong]
            crops = self._embedder.embed_images([image[y:y + h, x:x + w] for x, y, w, h in boxes])
            for product, vector in zip(strong, crops, strict=True):
                photos = np.asarray(self._index.embeddings[list(self._index.products[product].image_ids)])
                best[product] = replace(best[product], similarity=float((photos @ vector).max()))
        stage["align"] += time.perf_counter() - started
        return best

    def _look_back_verify(self, looked: list[_Looked], since_s: float, products: set[int], stage: Counter) -> None:
        """Verify newly confirmed products in the recent frames where they were not verified."""
        for earlier in looked:
            if earlier.matches.time_s < since_s or earlier.features is None:
                continue
            missing = [p for p in sorted(products) if p not in earlier.matches.verified]
            earlier.matches.verified.update(self._verify_products(earlier.features, missing, stage))

    def _look_back_align(self, looked: list[_Looked], since_s: float, products: set[int], stage: Counter) -> None:
        """Align newly confirmed textureless products in the recent frames where they were not."""
        for earlier in looked:
            missing = {p for p in products if p not in earlier.matches.aligned}
            if earlier.matches.time_s >= since_s and missing:
                earlier.matches.aligned.update(self._align(earlier.image, earlier.proposals, earlier.proposal_vectors,
                                                           missing, 0, stage))
