"""Build an index folder from a catalog, and load one back for search.

An index folder holds ``vectors.faiss`` (one vector per catalog image, id = image id),
``products.jsonl`` (product metadata and its image ids) and ``manifest.json``. A build is
written to a temporary sibling folder and renamed into place, so a failed build never leaves
a half-written index where a good one was.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from shoptag.errors import ImageLoadError, IndexBuildError, IndexLoadError, IndexModelMismatchError, NotFoundError
from shoptag.indexing.catalog import Catalog, Product, Skipped
from shoptag.indexing.images import load_image
from shoptag.indexing.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest, file_sha256
from shoptag.indexing.vectors import METRIC, VectorIndex
from shoptag.model.base import Embedder
from shoptag.settings import ImageLimits

logger = logging.getLogger(__name__)

VECTORS_NAME = "vectors.faiss"
PRODUCTS_NAME = "products.jsonl"
# Images are embedded in small groups so that memory stays bounded for large photos.
_EMBED_GROUP = 16


@dataclass
class BuildReport:
    path: Path
    products: int
    images: int
    skipped: list[Skipped] = field(default_factory=list)


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


def build_index(
    catalog: Catalog,
    embedder: Embedder,
    out: Path,
    limits: ImageLimits,
    on_image: Callable[[], None] | None = None,
) -> BuildReport:
    out = Path(out)
    _check_replaceable(out)
    skipped = list(catalog.skipped)
    vectors, products = embed_products(catalog.products, catalog.base_dir, embedder, limits, skipped,
                                       first_id=0, on_image=on_image)
    if not products:
        raise IndexBuildError(
            f"nothing could be indexed from {catalog.path}: {len(skipped)} item(s) skipped"
            + (f", first: {skipped[0].where}: {skipped[0].reason}" if skipped else "")
        )
    ids = np.array([i for p in products for i in p.image_ids], dtype=np.int64)
    index = write_index(out, embedder.spec, embedder.identity, VectorIndex.build(vectors, ids), products)
    logger.info("indexed %d products (%d images) into %s; skipped %d", len(products), len(ids), out,
                len(skipped))
    return BuildReport(out, len(products), index.manifest.images, skipped)


def write_index(out: Path, model_spec: str, model_identity: str, vectors: VectorIndex,
                products: list[IndexedProduct]) -> CatalogIndex:
    """Write a complete index folder next to ``out`` and rename it into place."""
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        vectors.write(staging / VECTORS_NAME)
        with (staging / PRODUCTS_NAME).open("w", encoding="utf-8") as handle:
            for product in products:
                handle.write(json.dumps(product.as_json(), ensure_ascii=False) + "\n")
        now = datetime.now(timezone.utc)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            model_spec=model_spec,
            model_identity=model_identity,
            dim=vectors.dim,
            metric=METRIC,
            products=len(products),
            images=vectors.size,
            created=now.isoformat(timespec="seconds"),
            files={name: file_sha256(staging / name) for name in (VECTORS_NAME, PRODUCTS_NAME)},
            version=f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        )
        manifest.write(staging)
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CatalogIndex(out, manifest, vectors, products)


def embed_products(
    products: Iterable[Product],
    base_dir: Path,
    embedder: Embedder,
    limits: ImageLimits,
    skipped: list[Skipped],
    first_id: int,
    on_image: Callable[[], None] | None = None,
) -> tuple[np.ndarray, list[IndexedProduct]]:
    """Load and embed every image of ``products``; unloadable images (and products left with
    none) are appended to ``skipped``. Image ids count up from ``first_id``."""
    indexed: list[IndexedProduct] = []
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    next_id = first_id
    for product in products:
        images = []
        for ref in product.images:
            try:
                image = load_image(ref, base_dir, limits)
            except ImageLoadError as exc:
                skipped.append(Skipped(f"{product.source} image {ref}", exc.message))
                logger.warning("skipped %s image %s: %s", product.source, ref, exc.message)
                continue
            finally:
                if on_image:
                    on_image()
            pending.append(image.pixels)
            images.append(IndexedImage(next_id, ref, image.sha256))
            next_id += 1
            if len(pending) >= _EMBED_GROUP:
                chunks.append(embedder.embed_images(pending))
                pending = []
        if images:
            indexed.append(IndexedProduct(product.product_id, product.title, product.url,
                                          product.metadata, tuple(images)))
        else:
            skipped.append(Skipped(product.source, f"product {product.product_id!r} has no loadable image"))
    if pending:
        chunks.append(embedder.embed_images(pending))
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), np.float32)
    return vectors, indexed


def _check_replaceable(out: Path) -> None:
    if out.exists() and not (out.is_dir() and ((out / MANIFEST_NAME).is_file() or not any(out.iterdir()))):
        raise IndexBuildError(f"{out} exists and is not a ShopTag index; refusing to replace it")


def _swap_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    out.rename(retired)
    try:
        staging.rename(out)
    except OSError:
        retired.rename(out)
        raise
    shutil.rmtree(retired, ignore_errors=True)


class CatalogIndex:
    """A loaded index: FAISS vectors plus the products they belong to. Treated as immutable:
    a change makes a new ``CatalogIndex`` (see ``indexing.edits``), so a search that holds
    one sees a single consistent version."""

    def __init__(self, path: Path, manifest: Manifest, vectors: VectorIndex,
                 products: list[IndexedProduct]) -> None:
        self.path = path
        self.manifest = manifest
        self.products = products
        self._vectors = vectors
        self._position = {product.product_id: i for i, product in enumerate(products)}
        self.next_image_id = 1 + max((i for p in products for i in p.image_ids), default=-1)
        self._product_of_image = np.full(self.next_image_id, -1, dtype=np.int64)
        for position, product in enumerate(products):
            self._product_of_image[list(product.image_ids)] = position

    @classmethod
    def load(cls, path: Path, embedder: Embedder) -> CatalogIndex:
        path = Path(path)
        manifest = Manifest.read(path)
        if manifest.model_identity != embedder.identity:
            raise IndexModelMismatchError(
                f"index {path} was built with {manifest.model_identity} but the model in use is "
                f"{embedder.identity}; rebuild the index or pass --model {manifest.model_spec}"
            )
        manifest.verify_files(path)
        vectors = VectorIndex.read(path / VECTORS_NAME)
        products = [IndexedProduct.from_json(json.loads(line))
                    for line in (path / PRODUCTS_NAME).read_text(encoding="utf-8").splitlines()]
        if vectors.dim != manifest.dim or vectors.size != manifest.images:
            raise IndexLoadError(f"index {path}: vectors do not match the manifest's dim/count")
        return cls(path, manifest, vectors, products)

    @property
    def version(self) -> str:
        return self.manifest.version or self.manifest.created

    def __contains__(self, product_id: str) -> bool:
        return product_id in self._position

    def product(self, product_id: str) -> IndexedProduct:
        position = self._position.get(product_id)
        if position is None:
            raise NotFoundError(f"product {product_id!r} is not in the index")
        return self.products[position]

    def with_changes(self, remove: set[str], add: list[IndexedProduct],
                     vectors: np.ndarray | None) -> CatalogIndex:
        """Write a new version without the products in ``remove`` and with ``add`` (whose image
        ids must be new, from ``next_image_id`` up), and return it. This object is unchanged."""
        remove = remove | {p.product_id for p in add}
        kept = [p for p in self.products if p.product_id not in remove]
        dropped = [i for p in self.products if p.product_id in remove for i in p.image_ids]
        updated = self._vectors.clone()
        updated.remove(np.array(dropped, dtype=np.int64))
        if add:
            updated.add(vectors, np.array([i for p in add for i in p.image_ids], dtype=np.int64))
        if not kept and not add:
            raise IndexBuildError("an index cannot be left without products")
        m = self.manifest
        return write_index(self.path, m.model_spec, m.model_identity, updated, kept + add)

    def search(self, queries: np.ndarray, top_k: int) -> list[list[tuple[int, float]]]:
        """For each query, up to ``top_k`` (product position, best image similarity), best first."""
        # Several images may belong to one product: over-fetch, then keep each product once.
        scores, ids = self._vectors.search(queries, top_k * 4)
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
