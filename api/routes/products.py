"""Read, add or replace, and remove catalog products while the service runs, under
``/v1/catalogs/{catalog}/products`` and, for the key's one catalog, ``/v1/products``.

A change is written as a new index version before it is answered, and the next tagging
request uses it; requests already running finish on the version they started with.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from shoptag.api.auth import Creator, Merchant
from shoptag.api.catalogs import CATALOG_LIST_PATTERN, Catalog
from shoptag.api.deps import CatalogRoutes, NamedCatalog, ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.limits import body_limit, upload_bytes
from shoptag.api.schemas import DeletedResponse, ProductResponse, ProductSummary, multipart_form
from shoptag.api.service import Service
from shoptag.api.uploads import FormRules, ReceivedForm, bad_form, receive_form, validated_fields
from shoptag.bounded_json import loads_bounded
from shoptag.errors import ImageLoadError, InvalidRequestError
from shoptag.indexing.catalog import Product
from shoptag.indexing.records import IndexedProduct
from shoptag.indexing.store import CatalogIndex

router = CatalogRoutes("products", tags=["products"])
_MAX_QUERY_CHARS = 200

# A path converter: a product id may hold "/" (catalog handles are free text), and the
# product must still be reachable by it.
_MAX_ID_CHARS = 200
ProductId = Annotated[str, PathParam(min_length=1, max_length=_MAX_ID_CHARS)]
# A product added through the API has no surrounding whitespace, whether named in the path or the form.
_NEW_ID = {"min_length": 1, "max_length": _MAX_ID_CHARS, "pattern": r"^\S(.*\S)?$"}
NewProductId = Annotated[str, PathParam(**_NEW_ID)]


class ProductSearchResponse(BaseModel):
    products: list[ProductSummary]
    index_version: str = Field(description="The searched catalog's version (of several: catalog:version, joined "
                               "by '+').")


_SEARCH_PARAMS = ("q", "limit", "catalogs")


@router.get("", response_model=ProductSearchResponse, responses=error_responses(401, 403, 404, 422, 503))
async def search_products(request: Request, service: ReadyService, principal: Creator,
                          q: Annotated[str, Query(max_length=_MAX_QUERY_CHARS)] = "",
                          limit: Annotated[int, Query(ge=1, le=50)] = 20,
                          catalogs: Annotated[str | None, Query(
                              max_length=20_000, pattern=CATALOG_LIST_PATTERN,
                              description="Catalogs to search, comma-separated (default: every one the key may "
                              "use); only without /v1/catalogs/{catalog}.")] = None) -> ProductSearchResponse:
    """Products whose title holds every word of `q` (any case), titles that start with it
    first; the review page adds a missed product from these."""
    unknown = sorted(set(request.query_params) - set(_SEARCH_PARAMS))
    if unknown:
        raise bad_form(unknown[0], f"unknown query parameter (known: {', '.join(_SEARCH_PARAMS)})", location="query")
    scoped = request.path_params.get("catalog")
    if scoped is not None and catalogs is not None:
        raise bad_form("catalogs", "the path names the catalog already", location="query")
    names = [scoped] if scoped is not None else (catalogs.split(",") if catalogs else None)
    async with service.catalogs.chosen(principal, names) as chosen:
        index = await asyncio.to_thread(service.catalogs.view, chosen)
        found = await asyncio.to_thread(search_titles, index, q, limit)
    return ProductSearchResponse(products=[ProductSummary(product_id=p.product_id, title=p.title, url=p.url,
                                                          catalog=catalog) for p, catalog in found],
                                 index_version=index.version)


def title_words(title: str) -> list[str]:
    """A title's words, as a shopper types their starts: split at spaces and punctuation, each
    such run whole and its parts at CamelCase and letter-digit changes ("iPhone15" gives
    "iphone15", "i", "phone", "15"; file-like titles such as "PropertySheetInsideFolder")."""
    words = []
    for token in re.split(r"[\W_]+", title):
        words.append(token)
        start = 0
        for i in range(1, len(token)):
            before, here, after = token[i - 1], token[i], token[i + 1:i + 2]
            if (before.islower() and here.isupper()) or (before.isdigit() != here.isdigit()) or (
                    before.isupper() and here.isupper() and after.islower()):
                words.append(token[start:i])
                start = i
        words.append(token[start:])
    return list(dict.fromkeys(word.casefold() for word in words if word))


def search_titles(index: CatalogIndex, query: str, limit: int) -> list[tuple[IndexedProduct, str]]:
    """The best ``limit`` matches, each with its catalog's name: every word of ``query`` starts a
    word of the title ("mug" finds "Blue Mug" and "MugHolder", "tin" does not find "Sheet Inside")."""
    words = query.casefold().split()
    found = [(p, index.catalog_of(i)) for i, p in enumerate(index.products)
             if all(any(part.startswith(word) for part in title_words(p.title)) for word in words)]
    prefix = query.casefold().strip()
    return sorted(found, key=lambda pair: (not pair[0].title.casefold().startswith(prefix),
                                           pair[0].title.casefold(), pair[1]))[:limit]


@router.get("/{product_id:path}", response_model=ProductResponse, responses=error_responses(401, 403, 404, 422, 503))
async def get_product(service: ReadyService, _: Creator, catalog: NamedCatalog,
                      product_id: ProductId) -> ProductResponse:
    index = await asyncio.to_thread(catalog.live.snapshot)
    return ProductResponse(product=service.refs.product(index.product(product_id)),
                           index_version=index.version)


_MAX_METADATA_CHARS = 100_000


class ProductForm(BaseModel):
    """The fields of a product request to ``PUT /v1/products/{id}`` (its photos come as
    ``images`` file parts)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=500)]
    url: Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    metadata: Annotated[str, Field(max_length=_MAX_METADATA_CHARS, description="A JSON object.")] | None = None
    image_refs: list[Annotated[str, Field(max_length=2000)]] = Field(
        [], description="http(s) image URLs, or paths inside the service's image root.")


