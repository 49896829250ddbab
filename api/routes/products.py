"""Read, add or replace, and remove catalog products while the service runs.

A change is written as a new index version before it is answered, and the next tagging
request uses it; requests already running finish on the version they started with.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from shoptag.api.auth import Creator, Merchant
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.schemas import DeletedResponse, ProductResponse, multipart_form
from shoptag.api.service import Service
from shoptag.api.uploads import FormRules, ReceivedForm, receive_form, validated_fields
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


_MAX_METADATA_CHARS = 100_000


class ProductForm(BaseModel):
    """The fields of a product request (its photos come as ``images`` file parts)."""

    model_config = ConfigDict(extra="forbid")

    product_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]
    title: Annotated[str, Field(min_length=1, max_length=500)]
    url: Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    metadata: Annotated[str, Field(max_length=_MAX_METADATA_CHARS, description="A JSON object.")] | None = None
    image_refs: list[Annotated[str, Field(max_length=2000)]] = Field(
        [], description="http(s) image URLs, or paths inside the service's image root.")


PRODUCT_FORM = multipart_form(ProductForm, {"images": {
    "type": "array", "items": {"type": "string", "format": "binary"}, "description": "Product photos."}})


@router.post("/v1/products", response_model=ProductResponse, status_code=201, openapi_extra=PRODUCT_FORM,
             responses={200: {"model": ProductResponse, "description": "An existing product was replaced."},
                        **error_responses(400, 401, 403, 408, 409, 413, 422, 429, 503)})
async def put_product(request: Request, response: Response, service: ReadyService, _: Merchant) -> dict:
    """Add a product, or replace the product with this id (201 added, 200 replaced). Every
    image must load, or nothing changes (and no uploaded photo is kept)."""
    limit = service.settings.service.max_product_images
    # An upload place is taken before the body is read, as for videos; the photos stream into
    # the service's private folder, and the form may carry no more of them than a product may.
    with service.upload_places.place(request.state.principal.owner):
        form = await receive_form(request, service.uploads, FormRules(
            files={"images": limit}, repeatable=frozenset({"image_refs"}), max_fields=limit + 8,
            max_field_bytes=_MAX_METADATA_CHARS * 4))
    kept: list[Path] = []
    try:
        fields = _product_fields(form)
        photos = form.files.get("images", [])
        if not photos and not fields.image_refs:
            raise ImageLoadError("a product needs at least one image (images or image_refs)")
        if len(photos) + len(fields.image_refs) > limit:
            raise ConfigError(f"a product request may carry at most {limit} images")
        refs = [_checked_ref(service, ref) for ref in fields.image_refs]
        extra = _metadata(fields.metadata)
        for photo in photos:
            kept.append(await asyncio.to_thread(service.product_images.keep, photo.saved))
        product = Product(fields.product_id, fields.title, tuple(dict.fromkeys(refs + list(map(str, kept)))),
                          fields.url, extra, source=f"product {fields.product_id!r}")
        # Every ref is a URL or an absolute path by now, so the base folder is never used.
        indexed, version, created = await service.pool.run(service.live_index.upsert, product,
                                                           service.product_images.folder)
    finally:
        form.discard()  # what was not kept
        if kept:
            await asyncio.to_thread(service.product_images.release, kept, service.live_index.current)
    if not created:  # the photos of the product it replaced may be listed by no kept version now
        await asyncio.to_thread(service.product_images.remove_unlisted)
    response.status_code = 201 if created else 200
    return {"product": _public(service, indexed), "index_version": version.version}


def _product_fields(form: ReceivedForm) -> ProductForm:
    values = {name: given if name == "image_refs" else given[0] for name, given in form.fields.items()}
    return validated_fields(ProductForm, values)


@router.delete("/v1/products/{product_id:path}", response_model=DeletedResponse,
               responses=error_responses(401, 403, 404, 409, 429, 503))
async def delete_product(service: ReadyService, _: Merchant, product_id: ProductId) -> dict:
    """Remove a product; it is never suggested again."""
    version = await service.pool.run(service.live_index.remove, product_id)
    await asyncio.to_thread(service.product_images.remove_unlisted)
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
    if "\x00" in ref:
        raise ImageLoadError(f"{ref!r}: not a usable path")
    resolved = (root / ref).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ImageLoadError(f"{ref}: image paths must stay inside the service's image root")
    return str(resolved)

