"""One tag per physical product: near-identical catalog products (colourways, the same photo
cropped twice) hit at the same place in the same frames are one object seen as several
products. The best-supported one keeps the tag; the others become its ``alternatives``.
Different products that happen to overlap on screen (one held in front of another) stay
apart: only products whose catalog images look alike are merged."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from shoptag.boxes import iou
from shoptag.tagging.segments import Hit

# Boxes this much overlapping (IoU) are the same place.
SAME_PLACE_IOU = 0.5
# Products at the same place in at least this share of the frames of the one seen less.
SAME_OBJECT_SHARE = 0.5


def merge_colocated(hits: dict[int, list[Hit]], step_s: float, alike: Callable[[int, int], bool],
                    ) -> tuple[dict[int, list[Hit]], dict[int, list[int]]]:
    """Group products that are ``alike`` and whose hits share a place, in the same or the next
    sampled frame (``step_s`` apart), as often as half the hits of the one seen less:
    near-identical products often take turns being recognised. Each group's product with the
    largest summed score keeps, per frame, the group's best hit. Returns the merged hits and,
    per kept product, the others of its group, best-supported first."""
    frames = sorted({hit.time_s for product_hits in hits.values() for hit in product_hits})
    by_time: dict[float, list[tuple[int, Hit]]] = defaultdict(list)
    for product, product_hits in hits.items():
        for hit in product_hits:
            by_time[hit.time_s].append((product, hit))
    together: Counter[tuple[int, int]] = Counter()
    for number, time_s in enumerate(frames):
        previous = frames[number - 1] if number and time_s - frames[number - 1] <= step_s * 1.5 else None
        frame_hits = by_time[time_s]
        nearby = frame_hits + (by_time[previous] if previous is not None else [])
        for i, (a, hit_a) in enumerate(frame_hits):
            for b, hit_b in nearby[i + 1:]:
                if a != b and iou(hit_a.box, hit_b.box) >= SAME_PLACE_IOU:
                    together[min(a, b), max(a, b)] += 1
    group = {product: product for product in hits}

    def root(product: int) -> int:
        while group[product] != product:
            product = group[product]
        return product

    for (a, b), frames in together.items():
        if frames >= SAME_OBJECT_SHARE * min(len(hits[a]), len(hits[b])) and alike(a, b):
            group[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for product in hits:
        members[root(product)].append(product)
    merged, alternatives = {}, {}
    for group_members in members.values():
        ranked = sorted(group_members, key=lambda p: -sum(h.score for h in hits[p]))
        best_per_frame: dict[float, Hit] = {}
        for product in ranked:
            for hit in hits[product]:
                if hit.time_s not in best_per_frame or hit.score > best_per_frame[hit.time_s].score:
                    best_per_frame[hit.time_s] = hit
        merged[ranked[0]] = sorted(best_per_frame.values(), key=lambda h: h.time_s)
        alternatives[ranked[0]] = ranked[1:]
    return merged, alternatives
