"""The catalogs an API key may use."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses

router = APIRouter(prefix="/v1/catalogs", tags=["catalogs"])


class CatalogsOut(BaseModel):
    catalogs: list[str] = Field(description="The catalogs this API key may search and, as a merchant, change: "
                                "/v1/catalogs/{catalog}/products, and 'catalogs' of a tagging request.")
    unavailable: dict[str, str] = Field(
        {}, description="Of them, those found unloadable so far, each with why: answered 503 until their current "
        "version changes, and left out of requests that do not name them.")


@router.get("", response_model=CatalogsOut, responses=error_responses(401, 403, 503))
async def list_catalogs(service: ReadyService, principal: Creator) -> CatalogsOut:
    usable = await asyncio.to_thread(service.catalogs.usable, principal)
    unavailable = service.catalogs.unavailable()
    return CatalogsOut(catalogs=usable, unavailable={name: service.scrub_paths(unavailable[name])
                                                     for name in usable if name in unavailable})
