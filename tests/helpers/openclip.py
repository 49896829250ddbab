"""A tiny random-weight OpenCLIP model in a local folder, for the plumbing of the CLIP backends."""

import json

import torch

TINY_OPENCLIP = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
    "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
}


def tiny_openclip_dir(folder, seed=0):
    import open_clip

    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(TINY_OPENCLIP))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_OPENCLIP["model_cfg"])
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder
