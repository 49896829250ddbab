"""Catalog thumbnails, for the review page."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.routes.products import ProductId

router = APIRouter(prefix="/v1/product-images", tags=["products"])


@router.get("/{product_id:path}", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The product's first catalog photo, at most 256 px."},
    **error_responses(401, 403, 404, 422, 503)})
async def product_image(service: ReadyService, _: Creator, product_id: ProductId) -> Response:
    image = await asyncio.to_thread(service.thumbnail, product_id)
    return Response(image, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})
