import numpy as np

from shoptag.video.quality import frame_defect
from shoptag.video.regions import multiscale_boxes

from helpers.media import bundled_rgb


def test_boxes_cover_the_frame_and_stay_inside():
    boxes = multiscale_boxes(640, 360, (1.0, 0.6, 0.4))
    assert boxes[0] == (0, 0, 640, 360)
    assert len(boxes) == 1 + 4 + 9
    for x, y, w, h in boxes:
        assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 360
    small = [b for b in boxes if b[2] == 256]
    assert {b[0] for b in small} == {0, 192, 384} and {b[1] for b in small} == {0, 108, 216}


def test_dark_and_flat_frames_are_defects_real_photo_is_not():
    assert frame_defect(np.full((360, 640, 3), 3, np.uint8), 12, 15) == "dark"
    assert frame_defect(np.full((360, 640, 3), 128, np.uint8), 12, 15) == "blurry"
    assert frame_defect(bundled_rgb("coffee.jpg"), 12, 15) is None
