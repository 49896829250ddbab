"""Render a product image moving through real footage for a known interval.

Used by ``shoptag demo`` and the tests: the ground truth (interval and per-frame box) is
known exactly, while the background is real video.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from shoptag.boxes import Box
from shoptag.errors import VideoDecodeError


@dataclass(frozen=True)
class Placement:
    image: np.ndarray  # RGB product picture
    start_s: float
    end_s: float
    width_frac: float = 0.3  # product width as a fraction of the frame width
    y_frac: float = 0.3  # vertical position of the product's top edge


@dataclass
class Appearance:
    start_s: float
    end_s: float
    boxes: dict[float, Box] = field(default_factory=dict)  # frame time -> [x, y, w, h]


def compose_clip(background: Path, placements: list[Placement], out: Path) -> tuple[float, list[Appearance]]:
    """Write ``out`` (MP4) and return (duration_s, one Appearance per placement)."""
    capture = cv2.VideoCapture(str(background))
    if not capture.isOpened():
        raise VideoDecodeError(f"background video {background} cannot be opened")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    appearances = [Appearance(p.start_s, p.end_s) for p in placements]
    sprites = [_sprite(p, width) for p in placements]
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            time_s = index / fps
            for placement, sprite, appearance in zip(placements, sprites, appearances, strict=True):
                if placement.start_s <= time_s <= placement.end_s:
                    box = _paste(frame, sprite, placement, time_s)
                    appearance.boxes[round(time_s, 6)] = box
            writer.write(frame)
            index += 1
    finally:
        capture.release()
        writer.release()
    return index / fps, appearances


def _sprite(placement: Placement, frame_width: int) -> np.ndarray:
    h, w = placement.image.shape[:2]
    target_w = max(8, round(frame_width * placement.width_frac))
    target_h = max(8, round(h * target_w / w))
    resized = cv2.resize(placement.image, (target_w, target_h), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(resized, cv2.COLOR_RGB2BGR)


def _paste(frame: np.ndarray, sprite: np.ndarray, placement: Placement, time_s: float) -> Box:
    """Move the sprite from the left edge to the right edge over the placement's interval."""
    frame_h, frame_w = frame.shape[:2]
    h, w = sprite.shape[:2]
    span = max(placement.end_s - placement.start_s, 1e-6)
    progress = (time_s - placement.start_s) / span
    x = round((frame_w - w) * (0.05 + 0.9 * progress))
    y = min(frame_h - h, round(frame_h * placement.y_frac))
    frame[y : y + h, x : x + w] = sprite
    return (x, y, w, h)


def write_slideshow(images: list[np.ndarray], out: Path, seconds_each: float = 1.0,
                    size: tuple[int, int] = (640, 360), fps: float = 25.0) -> float:
    """Write RGB ``images`` as an MP4 showing each for ``seconds_each``; return the duration."""
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    per_image = max(1, round(seconds_each * fps))
    try:
        for image in images:
            frame = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
            for _ in range(per_image):
                writer.write(frame)
    finally:
        writer.release()
    return len(images) * per_image / fps
