"""Product titles as evidence, for models with a text tower (CLIP): how well a frame's regions
match the words of a candidate's title, in the same space as the images."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from shoptag.indexing.records import IndexedProduct
from shoptag.model.base import Embedder


class TitleEvidence:
    """Title vectors are embedded the first time a product is a candidate and kept for this
    object's life (one tagger), so a video costs one text pass per distinct candidate, and
    the index needs no text vectors."""

    def __init__(self, embedder: Embedder, products: Sequence[IndexedProduct]) -> None:
        self._embedder = embedder
        self._products = products
        self._vectors: dict[int, np.ndarray] = {}

    def scores(self, region_vectors: np.ndarray, products: Iterable[int]) -> dict[int, float]:
        """Best similarity of any region to each product's title."""
        products = list(products)
        missing = [p for p in products if p not in self._vectors]
        if missing:
            vectors = self._embedder.embed_texts([self._products[p].title for p in missing])
            self._vectors.update(zip(missing, vectors, strict=True))
        if not products or not len(region_vectors):
            return {}
        similarities = region_vectors @ np.stack([self._vectors[p] for p in products]).T
        return {p: float(s) for p, s in zip(products, similarities.max(axis=0), strict=True)}
