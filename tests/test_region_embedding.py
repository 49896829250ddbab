"""Region embeddings: one forward pass pooled per box (EfficientNet) and the crop fallback
(models without a spatial map to pool)."""

import cv2
import numpy as np
import pytest

from shoptag.demo import media_path
from shoptag.model import create_embedder
from shoptag.model.base import embed_regions
from shoptag.settings import ModelSettings, VideoLimits
from shoptag.video.sampler import VideoSampler

from helpers.media import bundled_rgb
from helpers.openclip import tiny_openclip_dir

PRODUCTS = ("coffee.jpg", "rocket.jpg", "astronaut.jpg", "chelsea.jpg")


def street_frame() -> np.ndarray:
    return next(VideoSampler(media_path("city.mp4"), 1.0, VideoLimits()).frames()).image


@pytest.mark.model
def test_pooled_box_around_a_product_finds_that_product(effnet):
    frame = street_frame()
    height, width = frame.shape[:2]
    box = (width // 2, height // 5, width * 2 // 5, height * 3 // 5)
    x, y, w, h = box
    catalog = effnet.embed_images([bundled_rgb(name) for name in PRODUCTS])
    for position, name in enumerate(PRODUCTS):
        scene = frame.copy()
        scene[y : y + h, x : x + w] = cv2.resize(bundled_rgb(name), (w, h), interpolation=cv2.INTER_AREA)
        elsewhere = (0, height - h // 2, w // 2, h // 2)  # a corner of plain street
        vectors = embed_regions(effnet, scene, [box, elsewhere], pooled=True)
        assert vectors.shape == (2, effnet.dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
        scores = catalog @ vectors.T
        assert scores[:, 0].argmax() == position, name
        assert scores[position, 0] > scores[position, 1] + 0.1, name


def test_models_without_pooling_embed_each_crop(tmp_path):
    embedder = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tiny_openclip_dir(tmp_path / 'm')}"))
    frame = street_frame()
    boxes = [(0, 0, 64, 48), (100, 50, 120, 90)]
    crops = [frame[y : y + h, x : x + w] for x, y, w, h in boxes]
    expected = embedder.embed_images(crops)
    assert np.allclose(embed_regions(embedder, frame, boxes, pooled=True), expected, atol=1e-6)


@pytest.mark.model
def test_pooling_can_be_turned_off(effnet):
    frame = street_frame()
    boxes = [(0, 0, 200, 150)]
    crop = effnet.embed_images([frame[:150, :200]])
    assert np.allclose(embed_regions(effnet, frame, boxes, pooled=False), crop, atol=1e-6)
    assert not np.allclose(embed_regions(effnet, frame, boxes, pooled=True), crop, atol=1e-3)
