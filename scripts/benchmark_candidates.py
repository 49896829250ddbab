"""How descriptor voting (indexing.descriptor_index) scales with the catalog:

    python scripts/benchmark_candidates.py [--sizes 100,1000,3000,10000]

Catalog products are synthetic but made of real SIFT descriptors: each takes 256 descriptors
drawn from the real photos' pool (the bundled and Debian photos, at every catalog scale) with
noise added, so their distribution is that of real ones. The query is the real descriptors of
one frame of the bundled street clip (up to 2,500, as tagging takes). For each size it prints
the build time, the voting cost per frame and its ratio to the smallest catalog's (the
baseline, measured in the same run), and, up to 1,000 products, exact search's cost and how
often the approximate nearest neighbour is the exact one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import faiss
import numpy as np
from bench_support import MEDIA

from shoptag.bundled import media_path
from shoptag.demo import DEMO_PRODUCTS
from shoptag.indexing.descriptor_index import VOTING_DESCRIPTORS, DescriptorIndex
from shoptag.indexing.local_features import LocalFeatures, catalog_features
from shoptag.tagging.verify import frame_features

EXACT_UP_TO = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,3000,10000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    photos = [media_path(photo) for _, _, photo in DEMO_PRODUCTS] + sorted((MEDIA / "photos").glob("*.jpg"))
    pool = np.concatenate([catalog_features(_rgb(p)).descriptors for p in photos]).astype(np.float32)
    capture = cv2.VideoCapture(str(media_path("city.mp4")))
    frame = cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB)
    capture.release()
    query = frame_features(frame).descriptors.astype(np.float32)
    rng = np.random.default_rng(0)
    print(f"descriptor pool: {len(pool)} real descriptors from {len(photos)} photos; query: {len(query)} "
          f"descriptors of one real frame")
    print(f"{'products':>9s} {'descriptors':>12s} {'build s':>8s} {'vote ms':>8s} {'ratio':>6s} "
          f"{'exact ms':>9s} {'same NN':>8s}")
    baseline = None
    for size in (int(s) for s in args.sizes.split(",")):
        features = [_synthetic_product(pool, rng) for _ in range(size)]
        started = time.perf_counter()
        index = DescriptorIndex.build(features, list(range(size)))
        build_s = time.perf_counter() - started
        vote_ms = _best_ms(index.votes, query, args.repeats)
        baseline = baseline or vote_ms
        exact = ""
        if size <= EXACT_UP_TO:
            data = np.concatenate([f.descriptors for f in features]).astype(np.float32)
            flat = faiss.IndexFlatL2(data.shape[1])
            flat.add(data)
            exact_ms = _best_ms(lambda q: flat.search(q, 1), query, 1)  # noqa: B023 (called at once)
            approx = index.nearest(query, 1)[1][:, 0]
            same = float(np.mean(approx == flat.search(query, 1)[1][:, 0]))
            exact = f"{exact_ms:9.1f} {same:8.3f}"
        print(f"{size:9d} {size * VOTING_DESCRIPTORS:12d} {build_s:8.1f} {vote_ms:8.1f} {vote_ms / baseline:6.2f} "
              f"{exact}")


def _synthetic_product(pool: np.ndarray, rng: np.random.Generator) -> LocalFeatures:
    rows = pool[rng.choice(len(pool), VOTING_DESCRIPTORS, replace=False)]
    descriptors = np.clip(rows + rng.normal(0, 8, rows.shape), 0, 255).astype(np.uint8)
    return LocalFeatures(np.zeros((len(rows), 2), np.float32), descriptors, (512, 512))


def _best_ms(run, query: np.ndarray, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run(query)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


if __name__ == "__main__":
    main()
