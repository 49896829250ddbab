"""What one running service holds, each part with one job: its state folder
(``api.state_folder``), the job, review and webhook stores (one SQLite database), the worker
pool and upload places, the app's metrics, jobs' progress and videos, catalog thumbnails, and —
once loaded — the model and its catalogs (``api.catalogs``), with tagging on them. The app's
lifespan builds it; routes reach it through ``api.deps``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from shoptag.api.catalogs import Catalogs, check_keys
from shoptag.api.frame_search import FrameSearch
from shoptag.api.job_videos import JobVideos
from shoptag.api.jobs import Job, JobStore
from shoptag.api.metrics import Metrics
from shoptag.api.pool import Slots, WorkerPool
from shoptag.api.progress import JobProgressBoard
from shoptag.api.public_refs import PublicRefs
from shoptag.api.reviews import ReviewStore
from shoptag.api.state_folder import StateFolder
from shoptag.api.thumbnails import Thumbnails
from shoptag.api.webhooks import WebhookStore
from shoptag.errors import ConfigError, ShopTagError
from shoptag.indexing.images import ImageReader
from shoptag.model import create_embedder
from shoptag.model.base import Embedder
from shoptag.settings import Settings, TaggingSettings
from shoptag.tagging import Tagger, TagResult
from shoptag.tagging.tagger import tagging_threshold
from shoptag.video.sampler import VideoInfo, VideoSampler

logger = logging.getLogger(__name__)


def path_scrubber(settings: Settings) -> Callable[[str], str]:
    """Replaces this server's folders in a message with names for them: messages reach clients,
    paths on the server are none of their business."""
    config = settings.service
    named = ((config.resolved_state_dir(config.served) if config.served is not None else None, "<state>"),
             (config.index, "<index>"), (config.data_dir, "<data>"), (config.image_root, "<image-root>"))
    forms = {(str(form), label) for folder, label in named if folder is not None
             for form in (folder, folder.resolve()) if form.is_absolute()}
    private = sorted(forms, key=lambda pair: -len(pair[0]))  # longest first

    def scrub(message: str) -> str:
        for folder, label in private:
            message = message.replace(folder, label)
        return message

    return scrub


class Service:
    def __init__(self, settings: Settings, metrics: Metrics, embedder: Embedder | None = None) -> None:
        config = settings.service
        if config.served is None:
            raise ConfigError("nothing to serve: pass --index (one catalog) or --data (a folder of catalogs), or set "
                              "SHOPTAG_SERVICE__INDEX or SHOPTAG_SERVICE__DATA_DIR")
        check_keys(settings)
        self.settings = settings
        self.folder = StateFolder(config.resolved_state_dir(config.served).resolve())
        try:
            self.jobs = JobStore(self.folder.database)
            self.reviews = ReviewStore(self.jobs)
            self.webhooks = WebhookStore(self.jobs)
            requeued = self.jobs.requeue_interrupted()
            if requeued:
                logger.warning("%d job(s) interrupted by the last stop were queued again", requeued)
            removed = self.jobs.remove_unused_uploads(self.folder.job_videos, config.job_video_retention_s)
            if removed:
                logger.info("removed %d stored video(s) that no job needs", removed)
            self.videos = JobVideos(self.jobs, config, self.folder.review_videos)
            self.videos.remove_orphan_copies(self.folder.job_videos)
        except BaseException:
            self.folder.close()
            raise
        self.pool = WorkerPool(config.workers, config.queue_size)
        self.upload_places = Slots(config.max_uploads_in_flight, "uploads", config.max_uploads_per_key)
        self.scrub_paths = path_scrubber(settings)
        self.metrics = metrics
        self.metrics.watch_queue("workers", lambda: self.pool.depth)
        self.metrics.watch_queue("jobs", self._queued_jobs)
        self.progress = JobProgressBoard()
        self.refs = PublicRefs(self.folder.product_photos, config.image_root)
        self.image_reader = ImageReader(settings.images, settings.fetch)
        self.thumbnails = Thumbnails(settings, self.image_reader)
        self.frame_search = FrameSearch(settings.tagging)
        self.embedder = embedder
        self.catalogs: Catalogs | None = None
        self.load_error: str | None = None

    def _queued_jobs(self) -> float:
        try:
            return self.jobs.count("queued", timeout_s=1)
        except Exception:  # a store that fails must not fail the metrics with it (/readyz reports it)
            return float("nan")

    @property
    def ready(self) -> bool:
        return self.catalogs is not None

    def close(self) -> None:
        """Stop loading catalogs and release the state folder (the lifespan calls this at shutdown)."""
        if self.catalogs is not None:
            self.catalogs.close()
        self.folder.close()

    def load(self) -> None:
        """Load the model (and of one index, the index) and warm it up (blocking: call from a
        thread). A failure is kept in ``load_error`` for /readyz instead of killing the process."""
        try:
            embedder = self.embedder or create_embedder(self.settings.model)
            # A model without a threshold would fail every request: it fails readiness instead.
            tagging_threshold(embedder, self.settings.tagging)
            catalogs = Catalogs(self.settings, embedder, self.image_reader, self.folder.product_photos)
            names = catalogs.names()  # a data folder that is not one fails here
            # The first forward pass allocates and tunes kernels; pay for it before traffic.
            vector = embedder.embed_images([np.zeros((224, 224, 3), np.uint8)])
            if catalogs.single is not None:  # one catalog: loaded now (a data folder's, on first use)
                catalogs.get(catalogs.single).live.snapshot().search(vector, 1)
        except ShopTagError as exc:
            self.load_error = exc.message
            logger.error("service not ready: %s", exc.message)
            return
        except Exception as exc:  # a bug or an unforeseen file must not leave /readyz "loading" forever
            logger.exception("service not ready: loading the model and index failed")
            self.load_error = f"loading failed ({type(exc).__name__}); see the service log"
            return
        self.embedder = embedder
        self.catalogs = catalogs
        logger.info("ready: %d catalog(s), model %s", len(names), embedder.identity)

    def tagging_settings(self, overrides: dict) -> TaggingSettings:
        return TaggingSettings.model_validate({**self.settings.tagging.given(), **overrides})

    def open_video(self, path: Path, video_name: str, container: str,
                   overrides: dict) -> tuple[VideoSampler, VideoInfo]:
        """Open an uploaded video at the request's rate and probe it, to refuse it now (415/422)
        and learn how long it is; tagging then continues from the probed frame. The caller
        closes the sampler when done with it (closing one being decoded leaves it to the decoder)."""
        sampler = VideoSampler(path, self.tagging_settings(overrides).fps, self.settings.video, video_name, container)
        return sampler, sampler.probe()

    def tag_video(self, sampler: VideoSampler, overrides: dict, catalogs: Sequence[str],
                  on_frame: Callable[[int], None] | None = None) -> TagResult:
        """Tag one opened video against ``catalogs`` (blocking: runs on a worker)."""
        # The catalogs are held while it runs: none is let go meanwhile (a queued job waits for room).
        with sampler, self.catalogs.holding(catalogs, self.settings.service.catalog_wait_s) as held:
            # One snapshot for the whole request: product changes made meanwhile do not mix in.
            tagger = Tagger(self.embedder, self.catalogs.view(held), self.tagging_settings(overrides),
                            self.settings.video)
            result = tagger.tag_sampled(sampler, on_frame)
        self.metrics.record_tagging(result.frames_sampled, result.stage_seconds)
        return result.as_served()

    def tag_job(self, job: Job) -> TagResult:
        """Tag a queued job's stored video (blocking: runs on a worker). Its container is checked
        again: the stored file is read afresh, maybe after a restart."""
        sampler = VideoSampler(job.upload, self.tagging_settings(job.overrides).fps, self.settings.video,
                               job.video_name)
        result = self.tag_video(sampler, job.overrides, self.job_catalogs(job),
                                lambda frames: self.progress.record(job.id, frames, sampler.expected_samples))
        self.videos.make_review_copy(job)
        return result

    def job_catalogs(self, job: Job) -> list[str]:
        """The catalogs a job searches; of a job queued before they were named, the service's one."""
        if job.catalogs is not None:
            return job.catalogs
        if self.catalogs.single is None:
            raise ConfigError(f"job {job.id!r} was queued before jobs named their catalogs: submit it again")
        return [self.catalogs.single]

    def job_finished(self, job: Job) -> None:
        """After a job's outcome is stored (blocking): forget its progress, and delete the stored
        videos no job needs any more."""
        self.progress.forget(job.id)
        self.videos.expire()
