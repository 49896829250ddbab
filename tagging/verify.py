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
import numpy as np

from shoptag.boxes import Box
from shoptag.indexing.local_features import LocalFeatures, detect

_RATIO = 0.75
_REPROJECTION_PX = 5.0
_MIN_MATCHES = 8
# Frames are searched at a long side of 960 px, smaller ones upscaled (up to 2×): a product
# shown at a given share of the frame then has the same pixels to be found by, whatever the
# video's resolution. With the true product as the only candidate, textured products under 15%
# of the frame's width reached 12 inliers in 58% of 640 px frames at their own size, and in 92%
# upscaled to 960 (medium and large ones: 97-100% either way), for 76 -> 133 ms of SIFT a frame.
FRAME_SIDE = 960
FRAME_MAX_FEATURES = 3000


@dataclass(frozen=True)
class Verification:
    inliers: int  # 0 when no plausible homography was found
    box: Box | None
    # Which of the frame's points are the inliers: the pixels this evidence rests on.
    keypoints: frozenset[int] = frozenset()


def frame_features(rgb: np.ndarray) -> LocalFeatures:
    return detect(rgb, FRAME_SIDE, FRAME_MAX_FEATURES, upscale_to=FRAME_SIDE)


class GeometricVerifier:
    def __init__(self, catalog: Sequence[LocalFeatures]) -> None:
        self._catalog = catalog
        self._matcher = cv2.BFMatcher(cv2.NORM_L2)

    def textured(self, image_ids: Sequence[int]) -> bool:
        return any(self._catalog[i].textured for i in image_ids)

    def verify(self, frame: LocalFeatures, image_ids: Sequence[int]) -> Verification:
        """The best verification of any of a product's images in the frame."""
        best = Verification(0, None)
        if frame.empty:
            return best
        for image_id in image_ids:
            found = self._verify_image(frame, self._catalog[image_id])
            if found.inliers > best.inliers:
                best = found
        return best

    def _verify_image(self, frame: LocalFeatures, product: LocalFeatures) -> Verification:
        if product.empty:
            return Verification(0, None)
        pairs = self._matcher.knnMatch(product.descriptors.astype(np.float32),
                                       frame.descriptors.astype(np.float32), k=2)
        good = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < _RATIO * n.distance]
        if len(good) < _MIN_MATCHES:
            return Verification(0, None)
        source = product.points[[m.queryIdx for m in good]]
        target = frame.points[[m.trainIdx for m in good]]
        homography, mask = cv2.findHomography(source, target, cv2.RANSAC, _REPROJECTION_PX)
        if homography is None or mask is None:
            return Verification(0, None)
        box = plausible_box(homography, product.size, frame.size)
        if box is None:
            return Verification(0, None)
        inliers = mask.ravel().astype(bool)
        keypoints = frozenset(m.trainIdx for m, kept in zip(good, inliers, strict=True) if kept)
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
