"""Jobs' stored videos: kept for the review page while a job is recent, and deleted once no job
needs them (a failed job's at once, a succeeded one's after ``job_video_retention_s``, the
oldest first beyond ``job_video_max_bytes``). Each kept video may have a copy that every
browser plays (``video.playable``), made after tagging and deleted with it."""

from __future__ import annotations

import logging
from pathlib import Path

from shoptag.api.jobs import Job, JobStore, video_kept
from shoptag.errors import NotFoundError, VideoError
from shoptag.settings import ServiceSettings
from shoptag.video.playable import write_playable

logger = logging.getLogger(__name__)


class JobVideos:
    def __init__(self, jobs: JobStore, config: ServiceSettings, review_copies: Path) -> None:
        self._jobs = jobs
        self._config = config
        self._review_copies = review_copies

    def kept(self, job: Job) -> Path:
        """The video to play for the job's review while it is kept: its copy that every browser
        plays where there is one, else the upload itself; ``NotFoundError`` once it is not kept."""
        if not video_kept(job, self._config.job_video_retention_s):
            raise NotFoundError(f"the video of job {job.id!r} is no longer kept")
        copy = self._copy_of(job.upload)
        return copy if copy.is_file() else job.upload

    def make_review_copy(self, job: Job) -> None:
        """Make the job's copy that every browser plays (blocking; on the job's worker). A video
        the copy cannot be made of is still reviewed from the upload: logged, not raised."""
        if not self._config.review_video_side:
            return
        try:
            write_playable(job.upload, self._copy_of(job.upload), self._config.review_video_side,
                           self._config.review_video_fps)
        except VideoError as exc:
            logger.warning("job %s: %s", job.id, exc.message)
        except OSError as exc:  # a full disk, say: the tags stand, the upload is played instead
            logger.warning("job %s: its review copy could not be written: %s", job.id, exc)

    def expire(self) -> None:
        """Delete the stored videos (and their copies) no job needs any more (blocking; after each
        job and periodically while idle)."""
        config = self._config
        for video in self._jobs.expire_uploads(config.job_video_retention_s):
            self._delete(video)
        kept, over = 0, []
        for video in self._jobs.kept_uploads():
            kept += sum(path.stat().st_size for path in (video, self._copy_of(video)) if path.is_file())
            if kept > config.job_video_max_bytes:
                over.append(video)
        if over:
            self._jobs.forget_uploads(over)
            for video in over:
                self._delete(video)
            logger.info("deleted %d job video(s) over the %d bytes kept for review", len(over),
                        config.job_video_max_bytes)

    def remove_orphan_copies(self, uploads: Path) -> None:
        """Delete the copies whose upload is gone (at start-up, after the unused uploads went)."""
        for copy in self._review_copies.iterdir():
            if not (uploads / copy.name.removesuffix(".mp4")).is_file():
                copy.unlink(missing_ok=True)

    def _delete(self, video: Path) -> None:
        video.unlink(missing_ok=True)
        self._copy_of(video).unlink(missing_ok=True)

    def _copy_of(self, video: Path) -> Path:
        return self._review_copies / f"{video.name}.mp4"
