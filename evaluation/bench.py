"""Generate a labelled benchmark: catalog product photos placed into real background footage
for known intervals, with the changes real clips bring — motion, scale and perspective
change, rotation, partial occlusion, blur, lighting change, compression. Some videos hold no
product, some several. The same seed gives the same benchmark. This module plans each video
(its products, how each moves and changes, its footage, its compression) and writes the
annotations; ``shoptag.video.compose`` renders the clips.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from shoptag.batch.sources import VIDEO_SUFFIXES
from shoptag.errors import ImageLoadError
from shoptag.evaluation.activitynet import write_activitynet_truth
from shoptag.evaluation.annotations import AnnotationError, TruthAppearance, VideoAnnotation, write_annotations
from shoptag.indexing.catalog import Catalog
from shoptag.indexing.images import ImageReader
from shoptag.video.compose import Motion, loop_frames, pan_frames, read_frames, render_clip

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
FRAME_SIZE = (640, 360)
ACTIVITYNET_TRUTH = "activitynet_gt.json"  # the same truth, in ActivityNet's layout


@dataclass(frozen=True)
class BenchSpec:
    videos: int = 24
    duration_s: float = 8.0
    fps: float = 12.0
    seed: int = 0
    product_free_share: float = 0.25
    multi_product_share: float = 0.25
    # The product's on-screen width as a fraction of the frame's, drawn log-uniformly.
    min_width: float = 0.22
    max_width: float = 0.36


def make_benchmark(catalog: Catalog, backgrounds: Path, out: Path, reader: ImageReader, spec: BenchSpec) -> Path:
    """Write ``spec.videos`` MP4 clips, ``annotations.json`` and the same truth as ActivityNet
    ground truth into ``out``; returns the annotations' path. Each appearance carries its box in
    every frame (``track``)."""
    rng = np.random.default_rng(spec.seed)
    photos = _product_photos(catalog, reader)
    variants = _variant_groups(catalog)
    sources = _backgrounds(Path(backgrounds))
    out.mkdir(parents=True, exist_ok=True)
    frame_count = round(spec.duration_s * spec.fps)
    videos = []
    for number in range(spec.videos):
        roll = rng.random()
        multi_from = spec.product_free_share + spec.multi_product_share
        count = 0 if roll < spec.product_free_share else 2 if roll < multi_from else 1
        chosen = rng.choice(len(photos), size=min(count, len(photos)), replace=False)
        motions = [_random_motion(photos[i].pixels, spec, rng) for i in chosen]
        background = _background_frames(sources[int(rng.integers(len(sources)))], frame_count, rng)
        quality = int(rng.integers(35, 90)) if rng.random() < 0.5 else None
        path = out / f"bench_{number:03d}.mp4"
        _, boxes = render_clip(path, background, motions, spec.fps, FRAME_SIZE, quality)
        appearances = tuple(
            TruthAppearance(photos[i].product_id, motion.start_s, motion.end_s,
                            _union([box for _, box in boxes[j]]),
                            sum(motion.width) / 2, photos[i].kind, variants.get(photos[i].product_id, ()),
                            tuple((time_s, *box) for time_s, box in boxes[j]))
            for j, (i, motion) in enumerate(zip(chosen, motions, strict=True)))
        videos.append(VideoAnnotation(path, appearances, duration_s=frame_count / spec.fps))
    write_activitynet_truth(out / ACTIVITYNET_TRUTH, videos)
    annotations = out / "annotations.json"
    write_annotations(annotations, videos, {"generator": {
        "seed": spec.seed, "videos": spec.videos, "duration_s": spec.duration_s, "fps": spec.fps,
        "width": [spec.min_width, spec.max_width],
        "catalog": str(catalog.path), "backgrounds": [str(s) for s in sources]}})
    return annotations


@dataclass(frozen=True)
class _Photo:
    product_id: str
    pixels: np.ndarray  # BGR
    kind: str | None  # the catalog row's "kind", if it has one


def _product_photos(catalog: Catalog, reader: ImageReader) -> list[_Photo]:
    photos = []
    for product in catalog.products:
        try:
            rgb = reader.load(product.images[0], catalog.base_dir).pixels
        except ImageLoadError as exc:
            logger.warning("benchmark skips %s: %s", product.product_id, exc.message)
            continue
        kind = product.metadata.get("kind")
        photos.append(_Photo(product.product_id, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                             kind if isinstance(kind, str) else None))
    if not photos:
        raise AnnotationError(f"no product photo of {catalog.path} could be loaded")
    return photos


def _variant_groups(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """For each product with near-identical variants (rows naming it in ``variant_of``, or the
    product a variant names), the other products of its group."""
    groups: dict[str, set[str]] = {}
    for product in catalog.products:
        original = product.metadata.get("variant_of")
        if isinstance(original, str):
            group = groups.get(original) or groups.setdefault(original, {original})
            group.add(product.product_id)
            groups[product.product_id] = group
    return {product: tuple(sorted(group - {product})) for product, group in groups.items()}


def _backgrounds(folder: Path) -> list[Path]:
    sources = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES)
    if not sources:
        raise AnnotationError(f"no background videos or photos in {folder}")
    return sources


def _background_frames(source: Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` frames of real footage (looped if short), or a slow pan across a real photo."""
    if source.suffix.lower() in VIDEO_SUFFIXES:
        frames = read_frames(source, FRAME_SIZE, limit=400)
        if not frames:
            raise AnnotationError(f"background {source} has no decodable frames")
        return loop_frames(frames, count, int(rng.integers(len(frames))))
    photo = cv2.imread(str(source))
    if photo is None:
        raise AnnotationError(f"background {source} is not a readable image")
    start, end = rng.random(2), rng.random(2)
    return pan_frames(photo, FRAME_SIZE, count, start, end)


def _random_motion(photo: np.ndarray, spec: BenchSpec, rng: np.random.Generator) -> Motion:
    length = rng.uniform(2.0, min(4.0, spec.duration_s - 1.0))
    start = rng.uniform(0.3, spec.duration_s - length - 0.2)
    width = float(np.exp(rng.uniform(np.log(spec.min_width), np.log(spec.max_width))))
    return Motion(
        photo=photo, start_s=start, end_s=start + length,
        path=((rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7)), (rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7))),
        width=(width, width * rng.uniform(0.75, 1.3)),
        angle=(rng.uniform(-12, 12), rng.uniform(-12, 12)),
        corners=rng.uniform(-0.08, 0.08, (4, 2)),
        occlusion=(tuple(rng.uniform([0.0, 0.0, 0.2, 0.3], [0.6, 0.6, 0.4, 0.6])) if rng.random() < 0.3 else None),
        blur_sigma=rng.uniform(0.8, 2.0) if rng.random() < 0.3 else 0.0,
        gain=rng.uniform(0.7, 1.3),
    )


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    boxes = [b for b in boxes if b[2] and b[3]]
    if not boxes:
        return None
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)
