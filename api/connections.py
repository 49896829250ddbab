"""Connections that cannot exhaust the server: a cap on open connections and a deadline for
each request's headers, on top of uvicorn's h11 protocol.

A slow client (slowloris) sends its headers a byte at a time and holds a connection, a file
descriptor, for as long as it likes; a few hundred of them used to take the server to its file
limit, where it stopped answering and logged every failed accept. Here:

- a connection has ``header_timeout_s`` to send each request's headers (the first one, and
  each next one on a kept-alive connection), or it is closed;
- a client that stops reading its answers (pipelined requests it never reads the responses of)
  fills the server's send buffer; once writing has waited ``write_timeout_s``, the connection
  is dropped;
- at most ``max_connections`` are open (kept below the process's file limit). When a new one
  arrives at the limit, the oldest connection still waiting for its request headers (or else
  for its client to read) is closed to make room: clients that send their request promptly are
  always served, and the attacker's own connections push each other out. When every connection
  is busy with a real request, the new one gets a 503 JSON answer at once and is closed;
- uvicorn's own refusals of malformed requests are answered as JSON, like every other error;
- what was refused is logged as one line per interval with counts, never once per connection.
"""

from __future__ import annotations

import json
import logging
import resource
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

_WARN_EVERY_S = 10.0
# Connections the event loop may accept in one go, before admission closes the ones it refuses
# or evicts (asyncio accepts up to the listen backlog at a time).
ACCEPT_BACKLOG = 128
# File descriptors kept free: for what requests open (uploads, SQLite, index files, models),
# and for a burst of accepted connections that are about to be closed.
_FD_RESERVE = 128 + ACCEPT_BACKLOG


def _raw_answer(status: str, code: str, message: str, extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for connections that never reached
    the app (so h11 holds no state for them)."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n".encode() + extra
            + b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class ConnectionGuard:
    """The connections of one server: counts, the ones waiting for request headers (oldest
    first), and what was refused, for the log."""

    def __init__(self, max_connections: int, header_timeout_s: float, write_timeout_s: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.write_timeout_s = write_timeout_s
        self.open: set[GuardedH11Protocol] = set()
        # Connections that hold a place without using it, oldest first (dicts keep insertion order).
        self.waiting: dict[GuardedH11Protocol, None] = {}  # for their request headers
        self.stalled: dict[GuardedH11Protocol, None] = {}  # for their client to read an answer
        self.counts = {"evicted": 0, "refused": 0, "headers_too_slow": 0, "not_reading": 0}
        self._reported = dict(self.counts)
        self._last_report_s = 0.0

    @classmethod
    def within_file_limit(cls, max_connections: int, header_timeout_s: float,
                          write_timeout_s: float) -> ConnectionGuard:
        """A guard whose cap stays below the process's open-file limit (raised to its hard limit
        first, where the system allows)."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                soft = hard
            except (ValueError, OSError):
                pass
        cap = max_connections if soft == resource.RLIM_INFINITY else min(max_connections, soft - _FD_RESERVE)
        if cap < max_connections:
            logger.warning("max_connections lowered to %d: the open-file limit is %d", cap, soft)
        return cls(max(8, cap), header_timeout_s, write_timeout_s)

    def admit(self, connection: GuardedH11Protocol) -> bool:
        if len(self.open) >= self.max_connections:
            idle = self.waiting or self.stalled
            if not idle:
                self.note("refused")
                return False
            oldest = next(iter(idle))
            self.note("evicted")
            oldest.close()
            self.open.discard(oldest)
        self.open.add(connection)
        return True

    def forget(self, connection: GuardedH11Protocol) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)
        self.stalled.pop(connection, None)

    def note(self, what: str) -> None:
        self.counts[what] += 1
        now = time.monotonic()
        if now - self._last_report_s >= _WARN_EVERY_S:
            news = {k: v - self._reported[k] for k, v in self.counts.items() if v > self._reported[k]}
            logger.warning("connections at the limit of %d; since the last report: %s", self.max_connections,
                           ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in news.items()))
            self._reported = dict(self.counts)
            self._last_report_s = now


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, admitted by a ``ConnectionGuard`` and given a deadline for each
    request's headers."""

    def __init__(self, guard: ConnectionGuard, **kwargs) -> None:
        super().__init__(**kwargs)
        self._guard = guard
        self._header_timer = None
        self._write_timer = None
        self._cycle_seen = None

    @classmethod
    def factory(cls, guard: ConnectionGuard):
        """What uvicorn's ``http`` option takes: it calls it with its own keyword arguments."""
        return lambda **kwargs: cls(guard, **kwargs)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._guard.admit(self):
            transport.write(_raw_answer("503 Service Unavailable", "busy", "too many open connections; retry later",
                                        b"Retry-After: 1\r\n"))
            transport.close()
            return
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._note_new_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        self._note_new_request()  # a pipelined request may have started already
        if self.cycle is None or self.cycle.response_complete:
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        self._writing_again()
        self._guard.forget(self)
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._guard.stalled[self] = None
        self._write_timer = self.loop.call_later(self._guard.write_timeout_s, self._not_reading)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._writing_again()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own answer to a request h11 cannot parse is plain text.
        self.transport.write(_raw_answer("400 Bad Request", "bad_request", msg))
        self.transport.close()

    def close(self) -> None:
        """Close a connection that is not using its place (evicted, too slow with its headers,
        or not reading its answers): abort, since a full send buffer would never drain."""
        self._stop_waiting()
        self._writing_again()
        self.transport.abort()

    def _note_new_request(self) -> None:
        if self.cycle is not None and self.cycle is not self._cycle_seen:
            self._cycle_seen = self.cycle
            self._stop_waiting()

    def _await_headers(self) -> None:
        self._stop_waiting()
        self._guard.waiting[self] = None
        self._header_timer = self.loop.call_later(self._guard.header_timeout_s, self._headers_too_slow)

    def _stop_waiting(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._guard.waiting.pop(self, None)

    def _writing_again(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._guard.stalled.pop(self, None)

    def _not_reading(self) -> None:
        self._write_timer = None
        self._guard.note("not_reading")
        self.close()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._guard.note("headers_too_slow")
        self.close()


class AcceptErrorsOnce(logging.Filter):
    """asyncio logs a traceback each time accept() fails for lack of file descriptors; keep
    one such record per interval (the guard's cap is meant to make them rare)."""

    def __init__(self) -> None:
        super().__init__()
        self._last_s = -_WARN_EVERY_S

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("socket.accept() out of system resource"):
            return True
        now = time.monotonic()
        if now - self._last_s < _WARN_EVERY_S:
            return False
        self._last_s = now
        record.exc_info = None
        return True
