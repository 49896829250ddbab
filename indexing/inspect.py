"""Check an index version for damage, and describe it (sizes; recall of approximate search)."""

from __future__ import annotations

import time
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.evaluation import knn_intersection_measure

from shoptag.errors import IndexLoadError
from shoptag.indexing.manifest import Manifest
from shoptag.indexing.segments import read_layout
from shoptag.indexing.store import CatalogIndex, Placed, checked_segment, version_problems
from shoptag.indexing.versions import IndexFolder


def verify_index(root: Path) -> list[str]:
    """Problems found in the current version (empty when it is sound): file hashes, files that
    do not parse, counts, and that every FAISS id maps to exactly one product image and back,
    in each of its segments, and that its segments add up. Damage is reported, never raised."""
    try:
        version_dir = IndexFolder(root).current_dir()
        manifest = Manifest.read(version_dir)
        manifest.verify_files(version_dir)
        placements = read_layout(version_dir)
    except IndexLoadError as exc:
        return [exc.message]
    problems, placed = [], []
    for placement in placements:
        segment, found = checked_segment(Path(root), placement, manifest)
        problems += found if len(placements) == 1 else [f"segment {placement.name}: {p}" for p in found]
        if segment is not None:
            placed.append(Placed(segment, frozenset(placement.removed)))
    return problems or version_problems(manifest, placed)


def index_stats(root: Path, sample: int = 200, k: int = 10, seed: int = 0) -> dict:
    """Sizes, and for approximate indexes recall@k against exact search, measured with
    ``sample`` queries made by perturbing stored vectors (so the true neighbours are not
    trivially the query itself)."""
    index = CatalogIndex.read(root)
    m = index.manifest
    stats = {
        "index": str(root), "version": m.version, "type": m.index_type, "model": m.model_identity,
        "products": m.products, "images": m.images, "dim": m.dim,
        "bytes": _bytes(index),
        "segments": [{"name": p.segment.name, "type": p.segment.kind,
                      "images": p.live_images, "removed_products": len(p.removed)} for p in index.placed],
        "versions": IndexFolder(root).history(),
    }
    ids = index.image_ids()  # the version's own images: not those of products it left out
    embeddings = np.asarray(index.embeddings[ids], dtype=np.float32)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(embeddings), size=min(sample, len(embeddings)), replace=False)
    queries = embeddings[rows] + rng.normal(0, 0.5 / np.sqrt(m.dim), (len(rows), m.dim)).astype(np.float32)
    faiss.normalize_L2(queries)
    exact = faiss.IndexIDMap(faiss.IndexFlatIP(m.dim))
    exact.add_with_ids(embeddings, ids)
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


def _bytes(index: CatalogIndex) -> dict[str, int]:
    """Bytes per file name, over the version's segments."""
    sizes: dict[str, int] = {}
    for folder in [index.version_dir, *(p.segment.folder for p in index.placed)]:
        for path in sorted(folder.iterdir()):
            sizes[path.name] = sizes.get(path.name, 0) + path.stat().st_size
    return sizes
