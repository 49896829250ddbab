"""Temporal detection average precision, as ActivityNet computes it.

The algorithm is that of ActivityNet's ``compute_average_precision_detection``: per product,
predictions are taken by descending score; each is a true positive at a temporal IoU
threshold when the unmatched truth of the same video that it overlaps most (among those at or
above the threshold) is still free, else a false positive; AP is the area under the
interpolated precision-recall curve (precision made monotone from the right, summed where
recall changes); mAP averages AP over the products that have truth.

Matching never crosses videos, so a prediction's true/false flags depend on its own video
only: a bootstrap resample of videos reweights the flags instead of matching again.

Ties: predictions of equal score are taken in video order, and truths of equal overlap in
their order. ActivityNet's order there is whatever numpy's (unstable) argsort gives, reversed;
ShopTag's scores rarely tie.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shoptag.evaluation.metrics import Interval, temporal_iou

AP_TIOUS = (0.3, 0.5, 0.7)
# ActivityNet's own thresholds, np.linspace(0.5, 0.95, 10): 0.9 is 0.8999999999999999 there.
MAP_TIOUS = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
TIOUS = tuple(sorted(set(AP_TIOUS) | set(MAP_TIOUS)))


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """ActivityNet's ``interpolated_prec_rec`` along axis 0 (one column per threshold)."""
    columns = precision.shape[1:]
    mprec = np.concatenate([np.zeros((1, *columns)), precision, np.zeros((1, *columns))])
    mrec = np.concatenate([np.zeros((1, *columns)), recall, np.ones((1, *columns))])
    mprec = np.maximum.accumulate(mprec[::-1], axis=0)[::-1]
    steps = mrec[1:] - mrec[:-1]  # zero where recall does not change
    return np.sum(steps * mprec[1:], axis=0)


def _flags(truth: Sequence[Interval], predicted: Sequence[Interval], tious: Sequence[float]) -> np.ndarray:
    """(len(predicted), len(tious)) true-positive flags for one product in one video, the
    predictions already in descending score order."""
    flags = np.zeros((len(predicted), len(tious)), dtype=bool)
    if not truth:
        return flags
    for column, threshold in enumerate(tious):
        locked = [False] * len(truth)
        for row, prediction in enumerate(predicted):
            overlaps = sorted(((temporal_iou(prediction, t), i) for i, t in enumerate(truth)), key=lambda o: -o[0])
            for overlap, i in overlaps:
                if overlap < threshold:
                    break
                if not locked[i]:
                    locked[i] = flags[row, column] = True
                    break
    return flags


@dataclass
class _ProductRuns:
    videos: np.ndarray  # the video of each prediction, by descending score over all videos
    flags: np.ndarray  # (predictions, tious)
    truth_per_video: np.ndarray  # (videos,) truth appearances of this product in each video


class DetectionMatches:
    """Every prediction's true/false positive flag at each tIoU, and the truth count per video."""

    def __init__(self, videos: Sequence[tuple[Sequence[Interval], Sequence[Interval]]],
                 tious: Sequence[float] = TIOUS) -> None:
        self.tious = tuple(tious)
        self.video_count = len(videos)
        rows: dict[str, list[tuple[float, int, np.ndarray]]] = defaultdict(list)
        truth_counts: dict[str, np.ndarray] = {}
        for number, (truth, predicted) in enumerate(videos):
            for product in {t.product_id for t in truth} | {p.product_id for p in predicted}:
                mine = [t for t in truth if t.product_id == product]
                ranked = sorted((p for p in predicted if p.product_id == product), key=lambda p: -p.score)
                for prediction, flags in zip(ranked, _flags(mine, ranked, self.tious), strict=True):
                    rows[product].append((prediction.score, number, flags))
                if mine:
                    truth_counts.setdefault(product, np.zeros(len(videos)))[number] = len(mine)
        self._products: dict[str, _ProductRuns] = {}
        for product in rows.keys() | truth_counts.keys():
            ordered = sorted(rows.get(product, []), key=lambda r: -r[0])  # stable: ties in video order
            self._products[product] = _ProductRuns(
                np.array([r[1] for r in ordered], dtype=int),
                np.array([r[2] for r in ordered], dtype=bool).reshape(len(ordered), len(self.tious)),
                truth_counts.get(product, np.zeros(len(videos))))

    def per_product(self, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """AP at each tIoU of every product with truth among the (weighted) videos; a weight is
        how many times a bootstrap resample drew the video."""
        weights = np.ones(self.video_count) if weights is None else np.asarray(weights, dtype=float)
        aps = {}
        for product, runs in self._products.items():
            positives = float(runs.truth_per_video @ weights)
            if positives <= 0:
                continue  # ActivityNet scores the products of the ground truth only
            drawn = weights[runs.videos]
            keep = drawn > 0
            if not keep.any():
                aps[product] = np.zeros(len(self.tious))
                continue
            w = drawn[keep][:, None]
            tp = np.cumsum(runs.flags[keep] * w, axis=0)
            fp = np.cumsum(~runs.flags[keep] * w, axis=0)
            aps[product] = interpolated_ap(tp / (tp + fp), tp / positives)
        return aps

    def mean_ap(self, weights: np.ndarray | None = None) -> np.ndarray:
        """mAP at each tIoU; NaN where no product has truth (a resample of product-free videos
        only has no AP, and the bootstrap leaves it out)."""
        aps = self.per_product(weights)
        return np.mean(list(aps.values()), axis=0) if aps else np.full(len(self.tious), np.nan)

    def column(self, tiou: float) -> int:
        return self.tious.index(tiou)

    def summary(self, weights: np.ndarray | None = None) -> dict[str, float]:
        """AP@0.3/0.5/0.7 and mAP@0.5:0.95, each averaged over products."""
        return headline(self.mean_ap(weights), self)


def headline(per_tiou: np.ndarray, matches: DetectionMatches) -> dict[str, float]:
    row = {f"AP@tIoU{t}": float(per_tiou[matches.column(t)]) for t in AP_TIOUS}
    row["mAP@tIoU0.5:0.95"] = float(np.mean([per_tiou[matches.column(t)] for t in MAP_TIOUS]))
    return row
