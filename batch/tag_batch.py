"""``shoptag tag-batch``: many videos tagged in one run, one JSON line each in a results file.

Each line is ``{"video": SOURCE, "result": <the JSON shoptag tag prints>}`` or, for a video that
could not be tagged, ``{"video": SOURCE, "error": {"code", "message"}}``. Lines are appended
as videos finish and flushed, so a run stopped at any moment leaves whole lines behind (a torn
last line is cut off), and a run started again skips the videos that have a result and tries
the failed ones again.

In process, ``workers`` processes each load the model and index once and take videos from a
shared queue; on Ray (``batch.ray_engine.ray_tag``), one actor per worker does the same.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from shoptag.batch.portable import portable, settings_of
from shoptag.batch.sources import is_url, video_sources
from shoptag.errors import BatchError, ConfigError, ShopTagError
from shoptag.files import hold_lock, write_atomically
from shoptag.settings import Settings

logger = logging.getLogger(__name__)

_POLL_S = 1.0


@dataclass
class BatchReport:
    videos: int  # in the source
    already_done: int  # skipped: a result from an earlier run
    tagged: int
    failed: int
    video_seconds: float  # of the videos tagged in this run
    seconds: float


class VideoTagger:
    """The model and index loaded once, then one video after another (in a worker)."""

    def __init__(self, settings: Settings, index: Path) -> None:
        from shoptag.indexing.store import CatalogIndex
        from shoptag.model import create_embedder
        from shoptag.tagging import Tagger

        self._settings = settings
        embedder = create_embedder(settings.model)
        self._tagger = Tagger(embedder, CatalogIndex.load(index, embedder), settings.tagging, settings.video)

    def tag_line(self, video: str) -> dict:
        """The result line of one video: its tags, or the error that stopped it."""
        try:
            if not is_url(video):
                return {"video": video, "result": self._tagger.tag(Path(video), video).model_dump(mode="json")}
            with tempfile.TemporaryDirectory(prefix="shoptag-video-") as folder:
                path = Path(folder) / ("video" + Path(urlparse(video).path).suffix.lower()[:8])
                path.write_bytes(self._download(video))
                return {"video": video, "result": self._tagger.tag(path, video).model_dump(mode="json")}
        except ShopTagError as exc:
            return {"video": video, "error": {"code": exc.code, "message": exc.message}}
        except Exception as exc:  # a video nobody foresaw must not stop the batch
            logger.exception("tagging %s failed", video)
            return {"video": video, "error": {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}}

    def _download(self, url: str) -> bytes:
        from shoptag.indexing.fetch import HttpFetcher

        # Not kept in the download cache: videos are large, and each is fetched once.
        fetch = self._settings.fetch.model_copy(update={"cache_dir": None})
        return HttpFetcher(fetch, self._settings.batch.max_video_bytes).get(url).data


class ResultsFile:
    """The results of a batch, read back to resume it and appended to as videos finish."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: int | None = None

    def claim(self) -> None:
        """Hold the file for this run (``<file>.lock`` beside the file the name leads to, through
        any links, until the process ends): two runs appending to one file, under one name or
        two, would tag videos twice and interleave their lines."""
        target = self.path.resolve()
        self._lock = hold_lock(target.with_name(target.name + ".lock"), ConfigError,
                               f"{self.path} ({target}) is being written by another tag-batch run")

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def resume(self) -> set[str]:
        """The videos that have a result. Failed ones (tried again), a repeated video and a torn
        last line are dropped from the file (rewritten whole, through a link to its target), so
        each video keeps one line; a file with any other line is no results file and is refused
        untouched, whatever it is."""
        if not self.path.exists():
            return set()
        path = self.path.resolve()
        if not path.is_file():
            raise ConfigError(f"{self.path} is not a results file")
        done: set[str] = set()
        changed = False
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                row = _row(line)
                if row is None:
                    if line.endswith("\n"):
                        raise ConfigError(f"{self.path}:{number}: not a line of tag-batch results; give --out a "
                                          "new file, or the results file of an earlier run")
                    changed = True  # torn: the run writing it was stopped
                elif "result" in row and row["video"] not in done:
                    done.add(row["video"])
                else:
                    changed = True
        if changed:
            def keep_results(temporary: Path) -> None:
                kept: set[str] = set()
                with path.open(encoding="utf-8", errors="replace") as source, \
                        temporary.open("w", encoding="utf-8") as target:
                    for line in source:
                        row = _row(line) if line.endswith("\n") else None
                        if row is not None and "result" in row and row["video"] not in kept:
                            kept.add(row["video"])
                            target.write(line)

            write_atomically(path, keep_results)
        return done

    def append(self, row: dict) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


@dataclass
class BatchPlan:
    videos: list[str]  # every video of the source
    todo: list[str]  # those without a result yet
    results: ResultsFile


