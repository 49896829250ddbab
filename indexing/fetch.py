"""Download over http(s) safely, with retries and a content-addressed cache.

- Only http and https. The host is resolved once, every address is checked (loopback,
  private, link-local — cloud metadata at 169.254.169.254 among them — are refused unless the
  host is explicitly allowed; so are IPv6 addresses that carry such an IPv4 address: mapped,
  compatible, 6to4, Teredo, NAT64), and the connection goes to the checked address, so a second
  DNS answer cannot point it elsewhere (DNS rebinding). Every redirect is checked the same way.
- A size cap (Content-Length, then the bytes actually read) and one wall-clock deadline per
  download (``timeout_s``), across its redirects and retries: a watchdog shuts the socket when
  it passes, whatever phase the download is in, so a server that trickles headers or body a
  byte at a time is cut off on time, and is not given the whole time again by a retry.
- Dropped connections, 429 and 5xx are retried with exponential backoff (Retry-After honoured
  up to a cap) while the deadline leaves time for the wait; other errors fail at once.
- With a cache folder, a body is stored once under its sha256, and each URL remembers its
  validators (ETag, Last-Modified): a re-run asks "changed?" and downloads nothing that did not.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlparse

from shoptag.errors import FetchError
from shoptag.files import write_atomically
from shoptag.settings import FetchSettings

logger = logging.getLogger(__name__)

_USER_AGENT = "shoptag-indexer"
# IPv6 ranges whose last 32 bits are an IPv4 address: NAT64's well-known prefix, and the
# IPv4-translated (::ffff:0:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms.
_LOW_32_BITS_ARE_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::ffff:0:0:0/96"),
                         ipaddress.ip_network("::/96"))
# Local-use NAT64 (RFC 8215): reaches IPv4 hosts of a private network, however it is laid out.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_MAX_RETRY_AFTER_S = 30.0
_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Fetched:
    data: bytes
    sha256: str
    from_cache: bool  # True when the server said "not modified" and no body was downloaded


class _Retryable(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address checked beforehand, whatever DNS says now."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self.raw_socket: socket.socket | None = None  # what the deadline watchdog shuts
        self.cut = False  # set by the watchdog; a socket connected after it fired is shut at once

    def connect(self) -> None:
        self.sock = self.raw_socket = _connected(self)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address
        self.raw_socket: socket.socket | None = None
        self.cut = False

    def connect(self) -> None:
        self.raw_socket = _connected(self)
        # The certificate is checked against the host name, not the pinned address.
        self.sock = self._context.wrap_socket(self.raw_socket, server_hostname=self.host)


def _connected(connection: _PinnedHTTPConnection | _PinnedHTTPSConnection) -> socket.socket:
    sock = socket.create_connection((connection._address, connection.port), connection.timeout)
    connection.raw_socket = sock
    if connection.cut:  # the watchdog fired while this was connecting: it found no socket to shut
        sock.shutdown(socket.SHUT_RDWR)
    return sock


class _Watchdog:
    """Shuts a connection's socket at the deadline, so a blocked connect, handshake or read
    returns at once; ``fired`` tells the caller that this, not the server, ended it."""

    def __init__(self, connection: _PinnedHTTPConnection | _PinnedHTTPSConnection, seconds: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self._connection.cut = True
        sock = self._connection.raw_socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


class HttpFetcher:
    def __init__(self, settings: FetchSettings, max_bytes: int,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._settings = settings
        self._max_bytes = max_bytes
        self._allowed = {host.lower() for host in settings.allow_hosts}
        self._sleep = sleep
        self._cache = settings.cache_dir
        self.downloads = 0  # bodies actually transferred, for reports and tests

    def get(self, url: str) -> Fetched:
        """The body at ``url``, within ``timeout_s`` in all: every attempt and every wait
        between attempts ends by one deadline."""
        cached = self._cached(url)
        deadline = time.monotonic() + self._settings.timeout_s
        attempt = 0
        while True:
            try:
                return self._get_once(url, cached, deadline)
            except _Retryable as exc:
                delay = self._settings.backoff_s * 2**attempt
                if exc.retry_after_s is not None:
                    delay = max(delay, min(exc.retry_after_s, _MAX_RETRY_AFTER_S))
                left = deadline - time.monotonic()
                if attempt >= self._settings.retries or delay >= left:
                    why = ("" if attempt >= self._settings.retries or left <= 0 else
                           f"; another after {delay:.1f} s would pass the {self._settings.timeout_s:g} s "
                           "a download may take")
                    raise FetchError(f"{url}: {exc} (after {attempt + 1} attempts{why})") from None
                logger.info("%r: %s; retrying in %.1f s", url, exc, delay)
                self._sleep(delay)
                attempt += 1

    def _get_once(self, url: str, cached: dict | None, deadline: float) -> Fetched:
        current = url
        for _ in range(self._settings.max_redirects + 1):
            parsed, address = self._checked(current)
            connection_class = _PinnedHTTPSConnection if parsed.scheme == "https" else _PinnedHTTPConnection
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Retryable(f"download took longer than {self._settings.timeout_s:g} s")
            connection = connection_class(parsed.hostname, address, port, remaining)
            headers = {"User-Agent": _USER_AGENT, "Accept": "image/*,text/csv,*/*;q=0.5"}
            if cached and current == url:
                if cached.get("etag"):
                    headers["If-None-Match"] = cached["etag"]
                if cached.get("last_modified"):
                    headers["If-Modified-Since"] = cached["last_modified"]
            watchdog = _Watchdog(connection, remaining)
            try:
                target = parsed.path or "/"
                connection.request("GET", target + (f"?{parsed.query}" if parsed.query else ""), headers=headers)
                response = connection.getresponse()
                if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                    current = urljoin(current, response.getheader("Location"))
                    continue
                if response.status == 304 and cached:
                    return Fetched(self._blob(cached["sha256"]).read_bytes(), cached["sha256"], True)
                if response.status in _RETRY_STATUSES:
                    raise _Retryable(f"HTTP {response.status}", _retry_after(response.getheader("Retry-After")))
                if response.status != 200:
                    raise FetchError(f"{url}: HTTP {response.status} {response.reason}")
                data = self._read_body(url, response)
                if watchdog.fired:  # the body may look complete after the socket was shut
                    raise _Retryable(f"download took longer than {self._settings.timeout_s:g} s")
            except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
                if watchdog.fired:
                    raise _Retryable(f"download took longer than {self._settings.timeout_s:g} s") from exc
                if isinstance(exc, ssl.SSLCertVerificationError):
                    raise FetchError(f"{url}: TLS certificate not valid ({exc.verify_message})") from exc
                raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
            finally:
                watchdog.cancel()
                connection.close()
            self.downloads += 1
            digest = hashlib.sha256(data).hexdigest()
            self._remember(url, data, digest, response)
            return Fetched(data, digest, False)
        raise FetchError(f"{url}: more than {self._settings.max_redirects} redirects")

    def _checked(self, url: str):
        try:
            parsed = urlparse(url)
            port = parsed.port  # a bad port raises here
        except ValueError as exc:
            raise FetchError(f"{url!r} is not a valid URL ({exc})") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise FetchError(f"{url}: only http(s) URLs are fetched")
        host = parsed.hostname.lower()
        try:
            infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise FetchError(f"host {host!r} cannot be resolved ({exc.strerror})") from exc
        except (UnicodeError, ValueError) as exc:  # a host name IDNA cannot encode, a NUL byte
            raise FetchError(f"host {host!r} is not a valid host name ({exc})") from None
        addresses = [info[4][0] for info in infos]
        if host not in self._allowed:
            for address in addresses:
                ip = ipaddress.ip_address(address.split("%")[0])
                if not is_public(ip):
                    raise FetchError(f"host {host!r} resolves to non-public address {ip}; refused "
                                     "(allow it explicitly with --allow-host)")
        return parsed, addresses[0]

    def _read_body(self, url: str, response: http.client.HTTPResponse) -> bytes:
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > self._max_bytes:
            raise FetchError(f"{url}: {declared} bytes is over the limit of {self._max_bytes}")
        chunks, size = [], 0
        while chunk := response.read(64 * 1024):
            size += len(chunk)
            if size > self._max_bytes:
                raise FetchError(f"{url}: more than {self._max_bytes} bytes; refused")
            chunks.append(chunk)
        return b"".join(chunks)

    # --- cache -------------------------------------------------------------------------------
    def _entry(self, url: str) -> Path:
        return self._cache / "urls" / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def _blob(self, digest: str) -> Path:
        return self._cache / "blobs" / digest[:2] / digest

    def _cached(self, url: str) -> dict | None:
        if self._cache is None or not self._entry(url).is_file():
            return None
        try:
            entry = json.loads(self._entry(url).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return entry if self._blob(entry["sha256"]).is_file() else None

    def _remember(self, url: str, data: bytes, digest: str, response: http.client.HTTPResponse) -> None:
        if self._cache is None:
            return
        entry = {"url": url, "sha256": digest, "etag": response.getheader("ETag"),
                 "last_modified": response.getheader("Last-Modified")}
        try:
            blob = self._blob(digest)
            if not blob.is_file():
                write_atomically(blob, lambda temporary: temporary.write_bytes(data))
            record = json.dumps(entry).encode()
            write_atomically(self._entry(url), lambda temporary: temporary.write_bytes(record))
        except OSError as exc:  # a cache that cannot be written costs a later download, not this one
            logger.warning("download cache %s not written (%s): %s", self._cache, url, exc)


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally reachable unicast address; for IPv6, one that carries no non-public IPv4
    address either (such an address reaches that IPv4 host through a translator or tunnel)."""
    if not ip.is_global or ip.is_multicast or ip in _LOCAL_NAT64:
        return False
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return embedded is None or is_public(embedded)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in network for network in _LOW_32_BITS_ARE_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
