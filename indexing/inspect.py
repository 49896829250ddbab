"""Check an index version for damage, and describe it (sizes; recall of approximate search)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import faiss
import numpy as np

from shoptag.errors import IndexLoadError
from shoptag.indexing.local_features import FEATURES_NAME, load_features
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.store import EMBEDDINGS_NAME, IMAGE_IDS_NAME, PRODUCTS_NAME, VECTORS_NAME, CatalogIndex
from shoptag.indexing.vectors import VectorIndex
from shoptag.indexing.versions import IndexFolder


def verify_index(root: Path) -> list[str]:
    """Problems found in the current version (empty when it is sound): file hashes, counts,
    and that every FAISS id maps to exactly one product image and back."""
    try:
        version_dir = IndexFolder(root).current_dir()
        manifest = Manifest.read(version_dir)
    except IndexLoadError as exc:
        return [exc.message]
    problems = []
    try:
        manifest.verify_files(version_dir)
    except IndexLoadError as exc:
        problems.append(exc.message)
    try:
        vectors = VectorIndex.read(version_dir / VECTORS_NAME)
        embeddings = np.load(version_dir / EMBEDDINGS_NAME, mmap_mode="r")
        stored_ids = np.load(version_dir / IMAGE_IDS_NAME)
        products = [json.loads(line) for line in (version_dir / PRODUCTS_NAME).read_text().splitlines()]
    except (OSError, ValueError, RuntimeError) as exc:  # faiss raises RuntimeError on a damaged file
        return problems + [f"version {manifest.version} cannot be read: {exc}"]
    product_ids = Counter(p["product_id"] for p in products)
    image_ids = Counter(image["id"] for p in products for image in p["images"])
    faiss_ids = Counter(vectors.ids().tolist())
    checks = [
        (len(products) == manifest.products, f"{len(products)} products listed, manifest says {manifest.products}"),
        (vectors.size == manifest.images, f"{vectors.size} vectors in FAISS, manifest says {manifest.images}"),
        (embeddings.shape == (manifest.images, manifest.dim),
         f"embeddings are {embeddings.shape}, manifest says ({manifest.images}, {manifest.dim})"),
        (vectors.dim == manifest.dim, f"FAISS dim {vectors.dim}, manifest says {manifest.dim}"),
        (all(n == 1 for n in product_ids.values()), "a product id appears more than once"),
        (all(n == 1 for n in faiss_ids.values()), "a FAISS id appears more than once"),
        (all(n == 1 for n in image_ids.values()), "an image id belongs to more than one product image"),
        (set(faiss_ids) <= set(image_ids), f"{len(set(faiss_ids) - set(image_ids))} FAISS id(s) map to no product"),
        (set(image_ids) <= set(faiss_ids), f"{len(set(image_ids) - set(faiss_ids))} product image(s) have no vector"),
        (sorted(stored_ids.tolist()) == sorted(image_ids), "stored embedding ids do not match the product images"),
    ]
    if FEATURES_NAME in manifest.files:
        features = load_features(version_dir / FEATURES_NAME)
        checks.append((len(features) == manifest.images,
                       f"{len(features)} local feature sets, manifest says {manifest.images} images"))
    return problems + [message for ok, message in checks if not ok]


def index_stats(root: Path, sample: int = 200, k: int = 10, seed: int = 0) -> dict:
    """Sizes, and for approximate indexes recall@k against exact search, measured with
    ``sample`` queries made by perturbing stored vectors (so the true neighbours are not
    trivially the query itself)."""
    index = CatalogIndex.read(root)
    m = index.manifest
    stats = {
        "index": str(root), "version": m.version, "type": m.index_type, "model": m.model_identity,
        "products": m.products, "images": m.images, "dim": m.dim,
        "bytes": {p.name: p.stat().st_size for p in sorted(index.version_dir.iterdir())},
        "versions": IndexFolder(root).history(),
    }
    embeddings = np.asarray(index.embeddings, dtype=np.float32)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(embeddings), size=min(sample, len(embeddings)), replace=False)
    queries = embeddings[rows] + rng.normal(0, 0.5 / np.sqrt(m.dim), (len(rows), m.dim)).astype(np.float32)
    faiss.normalize_L2(queries)
    exact = faiss.IndexFlatIP(m.dim)
    exact.add(embeddings)
    k = min(k, len(embeddings))
    _, truth = exact.search(queries, k)
    started = time.perf_counter()
    _, found = index.nearest_images(queries, k)
    seconds = time.perf_counter() - started
    stats["search"] = {
        "queries": len(rows), "k": k, "ms_per_query": round(1000 * seconds / len(rows), 4),
        f"recall@{k}": round(float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found, strict=True)])), 4),
    }
    return stats
