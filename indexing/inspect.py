"""Check an index version for damage, and describe it (sizes; recall of approximate search)."""

from __future__ import annotations

import time
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.evaluation import knn_intersection_measure

from shoptag.errors import IndexLoadError
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.version_files import IMAGE_IDS_NAME, read_version_files, version_problems
from shoptag.indexing.versions import IndexFolder


def verify_index(root: Path) -> list[str]:
    """Problems found in the current version (empty when it is sound): file hashes, files that
    do not parse, counts, and that every FAISS id maps to exactly one product image and back.
    Damage is reported, never raised."""
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
        files = read_version_files(version_dir, manifest)
        stored_ids = np.load(version_dir / IMAGE_IDS_NAME, allow_pickle=False)
    except (IndexLoadError, OSError, ValueError, EOFError) as exc:
        return problems + [exc.message if isinstance(exc, IndexLoadError) else
                           f"version {manifest.version}: {IMAGE_IDS_NAME} cannot be read: {exc}"]
    problems += version_problems(manifest, files)
    image_ids = sorted(image.id for product in files.products for image in product.images)
    if sorted(np.asarray(stored_ids).ravel().tolist()) != image_ids:
        problems.append("stored embedding ids do not match the product images")
    return problems


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
        f"recall@{k}": round(float(knn_intersection_measure(truth, found)), 4),
    }
    return stats
