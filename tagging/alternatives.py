"""One tag per physical product: near-identical catalog products (colourways, the same photo
cropped twice) hit at the same place in the same frames are one object seen as several
products. The best-supported one keeps the tag; the others become its ``alternatives``.
Different products that happen to overlap on screen (one held in front of another) stay
apart: only products whose catalog images look alike are merged, or products whose photos
were both matched onto the same pixels of one frame (two flags that share a Union Jack, two
crops of one print): the same frame points as inliers of both, or, for aligned products,
the same outline. What hides one product cannot show the other."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from shoptag.boxes import iou
from shoptag.tagging.results import EMBEDDING
from shoptag.tagging.time_segments import Hit

# Boxes this much overlapping (IoU) are the same place.
SAME_PLACE_IOU = 0.5
# Products at the same place in at least this share of the frames of the one seen less.
SAME_OBJECT_SHARE = 0.5
# Two geometric hits rest on the same pixels when this share of the smaller one's inliers are
# inliers of the other too.
SHARED_INLIERS = 0.5


def merge_colocated(hits: dict[int, list[Hit]], step_s: float, alike: Callable[[int, int], bool],
                    ) -> tuple[dict[int, list[Hit]], dict[int, list[int]]]:
    """Group products that are ``alike`` and whose hits share a place, in the same or the next
    sampled frame (``step_s`` apart), as often as half the hits of the one seen less:
    near-identical products often take turns being recognised. Products whose photos were
    matched onto the same pixels in the same frames that often are grouped whether alike or
    not. A group's best-supported product, the one with the group's best hit in most frames
    (then the largest summed score), keeps the group's best hit per frame. Returns the merged
    hits and, per kept product, the others of its group, best-supported first."""
    frames = sorted({hit.time_s for product_hits in hits.values() for hit in product_hits})
    by_time: dict[float, list[tuple[int, Hit]]] = defaultdict(list)
    for product, product_hits in hits.items():
        for hit in product_hits:
            by_time[hit.time_s].append((product, hit))
    together: Counter[tuple[int, int]] = Counter()
    matched_together: Counter[tuple[int, int]] = Counter()
    for number, time_s in enumerate(frames):
        previous = frames[number - 1] if number and time_s - frames[number - 1] <= step_s * 1.5 else None
        frame_hits = by_time[time_s]
        nearby = frame_hits + (by_time[previous] if previous is not None else [])
        for i, (a, hit_a) in enumerate(frame_hits):
            for j, (b, hit_b) in enumerate(nearby[i + 1:], start=i + 1):
                if a == b:
                    continue
                same_place = iou(hit_a.box, hit_b.box) >= SAME_PLACE_IOU
                if same_place:
                    together[min(a, b), max(a, b)] += 1
                if j < len(frame_hits) and _same_pixels(hit_a, hit_b, same_place):
                    matched_together[min(a, b), max(a, b)] += 1
    group = {product: product for product in hits}

    def root(product: int) -> int:
        while group[product] != product:
            product = group[product]
        return product

    for a, b in sorted(together.keys() | matched_together.keys()):
        needed = SAME_OBJECT_SHARE * min(len(hits[a]), len(hits[b]))
        if matched_together[a, b] >= needed or (together[a, b] >= needed and alike(a, b)):
            group[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for product in hits:
        members[root(product)].append(product)
    merged, alternatives = {}, {}
    for group_members in members.values():
        best_per_frame: dict[float, tuple[Hit, int]] = {}
        for product in sorted(group_members):
            for hit in hits[product]:
                if hit.time_s not in best_per_frame or hit.score > best_per_frame[hit.time_s][0].score:
                    best_per_frame[hit.time_s] = (hit, product)
        wins = Counter(product for _, product in best_per_frame.values())
        ranked = sorted(group_members, key=lambda p: (-wins[p], -sum(h.score for h in hits[p]), p))
        merged[ranked[0]] = [hit for _, (hit, _) in sorted(best_per_frame.items())]
        alternatives[ranked[0]] = ranked[1:]
    return merged, alternatives


def _same_pixels(a: Hit, b: Hit, same_place: bool) -> bool:
    """Do two hits of one frame rest on the same pixels: shared inliers for geometric hits,
    the same place for aligned ones?"""
    if EMBEDDING in (a.evidence, b.evidence):
        return False
    if a.keypoints and b.keypoints:
        return len(a.keypoints & b.keypoints) >= SHARED_INLIERS * min(len(a.keypoints), len(b.keypoints))
    return same_place
