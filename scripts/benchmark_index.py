"""Cost of a full index build vs an incremental update, against a baseline measured in the
same run (index types at scale: ``scripts/benchmark_large_index.py``).

    python scripts/benchmark_index.py [--images 1200] [--changed-pct 1]

Catalog: --images distinct product photos made from real photos (the bundled ones, plus
Debian's kivy/labelme photos in .media/ when fetched): random crops, flips and colour
shifts, saved as JPEG. Full build (baseline) vs `update` after --changed-pct of the images
are replaced with new ones, on effnet-lite0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from bench_support import MEDIA

from shoptag.demo import DEMO_PRODUCTS, media_path
from shoptag.indexing import ImageReader, build_index, read_catalog, update_index
from shoptag.model import create_embedder
from shoptag.settings import ImageLimits, ModelSettings


def source_photos() -> list[np.ndarray]:
    paths = [media_path(photo) for _, _, photo in DEMO_PRODUCTS] + sorted((MEDIA / "photos").glob("*.jpg"))
    return [image for path in paths if (image := cv2.imread(str(path))) is not None]


def variant(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = photo.shape[:2]
    h, w = int(height * rng.uniform(0.5, 0.9)), int(width * rng.uniform(0.5, 0.9))
    y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    crop = photo[y:y + h, x:x + w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.clip(crop.astype(np.float32) * rng.uniform(0.7, 1.3, 3), 0, 255).astype(np.uint8)
    scale = 256 / max(crop.shape[:2])
    return cv2.resize(crop, (int(crop.shape[1] * scale), int(crop.shape[0] * scale)))


def write_catalog(folder: Path, count: int, rng: np.random.Generator) -> Path:
    photos = source_photos()
    folder.mkdir(parents=True)
    rows = []
    for n in range(count):
        cv2.imwrite(str(folder / f"img{n}.jpg"), variant(photos[n % len(photos)], rng))
        rows.append({"product_id": f"p{n}", "title": f"Product {n}", "images": [f"img{n}.jpg"]})
    (folder / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "catalog.jsonl"


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--changed-pct", type=float, default=1.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    embedder = create_embedder(ModelSettings(spec="effnet-lite0"))
    reader = ImageReader(ImageLimits())
    with tempfile.TemporaryDirectory(prefix="shoptag-bench-") as tmp:
        catalog = write_catalog(Path(tmp) / "catalog", args.images, rng)
        index_dir = Path(tmp) / "index"
        _, full_s = timed(lambda: build_index(read_catalog(catalog), embedder, index_dir, reader))
        changed = max(1, round(args.images * args.changed_pct / 100))
        photos = source_photos()
        for n in rng.choice(args.images, changed, replace=False):
            cv2.imwrite(str(catalog.parent / f"img{n}.jpg"), variant(photos[n % len(photos)], rng))
        report, update_s = timed(lambda: update_index(read_catalog(catalog), embedder, index_dir, reader))
        _, noop_s = timed(lambda: update_index(read_catalog(catalog), embedder, index_dir, reader))
    print(f"catalog: {args.images} images from {len(photos)} real photos; cpu cores {os.cpu_count()}; "
          f"torch threads default")
    print(f"{'step':48s} {'seconds':>8s} {'ratio':>7s}")
    print(f"{'full build (baseline)':48s} {full_s:8.2f} {1:7.3f}")
    label = f"update, {changed} images changed ({report.images_embedded} embedded, {report.images_reused} reused)"
    print(f"{label:48s} {update_s:8.2f} {update_s / full_s:7.3f}")
    print(f"{'update, nothing changed':48s} {noop_s:8.2f} {noop_s / full_s:7.3f}")

    return 0


if __name__ == "__main__":
    sys.exit(main())
