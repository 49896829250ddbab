"""`shoptag catalog sync`: a shop's catalog read through the Admin API (``shopify_admin``), as
the products that the CSV import makes of the same shop: a product's id is its handle, its url
its storefront page, its images its media images then its variants', and only the statuses
asked for (active by default).

A sync can be interrupted anywhere and run again: what it has read so far is kept beside the
index (``<index>.shopify-sync.json``, written atomically after each page, or the id of the
bulk operation it waits on), and a new run goes on from there; the file is removed once the
index is written. Nothing is written to the index until the whole catalog has been read.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shoptag.errors import ShopifyError
from shoptag.files import write_atomically
from shoptag.indexing.catalog import Catalog
from shoptag.indexing.records import Product, Skipped
from shoptag.indexing.shopify_admin import AdminClient, ShopProduct

logger = logging.getLogger(__name__)


def state_path(index: Path) -> Path:
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
                 "products": []}
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
            url = client.wait_for_bulk(operation)
        except ShopifyError as exc:  # failed, canceled or expired meanwhile: start a new one
            logger.warning("the bulk operation of the interrupted sync is gone (%s); starting another", exc.message)
            operation = None
    if operation is None:
        operation = client.start_bulk()
        state["operation"] = operation
        _save_state(state_file, state)
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
        url = f"{shop_url.rstrip('/')}/products/{shop_product.handle}" if shop_url else shop_product.online_store_url
        metadata = {"vendor": shop_product.vendor, "product_type": shop_product.product_type,
                    "tags": ", ".join(shop_product.tags), "status": shop_product.status.lower(),
                    "shopify_id": shop_product.gid, "updated_at": shop_product.updated_at}
        kept[shop_product.handle] = Product(shop_product.handle, shop_product.title, shop_product.images, url,
                                            {k: v for k, v in metadata.items() if v}, source=where)
    return Catalog(source, list(kept.values()), skipped)


def _load_state(path: Path, shop: str) -> dict | None:
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("the interrupted sync's state %s is unreadable (%s); starting afresh", path, exc)
        return None
    if not isinstance(state, dict) or state.get("shop") != shop or state.get("mode") not in ("pages", "bulk"):
        logger.warning("%s is not an interrupted sync of %s; starting afresh", path, shop)
        return None
    return state


def _save_state(path: Path, state: dict) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(json.dumps(state)))
