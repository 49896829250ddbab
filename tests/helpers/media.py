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
