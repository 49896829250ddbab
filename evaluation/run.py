"""Run tagging over annotated videos and measure it.

Each video is scanned once per setting the scan depends on; thresholds are then applied to
the stored scans, so a threshold sweep or a precision-recall curve costs no extra decoding or
embedding. The scan is exactly the one ``shoptag tag`` makes with the same settings, so the
numbers describe what is served; frame-level retrieval is therefore measured within the
``top_k`` candidates that tagging retrieves.

Near-identical products that an annotation marks interchangeable count as one product.

P/R/F1 describe the segments served at the operating point. Average precision needs a
ranking, so it is computed from the served segments plus the weak ones that
``include_uncertain`` adds, by score: exactly the segments ``shoptag tag --include-uncertain``
returns, and those written as ActivityNet results.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from shoptag.evaluation.annotations import VideoAnnotation
from shoptag.evaluation.bootstrap import Bootstrap, rounded
from shoptag.evaluation.detection import headline
from shoptag.evaluation.metrics import (
    Counts,
    Interval,
    box_iou,
    false_tags_per_minute,
    match_segments,
    pair_segments,
    ranked_ap,
    retrieval,
    temporal_iou,
    video_level,
)
from shoptag.evaluation.scorecard import Scorecard
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder
from shoptag.settings import TaggingSettings, VideoLimits
from shoptag.tagging import Scan, Tagger, TagResult

logger = logging.getLogger(__name__)

IOU_THRESHOLDS = (0.3, 0.5)
# The settings each evaluation records (with any other swept one).
REPORTED = ("threshold", "fps", "top_k", "min_inliers", "verify", "region_pooling", "verify_candidates", "text_weight",
            "track", "align", "align_candidates", "min_alignment")
# On-screen width over frame width: the upper bound of each size bucket of the recall report.
SIZE_BUCKETS = (("small (< 0.15)", 0.15), ("medium (0.15-0.28)", 0.28), ("large (>= 0.28)", float("inf")))
# A predicted box at best_frame_s is scored against the truth track's box nearest in time.
BOX_TIME_TOLERANCE_S = 0.25


@dataclass
class ScannedVideo:
    annotation: VideoAnnotation
    scan: Scan
    wall_s: float


@dataclass
class Evaluation:
    """Metrics at one operating point, plus the predictions they came from."""

    settings: dict
    metrics: dict
    predictions: list[TagResult] = field(repr=False)
    per_product: dict[str, dict] = field(default_factory=dict)
    ranked: list[TagResult] = field(default_factory=list, repr=False)  # with the uncertain segments
    scorecard: Scorecard = field(default_factory=Scorecard, repr=False)
    videos: list[VideoAnnotation] = field(default_factory=list, repr=False)


class Evaluator:
    def __init__(self, embedder: Embedder, index: CatalogIndex, limits: VideoLimits) -> None:
        self.embedder = embedder
        self.index = index
        self.limits = limits
        self._scans: dict[tuple[float, int], list[ScannedVideo]] = {}

    def tagger(self, settings: TaggingSettings) -> Tagger:
        return Tagger(self.embedder, self.index, settings, self.limits)

    def scans(self, videos: list[VideoAnnotation], settings: TaggingSettings) -> list[ScannedVideo]:
        # Settings applied to a finished scan do not key it; every other one can change it.
        key = json.dumps(settings.model_dump(exclude=set(TaggingSettings.after_scan_names())), sort_keys=True)
        if key not in self._scans:
            tagger = self.tagger(settings)
            scanned = []
            for number, video in enumerate(videos, start=1):
                started = time.perf_counter()
                scan = tagger.scan(video.video)
                scanned.append(ScannedVideo(video, scan, time.perf_counter() - started))
                logger.info("scanned %d/%d %s", number, len(videos), video.video.name)
            self._scans[key] = scanned
        return self._scans[key]

    def evaluate(self, videos: list[VideoAnnotation], settings: TaggingSettings,
                 swept: Iterable[str] = (), bootstrap: Bootstrap | None = None) -> Evaluation:
        """Metrics at ``settings``; the evaluation records the REPORTED settings and the ``swept``
        ones, and with ``bootstrap`` the headline numbers' intervals."""
        tagger = self.tagger(settings)
        ranking = self.tagger(settings.model_copy(update={"include_uncertain": True}))
        scanned = self.scans(videos, settings)
        results = [tagger.tag_scan(s.scan, s.annotation.video, tagger.threshold) for s in scanned]
        ranked = [ranking.tag_scan(s.scan, s.annotation.video, tagger.threshold) for s in scanned]
        canonical = canonical_ids(videos)
        scorecard = Scorecard()
        frame_ranks = self._ranks(scanned, canonical)
        for item, served, weak_too, ranks in zip(scanned, results, ranked, frame_ranks, strict=True):
            scorecard.add_video(item.annotation.id, truth_intervals(item.annotation, canonical),
                                predicted_intervals(served, canonical),
                                predicted_intervals(weak_too, canonical), ranks)
        metrics = self._metrics(scanned, results, canonical, scorecard, frame_ranks)
        if bootstrap is not None:
            metrics["intervals"], undefined = scorecard.intervals(bootstrap)
            metrics["bootstrap"] = {**bootstrap.describe(), **({"undefined_resamples": undefined} if undefined else {})}
        return Evaluation(
            settings={**settings.model_dump(include={*REPORTED, *swept}), "threshold": tagger.threshold},
            metrics=metrics, predictions=results,
            per_product=_per_product(scanned, results, canonical, scorecard),
            ranked=ranked, scorecard=scorecard, videos=videos,
        )

    def _metrics(self, scanned: list[ScannedVideo], results: list[TagResult], canonical: dict[str, str],
                 scorecard: Scorecard, frame_ranks: list[list[int | None]]) -> dict:
        videos = Counts()
        segments = {iou: Counts() for iou in IOU_THRESHOLDS}
        free_segments, free_seconds = 0, 0.0
        found: dict[str, list[bool]] = defaultdict(list)  # recall by size and kind: bucket -> found?
        box_ious: list[float] = []
        track_ious: list[float] = []  # every row of matched segments' tracks where the truth has a box
        matched = 0
        for item, result in zip(scanned, results, strict=True):
            truth = truth_intervals(item.annotation, canonical)
            predicted = predicted_intervals(result, canonical)
            videos += video_level({t.product_id for t in truth}, {p.product_id for p in predicted})
            for iou in IOU_THRESHOLDS:
                segments[iou] += match_segments(truth, predicted, iou)
            if item.annotation.product_free:
                free_segments += len(predicted)
                free_seconds += item.scan.duration_s
            for appearance, interval in zip(item.annotation.appearances, truth, strict=True):
                hit = any(p.product_id == interval.product_id and temporal_iou(p, interval) >= 0.5 for p in predicted)
                for bucket in _buckets(appearance):
                    found[bucket].append(hit)
            for t, p in pair_segments(truth, predicted, 0.5):
                matched += 1
                box = item.annotation.appearances[t].box_at(predicted[p].box_time_s, BOX_TIME_TOLERANCE_S)
                if box is not None and predicted[p].box is not None:
                    box_ious.append(box_iou(predicted[p].box, box))
                for time_s, *row_box in predicted[p].track:
                    truth_box = item.annotation.appearances[t].box_at(time_s, BOX_TIME_TOLERANCE_S)
                    if truth_box is not None:
                        track_ious.append(box_iou(tuple(row_box), truth_box))
        stages: Counter[str] = Counter()
        for result in results:
            stages.update(result.stage_seconds)
        video_seconds = sum(s.scan.duration_s for s in scanned)
        wall = sum(s.wall_s for s in scanned) + stages["aggregate"]
        ranks = [r for per_video in frame_ranks for r in per_video]
        return {
            "videos": len(scanned),
            "product_free_videos": sum(1 for s in scanned if s.annotation.product_free),
            "video_level": videos.as_json(),
            **{f"segment@tIoU{iou}": segments[iou].as_json() for iou in IOU_THRESHOLDS},
            "detection": {name: rounded(value) for name, value in scorecard.detection.summary().items()},
            "recall_by_bucket@tIoU0.5": {bucket: {"appearances": len(hits), "recall": round(sum(hits) / len(hits), 4)}
                                         for bucket, hits in sorted(found.items())},
            "box@tIoU0.5": {"segments": matched, "scored": len(box_ious), **_iou_summary(box_ious)},
            "box_track@tIoU0.5": {"rows": len(track_ious), **_iou_summary(track_ious)},
            "frame_retrieval": {**retrieval(ranks, ks=(1, 5)).as_json(),
                                "mAP": round(self._frame_map(scanned, canonical), 4)},
            "false_tags_per_minute": rounded(false_tags_per_minute(free_segments, free_seconds)),
            "false_tags_on_product_free_videos": free_segments,
            "throughput_video_s_per_s": round(video_seconds / wall, 3) if wall else None,
            "stage_seconds": {k: round(v, 3) for k, v in sorted(stages.items())},
        }

    def _frame_map(self, scanned: list[ScannedVideo], canonical: dict[str, str]) -> float:
        """Frame-level mAP: each product with truth is a query over every searched frame (sampled,
        not skipped, its regions embedded and searched: every keyframe, and the frames between
        while an embedding-only hit is followed), ranked by its score there (frames where it is
        not a candidate are never ranked), and a frame is relevant inside one of its appearances;
        the mean of those queries' APs."""
        ids = [canonical.get(p.product_id, p.product_id) for p in self.index.products]
        scored: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        relevant: Counter[str] = Counter()
        for item in scanned:
            for frame in item.scan.frames:
                if frame.defect or not frame.matches:
                    continue
                shown = {canonical.get(a.product_id, a.product_id) for a in item.annotation.appearances
                         if a.start_s <= frame.time_s < a.end_s}
                relevant.update(shown)
                best: dict[str, float] = {}
                for position, (score, _) in frame.matches.items():
                    best[ids[position]] = max(score, best.get(ids[position], -1.0))
                for product, score in best.items():
                    scored[product].append((score, product in shown))
        aps = [ranked_ap(scored[product], count) for product, count in relevant.items()]
        return sum(aps) / len(aps) if aps else 0.0

    def _ranks(self, scanned: list[ScannedVideo], canonical: dict[str, str]) -> list[list[int | None]]:
        """For each video, for each searched frame (see ``_frame_map``) inside an annotated
        appearance, the rank of that product (or of an interchangeable one) among the frame's
        retrieved candidates."""
        ids = [canonical.get(p.product_id, p.product_id) for p in self.index.products]
        per_video = []
        for item in scanned:
            ranks = []
            for frame in item.scan.frames:
                if frame.defect or not frame.matches:
                    continue
                # Interchangeable products are one: a group ranks once, at its best.
                by_score = sorted(frame.matches.items(), key=lambda kv: -kv[1][0])
                ordered = list(dict.fromkeys(ids[p] for p, _ in by_score))
                for truth in item.annotation.appearances:
                    if truth.start_s <= frame.time_s < truth.end_s:
                        wanted = canonical.get(truth.product_id, truth.product_id)
                        ranks.append(ordered.index(wanted) + 1 if wanted in ordered else None)
            per_video.append(ranks)
        return per_video


