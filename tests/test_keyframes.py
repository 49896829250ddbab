"""Which frames get full discovery, decoding ahead, and the speed profiles' settings: no model."""

import threading

import numpy as np
import pytest

from shoptag.boxes import contains, grown
from shoptag.settings import PROFILES, Settings, TaggingSettings
from shoptag.tagging.keyframes import KeyframeSchedule
from shoptag.video.prefetch import prefetched


def grey(level: int) -> np.ndarray:
    return np.full((72, 128, 3), level, np.uint8)


def keyframes(schedule: KeyframeSchedule, frames: list[np.ndarray]) -> list[int]:
    taken = []
    for number, frame in enumerate(frames):
        if schedule.due(frame):
            schedule.taken(frame)
            taken.append(number)
    return taken


def test_every_nth_frame_is_a_keyframe():
    assert keyframes(KeyframeSchedule(3, 255), [grey(100)] * 10) == [0, 3, 6, 9]
    assert keyframes(KeyframeSchedule(1, 255), [grey(100)] * 4) == [0, 1, 2, 3]


def test_a_cut_makes_a_keyframe_sooner_and_restarts_the_count():
    frames = [grey(100)] * 3 + [grey(200)] * 5
    assert keyframes(KeyframeSchedule(4, 30), frames) == [0, 3, 7]
    assert keyframes(KeyframeSchedule(4, 255), frames) == [0, 4]  # 255: change never counts


def test_a_keyframe_taken_for_a_lost_product_restarts_the_count():
    schedule = KeyframeSchedule(3, 255)
    assert schedule.due(grey(0))
    schedule.taken(grey(0))
    assert not schedule.due(grey(0))
    schedule.taken(grey(0))  # the scanner made this one a keyframe
    assert [schedule.due(grey(0)) for _ in range(3)] == [False, False, True]


def test_grown_boxes_stay_in_the_frame():
    assert grown((100, 100, 50, 20), 0.5, 640, 360) == (75, 90, 101, 41)
    assert grown((0, 0, 50, 20), 2.0, 120, 40) == (0, 0, 120, 40)
    assert contains((0, 0, 10, 10), (2, 2, 8, 8)) and not contains((0, 0, 10, 10), (2, 2, 9, 8))


def test_decoding_ahead_keeps_order_and_raises_where_the_error_was():
    assert list(prefetched(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise ValueError("broken frame")

    seen = []
    with pytest.raises(ValueError, match="broken frame"):
        for item in prefetched(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_the_decoding_thread_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            number = 0
            while True:
                yield number
                number += 1
        finally:
            closed.set()

    frames = prefetched(endless(), depth=2)
    assert [next(frames) for _ in range(3)] == [0, 1, 2]
    frames.close()
    assert closed.is_set()
    assert not any(t.name == "decode-ahead" for t in threading.enumerate())


def test_a_profile_fills_only_the_settings_not_given():
    fast = TaggingSettings(profile="fast").resolved()
    assert fast.keyframe_interval == PROFILES["fast"]["keyframe_interval"]
    assert TaggingSettings(profile="fast", keyframe_interval=2).resolved().keyframe_interval == 2
    assert TaggingSettings().resolved() == TaggingSettings()
    # A request's overrides laid over the service's settings: its profile's defaults apply.
    served = Settings(tagging={"profile": "fast", "top_k": 7}).tagging
    assert served.given() == {"profile": "fast", "top_k": 7}
    back = TaggingSettings.model_validate({**served.given(), "profile": "default"}).resolved()
    assert back.keyframe_interval == TaggingSettings().keyframe_interval and back.top_k == 7
    with pytest.raises(ValueError):
        TaggingSettings(profile="fastest")
