"""The review page's weight and load times, in Debian's chromium through Playwright:

    python scripts/benchmark_page.py [--runs 5]

Builds the demo index, starts `shoptag serve` on a free loopback port, tags the demo clip (as
WebM, which the browser plays) as a job, then loads in a fresh browser context each time:

- the baseline: `/livez`, a tiny JSON document from the same service (the round trip and the
  browser's own cost);
- the empty page (`/`): until its load event;
- the page on the finished job (`/#job=<id>`): until every suggestion is listed and the video
  can play (its video and thumbnails fetched with the API, the boxes and lanes drawn).

Prints the median milliseconds and their ratio to the baseline, and the bytes of the page's
files. Needs /usr/bin/chromium (`apt-get install chromium`) and playwright.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from shoptag.demo import write_demo_catalog, write_demo_video
from shoptag.indexing.catalog import read_catalog
from shoptag.indexing.images import ImageReader
from shoptag.indexing.writer import build_index
from shoptag.model import create_embedder
from shoptag.settings import OFFLINE_MODEL_SPEC, Settings

CHROMIUM = "/usr/bin/chromium"
STATIC = Path(__file__).resolve().parent.parent / "api" / "static"
PAGE_FILES = ("/", *(f"/static/{f.name}" for f in sorted(STATIC.iterdir()) if f.suffix in (".js", ".css")))


def start_service(index: Path, folder: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "SHOPTAG_SERVICE__STATE_DIR": str(folder / "state"),
           "SHOPTAG_SERVICE__IMAGE_ROOT": str(index.parent / "catalog")}
    process = subprocess.Popen([sys.executable, "-m", "shoptag.cli", "serve", "--index", str(index), "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("the service did not become ready")


def tagged_job(base: str, video: Path) -> tuple[str, int, float]:
    """(job id, suggestions, seconds from submission to result)."""
    started = time.perf_counter()
    job = httpx.post(f"{base}/v1/jobs", files={"file": (video.name, video.read_bytes())}, timeout=60).json()
    while job["status"] not in ("succeeded", "failed"):
        time.sleep(0.1)
        job = httpx.get(f"{base}/v1/jobs/{job['id']}").json()
    if job["status"] != "succeeded":
        raise SystemExit(f"the job failed: {job['error']}")
    return job["id"], len(job["result"]["tags"]), time.perf_counter() - started


def timed_loads(browser, runs: int, url: str, ready) -> float:
    """Median milliseconds from navigation start until ``ready(page)`` returns, fresh context each run."""
    times = []
    for _ in range(runs):
        context = browser.new_context()
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        ready(page)
        times.append(1000 * (time.perf_counter() - started))
        context.close()
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        settings = Settings(model={"spec": OFFLINE_MODEL_SPEC})
        build_index(read_catalog(write_demo_catalog(folder / "catalog")), create_embedder(settings.model),
                    folder / "index", ImageReader(settings.images))
        video = folder / "demo.webm"
        write_demo_video(video)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        process = start_service(folder / "index", folder, port)
        base = f"http://127.0.0.1:{port}"
        try:
            job_id, suggestions, job_s = tagged_job(base, video)
            sizes = {path: len(httpx.get(base + path).content) for path in PAGE_FILES}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                baseline = timed_loads(browser, args.runs, f"{base}/livez", lambda page: page.wait_for_load_state())
                empty = timed_loads(browser, args.runs, f"{base}/", lambda page: page.wait_for_load_state())

                shown = (f"document.querySelectorAll('[data-testid=suggestion]').length >= {suggestions}"
                         " && document.querySelector('[data-testid=video]').readyState >= 2")

                def reviewed(page) -> None:
                    # Polled with evaluate: wait_for_function evaluates with eval, which the page's CSP forbids.
                    deadline = time.monotonic() + 60
                    while not page.evaluate(shown):
                        if time.monotonic() > deadline:
                            raise SystemExit("the review did not show within 60 s")
                        page.wait_for_timeout(10)

                review = timed_loads(browser, args.runs, f"{base}/#job={job_id}", reviewed)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"\nreview page on the demo clip (7.6 s WebM), {suggestions} suggestions (its job took {job_s:.1f} s); "
          f"median of {args.runs} loads, each in a fresh browser context")
    print("| load | ms | x baseline |\n|---|---|---|")
    for name, ms in (("baseline: /livez", baseline), ("the page, empty", empty),
                     ("the page on the finished job, suggestions listed and video playable", review)):
        print(f"| {name} | {ms:.0f} | {ms / baseline:.1f} |")
    scripts = {path: size for path, size in sizes.items() if path.endswith(".js")}
    print("\n| file | bytes |\n|---|---|")
    for path in ("/", "/static/review.css"):
        print(f"| {path} | {sizes[path]:,} |")
    print(f"| {len(scripts)} script modules | {sum(scripts.values()):,} |")
    print(f"| total | {sum(sizes.values()):,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
