"""Decode a video with OpenCV and sample frames by their own timestamps.

Header frame counts and rates are often wrong, so sampling follows each decoded frame's
presentation time; header values are only used to refuse oversized videos early.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from shoptag.errors import VideoDecodeError, VideoLimitError
from shoptag.settings import VideoLimits
from shoptag.video.container import check_container

logger = logging.getLogger(__name__)

_FALLBACK_FPS = 25.0


@dataclass(frozen=True)
class SampledFrame:
    time_s: float
    image: np.ndarray  # HxWx3 uint8 RGB


@dataclass(frozen=True)
class VideoInfo:
    container: str
    width: int
    height: int
    duration_s: float | None  # from the header; None when the header does not say


def _header_duration(capture: cv2.VideoCapture) -> float | None:
    """Frames / frame rate as the header gives them; None where it gives no frame count. A
    frame rate below 1 is taken as it is (a time-lapse or slideshow at 0.05 fps lasting ten
    hours must be refused as ten hours); a missing one counts as the usual 25."""
    frames, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
    if not (math.isfinite(frames) and frames > 0):
        return None
    return frames / (fps if math.isfinite(fps) and fps > 0 else _FALLBACK_FPS)


class VideoSampler:
    """Iterate once over ``frames()``; ``duration_s`` and counters are final afterwards."""

    def __init__(self, path: Path, fps: float, limits: VideoLimits, name: str | None = None,
                 container: str | None = None) -> None:
        """``name`` is how messages call the video (default: its file name); ``container``, where
        the caller has already checked the file's first bytes (``check_container``)."""
        self.path = Path(path)
        self.name = name or self.path.name
        self.container = container or check_container(self.path)
        self.fps = fps
        self._step_s = 1.0 / fps
        self._limits = limits
        # Opened by probe(), decoded by frames(): capture, header frame rate, first frame (BGR). The
        # lock hands it over once, to frames() or to close(), whichever thread comes first.
        self._probed: tuple[cv2.VideoCapture, float, np.ndarray] | None = None
        self._handover = threading.Lock()
        self.frames_decoded = 0
        self.header_duration_s: float | None = None  # what the header says, once opened
        self.duration_s = 0.0
        self.width = self.height = 0  # of the decoded frames, once one is

    def __enter__(self) -> VideoSampler:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def probe(self) -> VideoInfo:
        """Check the header against the limits and decode the first frame only: a cheap
        answer to "is this a video we will accept, and how long is it?". The video stays open
        for ``frames()``, which starts from that frame; ``close()`` when it will not be read."""
        capture, header_fps = self._open()
        try:
            if not capture.grab():
                raise VideoDecodeError(f"video {self.name!r} has no decodable frames")
            ok, bgr = capture.retrieve()
            if not ok or bgr is None:
                raise VideoDecodeError(f"video {self.name!r} has no decodable frames")
            self._check_resolution(bgr.shape[1], bgr.shape[0])
            duration_s = _header_duration(capture)
        except BaseException:
            capture.release()
            raise
        self._probed = capture, header_fps, bgr
        return VideoInfo(self.container, bgr.shape[1], bgr.shape[0], duration_s)

    def close(self) -> None:
        with self._handover:
            probed, self._probed = self._probed, None
        if probed is not None:
            probed[0].release()

    def _open(self) -> tuple[cv2.VideoCapture, float]:
        """The opened capture, checked against the limits from its header, and the frame rate
        to assume where frames carry no timestamps."""
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise VideoDecodeError(f"video {self.name!r} cannot be opened (corrupt or truncated?)")
        try:
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            self._check_resolution(width, height)
            header_frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if math.isfinite(header_frames) and header_frames > self._limits.max_frames:
                raise VideoLimitError(
                    f"video has {int(header_frames)} frames; the limit is {self._limits.max_frames}")
            duration_s = self.header_duration_s = _header_duration(capture)
            if duration_s is not None and duration_s > self._limits.max_duration_s:
                raise VideoLimitError(
                    f"video lasts about {duration_s:.0f} s; the limit is {self._limits.max_duration_s:.0f} s")
        except BaseException:
            capture.release()
            raise
        header_fps = capture.get(cv2.CAP_PROP_FPS)
        return capture, header_fps if math.isfinite(header_fps) and 1 <= header_fps <= 1000 else _FALLBACK_FPS

    @property
    def expected_samples(self) -> int | None:
        """How many frames sampling should yield, by the header's duration (once opened)."""
        if self.header_duration_s is None:
            return None
        return max(1, math.ceil(self.header_duration_s * self.fps - 1e-6))

    def _check_resolution(self, width: int, height: int) -> None:
        if width > self._limits.max_width or height > self._limits.max_height:
            raise VideoLimitError(
                f"video is {width}x{height}; the limit is {self._limits.max_width}x{self._limits.max_height}")

    def frames(self) -> Iterator[SampledFrame]:
        with self._handover:
            probed, self._probed = self._probed, None
        capture, header_fps, first = probed or (*self._open(), None)
        try:
            yield from self._sample(capture, 1.0 / header_fps, first)
        finally:
            capture.release()
        if self.frames_decoded == 0:
            raise VideoDecodeError(f"video {self.name!r} has no decodable frames")

    def _sample(self, capture: cv2.VideoCapture, frame_interval_s: float,
                first: np.ndarray | None) -> Iterator[SampledFrame]:
        """``first``: the capture's current frame, grabbed and decoded already (``probe``)."""
        next_sample = 0
        previous_s = -math.inf
        while first is not None or capture.grab():
            decoded, first = first, None
            self.frames_decoded += 1
            if self.frames_decoded > self._limits.max_frames:
                raise VideoLimitError(f"video has more than {self._limits.max_frames} frames")
            time_s = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not math.isfinite(time_s) or time_s <= previous_s:
                # Missing or non-increasing timestamps: assume the nominal frame spacing.
                time_s = 0.0 if previous_s == -math.inf else previous_s + frame_interval_s
            previous_s = time_s
            if time_s > self._limits.max_duration_s:
                raise VideoLimitError(f"video lasts over {self._limits.max_duration_s:.0f} s")
            self.duration_s = time_s + frame_interval_s
            if time_s + 1e-6 < next_sample * self._step_s:
                continue
            ok, bgr = (True, decoded) if decoded is not None else capture.retrieve()
            if not ok or bgr is None:
                logger.warning("frame at %.2f s could not be decoded; skipped", time_s)
                continue
            self._check_resolution(bgr.shape[1], bgr.shape[0])
            self.height, self.width = bgr.shape[:2]
            next_sample = math.floor(time_s / self._step_s + 1e-6) + 1
            yield SampledFrame(time_s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def frame_at(path: Path, time_s: float) -> np.ndarray:
    """The decoded frame (RGB) shown at ``time_s`` of a video already checked on upload (its
    container and limits); ``VideoDecodeError`` past its end or where it cannot be read."""
    capture = cv2.VideoCapture(str(path))
    try:
        capture.set(cv2.CAP_PROP_POS_MSEC, max(0.0, time_s) * 1000)
        ok, bgr = capture.read()
    finally:
        capture.release()
    if not ok or bgr is None:
        raise VideoDecodeError(f"{path.name}: no frame at {time_s:.3f} s")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
