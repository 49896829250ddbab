"""Runs queued jobs on the worker pool, oldest first, one worker slot per job.

The runner outlives any failure of the job store (a locked, damaged or vanished SQLite file):
it logs it, gives the worker slot back, reports it through ``error`` (so /readyz says the
service is not ready), and tries again with a growing pause until the store answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from shoptag.api.jobs import Job
from shoptag.api.service import Service
from shoptag.errors import ShopTagError

logger = logging.getLogger(__name__)

# How often to look again for a free worker or a job that another process queued.
_POLL_S = 0.25
_MAX_BACKOFF_S = 5.0
_SWEEP_S = 60.0


class Doorbell:
    """Wakes a polling loop before its next poll: ``ring`` when there is work; ``wait`` returns
    at the next ring or after ``timeout_s``, whichever comes first."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, timeout_s: float) -> None:
        self._rung.clear()
        try:
            await asyncio.wait_for(self._rung.wait(), timeout=timeout_s)
        except TimeoutError:
            pass


class JobRunner:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._doorbell = Doorbell()
        self._running: set[asyncio.Task] = set()
        self._backoff_s = _POLL_S
        self._swept_s = -_SWEEP_S
        self.error: str | None = None  # why the job store cannot be used now; None when it can

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._doorbell.ring()

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    await self._claim_and_start()
                except Exception as exc:  # a bug must not stop every later job
                    logger.exception("the job runner failed; starting it again")
                    await self._store_failed(exc)
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
            try:
                job = await asyncio.to_thread(self._service.jobs.claim_next)
            except Exception as exc:
                pool.release()
                await self._store_failed(exc)
                continue
            self._store_answered()
            if job is None:
                pool.release()
                await self._sweep_videos()
                await self._doorbell.wait(_POLL_S * 4)
                continue
            task = asyncio.create_task(self._run(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _sweep_videos(self) -> None:
        """While idle, every ``_SWEEP_S``: delete the videos whose retention has passed (they
        also go after each job, but a quiet service must not keep them)."""
        if time.monotonic() - self._swept_s < _SWEEP_S:
            return
        self._swept_s = time.monotonic()
        try:
            await asyncio.to_thread(self._service.videos.expire)
        except Exception:  # the store failing is reported by the next claim
            logger.exception("deleting expired job videos failed")

    async def _run(self, job: Job) -> None:
        service = self._service
        logger.info("job %s started (%r)", job.id, job.video_name)
        try:
            result = await service.pool.run_acquired(service.tag_job, job)
        except ShopTagError as exc:
            await self._record(service.jobs.fail, job.id, exc.code, exc.message)
            service.metrics.jobs.labels("failed").inc()
            logger.info("job %s failed: %r", job.id, exc.message)
        except Exception as exc:  # a bug must fail one job, not stop the runner
            logger.exception("job %s crashed", job.id)
            await self._record(service.jobs.fail, job.id, "internal_error", type(exc).__name__)
            service.metrics.jobs.labels("failed").inc()
        else:
            await self._record(service.jobs.succeed, job.id, result)
            service.metrics.jobs.labels("succeeded").inc()
            logger.info("job %s succeeded", job.id)
        try:
            await asyncio.to_thread(service.job_finished, job)
        except Exception:  # a video left behind is removed at the next start
            logger.exception("cleaning up after job %s failed", job.id)

    async def _record(self, write: Callable, *args) -> None:
        """Store a job's outcome, retrying while the store fails: a finished result is not
        thrown away because the database was briefly unavailable."""
        while True:
            try:
                await asyncio.to_thread(write, *args)
            except Exception as exc:
                await self._store_failed(exc)
                continue
            self._store_answered()
            return

    async def _store_failed(self, exc: Exception) -> None:
        message = f"the job store cannot be used: {type(exc).__name__}: {exc}"
        if message != self.error:
            logger.error("%s; retrying", message)
        self.error = message
        await asyncio.sleep(self._backoff_s)
        self._backoff_s = min(_MAX_BACKOFF_S, self._backoff_s * 2)

    def _store_answered(self) -> None:
        if self.error is not None:
            logger.warning("the job store answers again")
        self.error = None
        self._backoff_s = _POLL_S
