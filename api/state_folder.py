"""A service's own folder, held while it runs: one service per folder, since a second one would
clear the first one's uploads and run its jobs twice.

    <state>/
      .lock              held by the running service
      tmp/               uploads being received (cleared at start: requests that never finished)
      job-videos/        queued and kept jobs' videos
      review-videos/     their copies that every browser plays (``api.job_videos``)
      product-images/    product photos uploaded through the API, by content hash
      jobs.sqlite3       jobs, reviews and webhook events (``api.jobs``)
"""

from __future__ import annotations

import os
from pathlib import Path

from shoptag.api.jobs import JOBS_DATABASE
from shoptag.api.uploads import clear_folder, private_folder
from shoptag.errors import ConfigError
from shoptag.files import hold_lock
from shoptag.settings import Settings


class StateFolder:
    def __init__(self, folder: Path) -> None:
        """``folder``: absolute, so that stored refs of uploaded photos do not depend on the
        working folder."""
        self.path = private_folder(folder)
        self._lock: int | None = _lock(self.path)
        try:
            self.uploads = private_folder(self.path / "tmp")
            clear_folder(self.uploads)
            self.job_videos = private_folder(self.path / "job-videos")
            self.review_videos = private_folder(self.path / "review-videos")
            self.product_photos = private_folder(self.path / "product-images")
        except BaseException:
            self.close()
            raise
        self.database = self.path / JOBS_DATABASE

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def check_state_folder_free(settings: Settings) -> None:
    """Raise now, before a server starts, when another service holds the state folder (the
    lifespan's lock stays the one that counts)."""
    config = settings.service
    folder = None if config.served is None else config.resolved_state_dir(config.served)
    if folder is not None and folder.is_dir():
        os.close(_lock(folder))


def _lock(folder: Path) -> int:
    return hold_lock(folder / ".lock", ConfigError, f"state folder {folder} is in use by another ShopTag service; "
                     "give this one its own (SHOPTAG_SERVICE__STATE_DIR)")
