"""A catalog of hundreds of varied real products, for the catalog-scale benchmark.

Built from the images Debian packages ship (``scripts/fetch_test_media.sh`` puts them under
``packages/``): openclipart's flat graphics (logos, icons, printed-box-like artwork: products
with big flat areas), crops of KDE's and GNOME's wallpapers (textured photos), and the real
photos the small benchmark uses. Near-identical variants are added the way merchants have
them: a second colourway of a product (its hues turned) and the same photo cropped twice.
Products whose photos are the same pixels (openclipart ships some drawings in two categories)
are marked variants of the first of them too: nothing could tell them apart.
Each row carries ``source`` (``graphic`` or ``photo``), ``kind`` and, for a variant,
``variant_of``, which ``shoptag bench make`` turns into interchangeable products in the
annotations. ``kind`` is measured, not assumed from the source: ``textured`` where the photo
has enough SIFT points for geometric verification (many wallpapers are smooth gradients, much
line art is not), ``flat`` otherwise.

The same seed and sources give the same catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from shoptag.evaluation.annotations import AnnotationError
from shoptag.indexing.local_features import catalog_features

logger = logging.getLogger(__name__)

FLAT, TEXTURED = "flat", "textured"
GRAPHIC, PHOTO = "graphic", "photo"
_MAX_SIDE = 640


@dataclass(frozen=True)
class CatalogSpec:
    flat: int = 190
    crops_per_wallpaper: int = 3
    colourways: int = 14
    recrops: int = 10
    seed: int = 0


def build_catalog(packages: Path, photos: list[Path], out: Path, spec: CatalogSpec) -> Path:
    """Write product images and ``catalog.jsonl`` into ``out``; returns the catalog's path."""
    rng = np.random.default_rng(spec.seed)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for number, source in enumerate(_flat_sources(packages / "openclipart", spec.flat, rng)):
        rows.append(_save(out, f"graphic-{number:03d}", source.stem.replace("_", " "), _flat(source), GRAPHIC))
    for number, (source, image) in enumerate(_wallpaper_crops(packages, spec.crops_per_wallpaper, rng)):
        name = source.parent.parent.parent.name if source.parent.name == "images" else source.stem
        rows.append(_save(out, f"print-{number:03d}", f"{name} print", image, PHOTO))
    for source in photos:
        rows.append(_save(out, f"photo-{source.stem.lower()}", source.stem, _rgb(source), PHOTO))
    rows += _variants(out, rows, spec, rng)
    _mark_identical(out, rows)
    catalog = out / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(row) + "\n" for row in rows))
    logger.info("catalog of %d products (%d flat, %d graphics) in %s", len(rows), sum(r["kind"] == FLAT for r in rows),
                sum(r["source"] == GRAPHIC for r in rows), catalog)
    return catalog


def _flat_sources(folder: Path, count: int, rng: np.random.Generator) -> list[Path]:
    """``count`` openclipart graphics, drawn across all its categories, big enough to show."""
    sources = sorted(folder.rglob("*.png"))
    if not sources:
        raise AnnotationError(f"no openclipart PNGs in {folder}: run scripts/fetch_test_media.sh")
    chosen = []
    for position in rng.permutation(len(sources)):
        with Image.open(sources[position]) as image:
            if min(image.size) >= 150:
                chosen.append(sources[position])
        if len(chosen) == count:
            break
    return sorted(chosen)


def _flat(path: Path) -> np.ndarray:
    """A graphic on white, as printed on a product, trimmed to its artwork."""
    with Image.open(path) as image:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    alpha = rgba[..., 3:] / 255.0
    rgb = (rgba[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    ys, xs = np.nonzero(alpha[..., 0] > 0.1)
    if len(xs):
        pad = 8
        rgb = rgb[max(0, ys.min() - pad):ys.max() + pad, max(0, xs.min() - pad):xs.max() + pad]
    return _fit(rgb)


def _wallpaper_crops(packages: Path, per_image: int, rng: np.random.Generator):
    """Distinct crops of each wallpaper (each a different print), the largest file of each."""
    sources = []
    for folder in sorted((packages / "wallpapers").glob("*/contents/images")):
        files = [p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png")]
        if files:
            sources.append(max(files, key=lambda p: p.stat().st_size))
    sources += sorted((packages / "gnome-backgrounds").glob("*.webp"))
    if not sources:
        raise AnnotationError(f"no wallpapers under {packages}: run scripts/fetch_test_media.sh")
    for source in sources:
        image = _rgb(source, max_side=1600)
        height, width = image.shape[:2]
        for slot in range(per_image):
            crop_w = int(width * rng.uniform(0.3, 0.45))
            crop_h = int(crop_w * rng.uniform(0.6, 1.2))
            x0 = int((width - crop_w) * (slot + rng.uniform(0.1, 0.9)) / per_image)
            y0 = int(rng.integers(0, max(1, height - crop_h)))
            yield source, _fit(image[y0:y0 + crop_h, x0:x0 + crop_w])


def _variants(out: Path, rows: list[dict], spec: CatalogSpec, rng: np.random.Generator) -> list[dict]:
    """Colourways (hue turned) of flat and textured products, and second crops of photos."""
    variants = []
    for row in [rows[i] for i in rng.choice(len(rows), spec.colourways, replace=False)]:
        image = _rgb(out / row["images"][0])
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(45, 135))) % 180
        recoloured = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        variants.append(_save(out, f"{row['product_id']}-colourway", f"{row['title']} (colourway)", recoloured,
                              row["source"], variant_of=row["product_id"]))
    photos = [r for r in rows if r["source"] == PHOTO]
    for row in [photos[i] for i in rng.choice(len(photos), spec.recrops, replace=False)]:
        image = _rgb(out / row["images"][0])
        height, width = image.shape[:2]
        keep = rng.uniform(0.8, 0.9)
        x0, y0 = int(width * (1 - keep) * rng.random()), int(height * (1 - keep) * rng.random())
        cropped = image[y0:y0 + int(height * keep), x0:x0 + int(width * keep)]
        variants.append(_save(out, f"{row['product_id']}-recrop", f"{row['title']} (second photo)", _fit(cropped),
                              row["source"], variant_of=row["product_id"]))
    return variants


def _mark_identical(out: Path, rows: list[dict]) -> None:
    """Give each product whose decoded photo repeats an earlier product's the earlier one as
    ``variant_of``."""
    first: dict[str, str] = {}
    for row in rows:
        digest = hashlib.sha256(cv2.imread(str(out / row["images"][0])).tobytes()).hexdigest()
        original = first.setdefault(digest, row["product_id"])
        if original != row["product_id"] and "variant_of" not in row:
            row["variant_of"] = original


def _rgb(path: Path, max_side: int = _MAX_SIDE) -> np.ndarray:
    with Image.open(path) as image:
        return _fit(np.asarray(image.convert("RGB")), max_side)


def _fit(rgb: np.ndarray, max_side: int = _MAX_SIDE) -> np.ndarray:
    scale = max_side / max(rgb.shape[:2])
    if scale >= 1:
        return np.ascontiguousarray(rgb)
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _save(out: Path, product_id: str, title: str, rgb: np.ndarray, source: str,
          variant_of: str | None = None) -> dict:
    name = f"{product_id}.jpg"
    cv2.imwrite(str(out / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    kind = TEXTURED if catalog_features(rgb).textured else FLAT
    row = {"product_id": product_id, "title": title, "images": [name], "source": source, "kind": kind}
    if variant_of:
        row["variant_of"] = variant_of
    return row
