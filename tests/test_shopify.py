"""Shopify product CSV exports in both header dialects (real header rows from Shopify's
templates), built from one catalog so that the two readings can be compared."""

import dataclasses

import pytest

from shoptag.errors import CatalogError
from shoptag.indexing.catalog import read_catalog

from helpers.shopify import CDN, CURRENT_HEADER, LEGACY_HEADER, write_export


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
