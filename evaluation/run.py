"""Run tagging over annotated videos and measure it.

Each video is scanned once per (fps, top_k); thresholds are then applied to the stored scans,
so a threshold sweep or a precision-recall curve costs no extra decoding or embedding.
Candidates are retrieved with at least 10 per region so that frame-level Recall@10 is
defined; tags use the same scans.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from shoptag.evaluation.annotations import VideoAnnotation
from shoptag.evaluation.metrics import Counts, Interval, false_tags_per_minute, match_segments, retrieval, video_level
from shoptag.evaluation.sweep import SWEEPABLE
from shoptag.indexing.store import CatalogIndex
from shoptag.model.base import Embedder
from shoptag.settings import TaggingSettings, VideoLimits
from shoptag.tagging import Scan, Tagger, TagResult

logger = logging.getLogger(__name__)

IOU_THRESHOLDS = (0.3, 0.5)
RETRIEVAL_K = 10


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


class Evaluator:
    def __init__(self, embedder: Embedder, index: CatalogIndex, limits: VideoLimits) -> None:
        self.embedder = embedder
        self.index = index
        self.limits = limits
        self._scans: dict[tuple[float, int], list[ScannedVideo]] = {}

    def tagger(self, settings: TaggingSettings) -> Tagger:
        scan_settings = settings.model_copy(update={"top_k": max(settings.top_k, RETRIEVAL_K)})
        return Tagger(self.embedder, self.index, scan_settings, self.limits)

    def scans(self, videos: list[VideoAnnotation], settings: TaggingSettings) -> list[ScannedVideo]:
        # What the scan depends on (thresholds are applied afterwards; tracking follows products
        # verified with min_inliers within max_gap_s).
        verifying = (settings.verify_floor, settings.verify_candidates, settings.min_inliers,
                     settings.track, settings.max_gap_s if settings.track else None) if settings.verify else None
        key = (settings.fps, max(settings.top_k, RETRIEVAL_K), settings.region_pooling, verifying)
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

    def evaluate(self, videos: list[VideoAnnotation], settings: TaggingSettings) -> Evaluation:
        tagger = self.tagger(settings)
        scanned = self.scans(videos, settings)
        results = [tagger.tag_scan(s.scan, s.annotation.video, tagger.threshold) for s in scanned]
        return Evaluation(
            settings={**settings.model_dump(include=set(SWEEPABLE)), "threshold": tagger.threshold},
            metrics=self._metrics(scanned, results),
            predictions=results,
            per_product=_per_product(scanned, results),
        )

    def _metrics(self, scanned: list[ScannedVideo], results: list[TagResult]) -> dict:
        videos = Counts()
        segments = {iou: Counts() for iou in IOU_THRESHOLDS}
        free_segments, free_seconds = 0, 0.0
        for item, result in zip(scanned, results, strict=True):
            truth = truth_intervals(item.annotation)
            predicted = predicted_intervals(result)
            videos += video_level({t.product_id for t in truth}, {p.product_id for p in predicted})
            for iou in IOU_THRESHOLDS:
                segments[iou] += match_segments(truth, predicted, iou)
            if item.annotation.product_free:
                free_segments += len(predicted)
                free_seconds += item.scan.duration_s
        stages: Counter[str] = Counter()
        for result in results:
            stages.update(result.stage_seconds)
        video_seconds = sum(s.scan.duration_s for s in scanned)
        wall = sum(s.wall_s for s in scanned) + stages["aggregate"]
        return {
            "videos": len(scanned),
            "product_free_videos": sum(1 for s in scanned if s.annotation.product_free),
            "video_level": videos.as_json(),
            **{f"segment@tIoU{iou}": segments[iou].as_json() for iou in IOU_THRESHOLDS},
            "frame_retrieval": retrieval(self._ranks(scanned)).as_json(),
            "false_tags_per_minute": _round(false_tags_per_minute(free_segments, free_seconds)),
            "false_tags_on_product_free_videos": free_segments,
            "throughput_video_s_per_s": round(video_seconds / wall, 3) if wall else None,
            "stage_seconds": {k: round(v, 3) for k, v in sorted(stages.items())},
        }

    def _ranks(self, scanned: list[ScannedVideo]) -> list[int | None]:
        """For each sampled frame inside an annotated appearance, the rank of that product."""
        position = {p.product_id: i for i, p in enumerate(self.index.products)}
        ranks = []
        for item in scanned:
            for frame in item.scan.frames:
                if frame.defect:
                    continue
                ordered = [p for p, _ in sorted(frame.matches.items(), key=lambda kv: -kv[1][0])]
                for truth in item.annotation.appearances:
                    if truth.start_s <= frame.time_s < truth.end_s:
                        wanted = position.get(truth.product_id)
                        ranks.append(ordered.index(wanted) + 1 if wanted in ordered else None)
        return ranks


def truth_intervals(annotation: VideoAnnotation) -> list[Interval]:
    return [Interval(a.product_id, a.start_s, a.end_s) for a in annotation.appearances]


def predicted_intervals(result: TagResult) -> list[Interval]:
    return [Interval(t.product_id, s.start_s, s.end_s, s.score) for t in result.tags for s in t.segments]


def _per_product(scanned: list[ScannedVideo], results: list[TagResult]) -> dict[str, dict]:
    counts: dict[str, Counts] = defaultdict(Counts)
    for item, result in zip(scanned, results, strict=True):
        truth, predicted = truth_intervals(item.annotation), predicted_intervals(result)
        for product in {t.product_id for t in truth} | {p.product_id for p in predicted}:
            counts[product] += match_segments([t for t in truth if t.product_id == product],
                                              [p for p in predicted if p.product_id == product], 0.5)
    return {product: c.as_json() for product, c in sorted(counts.items())}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
