"""Catalog readers: JSONL (one product a line) and Shopify product CSV exports.

A bad row is skipped and reported (``Catalog.skipped``) rather than failing the whole
catalog; only a file that cannot be read at all raises ``CatalogError``.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoptag.errors import CatalogError

logger = logging.getLogger(__name__)

SHOPIFY_REQUIRED = ("Handle",)
SHOPIFY_IMAGE_COLUMNS = ("Image Src", "Variant Image")
# Shopify columns worth keeping as product metadata, under friendlier names.
SHOPIFY_METADATA = {"Vendor": "vendor", "Type": "product_type", "Tags": "tags", "Variant SKU": "sku",
                    "Variant Price": "price", "Status": "status"}


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    images: tuple[str, ...]
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where it came from, e.g. "catalog.jsonl line 3", for messages


@dataclass(frozen=True)
class Skipped:
    where: str
    reason: str


@dataclass
class Catalog:
    path: Path
    products: list[Product]
    skipped: list[Skipped]

    @property
    def base_dir(self) -> Path:
        """Relative image paths resolve against the catalog file's folder."""
        return self.path.parent


def read_catalog(path: Path) -> Catalog:
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"catalog {path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        products, skipped = _read_jsonl(path)
    elif suffix == ".csv":
        products, skipped = _read_shopify_csv(path)
    else:
        raise CatalogError(f"catalog {path}: unsupported format {suffix!r} (use .jsonl or a Shopify .csv)")
    products, duplicates = _drop_duplicates(products)
    catalog = Catalog(path, products, skipped + duplicates)
    for item in catalog.skipped:
        logger.warning("skipped %s: %s", item.where, item.reason)
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
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"catalog {path} cannot be read as UTF-8 text: {exc}") from exc


def _read_jsonl(path: Path) -> tuple[list[Product], list[Skipped]]:
    products, skipped = [], []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            products.append(_product_from_json(json.loads(line), where))
        except (json.JSONDecodeError, ValueError) as exc:
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


def _read_shopify_csv(path: Path) -> tuple[list[Product], list[Skipped]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in SHOPIFY_REQUIRED if c not in header]
            if missing or not any(c in header for c in SHOPIFY_IMAGE_COLUMNS):
                need = missing or [" or ".join(SHOPIFY_IMAGE_COLUMNS)]
                raise CatalogError(f"Shopify CSV {path.name} lacks required column(s): {', '.join(need)}")
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CatalogError(f"catalog {path} cannot be read as CSV: {exc}") from exc

    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    skipped = []
    for line, row in rows:
        handle_value = (row.get("Handle") or "").strip()
        if not handle_value:
            skipped.append(Skipped(f"{path.name} line {line}", "empty 'Handle'"))
            continue
        groups.setdefault(handle_value, []).append((line, row))

    products = []
    for handle_value, group in groups.items():
        where = f"{path.name} line {group[0][0]} (handle {handle_value!r})"
        images = _shopify_images([row for _, row in group])
        if not images:
            skipped.append(Skipped(where, "no 'Image Src' or 'Variant Image' in any row"))
            continue
        first = group[0][1]
        title = next((r["Title"].strip() for _, r in group if (r.get("Title") or "").strip()), handle_value)
        metadata = {name: first[col] for col, name in SHOPIFY_METADATA.items() if first.get(col)}
        products.append(Product(handle_value, title, images, None, metadata, where))
    return products, skipped


def _shopify_images(rows: list[dict[str, str]]) -> tuple[str, ...]:
    positioned = []
    for order, row in enumerate(rows):
        src = (row.get("Image Src") or "").strip()
        if src:
            try:
                position = int(row.get("Image Position") or 0) or 10**6
            except ValueError:
                position = 10**6  # unnumbered images go after numbered ones, in row order
            positioned.append((position, order, src))
    ordered = [src for _, _, src in sorted(positioned)]
    ordered += [(row.get("Variant Image") or "").strip() for row in rows]
    return tuple(dict.fromkeys(src for src in ordered if src))
