"""Candidate generation and merging beyond the embedding: descriptor votes over the whole
catalog, and co-located products merged into one tag with alternatives."""

import cv2
import pytest

from shoptag.indexing.descriptor_index import DescriptorIndex
from shoptag.indexing.local_features import catalog_features
from shoptag.tagging.alternatives import merge_colocated
from shoptag.tagging.results import ALIGNMENT, EMBEDDING, GEOMETRY
from shoptag.tagging.time_segments import Hit
from shoptag.tagging.verify import frame_features

from helpers.media import bundled_rgb

PHOTOS = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")


def test_a_frame_votes_for_the_product_it_shows_among_the_catalog():
    photos = [bundled_rgb(name) for name in PHOTOS]
    # Two images of product 0, one each of products 1..3: votes are counted per product.
    index = DescriptorIndex.build([catalog_features(p) for p in [photos[0], *photos]], [0, 0, 1, 2, 3])
    for product in (1, 2):
        # The product small in a frame of something else: a quarter of its size on a grey field.
        frame = cv2.resize(bundled_rgb("astronaut.jpg"), (640, 360)) // 4
        small = cv2.resize(photos[product], (200, 150))
        frame[100:250, 300:500] = small
        votes = index.votes(frame_features(frame).descriptors)
        assert max(votes, key=votes.get) == product, votes
    assert DescriptorIndex.build([], []).votes(frame_features(photos[0]).descriptors) == {}


def test_the_descriptor_index_is_read_back_as_written_and_refused_for_other_features(tmp_path):
    photos = [bundled_rgb(name) for name in PHOTOS]
    features = [catalog_features(p) for p in photos]
    built = DescriptorIndex.build(features, [0, 1, 2, 3])
    built.write(tmp_path / "descriptors.faiss")
    read = DescriptorIndex.read(tmp_path / "descriptors.faiss", features, [0, 1, 2, 3])
    frame = frame_features(cv2.resize(photos[2], (640, 480)))
    assert read.votes(frame.descriptors) == built.votes(frame.descriptors) and read.votes(frame.descriptors)
    with pytest.raises(ValueError, match="descriptors"):
        DescriptorIndex.read(tmp_path / "descriptors.faiss", features[:3], [0, 1, 2])


def hits(product_boxes, score=0.7, evidence=GEOMETRY):
    return [Hit(t * 0.5, score, box, evidence) for t, box in enumerate(product_boxes)]


def test_products_seen_at_the_same_place_become_one_tag_with_alternatives():
    here, there = (100, 100, 80, 60), (400, 200, 80, 60)
    merged, alternatives = merge_colocated(step_s=0.5, alike=lambda a, b: True, hits={
        0: hits([here] * 6, 0.6),  # a colourway, a little less supported
        1: hits([here] * 6, 0.8),
        2: hits([None, None, here, here], 0.9)[2:],  # seen at the same place in 2 of its 2 frames
        3: hits([there] * 6, 0.7),  # another product elsewhere in the same frames
    })
    assert set(merged) == {1, 3}
    # Best-supported first: 2 has the group's best hit in two frames, 0 in none.
    assert alternatives[1] == [2, 0] and alternatives[3] == []
    # Per frame the group's best hit is kept, so the tag's track has no hole.
    assert [h.score for h in merged[1]] == [0.8, 0.8, 0.9, 0.9, 0.8, 0.8]
    assert len(merged[3]) == 6
    # Products that do not look alike in the catalog stay apart wherever they are seen, unless
    # both photos were matched onto the same pixels: then what was seen is part of both.
    apart, _ = merge_colocated({0: hits([here] * 6, 0.6, EMBEDDING), 1: hits([here] * 6, 0.8)}, 0.5,
                               lambda a, b: False)
    assert set(apart) == {0, 1}
    merged, alternatives = merge_colocated({0: hits([here] * 6, 0.6, ALIGNMENT), 1: hits([here] * 6, 0.8)}, 0.5,
                                           lambda a, b: False)
    assert list(merged) == [1] and alternatives[1] == [0]
    # Geometric hits rest on the same pixels when they share inliers, wherever their outlines
    # are projected; a product verified on other points of the frame stays apart.
    flag = [Hit(t * 0.5, 0.9, here, GEOMETRY, frozenset(range(100))) for t in range(4)]
    union_jack = [Hit(t * 0.5, 0.7, there, GEOMETRY, frozenset(range(20))) for t in range(4)]
    elsewhere = [Hit(t * 0.5, 0.7, here, GEOMETRY, frozenset(range(200, 240))) for t in range(4)]
    merged, alternatives = merge_colocated({0: flag, 1: union_jack, 2: elsewhere}, 0.5, lambda a, b: False)
    assert set(merged) == {0, 2} and alternatives[0] == [1]


def test_near_identical_products_taking_turns_at_one_place_are_one_tag():
    here = (100, 100, 80, 60)
    first = [Hit(t, 0.7, here, GEOMETRY) for t in (0.0, 1.0, 2.0)]
    second = [Hit(t, 0.6, here, GEOMETRY) for t in (0.5, 1.5, 2.5)]
    merged, alternatives = merge_colocated({4: first, 5: second}, step_s=0.5, alike=lambda a, b: True)
    assert list(merged) == [4] and alternatives[4] == [5]
    assert [h.time_s for h in merged[4]] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    apart, _ = merge_colocated({4: first, 5: second}, step_s=0.25, alike=lambda a, b: True)  # not neighbouring samples
    assert set(apart) == {4, 5}
