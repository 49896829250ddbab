"""Measure how a real `shoptag serve` process and the fetcher hold up under the attacks that
the hardening work closed; prints one line per figure.

    python scripts/measure_hardening.py [--slow 1100] [--junk 3000] [--fd-limit 1024]

1. write conflict: a product added through the service (its image served slowly) while
   `shoptag index update` adds another: which products the index holds afterwards;
2. metrics: the size of /metrics before and after --junk requests with made-up HTTP methods;
3. slow clients: --slow connections trickling their headers a byte a second, against a server
   whose open-file limit is --fd-limit: /livez latency meanwhile, and how many slow
   connections the server had closed once the header deadline passed;
4. fetch: how long a download from a server sending one byte a second takes to fail with a
   3 s deadline (no retries, then the default 3 retries).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from bench_support import served

from shoptag.demo import media_path, write_demo_catalog
from shoptag.errors import FetchError
from shoptag.indexing import ImageReader, build_index, read_catalog
from shoptag.indexing.fetch import HttpFetcher
from shoptag.model import create_embedder
from shoptag.settings import FetchSettings, ImageLimits, ModelSettings

PHOTO = media_path("chelsea.jpg").read_bytes()


class SlowServer(BaseHTTPRequestHandler):
    """/slow-photo.jpg: the photo after a pause; /trickle.jpg: one byte a second."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(PHOTO)))
        self.end_headers()
        if self.path == "/slow-photo.jpg":
            time.sleep(4)
            self.wfile.write(PHOTO)
            return
        try:
            for byte in PHOTO:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass


@contextmanager
def slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def served_index(index: Path, work: Path, fd_limit: int):
    env = {"PYTHONUNBUFFERED": "1", "SHOPTAG_SERVICE__STATE_DIR": str(work / "state"),
           "SHOPTAG_FETCH__ALLOW_HOSTS": '["127.0.0.1"]'}
    log_path = work / "serve.log"
    with served(["--index", str(index), "--threads", "1"], env, log_path,
                lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))) as (base, process):
        yield base, process, log_path


def write_conflict(base: str, catalog: Path, index: Path, images: str) -> None:
    answer = {}
    request = threading.Thread(target=lambda: answer.update(response=httpx.post(
        f"{base}/v1/products", data={"product_id": "from-service", "title": "From the service",
                                     "image_refs": f"{images}/slow-photo.jpg"}, timeout=60)))
    request.start()
    time.sleep(1)  # the service is now reading its image
    (catalog.parent / "new.jpg").write_bytes(PHOTO + b"new")
    catalog.write_text(catalog.read_text() + json.dumps(
        {"product_id": "from-update", "title": "From the update", "images": ["new.jpg"]}) + "\n")
    update = subprocess.run([sys.executable, "-m", "shoptag.cli", "index", "update", str(catalog),
                             "--index", str(index), "--threads", "1"], capture_output=True, text=True)
    request.join()
    products = {p["product_id"] for p in _products(index)}
    print(f"write conflict: update exit {update.returncode}, service answer "
          f"{answer['response'].status_code}; the index holds from-update: {'from-update' in products}, "
          f"from-service: {'from-service' in products} ({len(products)} products)")


def _products(index: Path) -> list[dict]:
    current = index / os.readlink(index / "current")
    return [json.loads(line) for line in (current / "products.jsonl").read_text().splitlines()]


def junk_methods(base: str, count: int) -> None:
    before = len(httpx.get(f"{base}/metrics").content)
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = sock.makefile("rb")
        for number in range(count):
            sock.sendall(f"JUNK{number} /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)
    after = len(httpx.get(f"{base}/metrics").content)
    print(f"metrics: {before} bytes before, {after} bytes after {count} requests with made-up methods")


def slow_clients(base: str, process: subprocess.Popen, log_path: Path, count: int) -> None:
    port = int(base.rsplit(":", 1)[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 256)), hard))
    log_before = log_path.stat().st_size
    sockets = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)
            sockets.append(sock)
        except OSError:
            break
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for sock in sockets:
                try:
                    sock.send(b"X")
                except OSError:
                    pass
            time.sleep(1)

    threading.Thread(target=trickle, daemon=True).start()
    latencies, failures, fds = [], 0, []
    started = time.monotonic()
    while time.monotonic() - started < 8:
        probe = time.monotonic()
        try:
            httpx.get(f"{base}/livez", timeout=5).raise_for_status()
            latencies.append(time.monotonic() - probe)
        except httpx.HTTPError:
            failures += 1
        fds.append(len(os.listdir(f"/proc/{process.pid}/fd")))
        time.sleep(0.25)
    time.sleep(4)  # past the 10 s header deadline of the first connections
    closed = sum(let_go(sock) for sock in sockets)
    stop.set()
    for sock in sockets:
        sock.close()
    print(f"slow clients: {len(sockets)} opened; /livez answered {len(latencies)} of {len(latencies) + failures} "
          f"probes, median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms; "
          f"server file descriptors at most {max(fds)}; {closed} slow connections closed by the server after "
          f"{time.monotonic() - started:.0f} s; log grew {log_path.stat().st_size - log_before} bytes")


def let_go(sock: socket.socket) -> bool:
    """The server closed this connection (after a 503 answer at most) instead of holding it."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except BlockingIOError:
        return False
    except OSError:
        return True
    return received == b"" or b" 503 " in received


def trickling_fetch() -> None:
    with slow_server() as base:
        for retries in (0, 3):
            fetcher = HttpFetcher(FetchSettings(timeout_s=3, retries=retries, allow_hosts=("127.0.0.1",)), 10**7)
            started = time.monotonic()
            try:
                fetcher.get(f"{base}/trickle.jpg")
                outcome = "downloaded"
            except FetchError as exc:
                outcome = exc.message.split(": ", 1)[1]
            print(f"fetch from a 1 byte/s server, timeout_s=3, retries={retries}: "
                  f"{time.monotonic() - started:.1f} s ({outcome})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow", type=int, default=1100)
    parser.add_argument("--junk", type=int, default=3000)
    parser.add_argument("--fd-limit", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        catalog = write_demo_catalog(work / "catalog")
        embedder = create_embedder(ModelSettings(spec="effnet-lite0"))
        build_index(read_catalog(catalog), embedder, work / "index", ImageReader(ImageLimits()))
        with slow_server() as images, served_index(work / "index", work, args.fd_limit) as (base, process, log):
            write_conflict(base, catalog, work / "index", images)
            junk_methods(base, args.junk)
            slow_clients(base, process, log, args.slow)
    trickling_fetch()


if __name__ == "__main__":
    main()
