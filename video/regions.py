"""Where to look in a frame: the whole frame plus overlapping crops at smaller scales, so a
product that fills only part of the picture still gets a region that it mostly fills."""

from __future__ import annotations

import math

from shoptag.boxes import Box


def multiscale_boxes(width: int, height: int, scales: tuple[float, ...]) -> list[Box]:
    boxes: list[Box] = []
    for scale in scales:
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        # Enough windows per axis to cover the frame; neighbours overlap when 1/scale is fractional.
        count = max(1, math.ceil(1 / scale - 1e-9))
        for row in range(count):
            for col in range(count):
                x = round((width - w) * col / (count - 1)) if count > 1 else 0
                y = round((height - h) * row / (count - 1)) if count > 1 else 0
                boxes.append((x, y, w, h))
    return list(dict.fromkeys(boxes))
