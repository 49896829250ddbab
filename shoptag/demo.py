"""The offline demo: a small catalog from bundled real photos, a clip made by moving two of
them through bundled real street footage for known intervals, an index built with
effnet-lite0, and the tags found in that clip."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2

from shoptag.bundled import FOOTAGE, media_path
from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.images import ImageReader
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.writer import build_index
from shoptag.model.base import Embedder
from shoptag.settings import Settings
from shoptag.tagging.calibration import background_bank
from shoptag.tagging.tagger import Tagger, TagResult
from shoptag.video.compose import Appearance, Placement, compose_clip
from shoptag.video.playable import write_playable

# product_id, title, bundled photo (public domain / CC0, see shoptag/media/LICENSES.md)
# The demo clip keeps its size and rate: its copy for browsers changes only the codec.
_DEMO_MAX_SIDE = 3840
_DEMO_MAX_FPS = 60.0

DEMO_PRODUCTS = (
    ("espresso-cup", "Espresso cup, white porcelain", "coffee.jpg"),
    ("rocket-poster", "Falcon 9 launch poster", "rocket.jpg"),
    ("cat-print", "Tabby cat art print", "chelsea.jpg"),
    ("astronaut-poster", "Astronaut portrait poster", "astronaut.jpg"),
)
# (product_id, start_s, end_s, width_frac, y_frac): two products, at different times.
DEMO_APPEARANCES = (
    ("espresso-cup", 0.8, 3.6, 0.32, 0.12),
    ("astronaut-poster", 4.2, 7.0, 0.24, 0.35),
)


@dataclass
class DemoRun:
    result: TagResult
    truth: dict[str, Appearance]
    json_path: Path
    video_path: Path


def write_demo_catalog(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for product_id, title, photo in DEMO_PRODUCTS:
        shutil.copyfile(media_path(photo), folder / photo)
        lines.append(json.dumps({"product_id": product_id, "title": title, "images": [photo],
                                 "url": f"https://demo.shoptag.invalid/products/{product_id}"}))
    catalog = folder / "catalog.jsonl"
    catalog.write_text("\n".join(lines) + "\n")
    return catalog


def write_demo_video(path: Path) -> dict[str, Appearance]:
    photos = {product_id: photo for product_id, _, photo in DEMO_PRODUCTS}
    placements = [
        Placement(cv2.cvtColor(cv2.imread(str(media_path(photos[pid]))), cv2.COLOR_BGR2RGB),
                  start, end, width, y)
        for pid, start, end, width, y in DEMO_APPEARANCES
    ]
    _, appearances = compose_clip(media_path(FOOTAGE), placements, path)
    return {pid: appearance for (pid, *_), appearance in zip(DEMO_APPEARANCES, appearances, strict=True)}


def run_demo(out: Path, embedder: Embedder, settings: Settings) -> DemoRun:
    out.mkdir(parents=True, exist_ok=True)
    catalog = read_catalog(write_demo_catalog(out / "catalog"))
    report = build_index(catalog, embedder, out / "index", ImageReader(settings.images, settings.fetch),
                         bank=background_bank(embedder, settings))
    # Composed as MPEG-4 Part 2 (what OpenCV writes), then kept as H.264, which browsers play:
    # the clip a newcomer drops on the review page plays there.
    composed = out / ".demo-composed.mp4"
    truth = write_demo_video(composed)
    video = out / "demo.mp4"
    try:
        write_playable(composed, video, _DEMO_MAX_SIDE, _DEMO_MAX_FPS)
    finally:
        composed.unlink(missing_ok=True)
    index = CatalogIndex.load(report.path, embedder)
    result = Tagger(embedder, index, settings.tagging, settings.video).tag(video)
    json_path = out / "tags.json"
    json_path.write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    return DemoRun(result, truth, json_path, video)
