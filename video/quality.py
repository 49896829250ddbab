"""Cheap checks for frames that carry nothing worth matching."""

from __future__ import annotations

import cv2
import numpy as np

_PROBE_WIDTH = 320  # judge on a small copy: cost stays constant whatever the resolution


def frame_defect(rgb: np.ndarray, min_brightness: float, min_sharpness: float) -> str | None:
    """'dark' or 'blurry' when the frame should be skipped, else None."""
    height, width = rgb.shape[:2]
    scale = min(1.0, _PROBE_WIDTH / width)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, int(width * scale)), max(1, int(height * scale))),
                          interpolation=cv2.INTER_AREA)
    if float(gray.mean()) < min_brightness:
        return "dark"
    if float(cv2.Laplacian(gray, cv2.CV_64F).var()) < min_sharpness:
        return "blurry"
    return None
