"""Resizing an image the one way every layer does it (catalog features, templates, object
proposals, alignment), kept out of any one layer like ``boxes``: averaging pixels to shrink,
bilinear to grow."""

from __future__ import annotations

import cv2
import numpy as np


def rescaled(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` scaled by ``scale`` on both axes (each side at least 1 px); itself at 1."""
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
