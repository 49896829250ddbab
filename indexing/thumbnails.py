"""A small JPEG of each catalog image, stored in the index with its vectors (``thumbnails.npz``),
so an index serves its own pictures (the review page's product cards) wherever it is moved,
whatever its catalog's image paths were relative to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from shoptag.errors import ImageLoadError
from shoptag.pixels import rescaled

THUMBNAILS_NAME = "thumbnails.npz"
THUMBNAIL_SIDE = 256
_QUALITY = 85


def thumbnail_jpeg(rgb: np.ndarray) -> bytes:
    """The image at most ``THUMBNAIL_SIDE`` px on its long side, as JPEG bytes."""
    small = rescaled(rgb, min(1.0, THUMBNAIL_SIDE / max(rgb.shape[:2])))
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, _QUALITY])
    if not ok:
        raise ImageLoadError("a thumbnail could not be encoded")
    return encoded.tobytes()


def save_thumbnails(path: Path, thumbnails: Sequence[bytes | None]) -> None:
    """One per image id (none: an image reused from a version written before thumbnails), their
    bytes end to end, and where each starts."""
    thumbnails = [thumbnail or b"" for thumbnail in thumbnails]
    offsets = np.cumsum([0, *(len(t) for t in thumbnails)]).astype(np.int64)
    data = np.frombuffer(b"".join(thumbnails), np.uint8)
    np.savez(path, data=data, offsets=offsets)


def load_thumbnails(source: BinaryIO, images: int) -> list[bytes | None]:
    """The thumbnails ``save_thumbnails`` wrote for ``images`` images; ``ValueError`` where the
    file does not hold exactly that many."""
    with np.load(source, allow_pickle=False) as stored:
        data, offsets = stored["data"], stored["offsets"]
    if (data.dtype != np.uint8 or offsets.shape != (images + 1,) or offsets[0] != 0 or offsets[-1] != len(data)
            or np.any(np.diff(offsets) < 0)):
        raise ValueError(f"thumbnails do not fit {images} images")
    return [data[a:b].tobytes() or None for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
