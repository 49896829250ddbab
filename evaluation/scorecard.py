"""Each video's share of the headline numbers, so that any resample of the videos can be
scored again without tagging again (the bootstrap), and two runs on the same videos compared
on the same resamples: in one evaluation (several indexes), or later from two runs'
metrics.json, which keep their scorecards."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shoptag.errors import ShopTagError
from shoptag.evaluation.bootstrap import Bootstrap, intervals, paired_difference
from shoptag.evaluation.detection import DetectionMatches
from shoptag.evaluation.metrics import Counts, Interval, match_segments, video_level


def _f1(counts: np.ndarray) -> float:
    tp, fp, fn = counts
    return Counts(int(tp), int(fp), int(fn)).f1


class ScorecardError(ShopTagError):
    code = "bad_scorecard"


@dataclass
class Scorecard:
    video_ids: list[str] = field(default_factory=list)
    segments: list[tuple[int, int, int]] = field(default_factory=list)  # per video: tp fp fn at tIoU 0.5
    videos: list[tuple[int, int, int]] = field(default_factory=list)  # per video: product-level tp fp fn
    reciprocal_ranks: list[tuple[float, int]] = field(default_factory=list)  # per video: sum of 1/rank, queries
    ranked: list[tuple[list[Interval], list[Interval]]] = field(default_factory=list)  # per video: truth, ranked
    _detection: DetectionMatches | None = field(default=None, init=False, repr=False)

    def add_video(self, video_id: str, truth: list[Interval], served: list[Interval], ranked: list[Interval],
                  ranks: list[int | None]) -> None:
        """One video: its truth, the segments served at the operating point, the score-ranked
        ones AP is computed from, and the frame ranks of the right product."""
        self.video_ids.append(video_id)
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
        if baseline.video_ids != self.video_ids:
            raise ScorecardError("the two runs are not on the same videos (in the same order): a paired comparison "
                                 "needs the same benchmark")
        return paired_difference(self.headline, baseline.headline, len(self.segments), bootstrap)

    def as_json(self) -> dict:
        def rows(intervals: list[Interval]) -> list[list]:
            return [[i.product_id, round(i.start_s, 4), round(i.end_s, 4), round(i.score, 6)] for i in intervals]

        return {"video_ids": self.video_ids, "segments": self.segments, "video_level": self.videos,
                "reciprocal_ranks": self.reciprocal_ranks,
                "ranked": [{"truth": rows(truth), "predicted": rows(ranked)} for truth, ranked in self.ranked]}

    @classmethod
    def from_json(cls, raw: object) -> Scorecard:
        """A scorecard from metrics.json; ScorecardError names what does not fit."""
        try:
            card = cls(list(map(str, raw["video_ids"])), [_triple(r) for r in raw["segments"]],
                       [_triple(r) for r in raw["video_level"]],
                       [(float(a), int(b)) for a, b in raw["reciprocal_ranks"]],
                       [([Interval(str(p), float(s), float(e), float(c)) for p, s, e, c in video["truth"]],
                         [Interval(str(p), float(s), float(e), float(c)) for p, s, e, c in video["predicted"]])
                        for video in raw["ranked"]])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ScorecardError(f"not a ShopTag scorecard ({type(exc).__name__}: {exc})") from None
        lengths = {len(card.video_ids), len(card.segments), len(card.videos), len(card.reciprocal_ranks),
                   len(card.ranked)}
        if len(lengths) != 1 or not card.video_ids:
            raise ScorecardError("a scorecard needs one entry per video in every list")
        return card


def _triple(row) -> tuple[int, int, int]:
    tp, fp, fn = (int(v) for v in row)
    return tp, fp, fn
