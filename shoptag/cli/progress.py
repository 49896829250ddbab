"""Progress for long steps: a bar on a terminal, plain lines (rate and ETA) otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

_PLAIN_EVERY_S = 10.0


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:  # noqa: ANN001 (rich's Task)
        return Text(f"{task.speed or 0:.1f} items/s")


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    """Yields a function to call once per finished item."""
    if sys.stderr.isatty():
        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), _RateColumn(), TimeRemainingColumn(),
                      console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task(label, total=total)
            yield lambda: bar.advance(task)
        return
    started = last = time.monotonic()
    done = 0

    def advance() -> None:
        nonlocal done, last
        done += 1
        now = time.monotonic()
        if now - last >= _PLAIN_EVERY_S or done == total:
            last = now
            rate = done / max(now - started, 1e-9)
            eta = (total - done) / rate if rate else 0
            print(f"{label}: {done}/{total} ({rate:.1f} items/s, ETA {eta:.0f} s)", file=sys.stderr, flush=True)

    yield advance
