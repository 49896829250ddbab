"""`shoptag catalog sync`: a shop's catalog read through the Admin API (``shopify_admin``), as
the products that the CSV import makes of the same shop: a product's id is its handle, its url
its storefront page, its images its media images (a variant's image is one of them), and only
the statuses asked for (active by default).

A sync can be interrupted anywhere and run again: what it has read so far is kept beside the
index (``<index>.shopify-sync.json``, written atomically after each page, or the id of the
bulk operation it waits on), and a new run within ``MAX_RESUME_AGE_S`` goes on from there (an
older or damaged file is ignored: the shop has changed since); the file is removed once the
index is written. Nothing is written to the index until the whole catalog has been read.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from shoptag.files import write_atomically
from shoptag.indexing.catalog import Catalog
from shoptag.indexing.records import Product, Skipped
from shoptag.indexing.shopify import shopify_metadata, storefront_url
from shoptag.indexing.shopify_admin import AdminClient, BulkOperationEnded, ShopProduct

logger = logging.getLogger(__name__)
_PRODUCT_FIELDS = {field.name for field in fields(ShopProduct)}


MAX_RESUME_AGE_S = 24 * 3600.0


def state_path(index: Path) -> Path:
    index = index.resolve()  # "." has no name to add to
    return index.with_name(index.name + ".shopify-sync.json")


@dataclass
class ShopCatalog:
    catalog: Catalog
    mode: str  # "pages" or "bulk"
    resumed: bool
    read_s: float
    state: Path

    def written(self) -> None:
        """The index holds this catalog now: the next sync starts afresh."""
        self.state.unlink(missing_ok=True)


def read_shop(client: AdminClient, index: Path, bulk_above: int, statuses: tuple[str, ...],
              shop_url: str | None = None) -> ShopCatalog:
    started = time.perf_counter()
    state_file = state_path(index)
    state = _load_state(state_file, client.shop)
    resumed = state is not None
    if state is None:
        count = client.product_count()
        state = {"shop": client.shop, "mode": "bulk" if count > bulk_above else "pages", "cursor": None,
                 "products": [], "started": time.time()}
        logger.info("%s has %d products: reading them %s", client.shop, count,
                    "with a bulk operation" if state["mode"] == "bulk" else "page by page")
    else:
        logger.info("resuming the %s sync of %s", state["mode"], client.shop)
    products = _read_bulk(client, state, state_file) if state["mode"] == "bulk" else \
        _read_pages(client, state, state_file)
    catalog = catalog_of(products, statuses, shop_url, state_file)
    return ShopCatalog(catalog, state["mode"], resumed, time.perf_counter() - started, state_file)


def _read_pages(client: AdminClient, state: dict, state_file: Path) -> list[ShopProduct]:
    products = [ShopProduct(**{**row, "tags": tuple(row["tags"]), "images": tuple(row["images"])})
                for row in state["products"]]
    if state.get("done"):
        return products
    for page, cursor, more in client.pages(after=state["cursor"]):
        products.extend(page)
        state.update(cursor=cursor, done=not more, products=[asdict(p) for p in products])
        _save_state(state_file, state)
    return products


def _read_bulk(client: AdminClient, state: dict, state_file: Path) -> list[ShopProduct]:
    operation = state.get("operation")
    if operation is not None:
        try:
            return _bulk_result(client, operation)
        except BulkOperationEnded as exc:  # failed, canceled, expired or gone meanwhile: start another
            logger.warning("the bulk operation of the interrupted sync is over (%s); starting another", exc.message)
    state["operation"] = client.start_bulk()
    _save_state(state_file, state)
    try:
        return _bulk_result(client, state["operation"])
    except BulkOperationEnded:
        state.pop("operation")  # a rerun must not wait on it again
        _save_state(state_file, state)
        raise


def _bulk_result(client: AdminClient, operation: str) -> list[ShopProduct]:
    url = client.wait_for_bulk(operation)
    return client.bulk_products(url) if url else []


def catalog_of(products: list[ShopProduct], statuses: tuple[str, ...], shop_url: str | None,
               source: Path) -> Catalog:
    """The products (by handle, first seen wins) with a wanted status and at least one image."""
    wanted = {status.lower() for status in statuses}
    kept: dict[str, Product] = {}
    skipped = []
    for shop_product in products:
        where = f"Shopify product {shop_product.handle!r}"
        if shop_product.status.lower() not in wanted or shop_product.handle in kept:
            continue
        if not shop_product.images:
            skipped.append(Skipped(where, "has no image"))
            continue
        url = storefront_url(shop_url, shop_product.handle) if shop_url else shop_product.online_store_url
        metadata = shopify_metadata(shop_product.vendor, shop_product.product_type, ", ".join(shop_product.tags),
                                    shop_product.status, shop_product.gid, shop_product.updated_at)
        kept[shop_product.handle] = Product(shop_product.handle, shop_product.title, shop_product.images, url,
                                            metadata, source=where)
    return Catalog(source, list(kept.values()), skipped)


def _load_state(path: Path, shop: str) -> dict | None:
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("the interrupted sync's state %s is unreadable (%s); starting afresh", path, exc)
        return None
    problem = _state_problem(state, shop)
    if problem:
        logger.warning("%s: %s; starting afresh", path, problem)
        return None
    return state


def _state_problem(state: object, shop: str) -> str | None:
    if not isinstance(state, dict) or state.get("shop") != shop or state.get("mode") not in ("pages", "bulk"):
        return f"not an interrupted sync of {shop}"
    started = state.get("started")
    if not isinstance(started, int | float) or not 0 <= time.time() - started <= MAX_RESUME_AGE_S:
        return f"older than {MAX_RESUME_AGE_S / 3600:.0f} h, or of unknown age"
    if not isinstance(state.get("products"), list) or not all(
            isinstance(row, dict) and set(row) == _PRODUCT_FIELDS for row in state["products"]):
        return "its products are damaged"
    if not isinstance(state.get("cursor"), str | None) or not isinstance(state.get("operation", ""), str):
        return "its cursor or operation is damaged"
    return None


def _save_state(path: Path, state: dict) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(json.dumps(state)))
