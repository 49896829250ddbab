"""The small public-domain/CC0 media shipped in the package (see media/LICENSES.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Real street footage (no product in it): the demo's background, the default background bank
# and int8 calibration.
FOOTAGE = "city.mp4"
# Real photos: the demo's products and int8 calibration.
PHOTOS = ("coffee.jpg", "rocket.jpg", "chelsea.jpg", "astronaut.jpg")


def media_path(name: str) -> Path:
    return Path(str(resources.files("shoptag") / "media" / name))
