"""Catalog readers: JSONL (one product a line) and Shopify product CSV exports.

A bad row is skipped and reported (``Catalog.skipped``) rather than failing the whole
catalog; only a file that cannot be read at all raises ``CatalogError``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoptag.bounded_json import loads_bounded
from shoptag.errors import CatalogError
from shoptag.files import read_regular
from shoptag.indexing.records import MAX_CATALOG_BYTES, Product, Skipped
from shoptag.indexing.shopify import DEFAULT_STATUSES, read_shopify_csv

logger = logging.getLogger(__name__)


@dataclass
class Catalog:
    path: Path
    products: list[Product]
    skipped: list[Skipped]

    @property
    def base_dir(self) -> Path:
        """Relative image paths resolve against the catalog file's folder."""
        return self.path.parent


def read_catalog(path: Path, shop_url: str | None = None,
                 statuses: tuple[str, ...] = DEFAULT_STATUSES) -> Catalog:
    """Read a JSONL catalog or a Shopify CSV export. For Shopify, ``shop_url`` makes each
    product's url its storefront page, and only products whose status is in ``statuses``
    are read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        products, skipped = _read_jsonl(path)
    elif suffix == ".csv":
        products, skipped = read_shopify_csv(path, shop_url, statuses)
    else:
        raise CatalogError(f"catalog {path}: unsupported format {suffix!r} (use .jsonl or a Shopify .csv)")
    products, duplicates = _drop_duplicates(products)
    catalog = Catalog(path, products, skipped + duplicates)
    for item in catalog.skipped:
        logger.warning("skipped %r: %r", item.where, item.reason)
    return catalog


def _drop_duplicates(products: Iterable[Product]) -> tuple[list[Product], list[Skipped]]:
    seen: dict[str, str] = {}
    kept, skipped = [], []
    for product in products:
        if product.product_id in seen:
            skipped.append(Skipped(product.source, f"duplicate product_id {product.product_id!r} "
                                                    f"(first at {seen[product.product_id]})"))
        else:
            seen[product.product_id] = product.source
            kept.append(product)
    return kept, skipped


def _read_text(path: Path) -> str:
    data = read_regular(path, MAX_CATALOG_BYTES, CatalogError, f"catalog {path}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"catalog {path} cannot be read as UTF-8 text: {exc}") from exc


def _read_jsonl(path: Path) -> tuple[list[Product], list[Skipped]]:
    products, skipped = [], []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            products.append(_product_from_json(loads_bounded(line), where))
        except ValueError as exc:  # json.JSONDecodeError included
            skipped.append(Skipped(where, str(exc)))
    return products, skipped


def _product_from_json(row: Any, where: str) -> Product:
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    product_id, title, images = row.get("product_id"), row.get("title", ""), row.get("images")
    if not isinstance(product_id, str) or not product_id.strip():
        raise ValueError("missing or empty 'product_id' (must be a string)")
    if not isinstance(title, str):
        raise ValueError("'title' must be a string")
    if not isinstance(images, list) or not images or not all(isinstance(i, str) and i for i in images):
        raise ValueError("'images' must be a non-empty list of paths or URLs")
    url = row.get("url")
    if url is not None and not isinstance(url, str):
        raise ValueError("'url' must be a string")
    metadata = {k: v for k, v in row.items() if k not in ("product_id", "title", "images", "url")}
    return Product(product_id.strip(), title, tuple(dict.fromkeys(images)), url, metadata, where)
