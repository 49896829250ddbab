"""Runs queued jobs on the worker pool, oldest first, one worker slot per job."""

from __future__ import annotations

import asyncio
import logging

from shoptag.api.jobs import Job
from shoptag.api.service import Service
from shoptag.errors import ShopTagError

logger = logging.getLogger(__name__)

# How often to look again for a free worker or a job that another process queued.
_POLL_S = 0.25


class JobRunner:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task] = set()

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        try:
            await self._claim_and_start()
        finally:
            # On shutdown the jobs in flight stay 'running' in the store and are queued again
            # at the next start.
            for task in list(self._running):
                task.cancel()

    async def _claim_and_start(self) -> None:
        pool = self._service.pool
        while True:
            if not pool.try_acquire():
                await asyncio.sleep(_POLL_S)
                continue
            job = await asyncio.to_thread(self._service.jobs.claim_next)
            if job is None:
                pool.release()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=_POLL_S * 4)
                except TimeoutError:
                    pass
                continue
            task = asyncio.create_task(self._run(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, job: Job) -> None:
        service = self._service
        logger.info("job %s started (%s)", job.id, job.video_name)
        try:
            result = await service.pool.run_acquired(
                service.tag_video, job.upload, job.video_name, job.params)
        except ShopTagError as exc:
            await asyncio.to_thread(service.jobs.fail, job.id, exc.code, exc.message)
            service.metrics.jobs.labels("failed").inc()
            logger.info("job %s failed: %s", job.id, exc.message)
        except Exception as exc:  # a bug must fail one job, not stop the runner
            logger.exception("job %s crashed", job.id)
            await asyncio.to_thread(service.jobs.fail, job.id, "internal_error", type(exc).__name__)
            service.metrics.jobs.labels("failed").inc()
        else:
            await asyncio.to_thread(service.jobs.succeed, job.id, result)
            service.metrics.jobs.labels("succeeded").inc()
            logger.info("job %s succeeded", job.id)
        job.upload.unlink(missing_ok=True)
