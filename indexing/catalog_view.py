"""What tagging searches: products, their image vectors and search index, local features,
background scores and descriptor votes, by product position and image id.

A loaded segment, an index version (``indexing.store.CatalogIndex``) and a set of catalogs
(``indexing.catalog_set.CatalogSet``) are each a ``CatalogView``; a version and a set are made
from their parts by the one join, ``join_views``: image ids side by side (a part's moved past the
parts before it), each part's own vector and descriptor index asked and their answers merged
(``indexing.joined``), so nothing is rebuilt, retrained or copied. Only a version carries a
manifest.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from functools import cached_property, partial
from typing import TypeVar

import numpy as np

from shoptag.errors import NotFoundError
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.joined import ImageSearch, JoinedRows, JoinedVectors, JoinedVotes, joined_background
from shoptag.indexing.local_features import LocalFeatures
from shoptag.indexing.records import Background, Entry, ImageVector, IndexedImage, IndexedProduct, image_owners
from shoptag.indexing.vectors import ExcludedIds, VectorIndex

T = TypeVar("T")
# An ivfpq search fetches this many times the asked-for candidates by their compressed codes,
# then ranks them by their exact similarity (stored vectors): recall, and scores on the same
# scale as the exact kinds' (thresholds, segments merged by score). At 100,000 images of
# 1280 dims, recall@10 was 0.48 with 4×, 0.72 with 10× and 0.99 with 30×, for 1-3 ms a frame more.
_RERANK = 30


class CatalogView:
    """Immutable: a change makes a new view, so a search that holds one sees one state."""

    def __init__(self, products: list[IndexedProduct], embeddings: np.ndarray, vectors: VectorIndex | JoinedVectors,
                 features: list[LocalFeatures] | None, background: Background | None,
                 descriptors: DescriptorIndex | JoinedVotes | None, catalogs: Sequence[tuple[int, str]],
                 thumbnails: Sequence[bytes | None]) -> None:
        """``catalogs``: (first product position, catalog name) of each run of one catalog's
        products; ``thumbnails``: a JPEG per image id (None where the index has none)."""
        self.products = products
        self.embeddings = embeddings  # memory-mapped; row i is image id i (left-out products' too)
        self.features = features  # per image id; None when the catalog has none
        self.background = background  # None when built without a background bank
        self._vectors = vectors
        self._catalogs = tuple(catalogs)
        self._thumbnails = thumbnails
        self._position = {product.product_id: i for i, product in enumerate(products)}
        self._product_of_image = image_owners(products, len(embeddings))
        self._derived: dict[str, object] = {}
        if descriptors is not None:
            self.descriptors = descriptors  # fills the cached property

    def _parts(self) -> tuple:
        """This view's constructor arguments, for a version or a set that adopts it."""
        return (self.products, self.embeddings, self._vectors, self.features, self.background, self.descriptors,
                self._catalogs, self._thumbnails)

    def catalog_of(self, position: int) -> str:
        """The name of the catalog that the product at ``position`` belongs to."""
        starts = [start for start, _ in self._catalogs]
        return self._catalogs[bisect.bisect_right(starts, position) - 1][1]

    def derived(self, name: str, build: Callable[[], T]) -> T:
        """What callers compute from this view alone and never change (a matcher over its
        templates, say): built on first use, then shared by every request on it. Two first uses
        at once may both build it; either result serves."""
        if name not in self._derived:
            self._derived.setdefault(name, build())
        return self._derived[name]

    @cached_property
    def descriptors(self) -> DescriptorIndex | JoinedVotes | None:
        """The catalog's local descriptors, searchable for votes: read with the segment, or, for
        one written before they were stored, built on first use (1-12 s for 364 products on
        2 cores, most of it k-means). None without features."""
        if self.features is None:
            return None
        return DescriptorIndex.build(self.features, self._product_of_image.tolist())

    def __contains__(self, product_id: str) -> bool:
        return product_id in self._position

    def position_of(self, product_id: str) -> int:
        position = self._position.get(product_id)
        if position is None:
            raise NotFoundError(f"product {product_id!r} is not in the index")
        return position

    def image_ids(self) -> np.ndarray:
        """The ids of the products' images (ids of left-out products' images are not)."""
        return np.flatnonzero(self._product_of_image >= 0)

    def product_of_image(self, image_id: int) -> int:
        """The position of the product that image ``image_id`` belongs to."""
        return int(self._product_of_image[image_id])

    def product(self, product_id: str) -> IndexedProduct:
        return self.products[self.position_of(product_id)]

    def thumbnail(self, image_id: int) -> bytes | None:
        """The image's stored JPEG thumbnail (``indexing.thumbnails``), or None."""
        return self._thumbnails[image_id]

    def entries(self, exclude: set[str] = frozenset()) -> list[Entry]:
        """The stored products, vectors and features, to write into a new version."""
        return [Entry(p, tuple(self._stored(i) for i in p.images))
                for p in self.products if p.product_id not in exclude]

    def known_images(self) -> dict[str, ImageVector]:
        """Stored vector and features per image content hash, for reuse by an update."""
        return {image.sha256: self._stored(image) for product in self.products for image in product.images}

    def _stored(self, image: IndexedImage) -> ImageVector:
        features = self.features[image.id] if self.features is not None else None
        background = float(self.background.image_scores[image.id]) if self.background is not None else None
        return ImageVector(image.ref, image.sha256, np.asarray(self.embeddings[image.id]), features, background,
                           self._thumbnails[image.id])

    def background_score(self, position: int) -> float | None:
        """The product's highest similarity to the background bank, over its images."""
        scores = self._product_backgrounds
        return None if scores is None else float(scores[position])

    @cached_property
    def _product_backgrounds(self) -> np.ndarray | None:
        # Asked for every candidate of every frame: computed once per view.
        if self.background is None:
            return None
        scores = np.full(len(self.products), -np.inf, np.float32)
        owned = self._product_of_image >= 0  # not the images of left-out products
        np.maximum.at(scores, self._product_of_image[owned], self.background.image_scores[owned])
        return scores

    def nearest_images(self, queries: np.ndarray, k: int,
                       excluded: ExcludedIds | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, image ids), each (n, k), from the search index (never one of the ``excluded``
        ids: those of a segment's left-out products)."""
        if not isinstance(self._vectors, VectorIndex):
            return self._vectors.search(queries, k)
        if self._vectors.kind != "ivfpq":
            return self._vectors.search(queries, k, excluded)
        _, ids = self._vectors.search(queries, k * _RERANK, excluded)
        found = np.unique(ids[ids >= 0])
        queries = np.asarray(queries, dtype=np.float32)
        exact = queries @ np.asarray(self.embeddings[found], dtype=np.float32).T if len(found) else None
        scores = np.full(ids.shape, -np.inf, np.float32)
        if exact is not None:
            columns = np.clip(np.searchsorted(found, ids), 0, len(found) - 1)
            scores = np.where(ids >= 0, np.take_along_axis(exact, columns, axis=1), -np.inf).astype(np.float32)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, axis=1), np.take_along_axis(ids, best, axis=1)

    def search(self, queries: np.ndarray, top_k: int) -> list[list[tuple[int, float]]]:
        """For each query, up to ``top_k`` (product position, best image similarity), best first."""
        # Several images may belong to one product: over-fetch, then keep each product once.
        scores, ids = self.nearest_images(queries, top_k * 4)
        results = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            best: dict[int, float] = {}
            for score, image_id in zip(row_scores, row_ids, strict=True):
                if image_id < 0:
                    continue
                product = int(self._product_of_image[image_id])
                if product not in best:
                    best[product] = float(score)
                    if len(best) == top_k:
                        break
            results.append(list(best.items()))
        return results


