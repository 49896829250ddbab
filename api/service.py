"""What one running service holds: settings, worker pool, job store, metrics, and — once
loaded — the model and the live index. Routes reach it as ``request.app.state.service``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from shoptag.api.jobs import JobStore
from shoptag.api.live_index import LiveIndex
from shoptag.api.metrics import Metrics
from shoptag.api.pool import WorkerPool
from shoptag.api.uploads import clear_folder, private_folder
from shoptag.errors import ConfigError, ShopTagError
from shoptag.indexing.images import ImageReader
from shoptag.indexing.store import CatalogIndex
from shoptag.model import create_embedder
from shoptag.model.base import Embedder
from shoptag.settings import Settings, TaggingSettings
from shoptag.tagging import Tagger
from shoptag.video.sampler import VideoSampler

logger = logging.getLogger(__name__)


class Service:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        config = settings.service
        if config.index is None:
            raise ConfigError("no index to serve: pass --index or set SHOPTAG_SERVICE__INDEX")
        self.settings = settings
        self.index_path = config.index
        state_dir = private_folder(config.resolved_state_dir(config.index))
        self.uploads = private_folder(state_dir / "tmp")
        clear_folder(self.uploads)
        self.job_uploads = private_folder(state_dir / "job-videos")
        self.product_images = private_folder(state_dir / "product-images")
        self.jobs = JobStore(state_dir / "jobs.sqlite3")
        requeued = self.jobs.requeue_interrupted()
        if requeued:
            logger.warning("%d job(s) interrupted by the last stop were queued again", requeued)
        self.pool = WorkerPool(config.workers, config.queue_size)
        self.metrics = Metrics()
        self.metrics.watch_queue("workers", lambda: self.pool.depth)
        self.metrics.watch_queue("jobs", lambda: self.jobs.count("queued"))
        self.embedder = embedder
        self.live_index: LiveIndex | None = None
        self.load_error: str | None = None

    @property
    def ready(self) -> bool:
        return self.live_index is not None

    def load(self) -> None:
        """Load the model and index and run one warm-up search (blocking: call from a thread).
        A failure is kept in ``load_error`` for /readyz instead of killing the process."""
        try:
            embedder = self.embedder or create_embedder(self.settings.model)
            index = CatalogIndex.load(self.index_path, embedder)
            # The first forward pass allocates and tunes kernels; pay for it before traffic.
            index.search(embedder.embed_images([np.zeros((224, 224, 3), np.uint8)]), 1)
        except ShopTagError as exc:
            self.load_error = exc.message
            logger.error("service not ready: %s", exc.message)
            return
        except Exception as exc:  # a bug or an unforeseen file must not leave /readyz "loading" forever
            logger.exception("service not ready: loading the model and index failed")
            self.load_error = f"loading failed ({type(exc).__name__}); see the service log"
            return
        self.embedder = embedder
        reader = ImageReader(self.settings.images, self.settings.fetch)
        self.live_index = LiveIndex(index, embedder, reader, self.settings.index.keep)
        logger.info("ready: %d products, index version %s, model %s", len(index.products),
                    index.version, embedder.identity)

    def tagging_settings(self, overrides: dict) -> TaggingSettings:
        return TaggingSettings.model_validate({**self.settings.tagging.model_dump(), **overrides})

    def tag_video(self, path: Path, video_name: str, overrides: dict,
                  max_duration_s: float | None = None) -> dict | None:
        """Tag one stored video (blocking: runs on a worker). With ``max_duration_s``, a video
        that is longer, or whose header does not say how long it is, is not tagged: None."""
        tagging = self.tagging_settings(overrides)
        if max_duration_s is not None:
            info = VideoSampler(path, tagging.fps, self.settings.video).probe()
            if info.duration_s is None or info.duration_s > max_duration_s:
                return None
        # One snapshot for the whole request: product changes made meanwhile do not mix in.
        tagger = Tagger(self.embedder, self.live_index.snapshot(), tagging, self.settings.video)
        result = tagger.tag(path)
        self.metrics.record_tagging(result.frames_sampled, result.stage_seconds)
        payload = result.as_json()
        payload["video"] = video_name
        return payload

    def probe_video(self, path: Path, overrides: dict) -> None:
        """Refuse a video now (415/422) rather than when its job runs."""
        VideoSampler(path, self.tagging_settings(overrides).fps, self.settings.video).probe()
