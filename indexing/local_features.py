"""Local features (SIFT keypoints and descriptors) of catalog images, computed once when an
image is indexed and stored with the version, so tagging can verify a candidate product
geometrically without recomputing them.

Stored as one ``features.npz``: all points and descriptors concatenated, with per-image
offsets (row i of ``offsets`` .. row i+1 belongs to image id i). SIFT descriptors are small
integers, so they are kept as uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FEATURES_NAME = "features.npz"
# (max side, max features) per scale. The full scale is large enough for the detail that
# survives in a video frame, small enough to keep tagging cheap. The coarse scales add the
# points a product shown small still has: at a tenth of its photo's size, most of the fine
# points are gone from the frame, and at 512 px the 800 strongest points are nearly all fine.
# Measured on the catalog-scale benchmark with the true product as the only candidate, 12
# inliers were reached in 14% of small (< 15% of frame width), 46% of medium and 75% of large
# appearances with the full scale alone, and in 31%, 64% and 88% with the three.
CATALOG_SCALES = ((512, 800), (256, 300), (128, 150))


@dataclass(frozen=True)
class LocalFeatures:
    points: np.ndarray  # (n, 2) float32, in the pixels of the image as given
    descriptors: np.ndarray  # (n, 128) uint8
    size: tuple[int, int]  # (width, height) of the image the points refer to

    @property
    def empty(self) -> bool:
        return len(self.points) < 4


def catalog_features(rgb: np.ndarray) -> LocalFeatures:
    """A catalog image's points at each of ``CATALOG_SCALES``, in the image's own pixels."""
    scales = [detect(rgb, side, count) for side, count in CATALOG_SCALES]
    return LocalFeatures(np.concatenate([f.points for f in scales]), np.concatenate([f.descriptors for f in scales]),
                         scales[0].size)


def detect(rgb: np.ndarray, max_side: int, max_features: int, upscale_to: int = 0) -> LocalFeatures:
    """SIFT on a grey copy scaled to at most ``max_side`` (and, with ``upscale_to``, at least
    to that long side, up to 2×); points are mapped back to ``rgb``."""
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if upscale_to:
        scale = max(scale, min(2.0, upscale_to / max(height, width)))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    keypoints, descriptors = cv2.SIFT_create(nfeatures=max_features).detectAndCompute(grey, None)
    if descriptors is None or not keypoints:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), (width, height))
    points = np.array([k.pt for k in keypoints], dtype=np.float32) / scale
    return LocalFeatures(points, np.clip(descriptors, 0, 255).astype(np.uint8), (width, height))


def save_features(path: Path, features: list[LocalFeatures]) -> None:
    offsets = np.cumsum([0] + [len(f.points) for f in features]).astype(np.int64)
    np.savez(path,
             points=np.concatenate([f.points for f in features]) if features else np.zeros((0, 2), np.float32),
             descriptors=(np.concatenate([f.descriptors for f in features]) if features
                          else np.zeros((0, 128), np.uint8)),
             offsets=offsets, sizes=np.array([f.size for f in features], dtype=np.int64).reshape(-1, 2))


def load_features(path: Path) -> list[LocalFeatures]:
    with np.load(path) as data:
        points, descriptors, offsets, sizes = data["points"], data["descriptors"], data["offsets"], data["sizes"]
    return [LocalFeatures(points[a:b], descriptors[a:b], (int(w), int(h)))
            for a, b, (w, h) in zip(offsets[:-1], offsets[1:], sizes, strict=True)]
