"""Each video's share of the headline numbers, so that any resample of the videos can be
scored again without tagging again (the bootstrap), and two runs on the same videos compared
on the same resamples."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shoptag.evaluation.bootstrap import Bootstrap, intervals, paired_difference
from shoptag.evaluation.detection import DetectionMatches
from shoptag.evaluation.metrics import Counts, Interval, match_segments, video_level


def _f1(counts: np.ndarray) -> float:
    tp, fp, fn = counts
    return Counts(int(tp), int(fp), int(fn)).f1


@dataclass
class Scorecard:
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # per video: tp fp fn at tIoU 0.5
    videos: list[tuple[int, int, int]] = field(default_factory=list)  # per video: product-level tp fp fn
    reciprocal_ranks: list[tuple[float, int]] = field(default_factory=list)  # per video: sum of 1/rank, queries
    ranked: list[tuple[list[Interval], list[Interval]]] = field(default_factory=list)  # per video: truth, ranked
    _detection: DetectionMatches | None = field(default=None, init=False, repr=False)

    def add_video(self, truth: list[Interval], served: list[Interval], ranked: list[Interval],
                  ranks: list[int | None]) -> None:
        """One video: its truth, the segments served at the operating point, the score-ranked
        ones AP is computed from, and the frame ranks of the right product."""
        segments = match_segments(truth, served, 0.5)
        products = video_level({t.product_id for t in truth}, {p.product_id for p in served})
        self.segments.append((segments.tp, segments.fp, segments.fn))
        self.videos.append((products.tp, products.fp, products.fn))
        self.reciprocal_ranks.append((sum(1.0 / r for r in ranks if r is not None), len(ranks)))
        self.ranked.append((truth, ranked))
        self._detection = None

    @property
    def detection(self) -> DetectionMatches:
        if self._detection is None:
            self._detection = DetectionMatches(self.ranked)
        return self._detection

    def headline(self, weights: np.ndarray | None = None) -> dict[str, float]:
        """The numbers that get intervals, for videos drawn ``weights`` times (all once by default)."""
        weights = np.ones(len(self.segments)) if weights is None else weights
        reciprocal = weights @ np.array(self.reciprocal_ranks).reshape(-1, 2)
        return {"segment_f1@tIoU0.5": _f1(weights @ np.array(self.segments).reshape(-1, 3)),
                "video_f1": _f1(weights @ np.array(self.videos).reshape(-1, 3)),
                **self.detection.summary(weights),
                "frame_MRR": float(reciprocal[0] / reciprocal[1]) if reciprocal[1] else 0.0}

    def intervals(self, bootstrap: Bootstrap) -> tuple[dict[str, list[float | None]], dict[str, int]]:
        return intervals(self.headline, len(self.segments), bootstrap)

    def compared_with(self, baseline: Scorecard, bootstrap: Bootstrap) -> dict[str, dict]:
        """This run minus ``baseline`` (the same videos), each difference with its paired interval."""
        if len(baseline.segments) != len(self.segments):
            raise ValueError("runs compared on different videos")
        return paired_difference(self.headline, baseline.headline, len(self.segments), bootstrap)
