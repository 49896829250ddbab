"""Which sampled frames get full discovery (keyframes): every n-th, and any whose picture
changed from the last keyframe's (a cut, a fast pan), where the products of the last keyframe
say little about this one. The scanner also makes a frame a keyframe where a product it was
following is lost."""

from __future__ import annotations

import cv2
import numpy as np

# The picture is compared on a thumbnail this size (16:9): enough for a cut or a pan, not for
# sensor noise.
_THUMBNAIL = (32, 18)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), _THUMBNAIL, interpolation=cv2.INTER_AREA).astype(
        np.float32)


class KeyframeSchedule:
    def __init__(self, interval: int, change: float) -> None:
        """``interval``: a keyframe at least every this many frames; ``change``: the mean grey-level
        difference from the last keyframe that makes one sooner."""
        self._interval = interval
        self._change = change
        self._since = 0  # frames since the last keyframe
        self._last: np.ndarray | None = None  # the last keyframe's thumbnail

    def due(self, rgb: np.ndarray) -> bool:
        """Is the next frame, ``rgb``, a keyframe by count or by change?"""
        self._since += 1
        if self._last is None or self._since >= self._interval:
            return True
        return self._change < 255 and float(np.abs(thumbnail(rgb) - self._last).mean()) >= self._change

    def taken(self, rgb: np.ndarray) -> None:
        """``rgb`` was made a keyframe (by ``due``, or by the scanner)."""
        self._since = 0
        if self._interval > 1:  # with 1, every frame is a keyframe by count: nothing to compare
            self._last = thumbnail(rgb)
