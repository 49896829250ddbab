"""Shopify product CSV exports, in both header dialects.

Shopify's legacy export names its columns ``Handle``, ``Image Src``, ``Variant SKU`` ...; the
newer one ``URL handle``, ``Product image URL``, ``SKU`` ... The same catalog in either
dialect yields identical products: rows sharing a handle form one product (variants), images
are ordered by position and deduplicated, and draft or archived products are left out unless
their status is asked for.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from shoptag.errors import CatalogError
from shoptag.files import open_regular
from shoptag.indexing.records import MAX_CATALOG_BYTES, Product, Skipped

DEFAULT_STATUSES = ("active",)
# The csv module refuses cells over 128 KiB by default; a product description ("Body (HTML)")
# is often larger. Cells stay bounded, as does the whole file (MAX_CATALOG_BYTES).
MAX_CELL_CHARS = 16 * 1024 * 1024


@dataclass(frozen=True)
class Dialect:
    name: str
    handle: str
    title: str
    image: str
    image_position: str
    variant_image: str
    # Column -> metadata key; the keys are the same in both dialects.
    metadata: dict[str, str]


LEGACY = Dialect("legacy", "Handle", "Title", "Image Src", "Image Position", "Variant Image",
                 {"Vendor": "vendor", "Type": "product_type", "Tags": "tags", "Variant SKU": "sku",
                  "Variant Price": "price", "Status": "status"})
CURRENT = Dialect("current", "URL handle", "Title", "Product image URL", "Image position",
                  "Variant image URL",
                  {"Vendor": "vendor", "Type": "product_type", "Tags": "tags", "SKU": "sku",
                   "Price": "price", "Status": "status"})


def read_shopify_csv(path: Path, shop_url: str | None = None,
                     statuses: tuple[str, ...] = DEFAULT_STATUSES) -> tuple[list[Product], list[Skipped]]:
    header, rows = _read_rows(path)
    dialect = CURRENT if CURRENT.handle in header else LEGACY
    missing = [c for c in (dialect.handle, dialect.title, dialect.image) if c not in header]
    if missing:
        raise CatalogError(f"Shopify CSV {path.name} ({dialect.name} export) lacks required column(s): "
                           f"{', '.join(missing)}")
    wanted = {s.lower() for s in statuses}
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    skipped = []
    for line, row in rows:
        handle = (row.get(dialect.handle) or "").strip()
        if not handle:
            skipped.append(Skipped(f"{path.name} line {line}", f"empty {dialect.handle!r}"))
            continue
        groups.setdefault(handle, []).append((line, row))

    products = []
    for handle, group in groups.items():
        where = f"{path.name} line {group[0][0]} (handle {handle!r})"
        group_rows = [row for _, row in group]
        status = _first(group_rows, "Status").lower() or "active"  # older exports have no Status
        if status not in wanted:
            skipped.append(Skipped(where, f"status {status!r} is not indexed (include it with --status)"))
            continue
        images = _images(group_rows, dialect)
        if not images:
            skipped.append(Skipped(where, f"no {dialect.image!r} or {dialect.variant_image!r} in any row"))
            continue
        metadata = {key: value for column, key in dialect.metadata.items() if (value := _first(group_rows, column))}
        url = storefront_url(shop_url, handle) if shop_url else None
        products.append(Product(handle, _first(group_rows, dialect.title) or handle, images, url, metadata, where))
    return products, skipped


def storefront_url(shop_url: str, handle: str) -> str:
    """A product's storefront page: the one rule for the CSV import, `catalog sync` and webhooks."""
    return f"{shop_url.rstrip('/')}/products/{handle}"


def shopify_metadata(vendor: object, product_type: object, tags: object, status: str, shopify_id: str,
                     updated_at: object) -> dict[str, str]:
    """What `catalog sync` and webhooks keep of a Shopify product besides its title, url and
    images; fields that are empty (or not text) are left out, so both give the same dict."""
    fields = {"vendor": vendor, "product_type": product_type, "tags": tags, "status": status.lower(),
              "shopify_id": shopify_id, "updated_at": updated_at}
    return {key: value for key, value in fields.items() if isinstance(value, str) and value}


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    # The limit is the csv module's one process-wide setting; raising it to a fixed bound
    # (never lowering it) is safe for every reader in the process.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL_CHARS))
    binary = open_regular(path, CatalogError, f"catalog {path}", MAX_CATALOG_BYTES)
    try:
        # newline="" lets the csv module handle CRLF and newlines inside quoted cells;
        # utf-8-sig drops the BOM that spreadsheet tools write.
        with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            reader.fieldnames = header
            rows = []
            start = reader.line_num + 1
            for row in reader:
                rows.append((start, row))
                start = reader.line_num + 1
            return header, rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CatalogError(f"catalog {path} cannot be read as CSV: {exc}") from exc


def _first(rows: list[dict[str, str]], column: str) -> str:
    """Product-level cells are filled on the product's first row only; variant rows leave them empty."""
    return next((value.strip() for row in rows if (value := row.get(column) or "").strip()), "")


def _images(rows: list[dict[str, str]], dialect: Dialect) -> tuple[str, ...]:
    positioned = []
    for order, row in enumerate(rows):
        src = (row.get(dialect.image) or "").strip()
        if src:
            try:
                position = int(row.get(dialect.image_position) or 0) or 10**6
            except ValueError:
                position = 10**6  # unnumbered images go after numbered ones, in row order
            positioned.append((position, order, src))
    ordered = [src for _, _, src in sorted(positioned)]
    ordered += [(row.get(dialect.variant_image) or "").strip() for row in rows]
    return tuple(dict.fromkeys(src for src in ordered if src))
