"""Plumbing of the CLIP backends with tiny random-weight models: shapes, normalisation,
identity and errors. Nothing here says anything about accuracy."""

import json
import time

import numpy as np
import pytest
import torch

from shoptag.errors import ModelWeightsUnavailableError, UnknownModelSpecError
from shoptag.model import create_embedder, parse_spec
from shoptag.settings import ModelSettings

from helpers.openclip import TINY_OPENCLIP, tiny_openclip_dir

IMAGES = [np.random.default_rng(i).integers(0, 255, (40, 50, 3), dtype=np.uint8) for i in range(3)]


def test_openclip_local_dir_embeds_images_and_texts(tmp_path):
    embedder = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tiny_openclip_dir(tmp_path / 'm')}"))
    images = embedder.embed_images(IMAGES)
    texts = embedder.embed_texts(["red mug", "blue cap"])
    assert images.shape == (3, 32) and texts.shape == (2, 32) and embedder.dim == 32
    assert images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, rtol=1e-5)
    assert embedder.supports_text


def test_openclip_identity_follows_the_weights(tmp_path):
    first = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tiny_openclip_dir(tmp_path / 'a', 0)}"))
    again = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tmp_path / 'a'}"))
    other = create_embedder(ModelSettings(spec=f"openclip:local-dir:{tiny_openclip_dir(tmp_path / 'b', 1)}"))
    assert first.identity == again.identity
    assert first.identity.split("@")[1] != other.identity.split("@")[1]


def test_openclip_folder_without_weights_is_refused(tmp_path):
    folder = tmp_path / "noweights"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(TINY_OPENCLIP))
    with pytest.raises(ModelWeightsUnavailableError, match="no weights"):
        create_embedder(ModelSettings(spec=f"openclip:local-dir:{folder}"))


def test_openclip_missing_weights_fail_fast_naming_the_model():
    started = time.monotonic()
    with pytest.raises(ModelWeightsUnavailableError, match="ViT-B-32:laion2b_s34b_b79k.*cache"):
        create_embedder(ModelSettings(spec="openclip:ViT-B-32:laion2b_s34b_b79k", allow_download=False))
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("spec, message", [
    ("openclip:ViT-B-32:no-such-tag", "no pretrained tag"),
    ("openclip:NoSuchArch:openai", "no architecture"),
    ("openclip:ViT-B-32:/nowhere/weights.bin", "does not exist"),
])
def test_openclip_bad_specs(spec, message):
    with pytest.raises((UnknownModelSpecError, ModelWeightsUnavailableError), match=message):
        create_embedder(ModelSettings(spec=spec, allow_download=False))


@pytest.mark.parametrize("spec", ["clip", "openclip:", "hf:", "effnet-lite1", "openclip"])
def test_unknown_specs(spec):
    with pytest.raises(UnknownModelSpecError, match="unknown model spec"):
        parse_spec(spec)


def test_hf_clip_from_local_folder(tmp_path):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
                     "num_hidden_layers": 1, "vocab_size": 100},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
                       "num_hidden_layers": 1, "image_size": 32, "patch_size": 8},
        projection_dim=24,
    )
    CLIPModel(config).save_pretrained(tmp_path / "hf")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "hf")
    embedder = create_embedder(ModelSettings(spec=f"hf:{tmp_path / 'hf'}", allow_download=False))
    vectors = embedder.embed_images(IMAGES)
    assert vectors.shape == (3, 24) and embedder.dim == 24
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert not embedder.supports_text  # no tokenizer saved


def test_hf_missing_model_fails_with_instructions():
    with pytest.raises(ModelWeightsUnavailableError, match="hf:/path/to/model"):
        create_embedder(ModelSettings(spec="hf:openai/clip-vit-base-patch32", allow_download=False))


def test_a_pretrained_tag_brings_its_own_preprocessing_and_activation():
    import open_clip

    from shoptag.model.openclip import tag_options

    siglip = tag_options(open_clip.get_pretrained_cfg("ViT-B-16-SigLIP", "webli"))
    assert siglip["image_mean"] == (0.5, 0.5, 0.5) and siglip["image_std"] == (0.5, 0.5, 0.5)
    assert siglip["image_resize_mode"] == "squash" and not siglip["force_quick_gelu"]
    openai = tag_options(open_clip.get_pretrained_cfg("ViT-B-32", "openai"))
    assert openai["force_quick_gelu"] and openai["image_mean"][0] == pytest.approx(0.48145466)


@pytest.mark.model
def test_a_cached_pretrained_tag_is_preprocessed_as_it_was_trained(tmp_path):
    """PE-Core-T (mean 0.5, squashed to a square, bilinear) from a Hugging Face cache laid out
    as a download leaves it; random weights: this checks loading, not accuracy."""
    import open_clip
    from torchvision import transforms

    torch.manual_seed(0)
    model = open_clip.create_model("PE-Core-T-16-384")
    snapshot = tmp_path / "hub" / "models--timm--PE-Core-T-16-384" / "snapshots" / "0"
    snapshot.mkdir(parents=True)
    torch.save(model.state_dict(), snapshot / "open_clip_pytorch_model.bin")
    (tmp_path / "hub" / "models--timm--PE-Core-T-16-384" / "refs").mkdir()
    (tmp_path / "hub" / "models--timm--PE-Core-T-16-384" / "refs" / "main").write_text("0")
    embedder = create_embedder(ModelSettings(spec="openclip:PE-Core-T-16-384:meta", allow_download=False,
                                             cache_dir=tmp_path / "hub"))
    steps = embedder._preprocess.transforms  # the transform the embedder applies to every image
    normalize = next(step for step in steps if isinstance(step, transforms.Normalize))
    assert tuple(normalize.mean) == (0.5, 0.5, 0.5) and tuple(normalize.std) == (0.5, 0.5, 0.5)
    assert not any(isinstance(step, transforms.CenterCrop) for step in steps)  # squash: nothing cut off
    # Squashed, not center-cropped: the edges of a wide image count.
    wide = np.full((100, 400, 3), 128, np.uint8)
    edge = wide.copy()
    edge[:, :40] = 255
    first, second = embedder.embed_images([wide, edge])
    assert float(first @ second) < 0.9999
