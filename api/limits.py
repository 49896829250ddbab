"""Refuse request bodies that are too large or too slow while they stream in, not after.

Size: the declared Content-Length is checked first; the bytes actually received are counted
too, since a client may send no Content-Length (chunked) or a false one (413). Each route
declares the largest body it reads (``body_limit``): the routes that stream uploads to files
(videos, product photos) take ``SHOPTAG_SERVICE__MAX_UPLOAD_BYTES``, a webhook its own limit;
every other body (a JSON review) is read into memory, so it gets ``MAX_PLAIN_BODY_BYTES``,
whatever its declared type. The middleware finds the route as the router will (``RouteBodyLimits``),
so there is no second list of paths to keep in step. A request with two Content-Types (which
parsers read differently) is refused.
Time: while a body is incomplete, each next part must arrive within ``idle_timeout_s``, and
once that long has passed the body must have averaged ``min_bytes_per_s`` (408): a client
sending a byte a second cannot hold a connection, an upload slot and a worker for hours.
Whatever the app was doing when a limit was crossed, the client gets the error, and the body
read so far is dropped (the upload's file is removed by the route that was writing it).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoptag.settings import Settings

MAX_PLAIN_BODY_BYTES = 2 << 20

Endpoint = TypeVar("Endpoint", bound=Callable)
BodyLimit = Callable[[Settings], int]


def body_limit(limit: BodyLimit) -> Callable[[Endpoint], Endpoint]:
    """Declare the largest body (bytes, from the settings) a route reads. A route without a
    declaration reads its body into memory and gets ``MAX_PLAIN_BODY_BYTES``."""
    def declare(endpoint: Endpoint) -> Endpoint:
        endpoint.body_limit = limit
        return endpoint

    return declare


def upload_bytes(settings: Settings) -> int:
    """The limit of a route that streams a multipart body into files."""
    return settings.service.max_upload_bytes


class RouteBodyLimits:
    """The body limit of the route a request will reach: the first route that matches it fully,
    in the app's order, as Starlette's router chooses."""

    def __init__(self, routes: Sequence[BaseRoute], settings: Settings) -> None:
        self._default = min(settings.service.max_upload_bytes, MAX_PLAIN_BODY_BYTES)
        declared = (getattr(getattr(route, "endpoint", None), "body_limit", None) for route in routes)
        self._routes = [(route, self._default if limit is None else limit(settings))
                        for route, limit in zip(routes, declared, strict=True)]

    def __call__(self, scope: Scope) -> int:
        for route, limit in self._routes:
            if route.matches(scope)[0] == Match.FULL:
                return limit
        return self._default


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class BodyLimits:
    def __init__(self, app: ASGIApp, limit_of: Callable[[Scope], int], idle_timeout_s: float,
                 min_bytes_per_s: int) -> None:
        """``limit_of(scope)``: the largest body the request's route takes (``RouteBodyLimits``)."""
        self.app = app
        self.limit_of = limit_of
        self.idle_timeout_s = idle_timeout_s
        self.min_bytes_per_s = min_bytes_per_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(1 for name, _ in scope["headers"] if name == b"content-type") > 1:
            await _refuse(send, _Refused(400, "bad_request", "a request may carry one Content-Type"))
            return
        max_bytes = self.limit_of(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _refuse(send, _too_large(max_bytes))
            return
        received = 0
        complete = False
        started_s = time.monotonic()
        refused: _Refused | None = None
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, complete, refused
            if complete:  # the body is in: what comes now is a disconnect, whenever it comes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_s)
            except TimeoutError:
                refused = _Refused(408, "request_timeout", f"no part of the request body arrived for "
                                   f"{self.idle_timeout_s:g} s")
                raise refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                elapsed_s = time.monotonic() - started_s
                if received > max_bytes:
                    refused = _too_large(max_bytes)
                elif (not complete and elapsed_s > self.idle_timeout_s
                      and received < self.min_bytes_per_s * elapsed_s):
                    refused = _Refused(408, "request_timeout", f"the request body arrives slower than "
                                       f"{self.min_bytes_per_s} bytes/s")
                if refused:
                    raise refused
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                if response_started:
                    return
                response_started = True
                if refused:  # the app turned our interruption into some other error
                    await _refuse(send, refused)
                    return
            elif refused:
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _Refused as exc:
            if not response_started:
                await _refuse(send, exc)



def _too_large(max_bytes: int) -> _Refused:
    return _Refused(413, "too_large", f"request body is over the limit of {max_bytes} bytes")


async def _refuse(send: Send, refused: _Refused) -> None:
    body = json.dumps({"error": {"code": refused.code, "message": refused.message}}).encode()
    await send({"type": "http.response.start", "status": refused.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
