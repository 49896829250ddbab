"""Reproduce the README's Accuracy section from scratch, offline:

    python scripts/evaluate.py [--out eval-run] [--videos 24] [--seed 0]

1. a 12-product catalog of real photos: the 4 bundled ones and the 8 Debian kivy/labelme photos
   that scripts/fetch_test_media.sh puts in .media/photos;
2. real backgrounds: the bundled street clip, kivy's cityCC0.mpg and the labelme scenes;
3. `shoptag bench make` (seeded), `shoptag index build` (effnet-lite0), and
   `shoptag eval` at the default settings with a sweep over each accuracy stage (geometric
   verification, pooled regions, tracking: off/on), the threshold and fps. `--seed 1` gives a
   held-out benchmark.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench_support import MEDIA, copy_backgrounds, run_steps

from shoptag.demo import DEMO_PRODUCTS, media_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("eval-run"))
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="append", default=None)
    args = parser.parse_args()
    if not (MEDIA / ".complete").exists():
        print(f"real media missing at {MEDIA}: run scripts/fetch_test_media.sh first", file=sys.stderr)
        return 1
    catalog_dir = args.out / "catalog"
    catalog_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for product_id, title, photo in DEMO_PRODUCTS:
        shutil.copyfile(media_path(photo), catalog_dir / photo)
        rows.append({"product_id": product_id, "title": title, "images": [photo]})
    for photo in sorted((MEDIA / "photos").glob("*.jpg")):
        shutil.copyfile(photo, catalog_dir / photo.name)
        rows.append({"product_id": photo.stem.lower(), "title": photo.stem, "images": [photo.name]})
    (catalog_dir / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    backgrounds = copy_backgrounds(args.out / "backgrounds")

    sweeps = args.sweep if args.sweep is not None else [
        "verify=false,true", "region_pooling=false,true", "track=false,true", "threshold=0.45:0.7:0.05", "fps=1,2"]
    steps = [
        ["bench", "make", "--catalog", catalog_dir / "catalog.jsonl", "--backgrounds", backgrounds,
         "--out", args.out / "bench", "--videos", args.videos, "--seed", args.seed],
        ["index", "build", catalog_dir / "catalog.jsonl", "--index", args.out / "index", "--model", "effnet-lite0"],
        ["eval", "--index", args.out / "index", "--annotations", args.out / "bench" / "annotations.json",
         "--out", args.out / "report", *[part for s in sweeps for part in ("--sweep", s)]],
    ]
    return run_steps(steps)


if __name__ == "__main__":
    sys.exit(main())
