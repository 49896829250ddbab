"""How far each running job has got: its sampled frames so far, and how many are expected.
Only the process running a job knows; it is forgotten once the job's outcome is stored."""

from __future__ import annotations

import threading

from shoptag.api.jobs import Job
from shoptag.api.schemas import JobProgress


class JobProgressBoard:
    def __init__(self) -> None:
        self._running: dict[str, tuple[int, int | None]] = {}
        self._lock = threading.Lock()

    def record(self, job_id: str, frames: int, expected: int | None) -> None:
        with self._lock:
            self._running[job_id] = (frames, expected)

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._running.pop(job_id, None)

    def of(self, job: Job) -> JobProgress:
        with self._lock:
            running = self._running.get(job.id, (0, None))
        return JobProgress.of(job, running)
