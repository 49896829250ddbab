"""Catalog thumbnails, for the review page."""

from __future__ import annotations

import asyncio

from fastapi import Response

from shoptag.api.auth import Creator
from shoptag.api.deps import CatalogRoutes, NamedCatalog, ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.routes.products import ProductId

router = CatalogRoutes("product-images", tags=["products"])


@router.get("/{product_id:path}", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The product's first catalog photo, at most 256 px."},
    **error_responses(401, 403, 404, 422, 503)})
async def product_image(service: ReadyService, _: Creator, catalog: NamedCatalog, product_id: ProductId) -> Response:
    image = await asyncio.to_thread(service.thumbnails.of, catalog, product_id)
    return Response(image, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})
