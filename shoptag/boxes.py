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


def grown(box: Box, margin: float, width: int, height: int) -> Box:
    """``box`` with ``margin`` times its width and height added on each side, within a
    ``width`` × ``height`` image."""
    x, y, w, h = box
    x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    x1, y1 = min(width, int(x + w + margin * w + 1)), min(height, int(y + h + margin * h + 1))
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def contains(outer: Box, inner: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1]
            and inner[0] + inner[2] <= outer[0] + outer[2] and inner[1] + inner[3] <= outer[1] + outer[3])


def enclosing(a: Box, b: Box) -> Box:
    """The smallest box that holds both."""
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    return (x0, y0, max(a[0] + a[2], b[0] + b[2]) - x0, max(a[1] + a[3], b[1] + b[3]) - y0)
