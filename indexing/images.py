"""Read one catalog image (local path, or http(s) URL through `fetch`) into an RGB array, safely.

Sizes are checked before decoding: the byte count while reading, the pixel count from the
header, so a decompression bomb is refused before it can take the memory.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shoptag.errors import FetchError, ImageLoadError
from shoptag.files import read_regular
from shoptag.indexing.fetch import HttpFetcher
from shoptag.settings import FetchSettings, ImageLimits


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # HxWx3 uint8 RGB
    sha256: str  # of the encoded bytes, so a changed image can be told from an unchanged one


@dataclass(frozen=True)
class ImageBytes:
    data: bytes
    sha256: str


class ImageReader:
    """Reads catalog images: local paths (relative ones against a base folder) and http(s)
    URLs through an ``HttpFetcher`` (its cache, retries and address checks)."""

    def __init__(self, limits: ImageLimits, fetch: FetchSettings | None = None) -> None:
        self.limits = limits
        self.fetcher = HttpFetcher(fetch or FetchSettings(), limits.max_bytes)

    def read(self, ref: str, base_dir: Path) -> ImageBytes:
        """The encoded bytes and their sha256, without decoding."""
        if not _is_url(ref):
            data = _read_file(ref, base_dir, self.limits)
            return ImageBytes(data, hashlib.sha256(data).hexdigest())
        try:
            fetched = self.fetcher.get(ref)
        except FetchError as exc:
            raise ImageLoadError(exc.message) from exc
        return ImageBytes(fetched.data, fetched.sha256)

    def load(self, ref: str, base_dir: Path) -> LoadedImage:
        image = self.read(ref, base_dir)
        return LoadedImage(decode_image(image.data, self.limits, ref), image.sha256)


def load_image(ref: str, base_dir: Path, limits: ImageLimits) -> LoadedImage:
    """Read one image with default fetch settings (downloads cached in the user cache folder)."""
    return ImageReader(limits).load(ref, base_dir)


def decode_image(data: bytes, limits: ImageLimits, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > limits.max_pixels:
                    raise ImageLoadError(
                        f"{name}: {width}x{height} pixels is over the limit of {limits.max_pixels}"
                    )
                image = ImageOps.exif_transpose(image)
                rgb = image.convert("RGB")
                return np.asarray(rgb, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{name}: not a decodable image ({exc})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{name}: refused as a decompression bomb ({exc})") from exc


def _is_url(ref: str) -> bool:
    return "://" in ref


def _read_file(ref: str, base_dir: Path, limits: ImageLimits) -> bytes:
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    return read_regular(path, limits.max_bytes, ImageLoadError, ref)
