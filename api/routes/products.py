"""Read, add or replace, and remove catalog products while the service runs.

A change is written as a new index version before it is answered, and the next tagging
request uses it; requests already running finish on the version they started with.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi import Path as PathParam

from shoptag.api.auth import Creator, Merchant
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.schemas import DeletedResponse, ProductResponse
from shoptag.api.service import Service
from shoptag.bounded_json import loads_bounded
from shoptag.errors import ConfigError, ImageLoadError
from shoptag.indexing.catalog import Product
from shoptag.indexing.store import IndexedProduct

router = APIRouter(tags=["products"])

# A path converter: a product id may hold "/" (catalog handles are free text), and the
# product must still be reachable by it.
ProductId = Annotated[str, PathParam(min_length=1, max_length=200)]


@router.get("/v1/products/{product_id:path}", response_model=ProductResponse,
            responses=error_responses(401, 403, 404, 503))
async def get_product(service: ReadyService, _: Creator, product_id: ProductId) -> dict:
    index = await asyncio.to_thread(service.live_index.snapshot)
    return {"product": _public(service, index.product(product_id)), "index_version": index.version}


@router.post("/v1/products", response_model=ProductResponse, status_code=201,
             responses={200: {"model": ProductResponse, "description": "An existing product was replaced."},
                        **error_responses(400, 401, 403, 409, 413, 422, 429, 503)})
async def put_product(
    response: Response,
    service: ReadyService,
    _: Merchant,
    product_id: Annotated[str, Form(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")],
    title: Annotated[str, Form(min_length=1, max_length=500)],
    url: Annotated[str | None, Form(max_length=2000, pattern=r"^https?://\S+$")] = None,
    metadata: Annotated[str | None, Form(max_length=100_000, description="A JSON object.")] = None,
    images: Annotated[list[UploadFile], File(description="Product photos.")] = [],  # noqa: B006
    image_refs: Annotated[list[str], Form(
        description="http(s) image URLs, or paths inside the service's image root.")] = [],  # noqa: B006
) -> dict:
    """Add a product, or replace the product with this id (201 added, 200 replaced). Every
    image must load, or nothing changes (and no uploaded photo is kept)."""
    if not images and not image_refs:
        raise ImageLoadError("a product needs at least one image (images or image_refs)")
    limit = service.settings.service.max_product_images
    if len(images) + len(image_refs) > limit:
        raise ConfigError(f"a product request may carry at most {limit} images")
    refs = [_checked_ref(service, ref) for ref in image_refs]
    extra = _metadata(metadata)
    kept: list[Path] = []
    try:
        for upload in images:
            kept.append(await asyncio.to_thread(service.product_images.keep, upload.file))
        product = Product(product_id, title, tuple(dict.fromkeys(refs + [str(path) for path in kept])), url,
                          extra, source=f"product {product_id!r}")
        # Every ref is a URL or an absolute path by now, so the base folder is never used.
        indexed, version, created = await service.pool.run(service.live_index.upsert, product,
                                                           service.product_images.folder)
    finally:
        if kept:
            await asyncio.to_thread(service.product_images.release, kept)
    response.status_code = 201 if created else 200
    return {"product": _public(service, indexed), "index_version": version.version}


@router.delete("/v1/products/{product_id:path}", response_model=DeletedResponse,
               responses=error_responses(401, 403, 404, 409, 429, 503))
async def delete_product(service: ReadyService, _: Merchant, product_id: ProductId) -> dict:
    """Remove a product; it is never suggested again."""
    version = await service.pool.run(service.live_index.remove, product_id)
    return {"product_id": product_id, "deleted": True, "index_version": version.version}


def _public(service: Service, product: IndexedProduct) -> dict:
    shown = product.as_json()
    for image in shown["images"]:
        image["ref"] = service.public_ref(image["ref"])
    return shown


def _metadata(raw: str | None) -> dict:
    if raw is None:
        return {}
    try:
        value = loads_bounded(raw)
    except ValueError as exc:
        raise ConfigError(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError("metadata must be a JSON object")
    return value


def _checked_ref(service: Service, ref: str) -> str:
    """URLs pass (the loader refuses non-public hosts); a path must stay inside image_root."""
    if "://" in ref:
        return ref
    root = service.settings.service.image_root
    if root is None:
        raise ImageLoadError(f"{ref}: image paths are disabled on this service (no image root "
                             "configured); upload the image or give an http(s) URL")
    resolved = (root / ref).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ImageLoadError(f"{ref}: image paths must stay inside the service's image root")
    return str(resolved)