def canonical_ids(videos: list[VideoAnnotation]) -> dict[str, str]:
    """One id per group of products the annotations call interchangeable (the smallest)."""
    groups: dict[str, set[str]] = {}
    for video in videos:
        for appearance in video.appearances:
            members = {appearance.product_id, *appearance.interchangeable}
            for member in list(members):
                members |= groups.get(member, set())
            for member in members:
                groups[member] = members
    return {member: min(members) for member, members in groups.items()}


def truth_intervals(annotation: VideoAnnotation, canonical: dict[str, str] | None = None) -> list[Interval]:
    canonical = canonical or {}
    return [Interval(canonical.get(a.product_id, a.product_id), a.start_s, a.end_s) for a in annotation.appearances]


def predicted_intervals(result: TagResult, canonical: dict[str, str] | None = None) -> list[Interval]:
    canonical = canonical or {}
    return [Interval(canonical.get(t.product_id, t.product_id), s.start_s, s.end_s, s.score, s.bbox, s.best_frame_s,
                     s.track) for t in result.tags for s in t.segments]


def _iou_summary(ious: list[float]) -> dict:
    return {"mean_iou": rounded(sum(ious) / len(ious) if ious else None),
            "share_iou>=0.5": rounded(sum(i >= 0.5 for i in ious) / len(ious) if ious else None)}


def _buckets(appearance) -> list[str]:
    buckets = ["all"]
    if appearance.width_frac is not None:
        buckets.append("size " + next(name for name, upper in SIZE_BUCKETS if appearance.width_frac < upper))
    if appearance.kind:
        buckets.append(f"kind {appearance.kind}")
    return buckets


def _per_product(scanned: list[ScannedVideo], results: list[TagResult], canonical: dict[str, str],
                 scorecard: Scorecard) -> dict[str, dict]:
    counts: dict[str, Counts] = defaultdict(Counts)
    for item, result in zip(scanned, results, strict=True):
        truth, predicted = truth_intervals(item.annotation, canonical), predicted_intervals(result, canonical)
        for product in {t.product_id for t in truth} | {p.product_id for p in predicted}:
            counts[product] += match_segments([t for t in truth if t.product_id == product],
                                              [p for p in predicted if p.product_id == product], 0.5)
    aps = scorecard.detection.per_product()
    detection = scorecard.detection
    return {product: {**c.as_json(), **({k: rounded(v) for k, v in headline(aps[product], detection).items()}
                                        if product in aps else {})}
            for product, c in sorted(counts.items())}