def _row(line: str) -> dict | None:
    """A line of results, or None for anything else."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if isinstance(row, dict) and isinstance(row.get("video"), str) and ("result" in row or "error" in row):
        return row
    return None


def plan_batch(source: Path, out: Path, settings: Settings) -> BatchPlan:
    """The videos of ``source`` (``batch.sources``), and those of them ``out`` has no result for."""
    videos = video_sources(source, settings.batch.max_videos)
    results = ResultsFile(out)
    results.claim()
    try:
        done = results.resume()
    except BaseException:
        results.release()
        raise
    return BatchPlan(videos, [video for video in videos if video not in done], results)


def run_batch(plan: BatchPlan, index: Path, settings: Settings, engine: str = "process",
              on_done: Callable[[dict], None] | None = None) -> BatchReport:
    """Tag the plan's videos still to do, each line appended to its results file as it comes;
    the file is released at the end."""
    try:
        return _run(plan, index, settings, engine, on_done)
    finally:
        plan.results.release()


def _run(plan: BatchPlan, index: Path, settings: Settings, engine: str,
         on_done: Callable[[dict], None] | None) -> BatchReport:
    started = time.perf_counter()
    report = BatchReport(len(plan.videos), len(plan.videos) - len(plan.todo), 0, 0, 0.0, 0.0)
    if plan.todo:
        lines = (_ray_lines(settings, index, plan.todo) if engine == "ray"
                 else _process_lines(settings, index, plan.todo))
        for row in lines:
            plan.results.append(row)
            if "result" in row:
                report.tagged += 1
                report.video_seconds += row["result"]["duration_s"]
            else:
                report.failed += 1
            if on_done:
                on_done(row)
    report.seconds = time.perf_counter() - started
    return report


def _ray_lines(settings: Settings, index: Path, videos: Sequence[str]) -> Iterator[dict]:
    from shoptag.batch.ray_engine import ray_tag

    return ray_tag(settings, index, videos)


def worker_count(settings: Settings) -> int:
    return settings.batch.workers or os.cpu_count() or 1


@dataclass
class _Worker:
    process: multiprocessing.Process
    tasks: multiprocessing.Queue
    video: str | None = None  # the one it is on
    since: float = 0.0


def _process_lines(settings: Settings, index: Path, videos: Sequence[str]) -> Iterator[dict]:
    """Each video's line, from ``worker_count`` processes that share the machine's cores. Each
    worker is given one video at a time, so the parent always knows which video a worker is on:
    one that dies on a video, or takes longer than ``video_timeout_s``, leaves that video a
    failed line and is replaced by a new worker."""
    workers = min(worker_count(settings), len(videos))
    threads = settings.model.threads or max(1, (os.cpu_count() or 1) // workers)
    settings = settings.model_copy(update={"model": settings.model.model_copy(update={"threads": threads})})
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads and models
    answers = context.Queue()
    sent = portable(settings)

    def start() -> _Worker:
        tasks = context.Queue()
        process = context.Process(target=_work, args=(sent, str(index), threads, tasks, answers), daemon=True)
        process.start()
        return _Worker(process, tasks)

    pending = list(reversed(videos))
    pool = {worker.process.pid: worker for worker in (start() for _ in range(workers))}
    try:
        while pending or any(worker.video for worker in pool.values()):
            for worker in pool.values():
                if worker.video is None and pending:
                    worker.video, worker.since = pending.pop(), time.monotonic()
                    worker.tasks.put(worker.video)
            try:
                kind, pid, payload = answers.get(timeout=_POLL_S)
            except queue.Empty:
                kind = None
            if kind == "failed":
                raise BatchError(f"a tagging worker could not start: {payload}")
            if kind == "done" and pid in pool:
                pool[pid].video = None
                yield payload
            for pid, worker in list(pool.items()):
                late = worker.video is not None and time.monotonic() - worker.since > settings.batch.video_timeout_s
                if worker.process.is_alive() and not late:
                    continue
                if late:
                    worker.process.kill()
                worker.process.join(timeout=10)
                if worker.video is not None:
                    why = (f"it took over {settings.batch.video_timeout_s:g} s" if late
                           else f"the worker tagging it ended (exit code {worker.process.exitcode})")
                    yield {"video": worker.video, "error": {"code": "worker_died", "message": why}}
                del pool[pid]
                if pending:  # each replaced worker took a video with it: this ends
                    replacement = start()
                    pool[replacement.process.pid] = replacement
    finally:
        for worker in pool.values():
            worker.tasks.cancel_join_thread()
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join(timeout=10)
        answers.cancel_join_thread()


def _work(settings: str, index: str, threads: int, tasks, answers) -> None:
    """A worker process: load once, then tag the videos it is given, one at a time, for as long
    as the batch that started it runs."""
    import cv2

    _end_with_parent()
    cv2.setNumThreads(threads)
    try:
        tagger = VideoTagger(settings_of(settings), Path(index))
    except ShopTagError as exc:
        answers.put(("failed", os.getpid(), exc.message))
        return
    while True:
        video = tasks.get()
        answers.put(("done", os.getpid(), tagger.tag_line(video)))


def _end_with_parent() -> None:
    """End this worker as soon as its parent is gone, whatever it is doing (loading, tagging, or
    waiting for a video that will never come): a parent killed outright (SIGKILL, the OOM
    killer) stops no worker itself. The parent holds one end of a pipe that the worker was spawned
    with (``multiprocessing.parent_process().sentinel``); it closes when the parent dies, however
    it dies, and a thread waiting on it wakes."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        logger.warning("tag-batch worker %d: the batch that started it (pid %s) is gone; ending", os.getpid(),
                       parent.pid)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
