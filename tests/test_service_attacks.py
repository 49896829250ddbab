"""Attacks that need a real server process (real sockets, real file descriptors): clients that
trickle their headers or body, uploads sent while there is no room for them, a second service
on the same state folder."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from shoptag.demo import write_demo_video

from helpers.api import make_index, served

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def index(tmp_path_factory, effnet):
    return make_index(tmp_path_factory.mktemp("attacked"), effnet)


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def multipart_head(port: int, path: str, size: int, boundary: str = "b0undary") -> bytes:
    """Request headers and the start of a multipart body whose video part has ``size`` bytes."""
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    tail_size = len(f"\r\n--{boundary}--\r\n")
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(part) + size + tail_size}\r\n\r\n").encode() + part


def answer(sock: socket.socket, timeout_s: float) -> bytes:
    """What the server sends before closing or going quiet for ``timeout_s``."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and b"}" in data:
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def let_go(sock: socket.socket) -> bool:
    """The server closed this connection (after a 503 at most), instead of holding it."""
    received = answer(sock, 0.5)
    try:
        sock.settimeout(0.5)
        return sock.recv(1) == b"" and (received == b"" or b" 503 " in received)
    except OSError:
        return True


def test_clients_trickling_headers_are_cut_and_others_are_still_served(index, tmp_path):
    with served(index, tmp_path, max_connections=40, header_timeout_s=2) as (base, _):
        port = port_of(base)
        slow = []
        for _ in range(60):  # more than max_connections
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(sock)
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                for sock in slow:
                    try:
                        sock.send(b"X")
                    except OSError:
                        pass
                time.sleep(0.5)

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            # A prompt client is served at once although the slow ones fill every place.
            for _ in range(5):
                started = time.monotonic()
                assert httpx.get(f"{base}/livez", timeout=5).json() == {"status": "ok"}
                assert time.monotonic() - started < 1.0
            time.sleep(3)  # past the header deadline: every slow connection is closed
            assert all(let_go(sock) for sock in slow)
        finally:
            stop.set()
            trickler.join(5)
            for sock in slow:
                sock.close()
        log = next(tmp_path.glob("serve-*.log")).read_text()
        assert "connections at the limit of 40" in log and len(log) < 50_000


def test_a_body_sent_a_byte_a_second_is_cut_with_408(index, tmp_path):
    with served(index, tmp_path, body_timeout_s=1.5, min_body_bytes_per_s=10_000) as (base, _):
        port = port_of(base)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(multipart_head(port, "/v1/tags", 1_000_000) + b"\x00\x00\x00\x18ftypisom")
        started = time.monotonic()
        received = b""
        sock.settimeout(0.2)
        while time.monotonic() - started < 10 and b"request_timeout" not in received:
            try:
                sock.send(b"x")
                received += sock.recv(4096)
            except TimeoutError:
                pass
            except OSError:
                break
            time.sleep(0.3)
        received += answer(sock, 1)
        sock.close()
        assert b"408" in received and b"request_timeout" in received
        assert time.monotonic() - started < 5
        assert list((tmp_path / "state" / "tmp").iterdir()) == []


def test_uploads_with_no_room_are_refused_before_their_body_is_read(index, tmp_path):
    demo = tmp_path / "demo.mp4"
    write_demo_video(demo)
    settings = {"workers": 1, "queue_size": 0, "max_queued_jobs": 1, "max_uploads_in_flight": 2,
                "max_uploads_per_key": 4}
    with served(index, tmp_path, **settings) as (base, _):
        port = port_of(base)
        busy = httpx.post(f"{base}/v1/jobs", files={"file": ("demo.mp4", demo.read_bytes())}).json()
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/v1/jobs/{busy['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        queued = httpx.post(f"{base}/v1/jobs", files={"file": ("demo.mp4", demo.read_bytes())})
        assert queued.status_code == 202
        # The worker is busy and the job queue is full: a 200 MB upload is refused after its headers.
        for path in ("/v1/tags", "/v1/jobs"):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(multipart_head(port, path, 200 * 1024 * 1024))
            refused = answer(sock, 5)
            sock.close()
            assert b" 429 " in refused.split(b"\r\n")[0] and b"busy" in refused, refused[:300]
        assert list((tmp_path / "state" / "tmp").iterdir()) == []

        # Two uploads being received take both upload places; a third is refused at once.
        while httpx.get(f"{base}/v1/jobs/{queued.json()['id']}").json()["status"] != "succeeded":
            time.sleep(0.1)
        receiving = []
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(multipart_head(port, "/v1/jobs", 50 * 1024 * 1024) + demo.read_bytes()[:65536])
            receiving.append(sock)
        time.sleep(0.5)
        third = httpx.post(f"{base}/v1/jobs", files={"file": ("demo.mp4", demo.read_bytes())})
        assert third.status_code == 429 and "uploads are already in progress" in third.json()["error"]["message"]
        for sock in receiving:
            sock.close()  # the clients give up: their partial files go
        deadline = time.monotonic() + 10
        while list((tmp_path / "state" / "tmp").iterdir()):
            assert time.monotonic() < deadline, list((tmp_path / "state" / "tmp").iterdir())
            time.sleep(0.1)


def test_one_caller_cannot_take_every_upload_place(index, tmp_path):
    demo = tmp_path / "demo.mp4"
    write_demo_video(demo)
    with served(index, tmp_path, max_uploads_in_flight=4, max_uploads_per_key=1) as (base, _):
        port = port_of(base)
        holding = socket.create_connection(("127.0.0.1", port))
        holding.sendall(multipart_head(port, "/v1/jobs", 50 * 1024 * 1024) + demo.read_bytes()[:65536])
        time.sleep(0.5)
        second = httpx.post(f"{base}/v1/jobs", files={"file": ("demo.mp4", demo.read_bytes())})
        holding.close()
        assert second.status_code == 429
        assert "already has 1 uploads in progress" in second.json()["error"]["message"]


def test_a_client_that_never_reads_its_answers_is_dropped_and_others_are_served(index, tmp_path):
    with served(index, tmp_path, max_connections=20, write_timeout_s=6) as (base, _):
        port = port_of(base)
        request = f"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        stalled = []
        for _ in range(20):  # every place, each with ~5 MB of answers queued that it never reads
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(request * 300)
            stalled.append(sock)
        time.sleep(3)  # the answers fill the socket buffers: the connections stall
        started = time.monotonic()
        assert httpx.get(f"{base}/livez", timeout=5).json() == {"status": "ok"}  # a stalled one made room
        assert time.monotonic() - started < 2
        # Once its answers have waited write_timeout_s to be read, every stalled connection is
        # dropped (reading here would unstall them: count the server's side instead).
        deadline = time.monotonic() + 40
        while server_side_connections(port):
            assert time.monotonic() < deadline, f"{server_side_connections(port)} connections that read nothing kept"
            time.sleep(0.5)
        for sock in stalled:
            sock.close()
        log = next(tmp_path.glob("serve-*.log")).read_text()
        assert "connections at the limit of 20; since the last report: 1 evicted" in log


def server_side_connections(port: int) -> int:
    """Established TCP connections whose local end is the server's ``port`` (from /proc)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "01")


def test_a_second_service_on_the_same_state_folder_exits_with_one_line(index, tmp_path):
    with served(index, tmp_path) as (base, _):
        second = subprocess.run([sys.executable, "-m", "shoptag.cli", "serve", "--index", str(index),
                                 "--port", str(port_of(base) + 1)], capture_output=True, text=True, timeout=120,
                                env={**os.environ, "SHOPTAG_SERVICE__STATE_DIR": str(tmp_path / "state")})
        assert second.returncode == 1
        assert second.stderr.strip().count("\n") == 0 and "in use by another ShopTag service" in second.stderr
        assert httpx.get(f"{base}/readyz").status_code == 200
