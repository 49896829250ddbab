"""transformers backend: ``hf:<model id or local folder>`` for CLIPModel and compatible
models (anything with ``get_image_features``), e.g. fashion- or e-commerce-tuned CLIPs.

Hub ids resolve through the Hugging Face cache; with downloads off only cached files are used.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from shoptag.errors import ModelWeightsUnavailableError
from shoptag.model.base import batched, check_images, l2_normalize, no_text_support, weights_digest

logger = logging.getLogger(__name__)


def _features(output: object) -> torch.Tensor:
    # transformers 5 returns a model output object from get_*_features; older ones a tensor.
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    return pooled if pooled is not None else output[0]


def _real_tokenizer(auto_tokenizer, model_ref: str, options: dict):
    try:
        tokenizer = auto_tokenizer.from_pretrained(model_ref, **options)
    except (OSError, ValueError):
        return None
    # Without vocabulary files transformers may still build an empty tokenizer that maps
    # every word to the unknown token; text embedded with it would be meaningless.
    ids = tokenizer("shirt", add_special_tokens=False)["input_ids"]
    if not ids or all(i == tokenizer.unk_token_id for i in ids):
        return None
    return tokenizer


class HFClipEmbedder:
    default_threshold = None  # not measured here: no CLIP weights offline

    def __init__(
        self,
        spec: str,
        model_ref: str,
        *,
        batch_size: int = 32,
        allow_download: bool = True,
        cache_dir: str | None = None,
    ) -> None:
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        self.spec = spec
        self._batch_size = batch_size
        options = {"local_files_only": not allow_download, "cache_dir": cache_dir}
        try:
            self._model = AutoModel.from_pretrained(model_ref, **options).eval()
            self._processor = AutoImageProcessor.from_pretrained(model_ref, **options)
        except (OSError, ValueError) as exc:
            raise ModelWeightsUnavailableError(
                f"could not load hf:{model_ref} ({type(exc).__name__}): download it once with "
                f"network into the Hugging Face cache, or pass a local folder as hf:/path/to/model"
            ) from exc
        if not hasattr(self._model, "get_image_features"):
            raise ModelWeightsUnavailableError(
                f"hf:{model_ref} is a {type(self._model).__name__}, which has no image features"
            )
        self._tokenizer = _real_tokenizer(AutoTokenizer, model_ref, options)
        if self._tokenizer is None:
            logger.info("hf:%s has no usable tokenizer; text embedding disabled", model_ref)
        self.supports_text = self._tokenizer is not None and hasattr(self._model, "get_text_features")
        self.identity = f"{spec}@{weights_digest(self._model.state_dict().items())}"
        self.dim = int(self.embed_images([np.zeros((8, 8, 3), dtype=np.uint8)]).shape[1])

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        check_images(images)
        outputs = []
        with torch.inference_mode():
            for batch in batched(list(images), self._batch_size):
                pixels = self._processor(images=list(batch), return_tensors="pt")["pixel_values"]
                outputs.append(_features(self._model.get_image_features(pixel_values=pixels)).float().numpy())
        if not outputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.concatenate(outputs))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not self.supports_text:
            raise no_text_support(self.spec)
        outputs = []
        with torch.inference_mode():
            for batch in batched(list(texts), self._batch_size):
                tokens = self._tokenizer(list(batch), padding=True, truncation=True, return_tensors="pt")
                outputs.append(_features(self._model.get_text_features(**tokens)).float().numpy())
        if not outputs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.concatenate(outputs))
