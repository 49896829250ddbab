"""Embedding throughput (images/s) of each backend that can run here, with ratios against the
effnet-lite0 baseline measured in the same run.

    python scripts/benchmark_embedders.py [--spec SPEC ...] [--images 64] [--threads 2]

Specs whose weights are not available locally are reported as skipped, not failed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from shoptag.errors import ModelError
from shoptag.model import create_embedder
from shoptag.settings import ModelSettings

BASELINE = "effnet-lite0"


def images_per_second(spec: str, images: list[np.ndarray], batch_size: int) -> float:
    embedder = create_embedder(ModelSettings(spec=spec, batch_size=batch_size, allow_download=False))
    embedder.embed_images(images[:batch_size])  # warm-up
    started = time.perf_counter()
    embedder.embed_images(images)
    return len(images) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", action="append", default=[])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    # Region crops in tagging are about 256x144 to 640x360; use that size range.
    images = [rng.integers(0, 255, (int(rng.integers(144, 360)), int(rng.integers(256, 640)), 3), dtype=np.uint8)
              for _ in range(args.images)]
    specs = [BASELINE] + [s for s in args.spec if s != BASELINE]
    baseline = None
    print(f"torch threads: {torch.get_num_threads()}, images: {len(images)}")
    print(f"{'spec':45s} {'images/s':>9s} {'ratio':>7s}")
    for spec in specs:
        try:
            rate = images_per_second(spec, images, args.batch_size)
        except ModelError as exc:
            print(f"{spec:45s} skipped: {exc.message}")
            continue
        baseline = baseline or rate
        print(f"{spec:45s} {rate:9.1f} {rate / baseline:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
