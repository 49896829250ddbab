"""Real images (the bundled photos) and small synthetic clips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from shoptag.bundled import media_path


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def bundled_rgb(name: str) -> np.ndarray:
    return read_rgb(media_path(name))


def write_test_video(path: Path, seconds: float = 3.0, fps: float = 10.0,
                     size: tuple[int, int] = (160, 120)) -> Path:
    """A small textured clip whose content changes every frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    for index in range(round(seconds * fps)):
        writer.write(np.roll(base, index * 3, axis=1))
    writer.release()
    return path


def codec_of(video: bytes | Path) -> str:
    """The codec of a video's first video stream, as FFmpeg names it (h264, hevc, mpeg4, vp8...)."""
    import io

    import av

    source = io.BytesIO(video) if isinstance(video, bytes) else str(video)
    with av.open(source) as container:
        return container.streams.video[0].codec_context.name


def write_hevc_video(path: Path, seconds: float = 2.0, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A small HEVC clip, as phones record (PyAV's FFmpeg has libx265), whose content moves."""
    import av

    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx265", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"x265-params": "log-level=error"}
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, index * 5, axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
