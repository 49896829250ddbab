"""What one running service holds: its state folder (locked: one service per folder), worker
pool, job store, the app's metrics, and — once loaded — the model and its catalogs
(``api.catalogs``). The app's lifespan builds it; routes reach it as
``request.app.state.service``."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from shoptag.api.catalogs import Catalog, Catalogs, check_keys
from shoptag.api.jobs import JOBS_DATABASE, Job, JobStore, video_kept
from shoptag.api.metrics import Metrics
from shoptag.api.pool import Slots, WorkerPool
from shoptag.api.reviews import ReviewStore
from shoptag.api.schemas import JobProgress
from shoptag.api.uploads import clear_folder, private_folder
from shoptag.api.webhooks import WebhookStore
from shoptag.errors import ConfigError, ImageLoadError, NotFoundError, ShopTagError
from shoptag.files import hold_lock
from shoptag.indexing.images import ImageReader
from shoptag.indexing.records import IndexedProduct
from shoptag.model import create_embedder
from shoptag.model.base import Embedder
from shoptag.pixels import rescaled
from shoptag.settings import Settings, TaggingSettings
from shoptag.tagging import Tagger, TagResult
from shoptag.tagging.tagger import tagging_threshold
from shoptag.video.sampler import VideoInfo, VideoSampler

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256
_THUMBNAILS_CACHED = 512
_THUMBNAILS_AT_ONCE = 2


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
        # Absolute: stored refs of uploaded product photos must not depend on the working folder.
        self.state_dir = private_folder(config.resolved_state_dir(config.served).resolve())
        self._state_lock = _lock_state_folder(self.state_dir)
        try:
            self.uploads = private_folder(self.state_dir / "tmp")
            clear_folder(self.uploads)
            self.job_uploads = private_folder(self.state_dir / "job-videos")
            self.photos_folder = private_folder(self.state_dir / "product-images")
            self.jobs = JobStore(self.state_dir / JOBS_DATABASE)
            self.reviews = ReviewStore(self.jobs)
            self.webhooks = WebhookStore(self.jobs)
            requeued = self.jobs.requeue_interrupted()
            if requeued:
                logger.warning("%d job(s) interrupted by the last stop were queued again", requeued)
            removed = self.jobs.remove_unused_uploads(self.job_uploads, config.job_video_retention_s)
            if removed:
                logger.info("removed %d stored video(s) that no job needs", removed)
        except BaseException:
            self.close()
            raise
        self.pool = WorkerPool(config.workers, config.queue_size)
        self.upload_places = Slots(config.max_uploads_in_flight, "uploads",
                                   config.max_uploads_per_key)
        self.scrub_paths = path_scrubber(settings)
        self.metrics = metrics
        self.metrics.watch_queue("workers", lambda: self.pool.depth)
        self.metrics.watch_queue("jobs", self._queued_jobs)
        self.embedder = embedder
        self.catalogs: Catalogs | None = None
        self.image_reader = ImageReader(settings.images, settings.fetch)
        self.load_error: str | None = None
        # Running jobs' sampled frames so far and expected; only this process runs its jobs.
        self._progress: dict[str, tuple[int, int | None]] = {}
        self._progress_lock = threading.Lock()
        # Keyed by image ref, so a replaced photo gets a new thumbnail.
        self._thumbnail_of_ref = lru_cache(maxsize=_THUMBNAILS_CACHED)(self._encode_thumbnail)
        self._thumbnail_slots = threading.BoundedSemaphore(_THUMBNAILS_AT_ONCE)

    def _queued_jobs(self) -> float:
        try:
            return self.jobs.count("queued", timeout_s=1)
        except Exception:  # a store that fails must not fail the metrics with it (/readyz reports it)
            return float("nan")

    @property
    def ready(self) -> bool:
        return self.catalogs is not None

    def public_ref(self, ref: str) -> str:
        """How a client sees a stored image ref: URLs as they are; an uploaded image as
        ``upload:<sha256>``; a file under the image root relative to it; other files by name."""
        if "://" in ref:
            return ref
        path = Path(ref)
        if path.is_relative_to(self.photos_folder):
            return f"upload:{path.name}"
        root = self.settings.service.image_root
        if root is not None and path.is_relative_to(root.resolve()):
            return str(path.relative_to(root.resolve()))
        return path.name if path.is_absolute() else ref

    def public_product(self, product: IndexedProduct) -> IndexedProduct:
        """``product`` with its image refs as a client sees them (``public_ref``)."""
        images = tuple(image.model_copy(update={"ref": self.public_ref(image.ref)}) for image in product.images)
        return product.model_copy(update={"images": images})

    def close(self) -> None:
        """Stop loading catalogs and release the state folder (the lifespan calls this at shutdown)."""
        if self.catalogs is not None:
            self.catalogs.close()
        if self._state_lock is not None:
            os.close(self._state_lock)
            self._state_lock = None

    def load(self) -> None:
        """Load the model (and of one index, the index) and warm it up (blocking: call from a
        thread). A failure is kept in ``load_error`` for /readyz instead of killing the process."""
        try:
            embedder = self.embedder or create_embedder(self.settings.model)
            # A model without a threshold would fail every request: it fails readiness instead.
            tagging_threshold(embedder, self.settings.tagging)
            catalogs = Catalogs(self.settings, embedder, self.image_reader, self.photos_folder)
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

        def done(frames: int) -> None:
            with self._progress_lock:
                self._progress[job.id] = (frames, sampler.expected_samples)

        return self.tag_video(sampler, job.overrides, self.job_catalogs(job), done)

    def job_catalogs(self, job: Job) -> list[str]:
        """The catalogs a job searches; of a job queued before they were named, the service's one."""
        if job.catalogs is not None:
            return job.catalogs
        if self.catalogs.single is None:
            raise ConfigError(f"job {job.id!r} was queued before jobs named their catalogs: submit it again")
        return [self.catalogs.single]

    def progress(self, job: Job) -> JobProgress:
        """How far a job has got (a running one: its sampled frames so far)."""
        with self._progress_lock:
            running = self._progress.get(job.id, (0, None))
        return JobProgress.of(job, running)

    def job_finished(self, job: Job) -> None:
        """After a job's outcome is stored (blocking): forget its progress, and delete the stored
        videos no job needs any more."""
        with self._progress_lock:
            self._progress.pop(job.id, None)
        self.expire_videos()

    def expire_videos(self) -> None:
        """Delete the stored videos no job needs any more: a failed job's, succeeded ones' past
        their retention, and the oldest beyond ``job_video_max_bytes`` (blocking; after each job
        and periodically while idle)."""
        config = self.settings.service
        for video in self.jobs.expire_uploads(config.job_video_retention_s):
            video.unlink(missing_ok=True)
        kept, over = 0, []
        for video in self.jobs.kept_uploads():
            kept += video.stat().st_size if video.is_file() else 0
            if kept > config.job_video_max_bytes:
                over.append(video)
        if over:
            self.jobs.forget_uploads(over)
            for video in over:
                video.unlink(missing_ok=True)
            logger.info("deleted %d job video(s) over the %d bytes kept for review", len(over),
                        config.job_video_max_bytes)

    def kept_video(self, job: Job) -> Path:
        """The job's stored video while it is kept for review, or ``NotFoundError``."""
        if not video_kept(job, self.settings.service.job_video_retention_s):
            raise NotFoundError(f"the video of job {job.id!r} is no longer kept")
        return job.upload

    def thumbnail(self, catalog: Catalog, product_id: str) -> bytes:
        """A JPEG of the product's first catalog photo, at most ``THUMBNAIL_SIDE`` px (blocking).
        Not on the tagging workers: a page full of thumbnails must not queue behind a video, nor
        take the places tagging requests need; at most ``_THUMBNAILS_AT_ONCE`` are made at once."""
        product = catalog.live.snapshot().product(product_id)
        if not product.images:
            raise NotFoundError(f"product {product_id!r} has no image")
        with self._thumbnail_slots:
            return self._thumbnail_of_ref(product.images[0].ref)

    def _encode_thumbnail(self, ref: str) -> bytes:
        root = self.settings.service.image_root
        if "://" not in ref and not Path(ref).is_absolute():
            # Catalog paths are relative to the catalog file, which the service does not know.
            resolved = (root / ref).resolve() if root is not None else None
            if resolved is None or not resolved.is_relative_to(root.resolve()):
                raise NotFoundError(f"no thumbnail for {ref!r}: the catalog's image paths are relative, and the "
                                    "service's image root (SHOPTAG_SERVICE__IMAGE_ROOT) does not hold them")
            ref = str(resolved)
        rgb = self.image_reader.load(ref, self.settings.service.served.parent).pixels
        small = rescaled(rgb, min(1.0, THUMBNAIL_SIDE / max(rgb.shape[:2])))
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise ImageLoadError(f"the image of {ref!r} could not be encoded")
        return encoded.tobytes()


def check_state_folder_free(settings: Settings) -> None:
    """Raise now, before a server starts, when another service holds the state folder (the
    lifespan's lock stays the one that counts)."""
    config = settings.service
    folder = None if config.served is None else config.resolved_state_dir(config.served)
    if folder is not None and folder.is_dir():
        os.close(_lock_state_folder(folder))


def _lock_state_folder(folder: Path) -> int:
    """Hold ``folder`` for this service: a second service on it would clear this one's uploads
    and run its jobs twice."""
    return hold_lock(folder / ".lock", ConfigError, f"state folder {folder} is in use by another ShopTag service; "
                     "give this one its own (SHOPTAG_SERVICE__STATE_DIR)")
