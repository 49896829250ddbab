"""Local features of catalog images, computed once when an image is indexed and stored with
the version, so tagging can verify a candidate product without recomputing them: SIFT
keypoints and descriptors (geometric verification), and, for a textureless image, where SIFT
finds too few points to judge, a small copy of the image (photometric verification,
``tagging.photometric``).

Stored as one ``features.npz``: all points and descriptors concatenated, with per-image
offsets (row i of ``offsets`` .. row i+1 belongs to image id i), and likewise the templates'
pixels with their shapes. SIFT descriptors are small integers, so they are kept as uint8. A
version written before templates existed has none (``template`` None: unknown); a textured
image's template is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from shoptag.boxes import Box
from shoptag.pixels import rescaled

FEATURES_NAME = "features.npz"
# (max side, max features) per scale. The full scale is large enough for the detail that
# survives in a video frame, small enough to keep tagging cheap. The coarse scales add the
# points a product shown small still has: at a tenth of its photo's size, most of the fine
# points are gone from the frame, and at 512 px the 800 strongest points are nearly all fine.
# Measured on the catalog-scale benchmark with the true product as the only candidate, 12
# inliers were reached in 14% of small (< 15% of frame width), 46% of medium and 75% of large
# appearances with the full scale alone, and in 31%, 64% and 88% with the three.
CATALOG_SCALES = ((512, 800), (256, 300), (128, 150))
# A catalog photo with fewer SIFT points than this is "textureless": geometry cannot vouch for
# it either way, so it is judged by photometric alignment and its embedding instead.
TEXTURED_MIN_POINTS = 150
# Long side of a textureless image's template: enough for the layout of a print or a logo,
# small enough that a million of them fit in a few GB.
TEMPLATE_SIDE = 64
_NO_TEMPLATE = np.zeros((0, 0, 3), np.uint8)


@dataclass(frozen=True)
class LocalFeatures:
    points: np.ndarray  # (n, 2) float32, in the pixels of the image as given
    descriptors: np.ndarray  # (n, 128) uint8
    size: tuple[int, int]  # (width, height) of the image the points refer to
    # RGB uint8 at TEMPLATE_SIDE for a textureless image, empty for a textured one, None when
    # the version predates templates.
    template: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return len(self.points) < 4

    @property
    def textured(self) -> bool:
        return len(self.points) >= TEXTURED_MIN_POINTS


def catalog_features(rgb: np.ndarray) -> LocalFeatures:
    """A catalog image's points at each of ``CATALOG_SCALES``, in the image's own pixels, and
    its template when it is textureless."""
    scales = [detect(rgb, side, count) for side, count in CATALOG_SCALES]
    points = np.concatenate([f.points for f in scales])
    template = _NO_TEMPLATE if len(points) >= TEXTURED_MIN_POINTS else _template(rgb)
    return LocalFeatures(points, np.concatenate([f.descriptors for f in scales]), scales[0].size, template)


def _template(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rescaled(rgb, min(1.0, TEMPLATE_SIDE / max(rgb.shape[:2]))))


def detect(rgb: np.ndarray, max_side: int, max_features: int, upscale_to: int = 0,
           region: Box | None = None) -> LocalFeatures:
    """SIFT on a grey copy scaled to at most ``max_side`` (and, with ``upscale_to``, at least
    to that long side, up to 2×); points are mapped back to ``rgb``. With ``region``, only that
    box of ``rgb`` is searched, at the scale the whole image would have: its points are the ones
    a search of the whole image finds there, less those within a few pixels of its edges."""
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if upscale_to:
        scale = max(scale, min(2.0, upscale_to / max(height, width)))
    x, y, w, h = region if region is not None else (0, 0, width, height)
    grey = rescaled(cv2.cvtColor(rgb[y:y + h, x:x + w], cv2.COLOR_RGB2GRAY), scale)
    keypoints, descriptors = cv2.SIFT_create(nfeatures=max_features).detectAndCompute(grey, None)
    if descriptors is None or not keypoints:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), (width, height))
    points = np.array([k.pt for k in keypoints], dtype=np.float32) / scale + np.float32([x, y])
    return LocalFeatures(points, np.clip(descriptors, 0, 255).astype(np.uint8), (width, height))


def save_features(path: Path, features: list[LocalFeatures]) -> None:
    """Templates are saved only when every image has its own (a textured one: empty)."""
    offsets = np.cumsum([0] + [len(f.points) for f in features]).astype(np.int64)
    arrays = {
        "points": np.concatenate([f.points for f in features]) if features else np.zeros((0, 2), np.float32),
        "descriptors": np.concatenate([f.descriptors for f in features]) if features else np.zeros((0, 128), np.uint8),
        "offsets": offsets,
        "sizes": np.array([f.size for f in features], dtype=np.int64).reshape(-1, 2),
    }
    if all(f.template is not None for f in features):
        arrays["template_shapes"] = np.array([f.template.shape[:2] for f in features], dtype=np.int64).reshape(-1, 2)
        arrays["templates"] = (np.concatenate([f.template.reshape(-1) for f in features]) if features
                               else np.zeros(0, np.uint8))
    np.savez(path, **arrays)


def load_features(source: Path | BinaryIO) -> list[LocalFeatures]:
    """The features ``save_features`` wrote, from its file's path or an open handle."""
    with np.load(source, allow_pickle=False) as data:
        points, descriptors, offsets, sizes = data["points"], data["descriptors"], data["offsets"], data["sizes"]
        templates = _split_templates(data["templates"], data["template_shapes"]) if "templates" in data else None
    templates = templates if templates is not None else [None] * len(sizes)
    return [LocalFeatures(points[a:b], descriptors[a:b], (int(w), int(h)), template)
            for a, b, (w, h), template in zip(offsets[:-1], offsets[1:], sizes, templates, strict=True)]


def _split_templates(pixels: np.ndarray, shapes: np.ndarray) -> list[np.ndarray]:
    if shapes.ndim != 2 or shapes.shape[1] != 2 or (shapes < 0).any() or (shapes > TEMPLATE_SIDE).any():
        raise ValueError(f"template shapes {shapes.shape} are not (n, 2) sizes up to {TEMPLATE_SIDE} px")
    ends = np.cumsum(shapes[:, 0] * shapes[:, 1] * 3)
    if pixels.dtype != np.uint8 or pixels.ndim != 1 or (ends[-1] if len(ends) else 0) != len(pixels):
        raise ValueError(f"template pixels ({pixels.shape} {pixels.dtype}) do not match their shapes")
    starts = ends - shapes[:, 0] * shapes[:, 1] * 3
    return [pixels[a:b].reshape(h, w, 3) for a, b, (h, w) in zip(starts, ends, shapes, strict=True)]
