"""An index at a million images, per index type: build time, memory of a service that loads it,
single-edit time, search latency and recall@10, through the real writer and loader.

    python scripts/benchmark_large_index.py [--size 1000000] [--types flat,hnsw,ivfpq]

Vectors are drawn around real embeddings (effnet-lite0 on crops of the bundled and Debian
photos, plus noise, normalised), one image per product; queries are perturbed catalog vectors,
14 at a time (one frame's regions). Each type runs in its own process, and each loaded index is
measured in a fresh process (its memory: what a service holding it would use).

Baselines, measured in the same run:
- edit: writing the whole version again, which is what every edit cost before versions shared
  their segments (the build's write, without embedding);
- search: exact flat search at the same size (also the truth recall is measured against).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from benchmark_index import source_photos, variant
from faiss.contrib.evaluation import knn_intersection_measure

from shoptag.indexing.records import Entry, ImageVector, Product
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.writer import Change, ModelRef, rebase_version, write_version
from shoptag.model import create_embedder
from shoptag.settings import ModelSettings

_QUERIES, _BATCH, _CHUNK = 280, 14, 100_000


def real_embeddings(count: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    photos = source_photos()
    embedder = create_embedder(ModelSettings(spec="effnet-lite0"))
    crops = [variant(photos[n % len(photos)], rng) for n in range(count)]
    return np.concatenate([embedder.embed_images(crops[i:i + 32]) for i in range(0, count, 32)])


def catalog_vectors(base: np.ndarray, size: int) -> np.ndarray:
    """``size`` unit vectors, each a real embedding plus noise (made in chunks: 5 GB at 1M)."""
    rng = np.random.default_rng(1)
    dim = base.shape[1]
    vectors = np.empty((size, dim), np.float32)
    for start in range(0, size, _CHUNK):
        rows = base[rng.integers(0, len(base), min(_CHUNK, size - start))]
        vectors[start:start + len(rows)] = rows + rng.normal(0, 0.7 / np.sqrt(dim), rows.shape).astype(np.float32)
    faiss.normalize_L2(vectors)
    return vectors


def query_vectors(vectors: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(2)
    dim = vectors.shape[1]
    queries = vectors[rng.integers(0, len(vectors), _QUERIES)] + rng.normal(0, 0.5 / np.sqrt(dim), (_QUERIES, dim))
    queries = queries.astype(np.float32)
    faiss.normalize_L2(queries)
    return queries


def entries_of(vectors: np.ndarray, start: int = 0, tag: str = "") -> list[Entry]:
    return [Entry(Product(f"p{n}", f"Product {n}{tag}", (f"p{n}.jpg",)),
                  (ImageVector(f"p{n}.jpg", f"{n:032x}{tag.encode().hex():0>32}"[:64], vectors[n - start]),))
            for n in range(start, start + len(vectors))]


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def measure_loaded(root: Path, queries_path: Path, truth_path: Path) -> dict:
    """In a fresh process: load the index, then search it (latency, recall@10)."""
    before = rss_mb()
    index, load_s = timed(lambda: CatalogIndex.read(root))
    loaded_mb = rss_mb() - before
    queries, truth = np.load(queries_path), np.load(truth_path)
    index.nearest_images(queries[:_BATCH], 10)  # warm
    found, search_s = timed(lambda: np.concatenate([index.nearest_images(queries[i:i + _BATCH], 10)[1]
                                                     for i in range(0, len(queries), _BATCH)]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_s": load_s, "rss_mb": loaded_mb, "peak_rss_mb": peak_mb,
            "ms_per_frame": 1000 * search_s / (len(queries) / _BATCH),
            "recall": float(knn_intersection_measure(truth, found)), "segments": len(index.placed)}


def run_type(kind: str, size: int, work: Path) -> dict:
    base = np.load(work / "base.npy")
    vectors = catalog_vectors(base, size)
    entries = entries_of(vectors)
    model = ModelRef("effnet-lite0", json.loads((work / "model.json").read_text())["identity"], vectors.shape[1])
    root = work / f"index-{kind}"
    index, build_s = timed(lambda: write_version(root, model, entries, kind, keep=2))
    result = {"type": kind, "build_s": build_s, "disk_mb": sum(p.stat().st_size for p in root.rglob("*")
                                                                if p.is_file()) / 2**20}
    result["loaded"] = loaded(root, work)
    # One product changed (new image vector and title), then one removed: each a new version.
    changed = entries_of(catalog_vectors(base, 1), start=7, tag=" v2")
    index, result["edit_s"] = timed(lambda: rebase_version(root, model, lambda b: Change(tuple(changed)), index, 2))
    index, result["remove_s"] = timed(lambda: rebase_version(root, model, lambda b: Change(removed=frozenset({"p9"})),
                                                             index, 2))
    result["edited"] = loaded(root, work)
    return result


def loaded(root: Path, work: Path) -> dict:
    run = subprocess.run([sys.executable, __file__, "--measure", str(root), "--work", str(work)],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--types", default="flat,hnsw,ivfpq")
    parser.add_argument("--base-images", type=int, default=320)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-type", help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_loaded(args.measure, args.work / "queries.npy", args.work / "truth.npy")))
        return 0
    if args.run_type:
        print(json.dumps(run_type(args.run_type, args.size, args.work)))
        return 0
    with tempfile.TemporaryDirectory(prefix="shoptag-bench-", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        base = real_embeddings(args.base_images)
        np.save(work / "base.npy", base)
        identity = create_embedder(ModelSettings(spec="effnet-lite0")).identity
        (work / "model.json").write_text(json.dumps({"identity": identity}))
        vectors = catalog_vectors(base, args.size)
        queries = query_vectors(vectors)
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        _, truth = exact.search(queries, 10)
        np.save(work / "queries.npy", queries)
        np.save(work / "truth.npy", truth)
        del exact, vectors
        results = []
        for kind in args.types.split(","):
            run = subprocess.run([sys.executable, __file__, "--run-type", kind, "--size", str(args.size),
                                  "--work", str(work)], capture_output=True, text=True)
            if run.returncode:
                print(f"{kind}: failed\n{run.stderr[-3000:]}", file=sys.stderr)
                continue
            results.append(json.loads(run.stdout.strip().splitlines()[-1]))
            for old in work.glob(f"index-{kind}"):
                subprocess.run(["rm", "-rf", str(old)], check=True)
    print(f"{args.size:,} images of dim {base.shape[1]} (around {args.base_images} real embeddings); "
          f"cpu cores {os.cpu_count()}; {_BATCH} queries per frame")
    flat = next((r for r in results if r["type"] == "flat"), None)
    print(f"{'type':6s} {'build s':>8s} {'disk MB':>8s} {'load s':>7s} {'RSS MB':>7s} {'edit s':>7s} "
          f"{'edit ratio':>10s} {'remove s':>8s} {'ms/frame':>9s} {'vs flat':>8s} {'recall@10':>9s} "
          f"{'after edits: ms/frame':>21s} {'recall@10':>9s}")
    for r in results:
        loaded_, edited = r["loaded"], r["edited"]
        print(f"{r['type']:6s} {r['build_s']:8.1f} {r['disk_mb']:8.0f} {loaded_['load_s']:7.1f} "
              f"{loaded_['rss_mb']:7.0f} {r['edit_s']:7.2f} {r['edit_s'] / r['build_s']:10.4f} {r['remove_s']:8.2f} "
              f"{loaded_['ms_per_frame']:9.2f} "
              f"{loaded_['ms_per_frame'] / flat['loaded']['ms_per_frame'] if flat else float('nan'):8.3f} "
              f"{loaded_['recall']:9.3f} {edited['ms_per_frame']:21.2f} {edited['recall']:9.3f}")
    print("edit ratio: one product changed / writing the whole version (the build's time: what an edit cost "
          "before); vs flat: search time / exact search at the same size; RSS: what loading it added to a "
          "fresh process")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
