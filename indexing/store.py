"""An index version's records, and loading the current version back for search.

A version holds ``vectors.faiss`` (the search index, one id per catalog image),
``embeddings.npy`` and ``image_ids.npy`` (the raw vectors, so that an update reuses them and any
index type can be rebuilt), ``products.jsonl`` (product metadata and its images: id, ref,
sha256), ``features.npz`` (local features for verification) and ``manifest.json``. See
``indexing.versions`` for the folder layout and why a crash never leaves a half-written version
current, and ``indexing.writer`` for how versions are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from shoptag.bounded_json import MAX_DEPTH, loads_bounded
from shoptag.errors import IndexLoadError, IndexModelMismatchError, NotFoundError
from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.local_features import FEATURES_NAME, LocalFeatures, load_features
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.records import Product
from shoptag.indexing.vectors import VectorIndex
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder

VECTORS_NAME = "vectors.faiss"
PRODUCTS_NAME = "products.jsonl"
EMBEDDINGS_NAME = "embeddings.npy"
IMAGE_IDS_NAME = "image_ids.npy"
BACKGROUND_NAME = "background.npz"
DEFAULT_KEEP = 3


@dataclass(frozen=True)
class IndexedImage:
    id: int
    ref: str
    sha256: str


@dataclass(frozen=True)
class IndexedProduct:
    product_id: str
    title: str
    url: str | None
    metadata: dict
    images: tuple[IndexedImage, ...]

    @property
    def image_ids(self) -> tuple[int, ...]:
        return tuple(image.id for image in self.images)

    def as_json(self) -> dict:
        return {
            "product_id": self.product_id,
            "title": self.title,
            "url": self.url,
            "metadata": self.metadata,
            "images": [{"id": i.id, "ref": i.ref, "sha256": i.sha256} for i in self.images],
        }

    @classmethod
    def from_json(cls, row: dict) -> IndexedProduct:
        """A product as stored in ``products.jsonl``; ValueError when a field has the wrong type."""
        images = tuple(IndexedImage(i["id"], i["ref"], i["sha256"]) for i in row["images"])
        product = cls(row["product_id"], row["title"], row.get("url"), row.get("metadata", {}), images)
        if not (isinstance(product.product_id, str) and isinstance(product.title, str)
                and isinstance(product.url, str | None) and isinstance(product.metadata, dict) and images
                and all(isinstance(i.id, int) and isinstance(i.ref, str) and isinstance(i.sha256, str)
                        for i in images)):
            raise ValueError(f"product {str(product.product_id)[:80]!r} has fields of the wrong type")
        return product


@dataclass(frozen=True)
class ImageVector:
    ref: str
    sha256: str
    vector: np.ndarray
    features: LocalFeatures | None = None  # for geometric verification; None in older versions
    background: float | None = None  # highest similarity to the version's background bank


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


@dataclass(frozen=True)
class VersionFiles:
    vectors: VectorIndex
    products: list[IndexedProduct]
    embeddings: np.ndarray
    features: list[LocalFeatures] | None
    background: Background | None


_REQUIRED_FILES = {VECTORS_NAME, EMBEDDINGS_NAME, IMAGE_IDS_NAME, PRODUCTS_NAME}


def read_version_files(version_dir: Path, manifest: Manifest) -> VersionFiles:
    """Parse a version's files; any file that does not parse raises ``IndexLoadError``."""
    missing = _REQUIRED_FILES - manifest.files.keys()
    if missing:
        raise IndexLoadError(f"index {version_dir.parent.parent}: version {manifest.version}'s manifest lists "
                             f"no {', '.join(sorted(missing))}")
    try:
        vectors = VectorIndex.read(version_dir / VECTORS_NAME)
        with (version_dir / PRODUCTS_NAME).open(encoding="utf-8") as handle:
            # A stored row wraps a product's metadata (itself at most MAX_DEPTH deep) in one more level.
            products = [IndexedProduct.from_json(loads_bounded(line, MAX_DEPTH + 1)) for line in handle]
        embeddings = np.load(version_dir / EMBEDDINGS_NAME, mmap_mode="r", allow_pickle=False)
        features = load_features(version_dir / FEATURES_NAME) if FEATURES_NAME in manifest.files else None
        background = None
        if BACKGROUND_NAME in manifest.files:
            with np.load(version_dir / BACKGROUND_NAME, allow_pickle=False) as data:
                background = Background(data["bank"].astype(np.float32), data["image_scores"].astype(np.float32))
    except Exception as exc:  # each parser (FAISS, numpy, zip, json) fails in its own way on damage
        raise IndexLoadError(f"index {version_dir.parent.parent}: version {manifest.version} cannot be read: "
                             f"{type(exc).__name__}: {exc}") from exc
    return VersionFiles(vectors, products, embeddings, features, background)


