"""Write index versions from catalogs, and load the current version back for search.

A version holds ``vectors.faiss`` (the search index, one id per catalog image),
``embeddings.npy`` and ``image_ids.npy`` (the raw vectors, so that an update reuses them and any
index type can be rebuilt), ``products.jsonl`` (product metadata and its images: id, ref,
sha256) and ``manifest.json``. See ``indexing.versions`` for the folder layout and why a
crash never leaves a half-written version current.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from shoptag.errors import ImageLoadError, IndexBuildError, IndexLoadError, IndexModelMismatchError, NotFoundError
from shoptag.indexing.catalog import Catalog
from shoptag.indexing.images import ImageReader, decode_image
from shoptag.indexing.local_features import FEATURES_NAME, LocalFeatures, detect, load_features, save_features
from shoptag.indexing.manifest import FORMAT_VERSION, Manifest, file_sha256
from shoptag.indexing.records import Product, Skipped
from shoptag.indexing.vectors import METRIC, VectorIndex, resolve_type
from shoptag.indexing.versions import IndexFolder
from shoptag.model.base import Embedder

logger = logging.getLogger(__name__)

VECTORS_NAME = "vectors.faiss"
PRODUCTS_NAME = "products.jsonl"
EMBEDDINGS_NAME = "embeddings.npy"
IMAGE_IDS_NAME = "image_ids.npy"
DEFAULT_KEEP = 3
# Images are embedded in small groups so that memory stays bounded for large photos.
_EMBED_GROUP = 16


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
        images = tuple(IndexedImage(i["id"], i["ref"], i["sha256"]) for i in row["images"])
        return cls(row["product_id"], row["title"], row.get("url"), row.get("metadata", {}), images)


@dataclass(frozen=True)
class ImageVector:
    ref: str
    sha256: str
    vector: np.ndarray
    features: LocalFeatures | None = None  # for geometric verification; None in older versions


@dataclass(frozen=True)
class Entry:
    """One product of a version being written, with its image vectors."""

    product: Product | IndexedProduct
    images: tuple[ImageVector, ...]


@dataclass
class EmbedStats:
    embedded: int = 0
    reused: int = 0
    failed: int = 0
    skipped: list[Skipped] = field(default_factory=list)


def embed_entries(
    products: Iterable[Product],
    base_dir: Path,
    embedder: Embedder,
    reader: ImageReader,
    known: dict[str, ImageVector] | None = None,
    on_image: Callable[[], None] | None = None,
) -> tuple[list[Entry], EmbedStats]:
    """Read every image of ``products``. An image whose content hash is in ``known`` reuses its
    stored vector and local features (it is not even decoded, unless a version from before
    local features left it without them); the others are decoded, embedded and their local
    features detected. Unreadable images, and products left without any, are reported in the
    stats and skipped."""
    known = known or {}
    stats = EmbedStats()
    pending: list[tuple[list, int, np.ndarray]] = []  # (slots, position, pixels)
    drafts: list[tuple[Product, list]] = []

    def flush() -> None:
        vectors = embedder.embed_images([pixels for _, _, pixels in pending])
        for (slots, position, pixels), vector in zip(pending, vectors, strict=True):
            ref, sha256 = slots[position]  # the placeholder left when the image was decoded
            slots[position] = ImageVector(ref, sha256, vector, detect(pixels))
        pending.clear()

    for product in products:
        slots: list = []
        for ref in product.images:
            try:
                image = reader.read(ref, base_dir)
                if image.sha256 in known:
                    reused = known[image.sha256]
                    features = reused.features
                    if features is None:
                        features = detect(decode_image(image.data, reader.limits, ref))
                    slots.append(ImageVector(ref, image.sha256, reused.vector, features))
                    stats.reused += 1
                else:
                    pixels = decode_image(image.data, reader.limits, ref)
                    slots.append((ref, image.sha256))
                    pending.append((slots, len(slots) - 1, pixels))
                    stats.embedded += 1
            except ImageLoadError as exc:
                stats.failed += 1
                stats.skipped.append(Skipped(f"{product.source} image {ref}", exc.message))
                logger.warning("skipped %s image %s: %s", product.source, ref, exc.message)
            finally:
                if on_image:
                    on_image()
            if len(pending) >= _EMBED_GROUP:
                flush()
        drafts.append((product, slots))
    if pending:
        flush()
    entries = []
    for product, slots in drafts:
        if slots:
            entries.append(Entry(product, tuple(slots)))
        else:
            stats.skipped.append(Skipped(product.source, f"product {product.product_id!r} has no loadable image"))
    return entries, stats


@dataclass
class BuildReport:
    path: Path
    version: str
    products: int
    images: int
    index_type: str
    skipped: list[Skipped] = field(default_factory=list)


def build_index(catalog: Catalog, embedder: Embedder, out: Path, reader: ImageReader,
                index_type: str = "auto", keep: int = DEFAULT_KEEP,
                on_image: Callable[[], None] | None = None) -> BuildReport:
    """Embed every catalog image and write a new version of the index at ``out``."""
    IndexFolder(out).check_writable()  # before spending minutes embedding
    entries, stats = embed_entries(catalog.products, catalog.base_dir, embedder, reader, on_image=on_image)
    skipped = list(catalog.skipped) + stats.skipped
    if not entries:
        raise IndexBuildError(
            f"nothing could be indexed from {catalog.path}: {len(skipped)} item(s) skipped"
            + (f", first: {skipped[0].where}: {skipped[0].reason}" if skipped else ""))
    index = write_version(out, embedder.spec, embedder.identity, embedder.dim, entries, index_type, keep)
    m = index.manifest
    logger.info("indexed %d products (%d images) into %s version %s; skipped %d", m.products, m.images, out,
                m.version, len(skipped))
    return BuildReport(Path(out), m.version, m.products, m.images, m.index_type, skipped)


def write_version(root: Path, model_spec: str, model_identity: str, dim: int, entries: list[Entry],
                  index_type: str, keep: int = DEFAULT_KEEP) -> CatalogIndex:
    """Write ``entries`` as a new version of the index at ``root`` and make it current.
    Image ids are numbered afresh; vectors are matched to images by content, not by id."""
    if not entries:
        raise IndexBuildError("an index cannot be left without products")
    products, rows, features = [], [], []
    for entry in entries:
        images = []
        for image in entry.images:
            images.append(IndexedImage(len(rows), image.ref, image.sha256))
            rows.append(image.vector)
            features.append(image.features)
        p = entry.product
        products.append(IndexedProduct(p.product_id, p.title, p.url, p.metadata, tuple(images)))
    embeddings = np.ascontiguousarray(np.stack(rows), dtype=np.float32).reshape(len(rows), dim)
    ids = np.arange(len(rows), dtype=np.int64)
    kind = resolve_type(index_type, len(rows))
    vectors = VectorIndex.build(embeddings, ids, kind)
    folder = IndexFolder(root)
    with folder.writing() as (staging, name, parent):
        vectors.write(staging / VECTORS_NAME)
        np.save(staging / EMBEDDINGS_NAME, embeddings)
        np.save(staging / IMAGE_IDS_NAME, ids)
        with (staging / PRODUCTS_NAME).open("w", encoding="utf-8") as handle:
            for product in products:
                handle.write(json.dumps(product.as_json(), ensure_ascii=False) + "\n")
        files = (VECTORS_NAME, EMBEDDINGS_NAME, IMAGE_IDS_NAME, PRODUCTS_NAME)
        if all(f is not None for f in features):
            save_features(staging / FEATURES_NAME, features)
            files += (FEATURES_NAME,)
        for file_name in files:
            _fsync_file(staging / file_name)
        manifest = Manifest(
            format_version=FORMAT_VERSION, model_spec=model_spec, model_identity=model_identity, dim=dim,
            metric=METRIC, products=len(products), images=len(rows),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            files={file_name: file_sha256(staging / file_name) for file_name in files},
            version=name, parent=parent, index_type=kind)
        manifest.write(staging)
    folder.prune(keep)
    return CatalogIndex(Path(root), folder.versions / name, manifest, vectors, products,
                        np.load(folder.versions / name / EMBEDDINGS_NAME, mmap_mode="r"),
                        features if FEATURES_NAME in manifest.files else None)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


class CatalogIndex:
    """A loaded index version: FAISS vectors plus the products they belong to. Immutable: a
    change writes a new version and returns a new ``CatalogIndex``, so a search that holds one
    sees a single consistent version."""

    def __init__(self, path: Path, version_dir: Path, manifest: Manifest, vectors: VectorIndex,
                 products: list[IndexedProduct], embeddings: np.ndarray,
                 features: list[LocalFeatures] | None = None) -> None:
        self.path = path
        self.features = features  # per image id; None when the version has none
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
        """Load the current version, checking its files against the manifest (no model check)."""
        path = Path(path)
        version_dir = IndexFolder(path).current_dir()
        manifest = Manifest.read(version_dir)
        manifest.verify_files(version_dir)
        vectors = VectorIndex.read(version_dir / VECTORS_NAME)
        products = [IndexedProduct.from_json(json.loads(line))
                    for line in (version_dir / PRODUCTS_NAME).read_text(encoding="utf-8").splitlines()]
        embeddings = np.load(version_dir / EMBEDDINGS_NAME, mmap_mode="r")
        features = load_features(version_dir / FEATURES_NAME) if FEATURES_NAME in manifest.files else None
        if vectors.dim != manifest.dim or vectors.size != manifest.images or len(embeddings) != manifest.images:
            raise IndexLoadError(f"index {path}: vectors do not match the manifest's dim/count")
        return cls(path, version_dir, manifest, vectors, products, embeddings, features)

    @property
    def version(self) -> str:
        return self.manifest.version

    def __contains__(self, product_id: str) -> bool:
        return product_id in self._position

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
        return ImageVector(image.ref, image.sha256, np.asarray(self.embeddings[image.id]), features)

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
