"""Decoding ahead: a video's frames decoded in a thread while the caller works on the one
before, so decoding (mostly one core) overlaps with the tagging work on each frame."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Full, Queue
from typing import TypeVar

T = TypeVar("T")

_POLL_S = 0.1


class _End:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items`` produced in a thread, at most ``depth`` ahead of the caller. An error raised
    while producing is raised here, at its place in the sequence; closing this iterator (or an
    error in the caller) stops the thread and closes ``items`` there."""
    queue: Queue[T | _End] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=_POLL_S)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        end = _End()
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as error:  # handed to the caller, who raises it
            end = _End(error)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put(end)

    thread = threading.Thread(target=produce, name="decode-ahead", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = queue.get(timeout=_POLL_S)
            except Empty:
                if not thread.is_alive() and queue.empty():
                    return
                continue
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        thread.join()
