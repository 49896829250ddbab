"""One seed of the catalog-scale benchmark from scratch, offline (scripts/evaluate.py runs
every seed docs/accuracy.md reports):

    python scripts/catalog_benchmark.py [--out catalog-run] [--videos 48] [--seed 0]

1. a catalog of over 300 real products (shoptag.evaluation.catalog_bench): openclipart's flat
   graphics, crops of KDE's and GNOME's wallpapers, the small benchmark's real photos, and
   near-identical variants (colourways, second crops);
2. `shoptag bench make` over the same real backgrounds as scripts/evaluate.py, with products
   from 8 % to 45 % of the frame's width; a quarter of the videos are product-free;
3. `shoptag index build` (effnet-lite0) and `shoptag eval` at the default settings, with any
   `--sweep` given.
Run scripts/fetch_test_media.sh first (or let the test suite run it).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from bench_support import MEDIA, catalog_scale_catalog, copy_backgrounds, run_steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("catalog-run"))
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="append", default=[])
    parser.add_argument("--reuse-index", action="store_true", help="keep an index built by an earlier run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (MEDIA / "packages").is_dir():
        print(f"catalog sources missing at {MEDIA}: run scripts/fetch_test_media.sh first", file=sys.stderr)
        return 1
    catalog = catalog_scale_catalog(args.out / "catalog")
    backgrounds = copy_backgrounds(args.out / "backgrounds")
    bench = args.out / f"bench-seed{args.seed}"
    steps = [
        ["bench", "make", "--catalog", catalog, "--backgrounds", backgrounds, "--out", bench,
         "--videos", args.videos, "--seed", args.seed, "--min-width", 0.08, "--max-width", 0.45],
        ["eval", "--index", args.out / "index", "--annotations", bench / "annotations.json",
         "--out", args.out / f"report-seed{args.seed}", *[part for s in args.sweep for part in ("--sweep", s)]],
    ]
    if not (args.reuse_index and (args.out / "index").exists()):
        shutil.rmtree(args.out / "index", ignore_errors=True)
        steps.insert(1, ["index", "build", catalog, "--index", args.out / "index", "--model", "effnet-lite0"])
    return run_steps(steps)


if __name__ == "__main__":
    sys.exit(main())
