"""effnet-lite0 on its runtimes: each is its own model identity, ONNX Runtime fp32 computes what
eager torch does, int8 stays close, and region pooling is torchvision's RoIAlign."""

import numpy as np
import pytest
import torch
from torchvision.ops import roi_align

from shoptag.errors import IndexModelMismatchError
from shoptag.indexing.store import CatalogIndex
from shoptag.model import create_embedder
from shoptag.model.effnet import pool_regions
from shoptag.settings import ModelSettings

from helpers.media import bundled_rgb

PHOTOS = ("coffee.jpg", "rocket.jpg", "astronaut.jpg", "chelsea.jpg")


def test_pooling_is_the_mean_of_torchvisions_roi_align():
    rng = np.random.default_rng(0)
    feature_map = rng.standard_normal((32, 15, 27)).astype(np.float32)
    corners = rng.uniform(-2, 26, (60, 2))  # some start outside the map, some end past it
    boxes = np.concatenate([corners, corners + rng.uniform(0.1, 16, (60, 2))], axis=1).astype(np.float32)
    rois = torch.from_numpy(np.concatenate([np.zeros((60, 1), np.float32), boxes], axis=1))
    expected = roi_align(torch.from_numpy(feature_map)[None], rois, output_size=(4, 4), spatial_scale=1.0,
                         sampling_ratio=2, aligned=True).mean(dim=(2, 3)).numpy()
    assert np.allclose(pool_regions(feature_map, boxes), expected, atol=1e-5)


@pytest.mark.model
def test_each_runtime_is_its_own_model_and_computes_the_same_embeddings(effnet):
    torch_model = create_embedder(ModelSettings(spec="effnet-lite0:torch"))
    int8 = create_embedder(ModelSettings(spec="effnet-lite0:onnx-int8"))
    assert effnet.spec == "effnet-lite0:onnx-fp32"
    assert len({effnet.identity, torch_model.identity, int8.identity}) == 3
    images = [bundled_rgb(name) for name in PHOTOS]
    fp32, eager, quantised = (m.embed_images(images) for m in (effnet, torch_model, int8))
    assert np.allclose(fp32, eager, atol=1e-4)
    cosines = (fp32 * quantised).sum(axis=1)
    assert cosines.min() > 0.95, cosines
    # int8 still tells the products apart: each photo is nearest its own fp32 vector.
    assert ((quantised @ fp32.T).argmax(axis=1) == np.arange(len(PHOTOS))).all()
    frame = bundled_rgb("astronaut.jpg")
    boxes = [(0, 0, 200, 200), (100, 50, 300, 250)]
    assert np.allclose(effnet.embed_regions(frame, boxes), torch_model.embed_regions(frame, boxes), atol=1e-4)


@pytest.mark.model
def test_an_index_built_on_one_runtime_is_not_searched_with_another(effnet, tmp_path):
    from helpers.api import make_index

    index = make_index(tmp_path, effnet)
    torch_model = create_embedder(ModelSettings(spec="effnet-lite0:torch"))
    with pytest.raises(IndexModelMismatchError, match="onnx-fp32.*effnet-lite0:torch"):
        CatalogIndex.load(index, torch_model)
