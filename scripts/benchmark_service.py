"""Service latency and sustained throughput on this machine, against the in-process pipeline
measured in the same run (the baseline: the same clip tagged with no HTTP, no pool, no
uploads).

    python scripts/benchmark_service.py [--clip-s 10] [--worker-threads 1] [--queue-size 2] [--window-s 40]

1. baseline: `Tagger.tag` on a clip of --clip-s seconds (real street footage with two real
   product photos moving through it), median of --repeats runs;
2. latency: the same clip POSTed to /v1/tags of a real `shoptag serve` process, one at a
   time, median of --repeats;
3. throughput: closed-loop clients at rising concurrency for --window-s each; the answer
   is the rate of 200s while no 429 is given, and how the service sheds load beyond it.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import httpx

from shoptag.demo import DEMO_APPEARANCES, DEMO_PRODUCTS, media_path, write_demo_catalog
from shoptag.indexing import CatalogIndex, ImageReader, build_index, read_catalog
from shoptag.model import create_embedder
from shoptag.settings import ModelSettings, Settings
from shoptag.tagging import Tagger
from shoptag.video.compose import Placement, compose_clip


def make_clip(folder: Path, seconds: float) -> Path:
    """The demo's two products moving through the bundled street clip, looped to ``seconds``."""
    photos = {pid: photo for pid, _, photo in DEMO_PRODUCTS}
    placements = [Placement(cv2.cvtColor(cv2.imread(str(media_path(photos[pid]))), cv2.COLOR_BGR2RGB),
                            start, end, width, y) for pid, start, end, width, y in DEMO_APPEARANCES]
    clip = folder / "clip.mp4"
    compose_clip(media_path("city.mp4"), placements, clip, duration_s=seconds)
    return clip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(index: Path, state: Path, args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "SHOPTAG_SERVICE__STATE_DIR": str(state),
           "SHOPTAG_SERVICE__QUEUE_SIZE": str(args.queue_size),
           "SHOPTAG_SERVICE__SYNC_MAX_DURATION_S": str(args.clip_s + 5)}
    process = subprocess.Popen(
        [sys.executable, "-m", "shoptag.cli", "serve", "--index", str(index), "--port", str(port),
         "--worker-threads", str(args.workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the service did not become ready")


def closed_loop(base: str, clip: bytes, clients: int, window_s: float) -> tuple[int, int, float]:
    """``clients`` threads POST back to back for ``window_s``; a 429 waits Retry-After/10 and
    retries (an impatient client). Returns (200s, 429s, seconds)."""
    counts = {200: 0, 429: 0}
    lock = threading.Lock()
    stop = time.monotonic() + window_s

    def client() -> None:
        with httpx.Client(timeout=600) as http:
            while time.monotonic() < stop:
                response = http.post(f"{base}/v1/tags", files={"file": ("clip.mp4", clip)})
                with lock:
                    counts[response.status_code] = counts.get(response.status_code, 0) + 1
                if response.status_code == 429:
                    time.sleep(float(response.headers["Retry-After"]) / 10)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    unexpected = {k: v for k, v in counts.items() if k not in (200, 429)}
    if unexpected:
        raise SystemExit(f"unexpected statuses: {unexpected}")
    return counts[200], counts[429], time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip-s", type=float, default=10.0)
    parser.add_argument("--worker-threads", dest="workers", type=int, default=1)
    parser.add_argument("--queue-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window-s", type=float, default=40.0)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="shoptag-bench-"))
    settings = Settings(model=ModelSettings(spec="effnet-lite0"))
    embedder = create_embedder(settings.model)
    build_index(read_catalog(write_demo_catalog(folder / "catalog")), embedder, folder / "index",
                ImageReader(settings.images))
    clip = make_clip(folder, args.clip_s)
    tagger = Tagger(embedder, CatalogIndex.load(folder / "index", embedder), settings.tagging, settings.video)
    tagger.tag(clip)  # warm-up
    baseline = statistics.median(_timed(lambda: tagger.tag(clip)) for _ in range(args.repeats))
    print(f"clip: {args.clip_s:.0f} s, 640x360, fps {settings.tagging.fps}; workers {args.workers}, "
          f"queue {args.queue_size}; cpu cores {os.cpu_count()}")
    print(f"{'measure':40s} {'value':>10s} {'ratio':>7s}")
    print(f"{'baseline: in-process tag (s)':40s} {baseline:10.2f} {1:7.2f}")

    process, base = start_service(folder / "index", folder / "state", args)
    try:
        data = clip.read_bytes()
        with httpx.Client(timeout=600) as http:
            def one() -> None:
                response = http.post(f"{base}/v1/tags", files={"file": ("clip.mp4", data)})
                response.raise_for_status()

            one()  # warm-up
            latency = statistics.median(_timed(one) for _ in range(args.repeats))
        print(f"{'service: POST /v1/tags latency (s)':40s} {latency:10.2f} {latency / baseline:7.2f}")
        capacity = args.workers + args.queue_size
        for clients in sorted({1, args.workers, capacity, capacity * 2}):
            ok, busy, seconds = closed_loop(base, data, clients, args.window_s)
            rate = ok / seconds
            label = f"{clients} clients: completed req/s"
            print(f"{label:40s} {rate:10.3f} {rate * baseline:7.2f}   429s: {busy}/{ok + busy}")
    finally:
        process.terminate()
        process.wait(timeout=60)
    print("ratio column: latency / baseline; for req/s, req/s x baseline (1.00 = one in-process"
          " tagging at a time)")
    return 0


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
