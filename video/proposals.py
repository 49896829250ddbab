"""Object proposals: boxes around the parts of a frame that look like one object.

The fixed grid of ``regions`` serves products that fill much of a region; a small or plain
product inside a grid box is a minor part of it and its look drowns in the background's. A
proposal is drawn around the object itself: selective search (Uijlings et al. 2013, OpenCV's
``ximgproc``) segments the frame into regions of uniform colour and texture and merges
neighbours hierarchically, each merge giving a box. Run on a 320 px wide copy with a single
strategy it takes ~30 ms a frame on 2 cores and gives 70-220 boxes of a plausible size, which
overlap 96% of the benchmark's products at IoU >= 0.5 (80% at 0.7), flat and textured alike.
"""

from __future__ import annotations

import cv2
import numpy as np

from shoptag.boxes import Box
from shoptag.pixels import rescaled

PROPOSAL_WIDTH = 320
# Graph-segmentation scale of the single strategy: larger merges more, giving fewer and larger
# first regions (k=100 and 300 covered fewer products at IoU >= 0.7 among the first 300).
_SEGMENTATION_K = 200
# Smaller than this share of the frame's width or height, a box holds too few pixels to judge.
MIN_SIDE_SHARE = 0.03
# Boxes larger than this share of the frame's area are the grid's job.
MAX_AREA_SHARE = 0.6


def object_proposals(rgb: np.ndarray, max_count: int) -> list[Box]:
    """Up to ``max_count`` distinct boxes in the frame's pixels, smallest first. OpenCV ranks
    its boxes with a random number, so they are put in an order of their own; where there are
    more than ``max_count``, every size keeps its share."""
    height, width = rgb.shape[:2]
    scale = min(1.0, PROPOSAL_WIDTH / width)
    small = rescaled(rgb, scale)
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(np.ascontiguousarray(small))
    search.switchToSingleStrategy(_SEGMENTATION_K)
    min_w, min_h = MIN_SIDE_SHARE * width, MIN_SIDE_SHARE * height
    boxes = set()
    for x, y, w, h in search.process():
        box = (int(x / scale), int(y / scale), max(1, round(w / scale)), max(1, round(h / scale)))
        if box[2] >= min_w and box[3] >= min_h and box[2] * box[3] <= MAX_AREA_SHARE * width * height:
            boxes.add(box)
    ordered = sorted(boxes, key=lambda b: (b[2] * b[3], b))
    if len(ordered) > max_count:
        ordered = [ordered[i] for i in np.linspace(0, len(ordered) - 1, max_count).round().astype(int)]
    return ordered
