"""Measure a match threshold for one model on real footage.

Negatives: every sampled frame of each product-free background video, scored against the
whole catalog (the best score of any product). Positives: each catalog product's first image
moved through the first background for a known interval (``shoptag.video.compose``), scored
for that product on the frames where it is visible. Prints both distributions and the lowest
threshold that no negative frame reaches (plus a margin), with the share of positive frames
that pass it.

    python scripts/measure_threshold.py --catalog CATALOG.jsonl --background city.mp4 \
        [--background more.mp4 ...] [--model effnet-lite0] [--crops]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.images import ImageReader, load_image
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.writer import build_index
from shoptag.model import create_embedder
from shoptag.settings import ModelSettings, Settings
from shoptag.tagging import Tagger
from shoptag.video.compose import Placement, compose_clip

MARGIN = 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--background", type=Path, action="append", required=True)
    parser.add_argument("--model", default="effnet-lite0")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--crops", action="store_true",
                        help="embed each region crop separately instead of pooling one forward pass")
    args = parser.parse_args()

    settings = Settings(model=ModelSettings(spec=args.model))
    embedder = create_embedder(settings.model)
    catalog = read_catalog(args.catalog)
    # Score everything: the threshold is what is being measured.
    tagging = settings.tagging.model_copy(
        update={"threshold": -1.0, "fps": args.fps, "region_pooling": not args.crops})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report = build_index(catalog, embedder, work / "index", ImageReader(settings.images))
        index = CatalogIndex.load(report.path, embedder)
        tagger = Tagger(embedder, index, tagging, settings.video)
        negatives = []
        for background in args.background:
            for frame in tagger.scan(background).frames:
                if frame.matches:
                    negatives.append(max(score for score, _ in frame.matches.values()))
        positives = []
        indexed = {p.product_id: i for i, p in enumerate(index.products)}
        for position, product in enumerate(catalog.products):
            if product.product_id not in indexed:
                continue  # none of its images could be loaded; the build reported it
            image = load_image(product.images[0], catalog.base_dir, settings.images).pixels
            clip = work / f"positive-{position}.mp4"
            _, (appearance,) = compose_clip(args.background[0], [Placement(image, 1.0, 5.0)], clip)
            for frame in tagger.scan(clip).frames:
                if appearance.start_s <= frame.time_s <= appearance.end_s and not frame.defect:
                    positives.append(frame.matches.get(indexed[product.product_id], (-1.0, None))[0])

    negatives_a, positives_a = np.array(negatives), np.array(positives)
    threshold = float(np.ceil((negatives_a.max() + MARGIN) * 100) / 100)
    report = {
        "model": embedder.identity,
        "catalog_products": len(catalog.products),
        "negative_frames": len(negatives_a),
        "negative_max": round(float(negatives_a.max()), 4),
        "negative_p99": round(float(np.percentile(negatives_a, 99)), 4),
        "positive_frames": len(positives_a),
        "positive_min": round(float(positives_a.min()), 4),
        "positive_p05": round(float(np.percentile(positives_a, 5)), 4),
        "positive_median": round(float(np.median(positives_a)), 4),
        "region_pooling": tagging.region_pooling,
        "suggested_threshold": threshold,
        "positive_frames_passing": round(float((positives_a >= threshold).mean()), 4),
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
