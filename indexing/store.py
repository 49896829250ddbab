"""A loaded index version: its search index, products, vectors and features, read from the
current version of an index folder and checked before use (``indexing.version_files``), then
searched by tagging and read by writers for the change they make."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np

from shoptag.errors import IndexLoadError, IndexModelMismatchError, NotFoundError
from shoptag.indexing.data_folder import catalog_name_of
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.local_features import LocalFeatures
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.records import Background, Entry, ImageVector, IndexedImage, IndexedProduct, image_owners
from shoptag.indexing.vectors import VectorIndex
from shoptag.indexing.version_files import read_version_files, version_problems
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder

T = TypeVar("T")


class CatalogIndex:
    """A loaded index version: FAISS vectors plus the products they belong to. Immutable: a
    change writes a new version and returns a new ``CatalogIndex``, so a search that holds one
    sees a single consistent version."""

    def __init__(self, path: Path, version_dir: Path, manifest: Manifest, vectors: VectorIndex,
                 products: list[IndexedProduct], embeddings: np.ndarray,
                 features: list[LocalFeatures] | None = None, background: Background | None = None,
                 descriptors: DescriptorIndex | None = None) -> None:
        self.path = path
        self.features = features  # per image id; None when the version has none
        self.background = background  # None when the version was built without a bank
        self.version_dir = version_dir
        self.manifest = manifest
        self.products = products
        self.embeddings = embeddings  # memory-mapped; row i is image id i
        self._vectors = vectors
        self._position = {product.product_id: i for i, product in enumerate(products)}
        self._product_of_image = image_owners(products, manifest.images)
        self._derived: dict[str, object] = {}
        if descriptors is not None:
            self.descriptors = descriptors  # fills the cached property

    @classmethod
    def load(cls, path: Path, embedder: Embedder) -> CatalogIndex:
        index = cls.read(path)
        if index.manifest.model_identity != embedder.identity:
            raise IndexModelMismatchError(
                f"index {path} was built with {index.manifest.model_identity} but the model in use is "
                f"{embedder.identity} (another runtime or precision is another model); rebuild the index with it, "
                f"or pass --model {index.manifest.model_spec}")
        return index

    @classmethod
    def read(cls, path: Path) -> CatalogIndex:
        """Load the current version, checking its files against the manifest and against each
        other (no model check). A damaged or crafted version raises ``IndexLoadError``."""
        path = Path(path)
        version_dir = IndexFolder(path).current_dir()
        manifest = Manifest.read(version_dir)
        if manifest.version != version_dir.name:
            raise IndexLoadError(f"index {path}: version folder {version_dir.name} holds the manifest of version "
                                 f"{manifest.version}")
        manifest.verify_files(version_dir)
        files = read_version_files(version_dir, manifest)
        problems = version_problems(manifest, files)
        if problems:
            raise IndexLoadError(f"index {path} version {manifest.version} is inconsistent: {problems[0]}")
        return cls(path, version_dir, manifest, files.vectors, files.products, files.embeddings, files.features,
                   files.background, files.descriptors)

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def name(self) -> str:
        """The catalog's name: its index folder's (``data_folder.catalog_name_of``)."""
        return catalog_name_of(self.path)

    def catalog_of(self, position: int) -> str:
        """The name of the catalog that the product at ``position`` belongs to."""
        return self.name

    def derived(self, name: str, build: Callable[[], T]) -> T:
        """What callers compute from this version alone and never change (a matcher over its
        templates, say): built on first use, then shared by every request on this version. Two
        first uses at once may both build it; either result serves."""
        if name not in self._derived:
            self._derived.setdefault(name, build())
        return self._derived[name]

    @cached_property
    def descriptors(self) -> DescriptorIndex | None:
        """The catalog's local descriptors, searchable for votes: read with the version, or, for
        a version written before they were stored, built on first use (1-12 s for 364 products
        on 2 cores, most of it k-means). None when the version has no features."""
        if self.features is None:
            return None
        return DescriptorIndex.build(self.features, self._product_of_image.tolist())

    def __contains__(self, product_id: str) -> bool:
        return product_id in self._position

    def product_of_image(self, image_id: int) -> int:
        """The position of the product that image ``image_id`` belongs to."""
        return int(self._product_of_image[image_id])

    def product(self, product_id: str) -> IndexedProduct:
        position = self._position.get(product_id)
        if position is None:
            raise NotFoundError(f"product {product_id!r} is not in the index")
        return self.products[position]

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
        return ImageVector(image.ref, image.sha256, np.asarray(self.embeddings[image.id]), features, background)

    def background_score(self, position: int) -> float | None:
        """The product's highest similarity to the background bank, over its images."""
        scores = self._product_backgrounds
        return None if scores is None else float(scores[position])

    @cached_property
    def _product_backgrounds(self) -> np.ndarray | None:
        # Asked for every candidate of every frame: computed once per loaded version.
        if self.background is None:
            return None
        scores = np.full(len(self.products), -np.inf, np.float32)
        np.maximum.at(scores, self._product_of_image, self.background.image_scores)
        return scores

    def nearest_images(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, image ids), each (n, k), from the version's search index."""
        return self._vectors.search(queries, k)

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
