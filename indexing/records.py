"""The records the indexing layer passes around.

From the catalog: a product to index, and an item skipped with its reason. In an index
version: its products with their numbered images (``products.jsonl``, whose row format is
``IndexedProduct``'s JSON), and its background scores. For a version being written: each
product with its images' vectors and local features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

if TYPE_CHECKING:
    from shoptag.indexing.local_features import LocalFeatures

# A catalog file is read whole (JSONL) or streamed (CSV); either way, larger files are refused.
MAX_CATALOG_BYTES = 1 << 30


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    images: tuple[str, ...]
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where it came from, e.g. "catalog.jsonl line 3", for messages


@dataclass(frozen=True)
class Skipped:
    where: str
    reason: str


class IndexedImage(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: StrictInt
    ref: StrictStr = Field(description="Where the image came from (the service shows uploads as upload:<sha256>).")
    sha256: StrictStr


class IndexedProduct(BaseModel):
    """A product as an index version stores it, one line of ``products.jsonl``, and as the
    service shows it (with public image refs)."""

    model_config = ConfigDict(frozen=True)

    product_id: StrictStr
    title: StrictStr
    url: StrictStr | None = None
    metadata: dict = Field(default_factory=dict)
    images: tuple[IndexedImage, ...] = Field(min_length=1)

    @property
    def image_ids(self) -> tuple[int, ...]:
        return tuple(image.id for image in self.images)

    @classmethod
    def from_json(cls, row: dict) -> IndexedProduct:
        """A product as stored in ``products.jsonl``; ValueError when a field is missing or has
        the wrong type."""
        try:
            return cls.model_validate(row)
        except ValidationError:
            name = str(row.get("product_id"))[:80] if isinstance(row, dict) else "?"
            raise ValueError(f"product {name!r} has missing fields or fields of the wrong type") from None


@dataclass(frozen=True)
class ImageVector:
    ref: str
    sha256: str
    vector: np.ndarray
    features: LocalFeatures | None = None  # for geometric verification; None in older versions
    background: float | None = None  # highest similarity to the version's background bank
    thumbnail: bytes | None = None  # a small JPEG (``indexing.thumbnails``); None in older versions


@dataclass(frozen=True)
class Background:
    """Region embeddings of product-free footage (``bank``), and each image's highest
    similarity to any of them (``image_scores``, by image id): see ``tagging.calibration``."""

    bank: np.ndarray
    image_scores: np.ndarray

    @staticmethod
    def scores(vectors: np.ndarray, bank: np.ndarray) -> np.ndarray:
        """Each vector's highest inner product (cosine: both are L2-normalised) with the bank."""
        return (np.asarray(vectors, dtype=np.float32) @ bank.T).max(axis=1)


@dataclass(frozen=True)
class Entry:
    """One product of a version being written, with its image vectors."""

    product: Product | IndexedProduct
    images: tuple[ImageVector, ...]


def image_owners(products: Sequence[IndexedProduct], images: int) -> np.ndarray:
    """Per image id (0 .. images - 1), the position of the product it belongs to (-1: none). Ids
    out of that range are left out: a version that has them is refused by its consistency
    checks (``segment_files.segment_problems``), which must get to see them."""
    owners = np.full(images, -1, dtype=np.int64)
    for position, product in enumerate(products):
        owners[[i for i in product.image_ids if 0 <= i < images]] = position
    return owners
