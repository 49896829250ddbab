"""The embedder interface shared by every backend, and the helpers they all use."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from shoptag.boxes import Box
from shoptag.errors import ModelError


@runtime_checkable
class Embedder(Protocol):
    """Maps RGB images (and, where supported, texts) into one L2-normalised space."""

    spec: str
    """The spec string the embedder was created from."""
    identity: str
    """Spec plus a hash of the weights: two embedders share a space iff identities match."""
    dim: int
    supports_text: bool
    default_threshold: float | None
    """Similarity threshold measured for this backend, or None where none was measured."""

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """HxWx3 uint8 RGB arrays -> float32 (n, dim), rows L2-normalised."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> float32 (n, dim); raises ModelError where ``supports_text`` is False."""
        ...


@runtime_checkable
class RegionEmbedder(Protocol):
    """An embedder that can embed many boxes of one image from a single forward pass."""

    crop_threshold: float | None
    """Threshold measured with regions embedded as separate crops; ``default_threshold`` is the
    pooled one. Pooled vectors see their box with its surroundings, so their scores run lower."""

    def embed_regions(self, image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """HxWx3 uint8 RGB image and (x, y, w, h) boxes -> float32 (len(boxes), dim), L2-normalised."""
        ...


def embed_regions(embedder: Embedder, image: np.ndarray, boxes: Sequence[Box], pooled: bool) -> np.ndarray:
    """One vector per box: pooled from one forward pass where the model can (and ``pooled``
    asks for it), otherwise each box is cropped and embedded as an image of its own."""
    if pooled and isinstance(embedder, RegionEmbedder):
        return embedder.embed_regions(image, boxes)
    return embedder.embed_images([image[y : y + h, x : x + w] for x, y, w, h in boxes])


def default_threshold(embedder: Embedder, pooled: bool) -> float | None:
    """The measured threshold for the way regions will be embedded."""
    if not pooled and isinstance(embedder, RegionEmbedder):
        return embedder.crop_threshold
    return embedder.default_threshold


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def weights_digest(tensors: Iterable[tuple[str, Any]]) -> str:
    """A short content hash of named tensors: changes whenever any weight changes."""
    digest = hashlib.sha256()
    for name, tensor in tensors:
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_images(images: Sequence[np.ndarray]) -> None:
    for position, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ModelError(
                f"image {position} must be an HxWx3 uint8 RGB array, got shape "
                f"{image.shape} dtype {image.dtype}"
            )


def no_text_support(spec: str) -> ModelError:
    return ModelError(f"model {spec!r} has no text tower; text embedding is not available")
