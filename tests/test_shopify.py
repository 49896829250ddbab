"""Shopify product CSV exports in both header dialects (real header rows from Shopify's
templates), built from one catalog so that the two readings can be compared."""

import csv
import dataclasses
import io

import pytest

from shoptag.errors import CatalogError
from shoptag.indexing.catalog import read_catalog

LEGACY_HEADER = (
    "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,"
    "Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,Variant Grams,Variant Inventory Tracker,"
    "Variant Inventory Qty,Variant Inventory Policy,Variant Fulfillment Service,Variant Price,"
    "Variant Compare At Price,Variant Requires Shipping,Variant Taxable,Variant Barcode,Image Src,"
    "Image Position,Image Alt Text,Gift Card,SEO Title,SEO Description,Variant Image,Variant Weight Unit,"
    "Variant Tax Code,Cost per item,Status").split(",")
CURRENT_HEADER = (
    "Title,URL handle,Description,Vendor,Product category,Type,Tags,Published on online store,Status,SKU,"
    "Barcode,Option1 name,Option1 value,Option2 name,Option2 value,Option3 name,Option3 value,Price,"
    "Compare-at price,Cost per item,Charge tax,Tax code,Inventory tracker,Inventory quantity,"
    "Continue selling when out of stock,Weight value (grams),Weight unit for display,Requires shipping,"
    "Fulfillment service,Product image URL,Image position,Image alt text,Variant image URL,Gift card,"
    "SEO title,SEO description").split(",")
# Field -> (legacy column, current column)
COLUMNS = {"handle": ("Handle", "URL handle"), "title": ("Title", "Title"), "body": ("Body (HTML)", "Description"),
           "vendor": ("Vendor", "Vendor"), "sku": ("Variant SKU", "SKU"), "price": ("Variant Price", "Price"),
           "image": ("Image Src", "Product image URL"), "position": ("Image Position", "Image position"),
           "variant_image": ("Variant Image", "Variant image URL"), "status": ("Status", "Status"),
           "option": ("Option1 Value", "Option1 value")}
CDN = "https://cdn.shopify.example/files"
# One catalog, as Shopify exports it: product-level cells on the first row only.
ROWS = [
    {"handle": "organic-tee", "title": "Tee, organic", "body": 'Soft "heavy" cotton,\nmade to last',
     "vendor": "Acme", "sku": "T-S", "price": "19.00", "image": f"{CDN}/tee-back.jpg", "position": "2",
     "status": "active", "option": "S"},
    {"handle": "organic-tee", "sku": "T-M", "price": "19.00", "image": f"{CDN}/tee-front.jpg", "position": "1",
     "variant_image": f"{CDN}/tee-red.jpg", "option": "M"},
    {"handle": "organic-tee", "sku": "T-L", "price": "21.00", "variant_image": f"{CDN}/tee-front.jpg",
     "option": "L"},
    {"handle": "draft-cap", "title": "Cap", "vendor": "Acme", "sku": "C-1", "price": "9.00",
     "image": f"{CDN}/cap.jpg", "position": "1", "status": "draft"},
    {"handle": "old-hat", "title": "Hat", "image": f"{CDN}/hat.jpg", "position": "1", "status": "archived"},
    {"handle": "mug", "title": "Mug", "sku": "M-1", "price": "12.50", "image": f"{CDN}/mug.jpg",
     "position": "1", "status": "Active"},
]


def write_export(path, dialect: int, rows=ROWS, header=None):
    header = header or (LEGACY_HEADER, CURRENT_HEADER)[dialect]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({COLUMNS[k][dialect]: v for k, v in row.items() if COLUMNS[k][dialect] in header})
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8", newline="")
    return path


def comparable(catalog):
    return [dataclasses.replace(p, source="") for p in catalog.products]


@pytest.mark.parametrize("dialect", [0, 1], ids=["legacy", "current"])
def test_each_dialect_groups_variants_orders_images_and_keeps_active_products(tmp_path, dialect):
    catalog = read_catalog(write_export(tmp_path / "products_export_1.csv", dialect))
    tee, mug = catalog.products
    assert tee.product_id == "organic-tee" and tee.title == "Tee, organic"
    assert tee.images == (f"{CDN}/tee-front.jpg", f"{CDN}/tee-back.jpg", f"{CDN}/tee-red.jpg")
    assert tee.metadata == {"vendor": "Acme", "sku": "T-S", "price": "19.00", "status": "active"}
    assert mug.metadata["status"] == "Active" and tee.url is None
    reasons = {s.where.split("(")[1]: s.reason for s in catalog.skipped}
    assert "status 'draft'" in reasons["handle 'draft-cap')"]
    assert "status 'archived'" in reasons["handle 'old-hat')"]


def test_both_dialects_yield_identical_products(tmp_path):
    legacy = read_catalog(write_export(tmp_path / "legacy.csv", 0), shop_url="https://shop.example/")
    current = read_catalog(write_export(tmp_path / "current.csv", 1), shop_url="https://shop.example/")
    assert comparable(legacy) == comparable(current)
    assert [p.url for p in current.products] == ["https://shop.example/products/organic-tee",
                                                 "https://shop.example/products/mug"]


def test_drafts_and_archived_products_are_read_when_asked_for(tmp_path):
    catalog = read_catalog(write_export(tmp_path / "p.csv", 1), statuses=("active", "draft", "archived"))
    assert [p.product_id for p in catalog.products] == ["organic-tee", "draft-cap", "old-hat", "mug"]


@pytest.mark.parametrize("dialect, dropped", [(0, "Image Src"), (1, "Product image URL"), (1, "Title")])
def test_a_missing_required_column_is_named(tmp_path, dialect, dropped):
    header = [c for c in (LEGACY_HEADER, CURRENT_HEADER)[dialect] if c != dropped]
    path = write_export(tmp_path / "p.csv", dialect, header=header)
    with pytest.raises(CatalogError, match=f"lacks required column.*{dropped}"):
        read_catalog(path)
