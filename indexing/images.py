"""Read one catalog image (local path or http(s) URL) into an RGB array, safely.

Sizes are checked before decoding: the byte count while reading, the pixel count from the
header, so a decompression bomb is refused before it can take the memory.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import socket
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shoptag.errors import ImageLoadError
from shoptag.settings import ImageLimits

FETCH_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # HxWx3 uint8 RGB
    sha256: str  # of the encoded bytes, so a changed image can be told from an unchanged one


def load_image(ref: str, base_dir: Path, limits: ImageLimits) -> LoadedImage:
    data = _fetch(ref, limits) if _is_url(ref) else _read_file(ref, base_dir, limits)
    return LoadedImage(decode_image(data, limits, ref), hashlib.sha256(data).hexdigest())


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
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ImageLoadError(f"{ref}: {size} bytes is over the limit of {limits.max_bytes}")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{ref}: file not found at {path}") from exc
    except OSError as exc:
        raise ImageLoadError(f"{ref}: cannot be read ({exc.strerror or exc})") from exc


def _refuse_private_host(host: str) -> None:
    """Keep a catalog from making the indexer reach internal services."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise ImageLoadError(f"host {host!r} cannot be resolved ({exc.strerror})") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise ImageLoadError(f"host {host!r} resolves to non-public address {address}; refused")


def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ImageLoadError(f"{url}: only http(s) URLs are fetched")
    _refuse_private_host(parsed.hostname)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        _check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, limits: ImageLimits) -> bytes:
    _check_url(url)
    opener = urllib.request.build_opener(_CheckedRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": "shoptag-indexer"})
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_S) as response:
            data = response.read(limits.max_bytes + 1)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ImageLoadError(f"{url}: download failed ({exc})") from exc
    if len(data) > limits.max_bytes:
        raise ImageLoadError(f"{url}: more than {limits.max_bytes} bytes; refused")
    return data