def version_problems(manifest: Manifest, files: VersionFiles) -> list[str]:
    """What does not add up between a version's manifest and its parsed files (empty: sound):
    counts and shapes, and every image id in range and owned by exactly one product image."""
    # Every range below is built from what the files hold, never from the manifest's claims.
    image_ids = sorted(image.id for product in files.products for image in product.images)
    product_ids = [product.product_id for product in files.products]
    checks = [
        (len(files.products) == manifest.products,
         f"{len(files.products)} products listed, manifest says {manifest.products}"),
        (len(image_ids) == manifest.images, f"{len(image_ids)} product images listed, manifest says {manifest.images}"),
        (files.vectors.size == manifest.images,
         f"{files.vectors.size} vectors in FAISS, manifest says {manifest.images}"),
        (files.vectors.dim == manifest.dim, f"FAISS dim {files.vectors.dim}, manifest says {manifest.dim}"),
        (files.embeddings.shape == (manifest.images, manifest.dim) and files.embeddings.dtype == np.float32,
         f"embeddings are {files.embeddings.shape} {files.embeddings.dtype}, manifest says "
         f"({manifest.images}, {manifest.dim}) float32"),
        (len(set(product_ids)) == len(product_ids), "a product id appears more than once"),
        (image_ids == list(range(len(image_ids))), "product image ids are not 0, 1, 2 ... each used once"),
        (sorted(files.vectors.ids().tolist()) == image_ids, "FAISS ids are not exactly the product image ids"),
    ]
    if files.features is not None:
        checks.append((len(files.features) == manifest.images,
                       f"{len(files.features)} local feature sets, manifest says {manifest.images} images"))
    if files.background is not None:
        bank, scores = files.background.bank, files.background.image_scores
        checks.append((bank.ndim == 2 and bank.shape[1] == manifest.dim and scores.shape == (manifest.images,),
                       f"background bank {bank.shape} and scores {scores.shape} do not fit {manifest.images} images "
                       f"of dim {manifest.dim}"))
    return [message for ok, message in checks if not ok]


def kept_image_refs(root: Path) -> set[str] | None:
    """The image refs listed by the versions kept in the index at ``root``, or None when that
    cannot be known (no versions, or one that cannot be read): then nothing may be taken for
    unlisted. A version pruned while this reads is skipped."""
    versions = IndexFolder(root).versions
    if not versions.is_dir() or versions.is_symlink():
        return None
    refs: set[str] = set()
    for version_dir in versions.iterdir():
        if version_dir.name.startswith("."):
            continue
        try:
            with (version_dir / PRODUCTS_NAME).open(encoding="utf-8") as handle:
                rows = [loads_bounded(line, MAX_DEPTH + 1) for line in handle]
            refs.update(image["ref"] for row in rows for image in row["images"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return refs or None


class CatalogIndex:
    """A loaded index version: FAISS vectors plus the products they belong to. Immutable: a
    change writes a new version and returns a new ``CatalogIndex``, so a search that holds one
    sees a single consistent version."""

    def __init__(self, path: Path, version_dir: Path, manifest: Manifest, vectors: VectorIndex,
                 products: list[IndexedProduct], embeddings: np.ndarray,
                 features: list[LocalFeatures] | None = None, background: Background | None = None) -> None:
        self.path = path
        self.features = features  # per image id; None when the version has none
        self.background = background  # None when the version was built without a bank
        self.version_dir = version_dir
        self.manifest = manifest
        self.products = products
        self.embeddings = embeddings  # memory-mapped; row i is image id i
        self._vectors = vectors
        self._position = {product.product_id: i for i, product in enumerate(products)}
        self._product_of_image = np.full(manifest.images, -1, dtype=np.int64)
        for position, product in enumerate(products):
            self._product_of_image[list(product.image_ids)] = position

    @classmethod
    def load(cls, path: Path, embedder: Embedder) -> CatalogIndex:
        index = cls.read(path)
        if index.manifest.model_identity != embedder.identity:
            raise IndexModelMismatchError(
                f"index {path} was built with {index.manifest.model_identity} but the model in use is "
                f"{embedder.identity}; rebuild the index or pass --model {index.manifest.model_spec}")
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
                   files.background)

    @property
    def version(self) -> str:
        return self.manifest.version

    @cached_property
    def descriptors(self) -> DescriptorIndex | None:
        """The catalog's local descriptors, searchable for votes; built on first use, once per
        loaded version (6-12 s for 364 products on 2 cores, most of it k-means; see
        scripts/benchmark_candidates.py). None when the version has no features."""
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
