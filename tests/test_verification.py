"""Geometric verification on small real cases: a textured product verified with a box on the
truth, a product-free clip with no tags, a look-alike distractor rejected."""

import cv2
import numpy as np
import pytest

from shoptag.demo import media_path, write_demo_catalog, write_demo_video
from shoptag.evaluation.metrics import temporal_iou
from shoptag.indexing import CatalogIndex, ImageReader, build_index, read_catalog, update_index, verify_index
from shoptag.indexing.local_features import FEATURES_NAME, catalog_features, load_features, save_features
from shoptag.settings import ImageLimits, Settings
from shoptag.tagging import Tagger
from shoptag.tagging.decision import verified_confidence
from shoptag.video.compose import Placement, compose_clip, read_frames

from helpers.media import bundled_rgb

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def index(tmp_path_factory, effnet):
    folder = tmp_path_factory.mktemp("verify")
    catalog = write_demo_catalog(folder / "catalog")
    build_index(read_catalog(catalog), effnet, folder / "index", ImageReader(ImageLimits()))
    return CatalogIndex.load(folder / "index", effnet)


def tagger(effnet, index, **tagging):
    settings = Settings()
    return Tagger(effnet, index, settings.tagging.model_copy(update=tagging), settings.video)


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_features_are_stored_with_the_version_and_reused_by_updates(index, effnet):
    assert FEATURES_NAME in index.placed[0].segment.files and len(index.features) == 4
    assert all(len(f.points) > 50 and f.descriptors.dtype == np.uint8 for f in index.features)
    assert verify_index(index.path) == []
    catalog = read_catalog(index.path.parent / "catalog" / "catalog.jsonl")
    update_index(catalog, effnet, index.path, ImageReader(ImageLimits()), index_type="hnsw")
    updated = CatalogIndex.load(index.path, effnet)
    pairs = zip(index.features, updated.features, strict=True)
    assert all(np.array_equal(a.descriptors, b.descriptors) for a, b in pairs)


def test_features_round_trip(tmp_path):
    features = [catalog_features(bundled_rgb("astronaut.jpg")), catalog_features(np.zeros((40, 40, 3), np.uint8))]
    save_features(tmp_path / "f.npz", features)
    loaded = load_features(tmp_path / "f.npz")
    assert [len(f.points) for f in loaded] == [len(f.points) for f in features] and loaded[1].empty
    assert np.array_equal(loaded[0].descriptors, features[0].descriptors) and loaded[0].size == features[0].size


def test_a_textured_product_is_verified_with_a_box_on_the_truth(index, effnet, tmp_path):
    truth = write_demo_video(tmp_path / "demo.mp4")
    scanning = tagger(effnet, index)
    scan = scanning.scan(tmp_path / "demo.mp4")
    poster = next(i for i, p in enumerate(index.products) if p.product_id == "astronaut-poster")
    verified = [(f.time_s, f.verified[poster]) for f in scan.frames if poster in f.verified]
    assert len(verified) >= 4
    for time_s, check in verified:
        assert check.inliers >= 12
        true_box = min(truth["astronaut-poster"].boxes.items(), key=lambda kv: abs(kv[0] - time_s))[1]
        assert iou(check.box, true_box) > 0.6, (time_s, check.box, true_box)
    tags = {t.product_id: t for t in scanning.tag_scan(scan, tmp_path / "demo.mp4").tags}
    assert set(tags) == {"espresso-cup", "astronaut-poster"}
    assert [s.evidence for s in tags["astronaut-poster"].segments] == ["geometry"]


def test_a_product_free_clip_gets_no_tags(index, effnet):
    assert tagger(effnet, index).tag(media_path("city.mp4")).tags == []


def test_a_look_alike_is_rejected(index, effnet, tmp_path):
    # The astronaut poster printed mirror-wise: the same colours, layout and content for a CNN's
    # pooled features, but no plausible (non-mirrored) homography to the catalog photo.
    mirrored = cv2.flip(bundled_rgb("astronaut.jpg"), 1)
    compose_clip(media_path("city.mp4"), [Placement(mirrored, 1.0, 6.0, 0.32, 0.2)], tmp_path / "lookalike.mp4")
    fooled = {t.product_id for t in tagger(effnet, index, verify=False).tag(tmp_path / "lookalike.mp4").tags}
    assert "astronaut-poster" in fooled  # the embedding alone takes the look-alike for the product
    assert tagger(effnet, index).tag(tmp_path / "lookalike.mp4").tags == []


