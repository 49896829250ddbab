"""Jobs' stored videos: kept for the review page while a job is recent, and deleted once no job
needs them (a failed job's at once, a succeeded one's after ``job_video_retention_s``, the
oldest first beyond ``job_video_max_bytes``)."""

from __future__ import annotations

import logging
from pathlib import Path

from shoptag.api.jobs import Job, JobStore, video_kept
from shoptag.errors import NotFoundError
from shoptag.settings import ServiceSettings

logger = logging.getLogger(__name__)


class JobVideos:
    def __init__(self, jobs: JobStore, config: ServiceSettings) -> None:
        self._jobs = jobs
        self._config = config

    def kept(self, job: Job) -> Path:
        """The job's stored video while it is kept for review, or ``NotFoundError``."""
        if not video_kept(job, self._config.job_video_retention_s):
            raise NotFoundError(f"the video of job {job.id!r} is no longer kept")
        return job.upload

    def expire(self) -> None:
        """Delete the stored videos no job needs any more (blocking; after each job and
        periodically while idle)."""
        config = self._config
        for video in self._jobs.expire_uploads(config.job_video_retention_s):
            video.unlink(missing_ok=True)
        kept, over = 0, []
        for video in self._jobs.kept_uploads():
            kept += video.stat().st_size if video.is_file() else 0
            if kept > config.job_video_max_bytes:
                over.append(video)
        if over:
            self._jobs.forget_uploads(over)
            for video in over:
                video.unlink(missing_ok=True)
            logger.info("deleted %d job video(s) over the %d bytes kept for review", len(over),
                        config.job_video_max_bytes)
