"""A bounded worker pool: video decoding and inference run here, never on the event loop.

``workers`` threads run work; ``queue_size`` more requests may wait for one. Beyond that the
pool refuses at once (``ServiceBusyError`` → 429 with Retry-After) rather than letting work
pile up behind requests whose clients will have given up.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from shoptag.errors import ServiceBusyError

T = TypeVar("T")


class Slots:
    """A count of places taken out of ``capacity``, safe to use from any thread."""

    def __init__(self, capacity: int, noun: str = "tasks", per_owner: int | None = None) -> None:
        self.capacity = capacity
        self._noun = noun
        self._per_owner = per_owner
        self._owners: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._taken = 0

    @property
    def taken(self) -> int:
        return self._taken

    @property
    def free(self) -> bool:
        return self._taken < self.capacity

    def try_acquire(self) -> bool:
        with self._lock:
            if self._taken >= self.capacity:
                return False
            self._taken += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._taken -= 1

    @contextmanager
    def place(self, owner: str) -> Iterator[None]:
        """Hold a place for ``owner`` for the ``with`` block, or raise ``ServiceBusyError`` when
        none is free, or when this owner holds its share already (one caller cannot take all)."""
        with self._lock:
            if self._per_owner is not None and self._owners[owner] >= self._per_owner:
                raise ServiceBusyError(f"this caller (API key) already has {self._per_owner} {self._noun} in progress")
            self._owners[owner] += 1
        try:
            if not self.try_acquire():
                raise ServiceBusyError(f"{self.capacity} {self._noun} are already in progress")
            try:
                yield
            finally:
                self.release()
        finally:
            with self._lock:
                self._owners[owner] -= 1
                if not self._owners[owner]:
                    del self._owners[owner]


class WorkerPool(Slots):
    def __init__(self, workers: int, queue_size: int) -> None:
        super().__init__(workers + queue_size)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shoptag-worker")
        self.workers = workers
        self._submitted = 0

    @property
    def depth(self) -> int:
        """Work running plus work waiting for a worker. Not ``taken``: the job runner holds a
        slot for a moment while it looks for a queued job, and that is no work yet."""
        return self._submitted

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(*args)`` on a worker, or raise ``ServiceBusyError`` when the pool is full."""
        if not self.try_acquire():
            raise ServiceBusyError(
                f"all {self.workers} workers and {self.capacity - self.workers} queue slots are busy")
        return await self.run_acquired(fn, *args)

    async def run_acquired(self, fn: Callable[..., T], *args) -> T:
        """Run on a slot already taken with ``try_acquire``. The slot is given back when the work
        ends, not when the caller stops waiting: a client that disconnects does not free a worker
        that is still busy with its video."""
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self.release()
            raise
        with self._lock:
            self._submitted += 1
        future.add_done_callback(self._finished)
        return await asyncio.wrap_future(future)

    def _finished(self, _future) -> None:
        with self._lock:
            self._submitted -= 1
        self.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