def test_a_tracked_product_stays_one_segment_while_another_outranks_it(index, effnet, tmp_path):
    # The astronaut poster crosses the whole clip; a larger cat print passes below it for 2 s
    # and takes the embedding's first rank. Verifying only the best embedding candidate per
    # frame, the poster is lost for those 2 s and splits in two, unless its track keeps it
    # verified, or the frame's descriptors vote for it.
    clip = tmp_path / "two.mp4"
    compose_clip(media_path("city.mp4"), [Placement(bundled_rgb("astronaut.jpg"), 0.5, 7.0, 0.22, 0.05),
                                          Placement(bundled_rgb("chelsea.jpg"), 2.5, 4.5, 0.40, 0.50)], clip)

    def poster_segments(**tagging):
        tags = {t.product_id: t for t in tagger(effnet, index, verify_candidates=1, **tagging).tag(clip).tags}
        return [(s.start_s, s.end_s) for s in tags["astronaut-poster"].segments]

    assert len(poster_segments(track=False, vote_candidates=0)) == 2
    for tagging in ({"vote_candidates": 0}, {"track": False}):
        (start_s, end_s), = poster_segments(**tagging)
        assert start_s <= 0.75 and end_s >= 6.75


def test_verified_scores_mean_the_same_for_every_product():
    assert verified_confidence(12, 12) == 0.5 and verified_confidence(36, 12) == 0.75
    assert verified_confidence(6, 12) < 0.5 < verified_confidence(13, 12) < verified_confidence(100, 12) < 1


def frame_with(photo: np.ndarray, background: np.ndarray, x: int, y: int, width: int) -> np.ndarray:
    frame = background.copy()
    pasted = cv2.resize(photo, (width, round(width * photo.shape[0] / photo.shape[1])))
    frame[y:y + pasted.shape[0], x:x + pasted.shape[1]] = pasted
    return frame


def test_a_region_search_finds_the_points_a_whole_frame_search_finds_there(index):
    from shoptag.tagging.verify import FrameMatcher, GeometricVerifier, frame_features

    background = cv2.cvtColor(read_frames(media_path("city.mp4"), limit=1)[0], cv2.COLOR_BGR2RGB)
    side = background.shape[1] // 4
    frame = frame_with(bundled_rgb("astronaut.jpg"), background, 90, 50, side)
    region = (40, 20, side + 100, side + 80)
    whole, part = frame_features(frame), frame_features(frame, region)
    inside = whole.points[[contains_point(region, p, margin=8) for p in whole.points]]
    assert len(part.points) and all(contains_point(region, p) for p in part.points)
    assert part.size == whole.size
    near = [np.min(np.linalg.norm(part.points - p, axis=1)) < 1.0 for p in inside]
    assert np.mean(near) > 0.9
    # And the product verified there has the box a search of the whole frame gives it.
    image_ids = next(p for p in index.products if p.product_id == "astronaut-poster").image_ids
    verifier = GeometricVerifier(index.features)
    in_region = verifier.verify(FrameMatcher(part), image_ids)
    in_frame = verifier.verify(FrameMatcher(whole), image_ids)
    assert in_region.inliers >= 12 and iou(in_region.box, in_frame.box) > 0.9
    assert iou(in_region.box, (90, 50, side, side)) > 0.7


def contains_point(box, point, margin=0):
    x, y, w, h = box
    return x + margin <= point[0] <= x + w - margin and y + margin <= point[1] <= y + h - margin


def test_keyframes_find_what_every_frame_finds(index, effnet, tmp_path):
    write_demo_video(tmp_path / "demo.mp4")
    every = tagger(effnet, index).tag(tmp_path / "demo.mp4")
    for tagging in ({"keyframe_interval": 4}, {"profile": "fast"}):
        scanning = tagger(effnet, index, **tagging)
        scan = scanning.scan(tmp_path / "demo.mp4")
        assert sum(f.keyframe for f in scan.frames) < len(scan.frames) / 2
        some = scanning.tag_scan(scan, tmp_path / "demo.mp4")
        assert {t.product_id for t in some.tags} == {t.product_id for t in every.tags}
        for tag in some.tags:
            (segment,), = [t.segments for t in every.tags if t.product_id == tag.product_id]
            assert max(temporal_iou(s, segment) for s in tag.segments) >= 0.7, (tag.product_id, tagging)
    assert scanning.tag_scan(scan, "demo").profile == "fast"
