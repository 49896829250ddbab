"""Accuracy metrics, as pure functions over truth and predictions.

Conventions (pinned by tests): with no predictions, precision is 1 (nothing wrong was
claimed); with no truth, recall is 1 (nothing was missed); F1 is 0 when precision + recall is
0. Segments match one to one, same product only, best temporal IoU first, predictions taken
in order of score, so a duplicate or a second piece of a split segment is a false positive.
Average precision over segments is in ``detection``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Interval:
    product_id: str
    start_s: float
    end_s: float
    score: float = 1.0
    box: Box | None = None  # a predicted segment's box, at box_time_s
    box_time_s: float | None = None
    track: tuple[tuple[float, int, int, int, int], ...] = ()  # a predicted segment's box at each frame seen


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


def box_iou(a: Box, b: Box) -> float:
    overlap_w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    overlap_h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    overlap = max(0, overlap_w) * max(0, overlap_h)
    union = a[2] * a[3] + b[2] * b[3] - overlap
    return overlap / union if union > 0 else 0.0


def pair_segments(truth: Sequence[Interval], predicted: Sequence[Interval], min_iou: float) -> list[tuple[int, int]]:
    """One-to-one matching of predicted segments to truth appearances at temporal IoU >=
    min_iou: (truth index, prediction index) of each match."""
    free = list(range(len(truth)))
    pairs = []
    for p in sorted(range(len(predicted)), key=lambda i: -predicted[i].score):
        candidates = [(temporal_iou(predicted[p], truth[t]), t) for t in free
                      if truth[t].product_id == predicted[p].product_id]
        if candidates:
            overlap, t = max(candidates)
            if overlap >= min_iou:
                free.remove(t)
                pairs.append((t, p))
    return pairs


def match_segments(truth: Sequence[Interval], predicted: Sequence[Interval], min_iou: float) -> Counts:
    tp = len(pair_segments(truth, predicted, min_iou))
    return Counts(tp, len(predicted) - tp, len(truth) - tp)


def video_level(truth: Iterable[str], predicted: Iterable[str]) -> Counts:
    """Was each right product suggested at all for the video?"""
    truth, predicted = set(truth), set(predicted)
    return Counts(len(truth & predicted), len(predicted - truth), len(truth - predicted))


@dataclass(frozen=True)
class Retrieval:
    queries: int
    recall_at: dict[int, float]
    mrr: float

    def as_json(self) -> dict:
        return {"queries": self.queries, **{f"recall@{k}": round(v, 4) for k, v in self.recall_at.items()},
                "MRR": round(self.mrr, 4)}


def retrieval(ranks: Sequence[int | None], ks: Sequence[int] = (1, 5, 10)) -> Retrieval:
    """Retrieval from the rank (1-based, None if not retrieved) of the right product for each
    query: Recall@k and the mean reciprocal rank (one relevant item per query)."""
    if not ranks:
        return Retrieval(0, {k: 0.0 for k in ks}, 0.0)
    recall_at = {k: sum(1 for r in ranks if r is not None and r <= k) / len(ranks) for k in ks}
    mrr = sum(1.0 / r for r in ranks if r is not None) / len(ranks)
    return Retrieval(len(ranks), recall_at, mrr)


def ranked_ap(scored: Sequence[tuple[float, bool]], relevant: int) -> float:
    """Non-interpolated average precision of one query over a ranked list: the mean, over the
    ``relevant`` items, of the precision at each one's rank (0 for those never ranked).
    ``scored`` holds (score, is relevant) for the items that were ranked."""
    if relevant <= 0:
        return 0.0
    hits, total = 0, 0.0
    for rank, (_, is_relevant) in enumerate(sorted(scored, key=lambda s: -s[0]), start=1):
        if is_relevant:
            hits += 1
            total += hits / rank
    return total / relevant


def false_tags_per_minute(segments_on_free_videos: int, free_seconds: float) -> float | None:
    """Predicted segments per minute of product-free video (None without such videos)."""
    return segments_on_free_videos / (free_seconds / 60) if free_seconds > 0 else None
