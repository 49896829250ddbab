"""Scanning a video: for every sampled frame, the evidence for each candidate product, before
any threshold. ``Tagger.tag_scan`` turns a scan into tags; evaluation sweeps thresholds over
one scan instead of decoding and embedding again.

Keyframes (every ``keyframe_interval``-th sampled frame, and where the picture changed or a
followed product was lost) get full discovery: the grid regions are embedded and searched
(embedding candidates); the frame's SIFT points verify the best of them, the products its
descriptors vote for and the tracked ones geometrically (``verify``); object proposals give the
textureless catalog images that best match them, which are aligned photometrically
(``photometric``). The frames between follow only the tracked products (verified or aligned
in a recent frame), from where they were: a verified product is verified again on the SIFT
points of the region around its last box, an aligned one aligned again from its box; the
regions are embedded only while a product seen by its embedding alone is being followed. A
product confirmed for the first time in a while is followed back through the recent frames,
so that its track starts where it came into view rather than where a keyframe first
recognised it. The evidence is of the same kinds on every frame; the keyframes change which
frames have it, never the rule that decides a hit (``decision``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from shoptag.boxes import Box, contains, enclosing, grown
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder, RegionEmbedder, default_threshold, embed_regions
from shoptag.settings import TaggingSettings
from shoptag.tagging.decision import (
    Evidence,
    HitRules,
    Traits,
    decide,
    is_aligned,
    is_verified,
    tracking_horizon_s,
    worth_a_look,
)
from shoptag.tagging.keyframes import KeyframeSchedule
from shoptag.tagging.photometric import Alignment, PhotometricVerifier
from shoptag.tagging.results import EMBEDDING
from shoptag.tagging.titles import TitleEvidence
from shoptag.tagging.verify import FrameMatcher, GeometricVerifier, Verification, frame_features
from shoptag.video.prefetch import prefetched
from shoptag.video.proposals import object_proposals
from shoptag.video.quality import frame_defect
from shoptag.video.regions import multiscale_boxes
from shoptag.video.sampler import VideoSampler

# Recent frames kept to look back through, at most (decoded frames, up to 4K: a long tracking
# horizon at a high sampling rate must not hold the video in memory). The defaults keep 4.
_MAX_KEPT_FRAMES = 32
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
    keyframe: bool = True  # had full discovery (else: only the tracked products were checked)


@dataclass
class Scan:
    frames: list[FrameMatches]
    duration_s: float
    stage_seconds: dict[str, float]
    width: int = 0  # of the decoded frames
    height: int = 0


@dataclass
class _Looked:
    """A recent frame as the scan keeps it, to check products in it again (following, looking back)."""

    matches: FrameMatches
    image: np.ndarray
    proposals: list[Box] = field(default_factory=list)
    proposal_vectors: np.ndarray | None = None
    embedded: bool = False  # were its regions embedded and searched
    # The frame's points, per region searched (None: the whole frame).
    points: list[tuple[Box | None, FrameMatcher]] = field(default_factory=list)

    @property
    def time_s(self) -> float:
        return self.matches.time_s

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def points_in(self, region: Box | None) -> FrameMatcher | None:
        """Points already found over ``region`` (None: the whole frame), if any."""
        return next((matcher for searched, matcher in self.points
                     if searched is None or (region is not None and contains(searched, region))), None)


@dataclass
class _Tracks:
    """The products the scan follows: the last frame each was verified or aligned in (within
    the tracking horizon), and the ones the last embedded frame had as embedding-only hits."""

    verified: dict[int, tuple[_Looked, Verification]] = field(default_factory=dict)
    aligned: dict[int, tuple[_Looked, Alignment]] = field(default_factory=dict)
    # Near misses of the last frame (a few inliers short; an alignment in reach of the bar), to
    # be checked on the next frame: a product that a keyframe nearly recognised is not left to
    # the next keyframe, which may come after it is gone.
    near: tuple[_Looked | None, dict[int, Verification], dict[int, Alignment]] = (None, {}, {})
    # Each tracked product's last two confirmations (time, box), oldest first: where it moves.
    moves: dict[int, list[tuple[float, Box]]] = field(default_factory=dict)
    watched: set[int] = field(default_factory=set)

    def forget(self, since_s: float) -> None:
        """Stop following the products not confirmed since ``since_s``."""
        self.verified = {p: seen for p, seen in self.verified.items() if seen[0].time_s >= since_s}
        self.aligned = {p: seen for p, seen in self.aligned.items() if seen[0].time_s >= since_s}
        self.moves = {p: seen for p, seen in self.moves.items() if p in self.verified or p in self.aligned}

    def confirmed(self, product: int, time_s: float, box: Box) -> None:
        self.moves[product] = [*self.moves.get(product, [])[-1:], (time_s, box)]

    def predicted(self, product: int, time_s: float) -> Box:
        """Where a tracked product should be at ``time_s``: its last box, moved on at the pace of
        its last two confirmations (a product crossing the frame leaves its last box within a
        second)."""
        seen = self.moves[product]
        (last_s, last), (first_s, first) = seen[-1], seen[0]
        if last_s - first_s <= 0:
            return last
        share = (time_s - last_s) / (last_s - first_s)
        x, y, w, h = (round(b + share * (b - a)) for a, b in zip(first, last, strict=True))
        return (x, y, max(1, w), max(1, h))


@dataclass
class _ScanState:
    schedule: KeyframeSchedule
    horizon_s: float  # the tracking horizon
    kept_s: float  # how far back recent frames are kept: to where a product found on a keyframe may have appeared
    frames: list[FrameMatches] = field(default_factory=list)
    looked: list[_Looked] = field(default_factory=list)  # the recent frames, oldest first
    tracks: _Tracks = field(default_factory=_Tracks)
    previous: _Looked | None = None  # the last frame that was not skipped
    stage: Counter[str] = field(default_factory=Counter)  # seconds per stage


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
        self._traits: dict[int, Traits] = {}

    def scan(self, sampler: VideoSampler, on_frame: Callable[[int], None] | None = None) -> Scan:
        """``sampler``: the video at ``settings.fps`` (a probed one continues from its first frame);
        ``on_frame`` is told how many sampled frames are done after each one.

        Keyframes get full discovery (``_discover``); the frames between follow the tracked
        products only (``_follow``). A product confirmed for the first time in a while is
        followed back through the recent frames, so that its track starts where it came into
        view rather than where it was first recognised."""
        settings = self._settings
        interval = settings.keyframe_interval if settings.track else 1
        state = _ScanState(KeyframeSchedule(interval, settings.keyframe_change), tracking_horizon_s(settings),
                           kept_s=tracking_horizon_s(settings) + (interval - 1) / settings.fps)
        # Finds keyframes' points while the scan does the rest of their work (``_discover``).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frame-points") as helper:
            clock = time.perf_counter()
            for frame in prefetched(sampler.frames()):  # "decode": the waits for the next decoded frame
                state.stage["decode"] += time.perf_counter() - clock
                state.frames.append(self._scan_frame(frame.image, frame.time_s, state, helper))
                if on_frame is not None:
                    on_frame(len(state.frames))
                clock = time.perf_counter()
        return Scan(state.frames, sampler.duration_s, dict(state.stage), sampler.width, sampler.height)

    def _scan_frame(self, image: np.ndarray, time_s: float, state: _ScanState,
                    helper: ThreadPoolExecutor) -> FrameMatches:
        settings, tracks, stage = self._settings, state.tracks, state.stage
        defect = frame_defect(image, settings.min_brightness, settings.min_sharpness)
        if defect:
            return FrameMatches(time_s, defect, {})
        tracks.forget(time_s - state.horizon_s if settings.track else np.inf)
        tracked_verified, tracked_aligned = set(tracks.verified), set(tracks.aligned)
        now = None
        if not state.schedule.due(image):
            now = self._follow(image, time_s, tracks, state.previous, stage)
        if now is None:
            state.schedule.taken(image)
            now = self._discover(image, time_s, tracked_verified, tracked_aligned, stage, helper)
        current = now.matches
        verified = {p: check for p, check in current.verified.items() if is_verified(check, self.rules)}
        aligned = {p: found for p, found in current.aligned.items()
                   if is_aligned(found, self.rules, p in tracked_aligned)}
        tracks.verified.update((p, (now, check)) for p, check in verified.items())
        tracks.aligned.update((p, (now, found)) for p, found in aligned.items())
        tracks.near = (now, {p: check for p, check in current.verified.items()
                             if p not in verified and 2 * check.inliers >= self.rules.min_inliers},
                       {p: found for p, found in current.aligned.items()
                        if p not in aligned and worth_a_look(found, self.rules)})
        for product, check in verified.items():
            tracks.confirmed(product, time_s, check.box)
        for product, found in aligned.items():
            tracks.confirmed(product, time_s, found.box)
        if settings.track:
            new_verified = {p: (now, check) for p, check in verified.items() if p not in tracked_verified}
            self._look_back_verify(state.looked, new_verified, state.horizon_s, stage)
            new_aligned = {p: (now, found) for p, found in aligned.items() if p not in tracked_aligned}
            self._look_back_align(state.looked, new_aligned, state.horizon_s, stage)
        if now.embedded:
            watched = self._embedding_hits(current, tracks, state.horizon_s)
            if watched - tracks.watched:
                self._look_back_embed(state.looked, time_s - state.horizon_s, stage)
            tracks.watched = watched
        state.looked = [f for f in state.looked if f.time_s >= time_s - state.kept_s - 1e-6][-_MAX_KEPT_FRAMES + 1:]
        state.looked.append(now)
        state.previous = now
        return current

    def _discover(self, image: np.ndarray, time_s: float, tracked_verified: set[int], tracked_aligned: set[int],
                  stage: Counter, helper: ThreadPoolExecutor) -> _Looked:
        """A keyframe's evidence: every region embedded and searched; the frame's points
        verifying its best candidates, the products its descriptors vote for and the tracked
        ones; the textureless images that best match its object proposals, and the tracked and
        likely ones, aligned.

        The frame's points are found in ``helper`` (a thread) meanwhile: SIFT leaves part of the
        second core idle, and selective search and alignment use one core."""
        points_found = helper.submit(self._find_points, image) if self.verifier else None
        proposals, proposal_vectors, matches, titles = self._match_frame(image, stage)
        current = FrameMatches(time_s, None, matches, {}, titles)
        now = _Looked(current, image, proposals, proposal_vectors, embedded=True)
        if self._photometric:
            looks = self._alignable_looks(matches)
            current.aligned.update(self._align(image, proposals, proposal_vectors, tracked_aligned | looks,
                                               self._settings.align_candidates, stage))
        if points_found is not None:
            points, seconds = points_found.result()
            stage["verify"] += seconds
            now.points.append((None, points))
            if matches:
                current.verified.update(self._verify(points, matches, tracked_verified, stage))
        return now

    def _follow(self, image: np.ndarray, time_s: float, tracks: _Tracks, previous: _Looked | None,
                stage: Counter) -> _Looked | None:
        """A frame between keyframes: only the tracked products, checked from where they were
        last confirmed and where they are heading (``_recheck``; aligned from those boxes), and
        the regions embedded while an embedding-only hit is being followed. A product missed in
        the frame before is looked for as a keyframe would (the whole frame's points; object
        proposals), and so are the alignable products followed by their embedding, whose hits
        need their photo to align. None when a product confirmed in the frame before is not
        confirmed here: it is lost, and the frame needs full discovery."""
        current = FrameMatches(time_s, None, {}, {}, {}, keyframe=False)
        now = _Looked(current, image)
        near_frame, near_verified, near_aligned = tracks.near if tracks.near[0] is previous else (None, {}, {})
        missed_aligned = {p for p, (reference, _) in tracks.aligned.items() if reference is not previous}
        missed_aligned |= near_aligned.keys()
        looks = {p for p in tracks.watched if self.alignable(p)}
        if tracks.watched:
            now.proposals, now.proposal_vectors, matches, titles = self._match_frame(
                image, stage, propose=bool(missed_aligned or looks))
            current.matches.update(matches)
            current.titles.update(titles)
            now.embedded = True
        elif self._photometric and missed_aligned:
            now.proposals = self._proposals(image, stage)
        if any(reference is not previous for reference, _ in tracks.verified.values()):
            now.points.append((None, self._points(image, None, stage)))
        for product, (reference, check) in sorted(tracks.verified.items()):
            found = self._recheck(now, product, reference, check, stage, tracks.predicted(product, time_s))
            if found.inliers:
                current.verified[product] = found
            if reference is previous and not is_verified(found, self.rules):
                return None
        for product, check in sorted(near_verified.items()):
            if product not in current.verified:
                found = self._recheck(now, product, near_frame, check, stage)
                if found.inliers:
                    current.verified[product] = found
        if self._photometric and (tracks.aligned or looks or near_aligned):
            starts = {product: list(dict.fromkeys([found.box, tracks.predicted(product, time_s)]))
                      for product, (_, found) in tracks.aligned.items()}
            starts.update((product, [found.box]) for product, found in near_aligned.items() if product not in starts)
            current.aligned.update(self._align(image, now.proposals, now.proposal_vectors, missed_aligned | looks, 0,
                                               stage, starts))
            if any(reference is previous and not is_aligned(current.aligned.get(product), self.rules, True)
                   for product, (reference, _) in tracks.aligned.items()):
                return None
        return now

    def _recheck(self, frame: _Looked, product: int, reference: _Looked, check: Verification,
                 stage: Counter, toward: Box | None = None) -> Verification:
        """Verify a product in ``frame`` that was verified in ``reference`` (``check``): on the
        frame's points where it was searched whole, else on the points of the region around the
        product's box in ``reference`` (and around ``toward``, where it is predicted to be)."""
        whole = frame.points_in(None)
        if whole is not None:
            return self._verify_products(whole, [product], stage).get(product, Verification(0, None))
        region = self._search_box(reference.time_s, check.box, frame.time_s, *frame.size)
        if toward is not None:
            region = enclosing(region, grown(toward, self._settings.follow_margin, *frame.size))
        points = frame.points_in(region)
        if points is None:
            points = self._points(frame.image, region, stage)
            frame.points.append((region, points))
        return self._verify_products(points, [product], stage).get(product, Verification(0, None))

    def _search_box(self, seen_s: float, box: Box, time_s: float, width: int, height: int) -> Box:
        """Where to look for a product seen in ``box`` at ``seen_s``: the box grown by
        ``follow_margin`` per sampled frame between."""
        steps = max(1, round(abs(time_s - seen_s) * self._settings.fps))
        return grown(box, self._settings.follow_margin * steps, width, height)

    def _points(self, image: np.ndarray, region: Box | None, stage: Counter) -> FrameMatcher:
        points, seconds = self._find_points(image, region)
        stage["verify"] += seconds
        return points

    def _find_points(self, image: np.ndarray, region: Box | None = None) -> tuple[FrameMatcher, float]:
        """The frame's points (in ``region``), and the seconds it took."""
        started = time.perf_counter()
        return FrameMatcher(frame_features(image, region, self._settings.verify_side)), time.perf_counter() - started

    def _embedding_hits(self, current: FrameMatches, tracks: _Tracks, horizon_s: float) -> set[int]:
        """The products a frame's embedding alone makes a served hit of: the frames after it are
        embedded too while there are any, since only they can continue such a track. (Uncertain
        hits, under the product's bar, are not followed between keyframes, whatever
        ``include_uncertain``: a scan does not depend on it.)"""
        rules = replace(self.rules, include_uncertain=False)
        hits = set()
        for product, (similarity, region) in current.matches.items():
            near = any(abs(current.time_s - seen[0].time_s) <= horizon_s
                       for seen in (tracks.verified.get(product), tracks.aligned.get(product)) if seen)
            evidence = Evidence(current.time_s, similarity, region, current.titles.get(product),
                                current.verified.get(product), current.aligned.get(product), near)
            hit = decide(evidence, self.traits(product), rules)
            if hit is not None and hit.evidence == EMBEDDING:
                hits.add(product)
        return hits

    def traits(self, product: int) -> Traits:
        """What the decision needs to know of a product, whatever the frame (once per product:
        the scan asks on every embedded frame, the tagger for every frame's evidence)."""
        if product not in self._traits:
            self._traits[product] = Traits(self.textured(product), self.alignable(product),
                                           self._index.background_score(product))
        return self._traits[product]

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

    def _match_frame(self, image: np.ndarray, stage: Counter, propose: bool = True) -> tuple[
            list[Box], np.ndarray | None, dict[int, tuple[float, Box]], dict[int, float]]:
        """The frame's object proposals (when textureless products are aligned) with their
        region embeddings (None where the model cannot pool them from its one pass), the best
        (score, region) per candidate product over all regions of one frame, and, for models
        with a text tower, each candidate's best region-title similarity."""
        proposals = self._proposals(image, stage) if self._photometric is not None and propose else []
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

    def _proposals(self, image: np.ndarray, stage: Counter) -> list[Box]:
        started = time.perf_counter()
        proposals = object_proposals(image, self._settings.max_proposals)
        stage["propose"] += time.perf_counter() - started
        return proposals

    def _verify(self, points: FrameMatcher, matches: dict[int, tuple[float, Box]], tracked: set[int],
                stage: Counter) -> dict[int, Verification]:
        """Geometric checks of the frame's best embedding candidates above the verification
        floor, of the products the frame's descriptors vote for, and of the tracked products."""
        settings = self._settings
        voted = []
        if settings.vote_candidates and self._index.descriptors is not None:
            started = time.perf_counter()
            votes = self._index.descriptors.votes(points.features.descriptors)
            voted = [p for p, count in sorted(votes.items(), key=lambda kv: -kv[1])[: settings.vote_candidates]
                     if count >= settings.min_votes]
            stage["vote"] += time.perf_counter() - started
        candidates = self._above_floor(matches)[: settings.verify_candidates]
        return self._verify_products(points, [*candidates, *voted, *sorted(tracked)], stage)

    def _verify_products(self, points: FrameMatcher, products: Sequence[int], stage: Counter,
                         ) -> dict[int, Verification]:
        started = time.perf_counter()
        checks = {product: self.verifier.verify(points, self._index.products[product].image_ids)
                  for product in dict.fromkeys(products)}
        stage["verify"] += time.perf_counter() - started
        return {product: check for product, check in checks.items() if check.inliers}

    def _align(self, image: np.ndarray, proposals: list[Box], vectors: np.ndarray | None, products: set[int],
               count: int, stage: Counter, starts: dict[int, list[Box]] | None = None) -> dict[int, Alignment]:
        """Photometric checks of the ``count`` textureless catalog images that best match the
        frame's object proposals, of the images of ``products`` on their best proposals, and of
        the images of the products in ``starts`` from each box given: the best alignment per
        product, with its box's crop similarity where the correlation is high enough to count."""
        started = time.perf_counter()
        images = [i for p in sorted(products) for i in self._index.products[p].image_ids]
        candidates = self._photometric.candidates(image, proposals, vectors, count, _BOXES_PER_IMAGE, images)
        for product, boxes in sorted((starts or {}).items()):
            for image_id in self._index.products[product].image_ids:
                if self._photometric.alignable(image_id):
                    candidates.setdefault(image_id, []).extend(boxes)
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

    def _look_back_verify(self, looked: list[_Looked], found: dict[int, tuple[_Looked, Verification]],
                          horizon_s: float, stage: Counter) -> None:
        """Follow newly verified products back through the recent frames, from each frame where
        one is verified to the frames before, until it has not been seen for the tracking horizon."""
        for product, (reference, check) in sorted(found.items()):
            for earlier in reversed(looked):
                if reference.time_s - earlier.time_s > horizon_s:
                    break
                there = earlier.matches.verified.get(product)
                if there is None:
                    there = self._recheck(earlier, product, reference, check, stage)
                    if there.inliers:
                        earlier.matches.verified[product] = there
                if is_verified(there, self.rules):
                    reference, check = earlier, there

    def _look_back_align(self, looked: list[_Looked], found: dict[int, tuple[_Looked, Alignment]],
                         horizon_s: float, stage: Counter) -> None:
        """Align newly aligned textureless products in the recent frames within the tracking
        horizon of the frame where they were: on a keyframe's proposals, else from the box where
        they were aligned next. Not further back from there: alignment, unlike the product's own
        points, can settle on a background of the same colour layout."""
        for product, (reference, alignment) in sorted(found.items()):
            for earlier in reversed(looked):
                if reference.time_s - earlier.time_s > horizon_s:
                    break
                there = earlier.matches.aligned.get(product)
                if there is None:
                    starts = {} if earlier.matches.keyframe else {product: [alignment.box]}
                    there = self._align(earlier.image, earlier.proposals, earlier.proposal_vectors, {product}, 0,
                                        stage, starts).get(product)
                    if there is not None:
                        earlier.matches.aligned[product] = there
                if is_aligned(there, self.rules, True):
                    alignment = there  # the next frame back starts from here; the horizon stays

    def _look_back_embed(self, looked: list[_Looked], since_s: float, stage: Counter) -> None:
        """Embed the recent frames that were not, when a product starts being an embedding-only
        hit, so that its track can start where it came into view."""
        for earlier in looked:
            if earlier.time_s >= since_s and not earlier.embedded:
                _, _, matches, titles = self._match_frame(earlier.image, stage, propose=False)
                earlier.matches.matches.update(matches)
                earlier.matches.titles.update(titles)
                earlier.embedded = True
