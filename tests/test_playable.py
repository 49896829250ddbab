"""The copy of a video that every browser plays: H.264 MP4, its frames at their own times."""

from __future__ import annotations

import av
import pytest

from shoptag.errors import VideoDecodeError
from shoptag.video.playable import write_playable

from helpers.media import codec_of, write_hevc_video, write_test_video


def frame_times(path) -> list[float]:
    with av.open(str(path)) as container:
        return [round(float(frame.time), 3) for frame in container.decode(video=0)]


@pytest.mark.parametrize("write, name", [(write_hevc_video, "phone.mp4"), (write_test_video, "camera.mp4")])
def test_a_phone_or_camera_video_becomes_h264_with_the_same_frames_at_the_same_times(tmp_path, write, name):
    source = write(tmp_path / name)
    assert codec_of(source) in ("hevc", "mpeg4")  # neither plays in Chromium
    copy = tmp_path / "copy.mp4"
    write_playable(source, copy, max_side=3840, max_fps=60)
    assert codec_of(copy) == "h264"
    assert frame_times(copy) == frame_times(source)
    assert list(tmp_path.glob(".*partial")) == []


def test_the_copy_is_scaled_to_its_long_side_and_thinned_to_its_rate(tmp_path):
    source = write_hevc_video(tmp_path / "phone.mp4", seconds=2.0, fps=10.0, size=(320, 240))
    copy = tmp_path / "copy.mp4"
    write_playable(source, copy, max_side=160, max_fps=5)
    with av.open(str(copy)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 120)
    times = frame_times(copy)
    assert len(times) == 10 and all(b - a >= 0.2 - 1e-3 for a, b in zip(times, times[1:], strict=False))


def test_a_file_that_is_no_video_gets_a_clear_error_and_leaves_nothing(tmp_path):
    source = tmp_path / "photo.mp4"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    copy = tmp_path / "copy.mp4"
    with pytest.raises(VideoDecodeError, match="photo.mp4: no playable copy"):
        write_playable(source, copy, max_side=854, max_fps=30)
    assert list(tmp_path.iterdir()) == [source]
