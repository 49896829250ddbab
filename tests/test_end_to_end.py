"""End to end on the real ImageNet EfficientNet-Lite0 and real footage: a catalog product
moved through real street video for a known interval must be found there and only there."""

import json
import sys

import pytest

from shoptag.demo import media_path, write_demo_catalog
from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.images import ImageReader
from shoptag.indexing.store import CatalogIndex
from shoptag.indexing.writer import build_index
from shoptag.settings import Settings
from shoptag.tagging import Tagger
from shoptag.video.compose import Placement, compose_clip, write_slideshow

from helpers.media import bundled_rgb, read_rgb

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tagger(tmp_path_factory, effnet, fetched_media):
    """Index of the demo products plus real photos (warehouse products, scenes) as distractors."""
    folder = tmp_path_factory.mktemp("catalog")
    catalog = write_demo_catalog(folder)
    lines = catalog.read_text().splitlines()
    for photo in sorted((fetched_media / "photos").glob("*.jpg")):
        (folder / photo.name).write_bytes(photo.read_bytes())
        lines.append(json.dumps({"product_id": photo.stem, "title": photo.stem, "images": [photo.name]}))
    catalog.write_text("\n".join(lines) + "\n")
    settings = Settings()
    report = build_index(read_catalog(catalog), effnet, folder.parent / "index", ImageReader(settings.images))
    return Tagger(effnet, CatalogIndex.load(report.path, effnet), settings.tagging, settings.video)


def overlap(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))


@pytest.mark.parametrize("photo, product_id, start, end, width", [
    ("coffee.jpg", "espresso-cup", 1.2, 4.9, 0.3),
    ("rocket.jpg", "rocket-poster", 3.0, 6.8, 0.35),
])
def test_product_found_within_half_a_second_with_overlapping_box(tmp_path, tagger, photo, product_id,
                                                                 start, end, width):
    video = tmp_path / "clip.mp4"
    _, (truth,) = compose_clip(media_path("city.mp4"), [Placement(bundled_rgb(photo), start, end, width)], video)
    result = tagger.tag(video)
    assert [t.product_id for t in result.tags] == [product_id]
    (segment,) = result.tags[0].segments
    assert abs(segment.start_s - start) <= 0.5 and abs(segment.end_s - end) <= 0.5
    truth_box = truth.boxes[min(truth.boxes, key=lambda t: abs(t - segment.best_frame_s))]
    assert overlap(segment.bbox, truth_box) > 0.5 * truth_box[2] * truth_box[3]
    assert 0 <= segment.start_s < segment.end_s <= result.duration_s


def test_two_products_in_one_video(tmp_path, tagger):
    video = tmp_path / "two.mp4"
    compose_clip(media_path("city.mp4"), [
        Placement(bundled_rgb("coffee.jpg"), 0.5, 3.0, 0.3, 0.1),
        Placement(bundled_rgb("astronaut.jpg"), 4.0, 7.0, 0.25, 0.35)], video)
    tags = {t.product_id: t.segments for t in tagger.tag(video).tags}
    assert set(tags) == {"espresso-cup", "astronaut-poster"}
    assert tags["espresso-cup"][0].end_s < tags["astronaut-poster"][0].start_s


def test_product_free_footage_gets_no_tags(tmp_path, tagger, fetched_media):
    street = tagger.tag(media_path("city.mp4"))
    assert street.tags == [] and street.frames_sampled >= 15
    scenes = tmp_path / "scenes.mp4"
    write_slideshow([read_rgb(p) for p in sorted((fetched_media / "scenes").glob("*.jpg"))], scenes)
    assert tagger.tag(scenes).tags == []


def test_demo_command_prints_a_correct_tag(tmp_path):
    import subprocess

    completed = subprocess.run([sys.executable, "-m", "shoptag.cli", "demo", "--out", str(tmp_path)],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert "Espresso cup" in completed.stdout and "tags.json" in completed.stdout
    result = json.loads((tmp_path / "tags.json").read_text())
    cup = next(t for t in result["tags"] if t["product_id"] == "espresso-cup")
    assert abs(cup["segments"][0]["start_s"] - 0.8) <= 0.5
