"""ShopTag errors as JSON ``{"error": {"code", "message"}}`` with the right HTTP status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shoptag import errors

# Most specific class first: the first match wins.
_STATUS = (
    (errors.UnsupportedContainerError, 415),
    (errors.VideoError, 422),
    (errors.ConfigError, 422),
    (errors.ShopTagError, 500),
)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.ShopTagError)
    async def _shoptag_error(_: Request, exc: errors.ShopTagError) -> JSONResponse:
        status = next(s for cls, s in _STATUS if isinstance(exc, cls))
        return error_response(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return error_response(422, "bad_request", f"{where}: {first['msg']}")
