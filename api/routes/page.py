"""The creator review page (``api/static``) and who the caller is (``GET /v1/me``).

The page and its files are served with a Content-Security-Policy that allows scripts, styles,
images, media and requests from this service only, and no inline script or style: a product
title that holds markup can never run as code, and nothing reaches another origin.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel

from shoptag.api.auth import Creator
from shoptag.api.deps import RunningService
from shoptag.api.errors import error_responses
from shoptag.api.ranges import served_file
from shoptag.errors import NotFoundError

router = APIRouter(tags=["page"])

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                           "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                           "frame-ancestors 'none'")
_PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# A page file's name: a plain lower-case name in the static folder, nothing that could lead out.
_PAGE_FILE = re.compile(r"[a-z][a-z0-9-]*\.(html|js|css|svg)")


def _page_file(request: Request, name: str) -> FileResponse:
    path = Path(str(files("shoptag.api") / "static" / name))
    if not _PAGE_FILE.fullmatch(name) or not path.is_file():
        raise NotFoundError(f"no page file {name!r}")
    return served_file(request, path, path.stat().st_size, media_type=_MEDIA_TYPES[path.suffix],
                       headers=_PAGE_HEADERS)


@router.get("/", include_in_schema=False)
async def review_page(request: Request) -> FileResponse:
    return _page_file(request, "index.html")


@router.get("/favicon.ico", include_in_schema=False)
async def favicon(request: Request) -> FileResponse:
    """Browsers ask for it on every page; without it each load logs a 404."""
    return _page_file(request, "favicon.svg")


@router.get("/static/{name}", include_in_schema=False)
async def page_file(request: Request, name: Annotated[str, PathParam(max_length=100)]) -> FileResponse:
    return _page_file(request, name)


class MeOut(BaseModel):
    role: Literal["creator", "merchant"]
    keys_required: bool


@router.get("/v1/me", response_model=MeOut, responses=error_responses(401))
async def me(service: RunningService, principal: Creator) -> MeOut:
    """The caller's role, and whether this service asks for API keys (the page asks for one
    when it gets 401 here)."""
    return MeOut(role=principal.role, keys_required=bool(service.settings.service.api_keys))
