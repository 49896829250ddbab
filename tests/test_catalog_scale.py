"""Accuracy at catalog scale, pinned on small real cases: abstention on product-free real
footage (the background bank), a small textured product found (multi-scale catalog features
and descriptor votes), a textureless print found by photometric alignment and not on real
footage without it, and near-identical variants reported as alternatives of one tag."""

import json

import cv2
import pytest

from shoptag.boxes import iou
from shoptag.bundled import media_path
from shoptag.indexing import CatalogIndex, ImageReader, build_index, read_catalog
from shoptag.settings import ImageLimits, TaggingSettings, VideoLimits
from shoptag.tagging import FrameMatches, Scan, Tagger
from shoptag.tagging.calibration import background_bank
from shoptag.tagging.photometric import Alignment
from shoptag.video.compose import Placement, compose_clip, write_slideshow

pytestmark = pytest.mark.model
READER = ImageReader(ImageLimits())


def rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def write_catalog(folder, products):
    """products: product id -> RGB image; returns the catalog path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for product_id, image in products.items():
        cv2.imwrite(str(folder / f"{product_id}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rows.append({"product_id": product_id, "title": product_id, "images": [f"{product_id}.jpg"]})
    (folder / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "catalog.jsonl"


def tags(effnet, index_path, video, **settings):
    tagger = Tagger(effnet, CatalogIndex.load(index_path, effnet), TaggingSettings(**settings), VideoLimits())
    return tagger.tag(video).tags


def centre_crop(image, share):
    h, w = image.shape[:2]
    ch, cw = int(h * share), int(w * share)
    return image[(h - ch) // 2:(h + ch) // 2, (w - cw) // 2:(w + cw) // 2].copy()


@pytest.fixture(scope="module")
def packages(fetched_media):
    return fetched_media / "packages"


def test_a_plain_product_is_not_tagged_on_product_free_real_footage(tmp_path, effnet, fetched_media, packages):
    # Two plain single-colour products (GNOME's solid wallpapers) and two real photos of scenes
    # with nothing of the catalog in them, which the bundled street clip (the bank) never shows.
    products = {name: rgb(packages / "gnome-backgrounds" / f"{name}.webp") for name in ("vnc-d", "vnc-l")}
    products["astronaut"] = rgb(media_path("astronaut.jpg"))
    catalog = read_catalog(write_catalog(tmp_path / "catalog", products))
    build_index(catalog, effnet, tmp_path / "calibrated", READER, bank=background_bank(effnet))
    build_index(catalog, effnet, tmp_path / "uncalibrated", READER)
    scenes = []
    for name in ("2011_000006.jpg", "2011_000025.jpg"):
        scene = rgb(fetched_media / "scenes" / name)
        h, w = scene.shape[:2]
        scenes += [scene, scene[: h // 2, : w // 2], scene[: h // 2, w // 2:], scene[h // 2:, : w // 2]]
    video = tmp_path / "scenes.mp4"
    write_slideshow(scenes, video, seconds_each=2.0)

    # Nothing but their look can judge plain products: by default it is a question, not a tag,
    # whether the index has a background bank or not.
    assert tags(effnet, tmp_path / "uncalibrated", video) == []
    # Told as tags, the same looks show what the bank is for.
    assert tags(effnet, tmp_path / "uncalibrated", video, look_alone_tags=True), \
        "the case no longer shows what the bank is for"
    assert tags(effnet, tmp_path / "calibrated", video, look_alone_tags=True) == []
    assert tags(effnet, tmp_path / "calibrated", video) == []
    uncertain = tags(effnet, tmp_path / "calibrated", video, include_uncertain=True)
    assert uncertain and all(s.uncertain and s.score < 0.5 for t in uncertain for s in t.segments)


@pytest.fixture(scope="module")
def photo_catalog(tmp_path_factory, effnet, fetched_media):
    """The 12 real photos of the small benchmark, one of them also as a second photo (a
    tighter crop) and as another colourway (hues turned): near-identical products."""
    folder = tmp_path_factory.mktemp("photos")
    products = {p.stem.lower(): rgb(p) for p in sorted((fetched_media / "photos").glob("*.jpg"))}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        products[name] = rgb(media_path(f"{name}.jpg"))
    hsv = cv2.cvtColor(products["wall"], cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(int) + 90) % 180
    products["wall-colourway"] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    products["wall-second-photo"] = centre_crop(products["wall"], 0.85)
    catalog = write_catalog(folder / "catalog", products)
    build_index(read_catalog(catalog), effnet, folder / "index", READER, bank=background_bank(effnet))
    return folder, products


def test_a_small_textured_product_is_found(tmp_path, effnet, photo_catalog):
    folder, products = photo_catalog
    video = tmp_path / "small.mp4"
    # 10% of the frame's width: 64 px of a 640 px street clip, crossing it in 4 s.
    _, (truth,) = compose_clip(media_path("city.mp4"), [Placement(products["bubbles"], 1.0, 5.0, 0.10, 0.45)], video)
    found = {t.product_id: t for t in tags(effnet, folder / "index", video)}
    assert list(found) == ["bubbles"]
    (segment,) = found["bubbles"].segments
    assert segment.evidence == "geometry"
    assert segment.start_s <= truth.start_s + 0.75 and segment.end_s >= truth.end_s - 0.75


def wallpaper(packages, name):
    folder = packages / "wallpapers" / name / "contents" / "images"
    image = rgb(max(folder.iterdir(), key=lambda p: p.stat().st_size))
    return cv2.resize(image, (640, round(image.shape[0] * 640 / image.shape[1])), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def print_catalog(tmp_path_factory, effnet, packages):
    """Gradient prints too smooth for SIFT, among real photos."""
    folder = tmp_path_factory.mktemp("prints")
    products = {name.lower(): wallpaper(packages, name) for name in ("Patak", "Kokkini", "Grey", "Cascade")}
    products.update({name: rgb(media_path(f"{name}.jpg")) for name in ("astronaut", "chelsea", "coffee")})
    build_index(read_catalog(write_catalog(folder / "catalog", products)), effnet, folder / "index", READER,
                bank=background_bank(effnet))
    return folder / "index", products


def test_a_textureless_print_is_found_by_alignment_and_not_on_other_footage(tmp_path, effnet, fetched_media,
                                                                            print_catalog):
    index, products = print_catalog
    video = tmp_path / "print.mp4"  # the print crosses the street clip at 18% of the frame's width
    _, (truth,) = compose_clip(media_path("city.mp4"), [Placement(products["grey"], 1.0, 5.0, 0.18, 0.4)], video)
    found = {t.product_id: t for t in tags(effnet, index, video)}
    assert list(found) == ["grey"], found
    (segment,) = found["grey"].segments
    assert segment.evidence == "alignment" and segment.score >= 0.5
    assert segment.start_s <= truth.start_s + 0.75 and segment.end_s >= truth.end_s - 0.75
    best_box = min(truth.boxes.items(), key=lambda kv: abs(kv[0] - segment.best_frame_s))[1]
    assert iou(segment.bbox, best_box) >= 0.6, (segment.bbox, best_box)
    # Real footage that shows none of them: the labelme scenes, whole and in parts.
    scenes = []
    for path in sorted((fetched_media / "scenes").glob("*.jpg")):
        scene = rgb(path)
        h, w = scene.shape[:2]
        scenes += [scene, scene[: h // 2, : w // 2], scene[h // 2:, w // 2:]]
    empty = tmp_path / "scenes.mp4"
    write_slideshow(scenes, empty, seconds_each=1.0)
    assert tags(effnet, index, empty) == []


def test_an_alignable_print_seen_only_by_its_embedding_needs_its_photo_to_align(effnet, print_catalog):
    index_path, _ = print_catalog
    index = CatalogIndex.load(index_path, effnet)
    tagger = Tagger(effnet, index, TaggingSettings(), VideoLimits())
    grey = next(i for i, p in enumerate(index.products) if p.product_id == "grey")
    region = (100, 100, 200, 150)

    def scan(correlation):  # four frames where the print looks like the region, far above its bar
        aligned = {} if correlation is None else {grey: Alignment(correlation, region, 0.7)}
        frames = [FrameMatches(t * 0.5, None, {grey: (0.95, region)}, {}, {}, dict(aligned)) for t in range(4)]
        return Scan(frames, 2.0, {}, 640, 360)

    assert [t.product_id for t in tagger.tag_scan(scan(0.6), "v.mp4").tags] == ["grey"]  # aligned, if weakly
    assert tagger.tag_scan(scan(0.2), "v.mp4").tags == []  # its photo does not fit there
    assert tagger.tag_scan(scan(None), "v.mp4").tags == []  # nor anywhere near


def test_a_near_identical_variant_is_an_alternative_not_a_second_tag(tmp_path, effnet, photo_catalog):
    folder, products = photo_catalog
    video = tmp_path / "wall.mp4"
    compose_clip(media_path("city.mp4"), [Placement(products["wall"], 1.0, 5.0, 0.35, 0.2)], video)
    (tag,) = tags(effnet, folder / "index", video)
    family = {"wall", "wall-colourway", "wall-second-photo"}
    assert tag.product_id in family
    assert {a.product_id for a in tag.alternatives} == family - {tag.product_id}
