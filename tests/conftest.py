from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from shoptag.demo import media_path
from shoptag.model import create_embedder
from shoptag.settings import ModelSettings

REPO = Path(__file__).resolve().parent.parent
# Real media that scripts/fetch_test_media.sh takes from Debian's archive; the test session
# fetches it the first time a test asks for it. The bundled clip and photos are always there.
FETCHED_MEDIA = Path(os.environ.get("SHOPTAG_TEST_MEDIA", REPO / ".media"))


@pytest.fixture(scope="session")
def effnet():
    return create_embedder(ModelSettings(spec="effnet-lite0", batch_size=16))


@pytest.fixture(scope="session")
def fetched_media() -> Path:
    # The script returns at once when the media of its current revision is there.
    fetched = subprocess.run([str(REPO / "scripts" / "fetch_test_media.sh")], capture_output=True, text=True,
                             env={**os.environ, "SHOPTAG_TEST_MEDIA": str(FETCHED_MEDIA)}, timeout=900)
    if fetched.returncode != 0:
        pytest.fail(f"could not fetch the real test media into {FETCHED_MEDIA}:\n{fetched.stderr[-2000:]}")
    return FETCHED_MEDIA


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
