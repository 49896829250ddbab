"""Each catalog image's thumbnail, stored with the index (``indexing.thumbnails``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shoptag.indexing.thumbnails import THUMBNAIL_SIDE, load_thumbnails, save_thumbnails, thumbnail_jpeg

from helpers.media import bundled_rgb


def test_a_thumbnail_is_a_small_jpeg_of_the_photo():
    small = cv2.imdecode(np.frombuffer(thumbnail_jpeg(bundled_rgb("rocket.jpg")), np.uint8), cv2.IMREAD_COLOR)
    assert max(small.shape[:2]) == THUMBNAIL_SIDE


def test_thumbnails_read_back_by_image_id_with_none_where_an_image_had_none(tmp_path):
    # An image reused from a version written before thumbnails has none; the others keep theirs.
    save_thumbnails(tmp_path / "thumbnails.npz", [b"\xff\xd8first", None, b"\xff\xd8third"])
    with (tmp_path / "thumbnails.npz").open("rb") as handle:
        assert load_thumbnails(handle, 3) == [b"\xff\xd8first", None, b"\xff\xd8third"]
    with (tmp_path / "thumbnails.npz").open("rb") as handle, pytest.raises(ValueError, match="do not fit 4 images"):
        load_thumbnails(handle, 4)
