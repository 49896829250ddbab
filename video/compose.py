"""Render product photos moving through real footage for known intervals: the one renderer of
the demo clip, the tests' clips and the labelled benchmark (``shoptag.evaluation.bench``).

The ground truth (interval and per-frame box) is known exactly, while the background is real
video. A layer says where its photo is at each moment: a ``Placement`` slides an upright photo
from the left edge to the right edge; a ``Motion`` also scales, tilts, rotates, partly hides,
blurs and relights it. ``render_clip`` warps every layer into each frame it shows in and
records the box of its visible pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from shoptag.boxes import Box
from shoptag.errors import VideoDecodeError


class Layer(Protocol):
    """A photo on screen for an interval."""

    # x, y, w, h as fractions of the photo: the part hidden behind the scene itself, if any.
    occlusion: tuple[float, float, float, float] | None

    def shows(self, time_s: float) -> bool:
        """Whether the layer is on screen at ``time_s``."""
        ...

    def pose(self, time_s: float, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The BGR pixels shown at ``time_s`` and the frame points (4x2 float32) their corners go to:
        top-left, top-right, bottom-right, bottom-left."""
        ...


@dataclass(frozen=True)
class Placement:
    image: np.ndarray  # RGB product picture
    start_s: float
    end_s: float
    width_frac: float = 0.3  # product width as a fraction of the frame width
    y_frac: float = 0.3  # vertical position of the product's top edge


@dataclass(frozen=True)
class Motion:
    """How one product photo moves and changes during its appearance."""

    photo: np.ndarray  # BGR
    start_s: float
    end_s: float
    path: tuple[tuple[float, float], tuple[float, float]]  # centre, as fractions of the frame
    width: tuple[float, float]  # product width as a fraction of the frame, start -> end
    angle: tuple[float, float]  # degrees, start -> end
    corners: np.ndarray  # perspective jitter of the 4 corners, fractions of the size
    occlusion: tuple[float, float, float, float] | None  # x, y, w, h as fractions of the product box
    blur_sigma: float
    gain: float

    def shows(self, time_s: float) -> bool:
        return self.start_s <= time_s < self.end_s

    def pose(self, time_s: float, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        t = (time_s - self.start_s) / (self.end_s - self.start_s)
        width, height = frame_size
        photo = self.photo
        if self.blur_sigma:
            photo = cv2.GaussianBlur(photo, (0, 0), self.blur_sigma)
        photo = np.clip(photo.astype(np.float32) * self.gain, 0, 255).astype(np.uint8)
        h, w = photo.shape[:2]
        out_w = width * (self.width[0] + (self.width[1] - self.width[0]) * t)
        out_h = out_w * h / w
        (x0, y0), (x1, y1) = self.path
        centre = np.array([width * (x0 + (x1 - x0) * t), height * (y0 + (y1 - y0) * t)])
        angle = np.radians(self.angle[0] + (self.angle[1] - self.angle[0]) * t)
        unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) + self.corners
        scaled = unit * [out_w, out_h]
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return photo, (scaled @ rotation.T + centre).astype(np.float32)


@dataclass(frozen=True)
class _Slide:
    """A ``Placement`` sized for its clip: whole pixels, so the photo is copied, not resampled."""

    sprite: np.ndarray  # BGR, at its on-screen size
    start_s: float
    end_s: float
    y_frac: float
    occlusion: None = None

    @classmethod
    def of(cls, placement: Placement, frame_width: int) -> _Slide:
        h, w = placement.image.shape[:2]
        target_w = max(8, round(frame_width * placement.width_frac))
        target_h = max(8, round(h * target_w / w))
        resized = cv2.resize(placement.image, (target_w, target_h), interpolation=cv2.INTER_AREA)
        return cls(cv2.cvtColor(resized, cv2.COLOR_RGB2BGR), placement.start_s, placement.end_s, placement.y_frac)

    def shows(self, time_s: float) -> bool:
        return self.start_s <= time_s <= self.end_s

    def pose(self, time_s: float, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        frame_w, frame_h = frame_size
        h, w = self.sprite.shape[:2]
        span = max(self.end_s - self.start_s, 1e-6)
        progress = (time_s - self.start_s) / span
        x = round((frame_w - w) * (0.05 + 0.9 * progress))
        y = min(frame_h - h, round(frame_h * self.y_frac))
        return self.sprite, np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)


@dataclass
class Appearance:
    start_s: float
    end_s: float
    boxes: dict[float, Box] = field(default_factory=dict)  # frame time -> [x, y, w, h]


def compose_clip(background: Path, placements: list[Placement], out: Path,
                 duration_s: float | None = None) -> tuple[float, list[Appearance]]:
    """Write ``out`` (MP4) over the frames of ``background`` (looped to ``duration_s`` when given)
    and return (duration_s, one Appearance per placement)."""
    capture = cv2.VideoCapture(str(background))
    if not capture.isOpened():
        raise VideoDecodeError(f"background video {background} cannot be opened")
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames: Iterable[np.ndarray] = _decoded(capture)
        if duration_s is not None:
            footage = list(frames)
            if not footage:
                raise VideoDecodeError(f"background video {background} has no decodable frames")
            frames = loop_frames(footage, round(duration_s * fps))
        layers = [_Slide.of(p, width) for p in placements]
        count, boxes = render_clip(out, frames, layers, fps, (width, height))
    finally:
        capture.release()
    appearances = [Appearance(p.start_s, p.end_s, {round(t, 6): box for t, box in layer_boxes})
                   for p, layer_boxes in zip(placements, boxes, strict=True)]
    return count / fps, appearances


