import pytest

from shoptag.errors import UnsupportedContainerError, VideoDecodeError, VideoLimitError
from shoptag.settings import VideoLimits
from shoptag.video.sampler import VideoSampler

from helpers.media import write_test_video


def sample(path, fps=2.0, **limits):
    sampler = VideoSampler(path, fps, VideoLimits(**limits))
    times = [round(f.time_s, 3) for f in sampler.frames()]
    return sampler, times


def test_samples_by_frame_timestamps(tmp_path):
    sampler, times = sample(write_test_video(tmp_path / "v.mp4", seconds=3.0, fps=10.0))
    assert times == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert sampler.frames_decoded == 30
    assert sampler.duration_s == pytest.approx(3.0)


def test_sampling_rate_above_video_rate_gives_every_frame(tmp_path):
    _, times = sample(write_test_video(tmp_path / "v.mp4", seconds=1.0, fps=4.0), fps=10.0)
    assert times == [0.0, 0.25, 0.5, 0.75]


def test_limits_are_enforced(tmp_path):
    video = write_test_video(tmp_path / "v.mp4", seconds=3.0, fps=10.0, size=(160, 120))
    with pytest.raises(VideoLimitError, match="160x120"):
        sample(video, max_width=100)
    with pytest.raises(VideoLimitError, match="limit is 2 s"):
        sample(video, max_duration_s=2.0)
    with pytest.raises(VideoLimitError, match="frames"):
        sample(video, max_frames=20)


def test_truncated_and_fake_videos(tmp_path):
    video = write_test_video(tmp_path / "v.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[:600])
    with pytest.raises(VideoDecodeError):
        sample(truncated)
    fake = tmp_path / "image.mp4"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(UnsupportedContainerError):
        VideoSampler(fake, 2.0, VideoLimits())


@pytest.mark.parametrize("video_fps", [0.05, 1.0])
def test_a_real_ten_hour_video_is_refused_from_its_header_before_any_frame_is_sampled(tmp_path, video_fps):
    # A real 10-hour file: at 0.05 fps (a slideshow) its header rate is below 1 frame per second.
    video = write_test_video(tmp_path / "long.mp4", seconds=36_000, fps=video_fps, size=(32, 24))
    sampler = VideoSampler(video, 2.0, VideoLimits())
    with pytest.raises(VideoLimitError, match="about 36000 s; the limit is 600 s"):
        sampler.probe()
    with pytest.raises(VideoLimitError, match="about 36000 s"):
        next(iter(sampler.frames()))
    assert sampler.frames_decoded == 0
