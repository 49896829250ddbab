"""The one box type every layer shares (video regions, model pooling, tags), kept out of any
one layer so that none has to import another for it."""

from __future__ import annotations

Box = tuple[int, int, int, int]  # x, y, w, h in image pixels


def iou(a: Box | None, b: Box | None) -> float:
    """Intersection over union of two boxes (0 when either is missing)."""
    if a is None or b is None:
        return 0.0
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    overlap_w = min(ax + aw, bx + bw) - max(ax, bx)
    overlap_h = min(ay + ah, by + bh) - max(ay, by)
    if overlap_w <= 0 or overlap_h <= 0:
        return 0.0
    overlap = overlap_w * overlap_h
    return overlap / (aw * ah + bw * bh - overlap)
