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
import os
import queue
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from shoptag.batch.portable import portable, settings_of
from shoptag.batch.sources import is_url, video_sources
from shoptag.errors import BatchError, ConfigError, ShopTagError
from shoptag.files import write_atomically
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

    def resume(self) -> set[str]:
        """The videos that have a result; failed ones and a torn last line are dropped from the
        file (rewritten whole), so each video keeps one line."""
        if not self.path.exists():
            return set()
        if not self.path.is_file():
            raise ConfigError(f"{self.path} is not a results file")
        kept, done, changed = [], set(), False
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
            try:
                row = json.loads(line) if line.endswith("\n") else None
            except ValueError:
                row = None
            if isinstance(row, dict) and isinstance(row.get("video"), str) and "result" in row \
                    and row["video"] not in done:
                kept.append(line)
                done.add(row["video"])
            else:
                changed = True
        if changed:
            write_atomically(self.path, lambda temporary: temporary.write_text("".join(kept), encoding="utf-8"))
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


def plan_batch(source: Path, out: Path, settings: Settings) -> BatchPlan:
    """The videos of ``source`` (``batch.sources``), and those of them ``out`` has no result for."""
    videos = video_sources(source, settings.batch.max_videos)
    results = ResultsFile(out)
    done = results.resume()
    return BatchPlan(videos, [video for video in videos if video not in done], results)


def run_batch(plan: BatchPlan, index: Path, settings: Settings, engine: str = "process",
              on_done: Callable[[dict], None] | None = None) -> BatchReport:
    """Tag the plan's videos still to do, each line appended to its results file as it comes."""
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


def _process_lines(settings: Settings, index: Path, videos: Sequence[str]) -> Iterator[dict]:
    """Each video's line, from ``worker_count`` processes that share the machine's cores."""
    workers = min(worker_count(settings), len(videos))
    threads = max(1, (os.cpu_count() or 1) // workers)
    settings = settings.model_copy(update={"model": settings.model.model_copy(update={"threads": threads})})
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads and models
    tasks, answers = context.Queue(), context.Queue()
    for video in videos:
        tasks.put(video)
    for _ in range(workers):
        tasks.put(None)
    processes = [context.Process(target=_work, args=(portable(settings), str(index), threads, tasks, answers),
                                 daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    taken: dict[int, str] = {}  # worker pid -> the video it is on
    try:
        remaining = len(videos)
        while remaining:
            try:
                kind, pid, payload = answers.get(timeout=_POLL_S)
            except queue.Empty:
                for process in processes:
                    if not process.is_alive() and process.pid in taken:  # died on a video
                        video = taken.pop(process.pid)
                        remaining -= 1
                        yield {"video": video, "error": {"code": "worker_died", "message":
                                                         f"the worker tagging it ended (exit code {process.exitcode})"}}
                if not any(process.is_alive() for process in processes) and remaining:
                    raise BatchError(f"every tagging worker ended with {remaining} video(s) left "
                                     "(see the log)") from None
                continue
            if kind == "started":
                taken[pid] = payload
            elif kind == "failed":
                raise BatchError(f"a tagging worker could not start: {payload}")
            else:
                taken.pop(pid, None)
                remaining -= 1
                yield payload
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)


def _work(settings: str, index: str, threads: int, tasks, answers) -> None:
    """A worker process: load once, then tag videos from ``tasks`` until its end marker."""
    import cv2

    cv2.setNumThreads(threads)
    try:
        tagger = VideoTagger(settings_of(settings), Path(index))
    except ShopTagError as exc:
        answers.put(("failed", os.getpid(), exc.message))
        return
    for video in iter(tasks.get, None):
        answers.put(("started", os.getpid(), video))
        answers.put(("done", os.getpid(), tagger.tag_line(video)))
