"""Accuracy metrics, as pure functions over truth and predictions.

Conventions (pinned by tests): with no predictions, precision is 1 (nothing wrong was
claimed); with no truth, recall is 1 (nothing was missed); F1 is 0 when precision + recall is
0. Segments match one to one, same product only, best temporal IoU first, predictions taken
in order of score, so a duplicate or a second piece of a split segment is a false positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    product_id: str
    start_s: float
    end_s: float
    score: float = 1.0


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_json(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def temporal_iou(a: Interval, b: Interval) -> float:
    overlap = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    union = max(a.end_s, b.end_s) - min(a.start_s, b.start_s)
    return max(0.0, overlap) / union if union > 0 else 0.0


def match_segments(truth: Sequence[Interval], predicted: Sequence[Interval], min_iou: float) -> Counts:
    """One-to-one matching of predicted segments to truth appearances at temporal IoU >= min_iou."""
    unmatched = list(truth)
    tp = 0
    for prediction in sorted(predicted, key=lambda p: -p.score):
        candidates = [(temporal_iou(prediction, t), i) for i, t in enumerate(unmatched)
                      if t.product_id == prediction.product_id]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= min_iou and best[1] >= 0:
            unmatched.pop(best[1])
            tp += 1
    return Counts(tp, len(predicted) - tp, len(unmatched))


def video_level(truth: Iterable[str], predicted: Iterable[str]) -> Counts:
    """Was each right product suggested at all for the video?"""
    truth, predicted = set(truth), set(predicted)
    return Counts(len(truth & predicted), len(predicted - truth), len(truth - predicted))


@dataclass(frozen=True)
class Retrieval:
    queries: int
    recall_at: dict[int, float]
    mean_ap: float

    def as_json(self) -> dict:
        return {"queries": self.queries, **{f"recall@{k}": round(v, 4) for k, v in self.recall_at.items()},
                "mAP": round(self.mean_ap, 4)}


def retrieval(ranks: Sequence[int | None], ks: Sequence[int] = (1, 5, 10)) -> Retrieval:
    """Frame-level retrieval from the rank (1-based, None if not retrieved) of the right product
    in each query frame. One relevant item per query, so AP = 1 / rank."""
    if not ranks:
        return Retrieval(0, {k: 0.0 for k in ks}, 0.0)
    recall_at = {k: sum(1 for r in ranks if r is not None and r <= k) / len(ranks) for k in ks}
    mean_ap = sum(1.0 / r for r in ranks if r is not None) / len(ranks)
    return Retrieval(len(ranks), recall_at, mean_ap)


def false_tags_per_minute(segments_on_free_videos: int, free_seconds: float) -> float | None:
    """Predicted segments per minute of product-free video (None without such videos)."""
    return segments_on_free_videos / (free_seconds / 60) if free_seconds > 0 else None
