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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from shoptag.errors import ImageLoadError, IndexBuildError, IndexLoadError, IndexModelMismatchError
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
class IndexedProduct:
    product_id: str
    title: str
    url: str | None
    metadata: dict
    image_ids: tuple[int, ...]


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
    vectors, records = _embed_catalog(catalog, embedder, limits, skipped, on_image)
    if not records:
        raise IndexBuildError(
            f"nothing could be indexed from {catalog.path}: {len(skipped)} item(s) skipped"
            + (f", first: {skipped[0].where}: {skipped[0].reason}" if skipped else "")
        )
    image_count = sum(len(r.image_ids) for r in records)
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        VectorIndex.build(vectors, np.arange(image_count, dtype=np.int64)).write(staging / VECTORS_NAME)
        with (staging / PRODUCTS_NAME).open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
        Manifest(
            format_version=FORMAT_VERSION,
            model_spec=embedder.spec,
            model_identity=embedder.identity,
            dim=embedder.dim,
            metric=METRIC,
            products=len(records),
            images=image_count,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            files={name: file_sha256(staging / name) for name in (VECTORS_NAME, PRODUCTS_NAME)},
        ).write(staging)
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("indexed %d products (%d images) into %s; skipped %d", len(records), image_count, out,
                len(skipped))
    return BuildReport(out, len(records), image_count, skipped)


@dataclass
class _Record:
    product: Product
    image_ids: list[int]
    image_refs: list[str]
    image_hashes: list[str]

    def as_json(self) -> dict:
        p = self.product
        return {
            "product_id": p.product_id,
            "title": p.title,
            "url": p.url,
            "metadata": p.metadata,
            "images": [
                {"id": i, "ref": r, "sha256": h}
                for i, r, h in zip(self.image_ids, self.image_refs, self.image_hashes, strict=True)
            ],
        }


def _embed_catalog(catalog, embedder, limits, skipped, on_image):
    records: list[_Record] = []
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    next_id = 0
    for product in catalog.products:
        record = _Record(product, [], [], [])
        for ref in product.images:
            try:
                image = load_image(ref, catalog.base_dir, limits)
            except ImageLoadError as exc:
                skipped.append(Skipped(f"{product.source} image {ref}", exc.message))
                logger.warning("skipped %s image %s: %s", product.source, ref, exc.message)
                continue
            finally:
                if on_image:
                    on_image()
            pending.append(image.pixels)
            record.image_ids.append(next_id)
            record.image_refs.append(ref)
            record.image_hashes.append(image.sha256)
            next_id += 1
            if len(pending) >= _EMBED_GROUP:
                chunks.append(embedder.embed_images(pending))
                pending = []
        if record.image_ids:
            records.append(record)
        else:
            skipped.append(Skipped(product.source, f"product {product.product_id!r} has no loadable image"))
    if pending:
        chunks.append(embedder.embed_images(pending))
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), np.float32)
    return vectors, records


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
    """A loaded index: FAISS vectors plus the products they belong to."""

    def __init__(self, path: Path, manifest: Manifest, vectors: VectorIndex,
                 products: list[IndexedProduct]) -> None:
        self.path = path
        self.manifest = manifest
        self.products = products
        self._vectors = vectors
        self._product_of_image = np.full(manifest.images, -1, dtype=np.int64)
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
        products = []
        for line in (path / PRODUCTS_NAME).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            products.append(IndexedProduct(row["product_id"], row["title"], row.get("url"),
                                           row.get("metadata", {}), tuple(i["id"] for i in row["images"])))
        if vectors.dim != manifest.dim or vectors.size != manifest.images:
            raise IndexLoadError(f"index {path}: vectors do not match the manifest's dim/count")
        return cls(path, manifest, vectors, products)

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
