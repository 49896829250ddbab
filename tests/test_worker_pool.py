"""The worker pool's depth counts work, not a slot the job runner holds while it looks for a job."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.pool import WorkerPool
from shoptag.errors import ServiceBusyError


def test_depth_counts_submitted_work_but_not_a_held_slot():
    pool = WorkerPool(workers=1, queue_size=1)
    release = threading.Event()

    async def scenario():
        running = asyncio.ensure_future(pool.run(release.wait))
        await asyncio.sleep(0.05)
        assert pool.depth == 1
        assert pool.try_acquire()  # the job runner's hold while it claims a job: full, but no work
        assert pool.depth == 1
        with pytest.raises(ServiceBusyError):
            await pool.run(release.wait)
        pool.release()
        release.set()
        await running
        assert pool.depth == 0 and pool.free

    # Its own thread and event loop: the browser tests' Playwright keeps one running in this thread.
    try:
        with ThreadPoolExecutor(1) as runner:
            runner.submit(asyncio.run, scenario()).result()
    finally:
        pool.shutdown()