def join_views(parts: Sequence[tuple[CatalogView, frozenset[int]]], dim: int) -> CatalogView:
    """``parts`` searched as one, each with the positions of its products left out (a segment's
    products that a later version removed or replaced): their images are never found, and
    their votes are dropped. One part leaving nothing out is that part itself."""
    if len(parts) == 1 and not parts[0][1]:
        return parts[0][0]
    starts = np.cumsum([0, *(len(view.embeddings) for view, _ in parts)]).tolist()
    products, positions, searches, catalogs = [], [], [], []
    for (view, removed), start in zip(parts, starts, strict=False):
        mapping = np.full(len(view.products), -1, np.int64)
        for position, product in enumerate(view.products):
            if position in removed:
                continue
            name = view.catalog_of(position)
            if not catalogs or catalogs[-1][1] != name:
                catalogs.append((len(products), name))
            mapping[position] = len(products)
            products.append(product if start == 0 else product.model_copy(update={"images": tuple(
                image.model_copy(update={"id": image.id + start}) for image in product.images)}))
        positions.append(mapping)
        gone = [i for position in removed for i in view.products[position].image_ids]
        search: ImageSearch = partial(view.nearest_images, excluded=ExcludedIds(gone) if gone else None)
        searches.append((search, start))
    views = [view for view, _ in parts]
    with_features = all(view.features is not None for view in views)
    return CatalogView(
        products, JoinedRows([view.embeddings for view in views], dim), JoinedVectors(searches),
        [f for view in views for f in view.features] if with_features else None,
        joined_background([(view.background, len(view.embeddings)) for view in views]),
        JoinedVotes([(view.descriptors, mapping) for view, mapping in zip(views, positions, strict=True)])
        if with_features else None, catalogs, [thumbnail for view in views for thumbnail in view._thumbnails])
