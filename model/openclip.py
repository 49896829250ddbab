"""open_clip backend: ``openclip:<arch>:<pretrained tag or checkpoint file>`` or
``openclip:local-dir:<folder with open_clip_config.json and weights>``.

Pretrained tags resolve through open_clip's normal cache (the Hugging Face cache). A cached
file is used without touching the network; a missing one is downloaded only when downloads
are allowed, otherwise the error says how to provide the weights. The tag's own configuration
in open_clip's registry (mean and std, resize mode and interpolation, QuickGELU) is applied to
the model loaded from that file, as open_clip does when it loads the tag itself: SigLIP, PE and
MobileCLIP weights are preprocessed as they were trained, not with OpenAI's defaults.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shoptag.errors import ModelWeightsUnavailableError, UnknownModelSpecError
from shoptag.model.base import batched, check_images, l2_normalize, weights_digest

logger = logging.getLogger(__name__)

LOCAL_DIR = "local-dir:"
_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


def _how_to_provide(arch: str) -> str:
    return (
        f"put the weights in the Hugging Face cache (run once with network), or pass a local "
        f"checkpoint as openclip:{arch}:/path/to/weights.bin"
    )


def _cached_weights(cfg: dict, cache_dir: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    hub = cfg.get("hf_hub", "")
    if not hub:
        return None
    # open_clip writes 'org/repo/file' or 'org/repo/' (meaning its default file name).
    repo_id, filename = os.path.split(hub)
    candidates = [filename] if filename else []
    candidates += ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    for name in candidates:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
        if isinstance(found, str):
            return found
    return None


def tag_options(cfg: dict) -> dict:
    """``create_model_and_transforms`` options that a pretrained tag's registry entry implies
    (None leaves open_clip's default)."""
    return {"image_mean": cfg.get("mean"), "image_std": cfg.get("std"),
            "image_interpolation": cfg.get("interpolation"), "image_resize_mode": cfg.get("resize_mode"),
            "force_quick_gelu": bool(cfg.get("quick_gelu", False))}


def resolve_pretrained(arch: str, pretrained: str, allow_download: bool,
                       cache_dir: str | None) -> tuple[str, dict]:
    """A local weights file for ``arch`` / ``pretrained``, and the model options its tag implies
    (none for a checkpoint file), or a one-line error."""
    import open_clip

    if Path(pretrained).suffix in _CHECKPOINT_SUFFIXES or os.sep in pretrained:
        if not Path(pretrained).is_file():
            raise ModelWeightsUnavailableError(
                f"model openclip:{arch}: checkpoint file {pretrained} does not exist"
            )
        return pretrained, {}
    if arch not in open_clip.list_models():
        raise UnknownModelSpecError(f"open_clip has no architecture {arch!r} (see open_clip.list_models())")
    cfg = open_clip.get_pretrained_cfg(arch, pretrained)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise UnknownModelSpecError(
            f"open_clip has no pretrained tag {pretrained!r} for {arch} (known: {tags})"
        )
    cached = _cached_weights(cfg, cache_dir)
    if cached:
        return cached, tag_options(cfg)
    if not allow_download:
        raise ModelWeightsUnavailableError(
            f"weights for openclip:{arch}:{pretrained} are not cached and downloads are off: "
            + _how_to_provide(arch)
        )
    try:
        path = open_clip.download_pretrained(cfg, cache_dir=cache_dir)
    except Exception as exc:  # network errors come in many types from several libraries
        raise ModelWeightsUnavailableError(
            f"weights for openclip:{arch}:{pretrained} could not be downloaded "
            f"({type(exc).__name__}): " + _how_to_provide(arch)
        ) from exc
    if not path:
        raise ModelWeightsUnavailableError(
            f"open_clip knows no download location for {arch}:{pretrained}: "
            + _how_to_provide(arch)
        )
    return path, tag_options(cfg)


def _check_local_dir(folder: str) -> None:
    path = Path(folder)
    if not (path / "open_clip_config.json").is_file():
        raise ModelWeightsUnavailableError(f"{folder} has no open_clip_config.json")
    # open_clip would only warn and go on with random weights; we refuse instead.
    if not any(p.suffix in _CHECKPOINT_SUFFIXES for p in path.iterdir()):
        raise ModelWeightsUnavailableError(f"{folder} holds a config but no weights file")


class OpenClipEmbedder:
    supports_text = True
    # Not measured on this machine (no CLIP weights offline); measure with
    # scripts/measure_threshold.py before relying on a CLIP backend.
    default_threshold = None

    def __init__(
        self,
        spec: str,
        model_ref: str,
        *,
        batch_size: int = 32,
        allow_download: bool = True,
        cache_dir: str | None = None,
    ) -> None:
        import open_clip

        self.spec = spec
        self._batch_size = batch_size
        options: dict = {}
        if model_ref.startswith(LOCAL_DIR):
            _check_local_dir(model_ref[len(LOCAL_DIR) :])
            model_name, weights = model_ref, None
        else:
            arch, _, pretrained = model_ref.partition(":")
            if not arch or not pretrained:
                raise UnknownModelSpecError(
                    f"bad spec {spec!r}: expected openclip:<arch>:<pretrained tag or file>"
                )
            model_name = arch
            weights, options = resolve_pretrained(arch, pretrained, allow_download, cache_dir)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=weights, cache_dir=cache_dir, weights_only=True, **options
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelWeightsUnavailableError(f"could not load {spec}: {exc}") from exc
        self._model = model.eval()
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(model_name)
        self.identity = f"{spec}@{weights_digest(self._model.state_dict().items())}"
        self.dim = int(self._embed_pixels(self._preprocess(Image.new("RGB", (8, 8)))[None]).shape[1])

    def _embed_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return self._model.encode_image(pixels).float().numpy()

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        check_images(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        outputs = [
            self._embed_pixels(torch.stack([self._preprocess(Image.fromarray(im)) for im in batch]))
            for batch in batched(images, self._batch_size)
        ]
        return l2_normalize(np.concatenate(outputs))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        outputs = []
        with torch.inference_mode():
            for batch in batched(list(texts), self._batch_size):
                outputs.append(self._model.encode_text(self._tokenizer(batch)).float().numpy())
        return l2_normalize(np.concatenate(outputs))
