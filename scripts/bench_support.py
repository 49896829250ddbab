"""What the benchmark scripts share: where the fetched real media is, the real backgrounds
their videos are made over, and running shoptag commands in order."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from shoptag.bundled import media_path
from shoptag.cli import main as shoptag

MEDIA = Path(os.environ.get("SHOPTAG_TEST_MEDIA", Path(__file__).resolve().parent.parent / ".media"))


def copy_backgrounds(folder: Path) -> Path:
    """The bundled street clip, kivy's cityCC0 footage and the labelme scenes, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in [media_path("city.mp4"), MEDIA / "cityCC0.mpg", *sorted((MEDIA / "scenes").glob("*.jpg"))]:
        shutil.copyfile(source, folder / source.name)
    return folder


def run_steps(steps: list[list]) -> int:
    """Run each shoptag command line; stop at the first that fails, returning its status."""
    for step in steps:
        status = shoptag([str(part) for part in step])
        if status:
            return status
    return 0
