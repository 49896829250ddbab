"""Geometric verification: does a candidate product really appear in the frame?

Local features of the product photo (stored in the index) are matched to the frame's (ratio
test), and a homography is fitted with RANSAC. Many inliers under a plausible homography mean
the same textured, planar surface is there; a look-alike of similar colour and shape gets few.
The homography also gives the product's box in the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import faiss
import numpy as np

from shoptag.boxes import Box
from shoptag.indexing.local_features import LocalFeatures, detect

_RATIO = 0.75
_REPROJECTION_PX = 5.0
_MIN_MATCHES = 8
# The default verification resolution (``TaggingSettings.verify_side``, which says why).
FRAME_SIDE = 960
FRAME_MAX_FEATURES = 3000


@dataclass(frozen=True)
class Verification:
    inliers: int  # 0 when no plausible homography was found
    box: Box | None
    # Where the inliers lie in the frame (whole pixels): what this evidence rests on, comparable
    # between checks of one frame whichever of its regions each searched.
    keypoints: frozenset[tuple[int, int]] = frozenset()


def frame_features(rgb: np.ndarray, region: Box | None = None, side: int = FRAME_SIDE) -> LocalFeatures:
    """The frame's points with its long side at ``side`` (the verification resolution): all of
    them, or those in ``region``."""
    return detect(rgb, side, FRAME_MAX_FEATURES, upscale_to=side, region=region)


class FrameMatcher:
    """One frame's points, ready to be matched with catalog images: the nearest two frame
    descriptors of each catalog descriptor, by an exact search (FAISS's BLAS path, several times
    faster than OpenCV's brute-force matcher for a frame's thousands of points)."""

    def __init__(self, features: LocalFeatures) -> None:
        self.features = features
        self._index = faiss.IndexFlatL2(features.descriptors.shape[1])
        if len(features.descriptors) >= 2:
            self._index.add(np.ascontiguousarray(features.descriptors, dtype=np.float32))

    def good_matches(self, descriptors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(catalog rows, frame rows) of the matches that pass Lowe's ratio test."""
        if self._index.ntotal < 2 or not len(descriptors):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        distances, nearest = self._index.search(np.ascontiguousarray(descriptors, dtype=np.float32), 2)
        # Squared distances: d1 < r * d2 is d1² < r² * d2².
        good = np.flatnonzero(distances[:, 0] < _RATIO * _RATIO * distances[:, 1])
        return good, nearest[good, 0]


class GeometricVerifier:
    def __init__(self, catalog: Sequence[LocalFeatures]) -> None:
        self._catalog = catalog

    def textured(self, image_ids: Sequence[int]) -> bool:
        return any(self._catalog[i].textured for i in image_ids)

    def verify(self, frame: FrameMatcher, image_ids: Sequence[int]) -> Verification:
        """The best verification of any of a product's images in the frame."""
        best = Verification(0, None)
        if frame.features.empty:
            return best
        for image_id in image_ids:
            found = self._verify_image(frame, self._catalog[image_id])
            if found.inliers > best.inliers:
                best = found
        return best

    def _verify_image(self, frame: FrameMatcher, product: LocalFeatures) -> Verification:
        if product.empty:
            return Verification(0, None)
        rows, frame_rows = frame.good_matches(product.descriptors)
        if len(rows) < _MIN_MATCHES:
            return Verification(0, None)
        target = frame.features.points[frame_rows]
        homography, mask = cv2.findHomography(product.points[rows], target, cv2.RANSAC, _REPROJECTION_PX)
        if homography is None or mask is None:
            return Verification(0, None)
        box = plausible_box(homography, product.size, frame.features.size)
        if box is None:
            return Verification(0, None)
        inliers = mask.ravel().astype(bool)
        keypoints = frozenset(map(tuple, np.rint(target[inliers]).astype(int).tolist()))
        return Verification(int(inliers.sum()), box, keypoints)


def plausible_box(homography: np.ndarray, product_size: tuple[int, int],
                   frame_size: tuple[int, int]) -> Box | None:
    """The projected product outline, if it is a shape a real photo of a flat product could
    make: not mirrored, convex, neither vanishing nor much larger than the frame, not
    stretched beyond recognition. Random matches that RANSAC fits by chance rarely are."""
    width, height = product_size
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]]).reshape(-1, 1, 2)
    quad = cv2.perspectiveTransform(corners, homography).reshape(4, 2)
    if not np.all(np.isfinite(quad)) or np.linalg.det(homography[:2, :2]) <= 0:
        return None
    if not cv2.isContourConvex(quad.astype(np.float32)):
        return None
    frame_w, frame_h = frame_size
    area = cv2.contourArea(quad.astype(np.float32))
    if not 0.002 * frame_w * frame_h <= area <= 1.5 * frame_w * frame_h:
        return None
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    if sides.min() <= 0 or sides.max() / sides.min() > 6 * max(width, height) / min(width, height):
        return None
    x0, y0 = np.clip(quad.min(axis=0), 0, [frame_w, frame_h])
    x1, y1 = np.clip(quad.max(axis=0), 0, [frame_w, frame_h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
