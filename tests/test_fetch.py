"""Image fetching against a local HTTP server on 127.0.0.1 (allowed explicitly): cache and
conditional requests, retries, slow, huge, redirecting and non-image answers, and the
refusals that keep a catalog from reaching internal addresses."""

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from shoptag.errors import FetchError, ImageLoadError
from shoptag.indexing.fetch import HttpFetcher
from shoptag.indexing.images import ImageReader
from shoptag.settings import FetchSettings, ImageLimits


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 10)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = png()
LIMIT = 200_000


class Handler(BaseHTTPRequestHandler):
    hits: dict = {}

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name == "Content-Length" for name, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, data: bytes, interval_s: float = 1.0) -> None:
        """One byte a second, as a slowloris server does (each byte resets a socket timeout)."""
        try:
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(interval_s)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        match path:
            case "/img.png":
                if self.headers.get("If-None-Match") == '"v1"':
                    return self._send(304, headers=[("ETag", '"v1"')])
                return self._send(200, PNG, [("ETag", '"v1"'), ("Content-Type", "image/png")])
            case "/flaky.png":
                if self.hits[path] < 3:
                    return self._send(503, b"busy", [("Retry-After", "0")])
                return self._send(200, PNG)
            case "/slow.png":
                time.sleep(1.5)
                return self._send(200, PNG)
            case "/trickle.png":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                for byte in PNG[:40]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            case "/byte-a-second-body.png":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self._trickle(PNG)
            case "/byte-a-half-second-body.png":
                self.send_response(200)
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self._trickle(PNG, 0.5)
            case "/busy-for-a-while.png":
                return self._send(503, b"busy", [("Retry-After", "10")])
            case "/byte-a-second-headers.png":
                self._trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Padding: " + b"x" * 100)
            case "/huge.png":
                return self._send(200, b"", [("Content-Length", str(LIMIT * 10))])
            case "/endless.png":
                self.send_response(200)
                self.end_headers()  # no Content-Length: read until close
                try:
                    for _ in range(100):
                        self.wfile.write(bytes(10_000))
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
            case "/page.html":
                return self._send(200, b"<html>not an image</html>", [("Content-Type", "text/html")])
            case "/to-img":
                return self._send(302, headers=[("Location", "/img.png")])
            case "/to-metadata":
                return self._send(302, headers=[("Location", "http://169.254.169.254/latest/meta-data/")])
            case "/to-private":
                return self._send(301, headers=[("Location", "http://10.0.0.7/secret.png")])
            case "/loop":
                return self._send(302, headers=[("Location", "/loop")])
            case _:
                return self._send(404, b"no")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def fetcher(tmp_path, **settings) -> HttpFetcher:
    options = {"allow_hosts": ("127.0.0.1",), "cache_dir": tmp_path / "cache", "timeout_s": 1.0,
               "backoff_s": 0.01, **settings}
    return HttpFetcher(FetchSettings(**options), LIMIT, sleep=lambda s: None)


def test_a_rerun_downloads_nothing_that_did_not_change(server, tmp_path):
    first = fetcher(tmp_path)
    got = first.get(f"{server}/img.png")
    assert got.data == PNG and not got.from_cache and first.downloads == 1
    again = fetcher(tmp_path)  # a new run, same cache
    cached = again.get(f"{server}/img.png")
    assert cached.data == PNG and cached.from_cache and again.downloads == 0
    assert cached.sha256 == got.sha256