def video_writer(out: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    """A writer for ``out``: VP8 WebM for a ``.webm`` name (browsers play it; the review page's
    tests and benchmark use it), otherwise MPEG-4 Part 2 in MP4 (what OpenCV's own FFmpeg can
    encode without H.264)."""
    codec = "VP80" if Path(out).suffix.lower() == ".webm" else "mp4v"
    return cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*codec), fps, size)


def render_clip(out: Path, frames: Iterable[np.ndarray], layers: Sequence[Layer], fps: float,
                size: tuple[int, int], jpeg_quality: int | None = None) -> tuple[int, list[list[tuple[float, Box]]]]:
    """Write ``frames`` (BGR, all of ``size``) at ``fps`` as the video ``out`` (``video_writer``), each with the layers
    on screen at its time pasted over it, in order; ``jpeg_quality`` adds the artefacts of a
    JPEG re-encode to every frame, as after an upload. Returns the number of frames and, per
    layer, the (time_s, box of its visible pixels) of each frame it is on screen in; the box is
    (0, 0, 0, 0) where it is wholly hidden or outside the frame."""
    writer = video_writer(out, fps, size)
    boxes: list[list[tuple[float, Box]]] = [[] for _ in layers]
    count = 0
    try:
        for frame in frames:
            frame = frame.copy()
            time_s = count / fps
            frame_size = (frame.shape[1], frame.shape[0])
            for layer, layer_boxes in zip(layers, boxes, strict=True):
                if layer.shows(time_s):
                    photo, quad = layer.pose(time_s, frame_size)
                    layer_boxes.append((time_s, _paste(frame, photo, quad, layer.occlusion)))
            if jpeg_quality is not None:
                frame = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])[1], 1)
            writer.write(frame)
            count += 1
    finally:
        writer.release()
    return count, boxes


def _paste(frame: np.ndarray, photo: np.ndarray, quad: np.ndarray,
           occlusion: tuple[float, float, float, float] | None) -> Box:
    """Warp ``photo`` onto ``quad`` of ``frame`` (in place), less its occluded part; the box of
    the pixels it covers."""
    height, width = frame.shape[:2]
    h, w = photo.shape[:2]
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, quad)
    warped = cv2.warpPerspective(photo, matrix, (width, height))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (width, height))
    if occlusion is not None:  # part of the product hidden behind the scene itself
        ox, oy, ow, oh = occlusion
        hidden = np.zeros((h, w), np.uint8)
        hidden[int(oy * h):int((oy + oh) * h), int(ox * w):int((ox + ow) * w)] = 255
        mask[cv2.warpPerspective(hidden, matrix, (width, height)) > 0] = 0
    visible = mask > 0
    frame[visible] = warped[visible]
    ys, xs = np.nonzero(visible)
    if not len(xs):
        return (0, 0, 0, 0)
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


def read_frames(source: Path, size: tuple[int, int] | None = None, limit: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` (default all) decoded frames of the video ``source`` (BGR), resized to
    ``size`` when given; none when it cannot be decoded."""
    capture = cv2.VideoCapture(str(source))
    try:
        return list(_decoded(capture, size, limit))
    finally:
        capture.release()


def loop_frames(frames: Sequence[np.ndarray], count: int, offset: int = 0) -> list[np.ndarray]:
    """``count`` frames of ``frames`` from ``offset`` on, starting over as often as needed."""
    return [frames[(offset + i) % len(frames)] for i in range(count)]


def pan_frames(photo: np.ndarray, size: tuple[int, int], count: int, start: np.ndarray,
               end: np.ndarray) -> list[np.ndarray]:
    """``count`` frames of ``size`` panning slowly across the photo ``photo`` (scaled to 1.3 times
    the frame), from ``start`` to ``end``: (x, y) as fractions of the spare width and height."""
    width, height = size
    scale = max(width * 1.3 / photo.shape[1], height * 1.3 / photo.shape[0])
    photo = cv2.resize(photo, (int(photo.shape[1] * scale) + 1, int(photo.shape[0] * scale) + 1))
    spare_x, spare_y = photo.shape[1] - width, photo.shape[0] - height
    frames = []
    for i in range(count):
        t = i / max(count - 1, 1)
        x = int(spare_x * (start[0] + (end[0] - start[0]) * t))
        y = int(spare_y * (start[1] + (end[1] - start[1]) * t))
        frames.append(photo[y:y + height, x:x + width].copy())
    return frames


def _decoded(capture: cv2.VideoCapture, size: tuple[int, int] | None = None,
             limit: int | None = None) -> Iterator[np.ndarray]:
    count = 0
    while limit is None or count < limit:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame if size is None else cv2.resize(frame, size)
        count += 1


def write_slideshow(images: list[np.ndarray], out: Path, seconds_each: float = 1.0,
                    size: tuple[int, int] = (640, 360), fps: float = 25.0) -> float:
    """Write RGB ``images`` as a video (``video_writer``) showing each for ``seconds_each``; return
    the duration."""
    writer = video_writer(out, fps, size)
    per_image = max(1, round(seconds_each * fps))
    try:
        for image in images:
            frame = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
            for _ in range(per_image):
                writer.write(frame)
    finally:
        writer.release()
    return len(images) * per_image / fps
