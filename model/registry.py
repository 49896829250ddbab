"""Parse a model spec string and build the matching embedder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from shoptag.errors import UnknownModelSpecError
from shoptag.model.base import Embedder
from shoptag.settings import ModelSettings, default_model_cache

logger = logging.getLogger(__name__)

# effnet-lite0's runtime as its spec names it: ONNX Runtime fp32 unless another is asked for.
EFFNET_RUNTIMES = {"": "onnx-fp32", "onnx-fp32": "onnx-fp32", "onnx-int8": "onnx-int8", "torch": "torch"}


class Backend(Enum):
    EFFNET_LITE0 = "effnet-lite0"
    OPENCLIP = "openclip"
    HF = "hf"


@dataclass(frozen=True)
class ModelSpec:
    backend: Backend
    ref: str  # backend-specific part after the prefix (for effnet-lite0: its runtime)
    text: str  # the spec as written


def parse_spec(spec: str) -> ModelSpec:
    spec = spec.strip()
    prefix, sep, ref = spec.partition(":")
    if prefix == Backend.EFFNET_LITE0.value:
        runtime = EFFNET_RUNTIMES.get(ref)
        if runtime is not None:
            return ModelSpec(Backend.EFFNET_LITE0, runtime, spec)
    if sep and ref:
        for backend in (Backend.OPENCLIP, Backend.HF):
            if prefix == backend.value:
                return ModelSpec(backend, ref, spec)
    raise UnknownModelSpecError(
        f"unknown model spec {spec!r}: use effnet-lite0[:onnx-int8|:torch], openclip:<arch>:<pretrained>, "
        f"openclip:local-dir:<folder> or hf:<model id or folder>"
    )


def create_embedder(settings: ModelSettings) -> Embedder:
    spec = parse_spec(settings.spec)
    cache_dir = str(settings.cache_dir) if settings.cache_dir else None
    logger.info("loading model %s", spec.text)
    match spec.backend:
        case Backend.EFFNET_LITE0:
            from shoptag.model.effnet import EffNetLite0Embedder
            from shoptag.model.effnet_runtimes import TORCH, OnnxBackbone, TorchBackbone

            backbone = (TorchBackbone() if spec.ref == TORCH
                        else OnnxBackbone(spec.ref, settings.cache_dir or default_model_cache(), settings.threads))
            return EffNetLite0Embedder(backbone, batch_size=settings.batch_size)
        case Backend.OPENCLIP:
            from shoptag.model.openclip import OpenClipEmbedder

            return OpenClipEmbedder(
                spec.text,
                spec.ref,
                batch_size=settings.batch_size,
                allow_download=settings.allow_download,
                cache_dir=cache_dir,
            )
        case Backend.HF:
            from shoptag.model.hf_clip import HFClipEmbedder

            return HFClipEmbedder(
                spec.text,
                spec.ref,
                batch_size=settings.batch_size,
                allow_download=settings.allow_download,
                cache_dir=cache_dir,
            )
    raise UnknownModelSpecError(f"no factory for backend {spec.backend}")  # pragma: no cover
