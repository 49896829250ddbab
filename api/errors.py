"""Every error as JSON ``{"error": {"code", "message"}}`` with the right HTTP status."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from shoptag import errors

logger = logging.getLogger(__name__)

# Most specific class first: the first match wins.
_STATUS = (
    (errors.UnsupportedContainerError, 415),
    (errors.VideoError, 422),
    (errors.ImageLoadError, 422),
    (errors.InvalidRequestError, 422),
    # The service's own configuration: a server failure, never the client's.
    (errors.ConfigError, 500),
    (errors.NotFoundError, 404),
    (errors.IdempotencyConflictError, 409),
    (errors.ReviewConflictError, 409),
    (errors.JobNotFinishedError, 409),
    (errors.IndexBuildError, 409),
    (errors.ServiceBusyError, 429),
    (errors.CatalogUnavailableError, 503),
    (errors.ShopTagError, 500),
)
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "request_timeout", 413: "too_large",
               416: "range_not_satisfiable", 503: "not_ready"}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    return {status: {"model": ErrorBody} for status in statuses}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def install_error_handlers(app: FastAPI, retry_after_s: int, scrub: Callable[[str], str],
                           routes: list[BaseRoute]) -> None:
    """``scrub`` takes the server's own folders out of a message before a client sees it;
    ``routes`` are every route of the app, for the ``Allow`` header of a 405."""

    @app.exception_handler(errors.ShopTagError)
    async def _shoptag_error(_: Request, exc: errors.ShopTagError) -> JSONResponse:
        status = next(s for cls, s in _STATUS if isinstance(exc, cls))
        if status == 500:
            logger.error("unexpected %s: %r", type(exc).__name__, exc.message)
        headers = {"Retry-After": str(retry_after_s)} if status == 429 else None
        return error_response(status, exc.code, scrub(exc.message), headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette's last resort answers in plain text; ours keeps the JSON shape and tells
        # nothing of the server's internals. The exception goes on to the server, which logs
        # its traceback.
        return error_response(500, "internal_error", "the service failed to answer; the error is logged")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return error_response(422, "bad_request", f"{where}: {first['msg']}")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(_allowed_methods(request, routes))}
        return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"),
                              str(exc.detail), headers)


def _allowed_methods(request: Request, routes: list[BaseRoute]) -> list[str]:
    """Every method some route offers at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", set())
    return sorted(methods)