class PostedProductForm(ProductForm):
    """``POST /v1/products`` names the product in the form."""

    product_id: Annotated[str, Field(**_NEW_ID)]


_PHOTOS = {"images": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": "Product photos."}}


_REPLACED = {200: {"model": ProductResponse, "description": "An existing product was replaced."}}
_UPSERT_ERRORS = (400, 401, 403, 404, 408, 409, 413, 422, 429, 503)


# 404: a path no product id can take (a line break in it, say) is no route at all.
@router.put("/{product_id:path}", response_model=ProductResponse, status_code=201,
            openapi_extra=multipart_form(ProductForm, _PHOTOS),
            responses={**_REPLACED, **error_responses(*_UPSERT_ERRORS)})
@body_limit(upload_bytes)
async def put_product(request: Request, response: Response, service: ReadyService, _: Merchant,
                      catalog: NamedCatalog, product_id: NewProductId) -> ProductResponse:
    """Add the product with this id, or replace it (201 added, 200 replaced). Every image must
    load, or nothing changes (and no uploaded photo is kept)."""
    return await _upsert(request, response, service, catalog, ProductForm, product_id)


@router.post("", response_model=ProductResponse, status_code=201,
             openapi_extra=multipart_form(PostedProductForm, _PHOTOS),
             responses={**_REPLACED, **error_responses(*_UPSERT_ERRORS)})
@body_limit(upload_bytes)
async def post_product(request: Request, response: Response, service: ReadyService, _: Merchant,
                       catalog: NamedCatalog) -> ProductResponse:
    """As `PUT /v1/products/{product_id}`, with the id in the form's `product_id` (kept for
    existing clients)."""
    return await _upsert(request, response, service, catalog, PostedProductForm, None)


async def _upsert(request: Request, response: Response, service: Service, catalog: Catalog,
                  form_model: type[ProductForm], product_id: str | None) -> ProductResponse:
    """``product_id``: from the path, or None where the form names it."""
    limit = service.settings.service.max_product_images
    # An upload place is taken before the body is read, as for videos; the photos stream into
    # the service's private folder, and the form may carry no more of them than a product may.
    with service.upload_places.place(request.state.principal.owner):
        form = await receive_form(request, service.folder.uploads, FormRules(
            files={"images": limit}, repeatable=frozenset({"image_refs"}), max_fields=limit + 8,
            max_field_bytes=_MAX_METADATA_CHARS * 4))
    kept: list[Path] = []
    try:
        fields = _product_fields(form, form_model)
        if product_id is None:
            product_id = fields.product_id
        photos = form.files.get("images", [])
        if not photos and not fields.image_refs:
            raise ImageLoadError("a product needs at least one image (images or image_refs)")
        if len(photos) + len(fields.image_refs) > limit:
            raise InvalidRequestError(f"a product request may carry at most {limit} images")
        refs = [_checked_ref(service, ref) for ref in fields.image_refs]
        extra = _metadata(fields.metadata)
        for photo in photos:
            kept.append(await asyncio.to_thread(catalog.photos.keep, photo.saved))
        product = Product(product_id, fields.title, tuple(dict.fromkeys(refs + list(map(str, kept)))),
                          fields.url, extra, source=f"product {product_id!r}")
        # Every ref is a URL or an absolute path by now, so the base folder is never used.
        indexed, version, created = await service.pool.run(catalog.live.upsert, product, catalog.photos.folder)
    finally:
        form.discard()  # what was not kept
        if kept:
            await asyncio.to_thread(catalog.photos.release, kept, catalog.live.current)
    if not created:  # the photos of the product it replaced may be listed by no kept version now
        await asyncio.to_thread(catalog.photos.remove_unlisted)
    response.status_code = 201 if created else 200
    return ProductResponse(product=service.refs.product(indexed), index_version=version.version)


def _product_fields(form: ReceivedForm, model: type[ProductForm]) -> ProductForm:
    values = {name: given if name == "image_refs" else given[0] for name, given in form.fields.items()}
    return validated_fields(model, values)


@router.delete("/{product_id:path}", response_model=DeletedResponse,
               responses=error_responses(401, 403, 404, 409, 422, 429, 503))
async def delete_product(service: ReadyService, _: Merchant, catalog: NamedCatalog,
                         product_id: ProductId) -> DeletedResponse:
    """Remove a product; it is never suggested again."""
    version = await service.pool.run(catalog.live.remove, product_id)
    await asyncio.to_thread(catalog.photos.remove_unlisted)
    return DeletedResponse(product_id=product_id, deleted=True, index_version=version.version)


def _metadata(raw: str | None) -> dict:
    if raw is None:
        return {}
    try:
        value = loads_bounded(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequestError("metadata must be a JSON object")
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

