import io
import os

import numpy as np
import pytest
from PIL import Image

from shoptag.errors import ImageLoadError
from shoptag.indexing.images import load_image
from shoptag.settings import ImageLimits


def png_bytes(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def test_relative_path_resolves_against_base_and_hash_is_of_content(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(20, 10))
    loaded = load_image("a.png", tmp_path, ImageLimits())
    assert loaded.pixels.shape == (10, 20, 3) and loaded.pixels.dtype == np.uint8
    assert len(loaded.sha256) == 64


def test_pixel_bomb_refused_before_decoding(tmp_path):
    (tmp_path / "big.png").write_bytes(png_bytes(400, 300))
    with pytest.raises(ImageLoadError, match="over the limit"):
        load_image("big.png", tmp_path, ImageLimits(max_pixels=100_000))


def test_byte_limit_garbage_and_missing(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(50, 50))
    with pytest.raises(ImageLoadError, match="bytes is over"):
        load_image("a.png", tmp_path, ImageLimits(max_bytes=10))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ImageLoadError, match="not a decodable image"):
        load_image("bad.jpg", tmp_path, ImageLimits())
    with pytest.raises(ImageLoadError, match="not found"):
        load_image("none.jpg", tmp_path, ImageLimits())


def test_devices_and_fifos_are_refused_without_reading_or_waiting(tmp_path):
    os.mkfifo(tmp_path / "fifo.jpg")  # no writer: opening it for reading would wait forever
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")  # size 0, and reading it never ends
    for ref in ("/dev/zero", "fifo.jpg", "zero.jpg"):
        with pytest.raises(ImageLoadError, match="not a regular file"):
            load_image(ref, tmp_path, ImageLimits())


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1/a.jpg", "non-public address"),
    ("http://169.254.169.254/latest/meta-data", "non-public address"),
    ("http://10.1.2.3/a.jpg", "non-public address"),
    ("ftp://example.com/a.jpg", "only http"),
    ("file:///etc/passwd", "only http"),
])
def test_urls_to_internal_addresses_or_other_schemes_are_refused(tmp_path, url, message):
    with pytest.raises(ImageLoadError, match=message):
        load_image(url, tmp_path, ImageLimits())
