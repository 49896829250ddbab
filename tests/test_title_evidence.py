"""Product titles as evidence for models with a text tower. The tiny CLIP has random weights:
these tests pin the plumbing (what is blended, when, and by how much), not accuracy."""

import pytest

from shoptag.demo import write_demo_catalog, write_demo_video
from shoptag.indexing import CatalogIndex, ImageReader, build_index, read_catalog
from shoptag.model import create_embedder
from shoptag.model.base import embed_regions
from shoptag.settings import ImageLimits, ModelSettings, Settings
from shoptag.tagging import Tagger
from shoptag.tagging.decision import embedding_confidence
from shoptag.video.regions import multiscale_boxes
from shoptag.video.sampler import VideoSampler

from helpers.openclip import tiny_openclip_dir


@pytest.fixture(scope="module")
def clip_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("titles")
    embedder = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tiny_openclip_dir(folder / 'm')}"))
    catalog = write_demo_catalog(folder / "catalog")
    build_index(read_catalog(catalog), embedder, folder / "index", ImageReader(ImageLimits()))
    write_demo_video(folder / "demo.mp4")
    return embedder, CatalogIndex.load(folder / "index", embedder), folder / "demo.mp4"


def tagger(embedder, index, **tagging):
    settings = Settings()
    update = {"verify": False, "threshold": -1.0, "fps": 1.0, **tagging}
    return Tagger(embedder, index, settings.tagging.model_copy(update=update), settings.video)


def test_candidates_carry_their_best_region_title_similarity(clip_setup):
    embedder, index, video = clip_setup
    settings = Settings()
    scan = tagger(embedder, index).scan(video)
    titles = embedder.embed_texts([p.title for p in index.products])
    assert "titles" in scan.stage_seconds
    first = next(VideoSampler(video, 1.0, settings.video).frames()).image
    height, width = first.shape[:2]
    regions = embed_regions(embedder, first, multiscale_boxes(width, height, settings.tagging.region_scales), True)
    expected = (regions @ titles.T).max(axis=0)
    frame = scan.frames[0]
    assert frame.titles and frame.titles.keys() == frame.matches.keys()
    for product, similarity in frame.titles.items():
        assert similarity == pytest.approx(expected[product], abs=1e-5)


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_text_weight_blends_title_and_image_scores(clip_setup, weight):
    embedder, index, video = clip_setup
    # Random weights make every product look alike: keep one tag per product here.
    blended = tagger(embedder, index, text_weight=weight, alternative_similarity=1.0)
    scan = blended.scan(video)
    result = blended.tag_scan(scan, video)
    assert result.tags
    for tag in result.tags:
        position = next(i for i, p in enumerate(index.products) if p.product_id == tag.product_id)
        expected = max((1 - weight) * f.matches[position][0] + weight * f.titles[position]
                       for f in scan.frames if position in f.matches)
        assert tag.score == pytest.approx(embedding_confidence(expected, -1.0), abs=1e-6)


@pytest.mark.model
def test_image_only_models_record_no_titles(effnet, tmp_path):
    catalog = write_demo_catalog(tmp_path / "catalog")
    build_index(read_catalog(catalog), effnet, tmp_path / "index", ImageReader(ImageLimits()))
    index = CatalogIndex.load(tmp_path / "index", effnet)
    write_demo_video(tmp_path / "demo.mp4")
    plain, weighted = tagger(effnet, index, text_weight=0.0), tagger(effnet, index, text_weight=1.0)
    scan = plain.scan(tmp_path / "demo.mp4")
    assert all(not f.titles for f in scan.frames) and "titles" not in scan.stage_seconds
    scores = [[t.score for t in tagger_.tag_scan(scan, tmp_path / "demo.mp4").tags] for tagger_ in (plain, weighted)]
    assert scores[0] == scores[1] and scores[0]