def test_a_cache_that_cannot_be_written_still_gives_the_download(server, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    got = fetcher(tmp_path, cache_dir=blocked).get(f"{server}/img.png")
    assert got.data == PNG and not got.from_cache


def test_redirects_are_followed_and_checked(server, tmp_path):
    assert fetcher(tmp_path).get(f"{server}/to-img").data == PNG
    for path, message in (("/to-metadata", "169.254.169.254"), ("/to-private", "10.0.0.7")):
        with pytest.raises(FetchError, match=f"non-public address {message}"):
            fetcher(tmp_path).get(f"{server}{path}")
    with pytest.raises(FetchError, match="redirects"):
        fetcher(tmp_path).get(f"{server}/loop")


def test_transient_errors_are_retried_with_backoff(server, tmp_path):
    delays = []
    flaky = HttpFetcher(FetchSettings(allow_hosts=("127.0.0.1",), backoff_s=0.5, retries=3), LIMIT,
                        sleep=delays.append)
    assert flaky.get(f"{server}/flaky.png").data == PNG
    assert delays == [0.5, 1.0]  # two 503s, then success; Retry-After: 0 does not shorten backoff
    with pytest.raises(FetchError, match="HTTP 404"):
        fetcher(tmp_path).get(f"{server}/missing.png")
    assert Handler.hits["/missing.png"] == 1  # a 404 is not retried


def test_slow_trickling_huge_and_endless_answers_are_cut_off(server, tmp_path):
    # The attempt took the download's whole time: no retry is given it again.
    with pytest.raises(FetchError, match=r"(TimeoutError|took longer than 1 s).*after 1 attempts"):
        fetcher(tmp_path, retries=1).get(f"{server}/slow.png")
    with pytest.raises(FetchError, match="took longer"):
        fetcher(tmp_path, retries=0).get(f"{server}/trickle.png")
    with pytest.raises(FetchError, match="over the limit"):
        fetcher(tmp_path).get(f"{server}/huge.png")
    with pytest.raises(FetchError, match=f"more than {LIMIT} bytes"):
        fetcher(tmp_path).get(f"{server}/endless.png")


@pytest.mark.parametrize("path", ["/byte-a-second-body.png", "/byte-a-second-headers.png"])
def test_a_server_sending_a_byte_a_second_is_cut_off_at_the_deadline(server, tmp_path, path):
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"took longer than 2 s \(after 1 attempts\)"):
        fetcher(tmp_path, retries=0, timeout_s=2.0).get(f"{server}{path}")
    assert time.monotonic() - started < 3.0


def test_retries_and_their_waits_share_one_deadline(server, tmp_path):
    # Retried at default backoff, a 3 s deadline per attempt held this download 15.5 s.
    settings = FetchSettings(allow_hosts=("127.0.0.1",), cache_dir=None, timeout_s=3.0, retries=3, backoff_s=0.5)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"took longer than 3 s \(after 1 attempts\)"):
        HttpFetcher(settings, LIMIT).get(f"{server}/byte-a-half-second-body.png")
    assert 2.9 < time.monotonic() - started < 3.5
    # A wait the server asks for that would pass the deadline is not waited.
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"HTTP 503 \(after 1 attempts; another after 10.0 s would pass the 3 s"):
        HttpFetcher(settings, LIMIT).get(f"{server}/busy-for-a-while.png")
    assert time.monotonic() - started < 1.0


def test_a_page_that_is_not_an_image_is_a_clear_image_error(server, tmp_path):
    reader = ImageReader(ImageLimits(max_bytes=LIMIT), FetchSettings(allow_hosts=("127.0.0.1",)))
    assert reader.load(f"{server}/img.png", tmp_path).pixels.shape == (24, 32, 3)
    with pytest.raises(ImageLoadError, match="not a decodable image"):
        reader.load(f"{server}/page.html", tmp_path)


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:9/a.png", "non-public address 127.0.0.1"),
    ("http://localhost:9/a.png", "non-public address"),
    ("http://10.1.2.3/a.png", "non-public address 10.1.2.3"),
    ("http://169.254.169.254/latest/meta-data/", "non-public address 169.254.169.254"),
    ("http://[::1]:9/a.png", "non-public address ::1"),
    # IPv4 carried in IPv6: mapped, compatible, NAT64 (well-known and local-use), 6to4, Teredo.
    ("http://[::ffff:127.0.0.1]:9/a.png", "non-public address"),
    ("http://[::127.0.0.1]:9/a.png", "non-public address"),
    ("http://[::ffff:0:127.0.0.1]:9/a.png", "non-public address"),
    ("http://[64:ff9b::169.254.169.254]/latest/", "non-public address"),
    ("http://[64:ff9b:1::a00:7]/a.png", "non-public address"),
    ("http://[2002:a00:7::1]/a.png", "non-public address"),
    ("http://[2002:7f00:1::1]:9/a.png", "non-public address"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:9/a.png", "non-public address"),
    ("file:///etc/passwd", "only http"),
    ("ftp://example.com/a.png", "only http"),
    ("gopher://127.0.0.1/", "only http"),
])
def test_internal_addresses_and_other_schemes_are_refused_unless_allowed(tmp_path, url, message):
    with pytest.raises(FetchError, match=message):
        HttpFetcher(FetchSettings(), LIMIT).get(url)


def test_the_local_server_is_refused_without_allow_host(server):
    with pytest.raises(FetchError, match="--allow-host"):
        HttpFetcher(FetchSettings(), LIMIT).get(f"{server}/img.png")
