import json
import os

import pytest

from shoptag.errors import CatalogError
from shoptag.indexing.catalog import read_catalog


def test_jsonl_keeps_metadata_and_skips_bad_rows_by_line(tmp_path):
    rows = [
        {"product_id": "mug", "title": "Mug", "images": ["img/mug.jpg", "img/mug.jpg"], "price": 9},
        {"title": "no id", "images": ["a.jpg"]},
        {"product_id": "bag", "title": "Bag", "images": []},
        {"product_id": "mug", "title": "again", "images": ["b.jpg"]},
    ]
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n\n")
    catalog = read_catalog(path)
    (mug,) = catalog.products
    assert (mug.product_id, mug.images, mug.metadata, mug.url) == ("mug", ("img/mug.jpg",), {"price": 9}, None)
    assert catalog.base_dir == tmp_path
    reasons = {s.where: s.reason for s in catalog.skipped}
    assert "product_id" in reasons["catalog.jsonl line 2"]
    assert "images" in reasons["catalog.jsonl line 3"]
    assert "duplicate" in reasons["catalog.jsonl line 4"]
    assert "catalog.jsonl line 5" in reasons


SHOPIFY = (
    "\ufeffHandle,Title,Vendor,Variant SKU,Image Src,Image Position,Variant Image\r\n"
    "tee,\"Tee, organic\",Acme,T-1,https://cdn.example/tee-2.jpg,2,\r\n"
    "tee,,,T-2,https://cdn.example/tee-1.jpg,1,https://cdn.example/tee-red.jpg\r\n"
    "tee,,,T-3,,,https://cdn.example/tee-1.jpg\r\n"
    "cap,Cap,Acme,C-1,,,\r\n"
    ",Orphan,,,https://cdn.example/x.jpg,1,\r\n"
)


def test_shopify_csv_groups_rows_by_handle_and_orders_images(tmp_path):
    path = tmp_path / "products_export.csv"
    path.write_text(SHOPIFY, encoding="utf-8", newline="")
    catalog = read_catalog(path)
    (tee,) = catalog.products
    assert tee.product_id == "tee" and tee.title == "Tee, organic"
    assert tee.images == ("https://cdn.example/tee-1.jpg", "https://cdn.example/tee-2.jpg",
                          "https://cdn.example/tee-red.jpg")
    assert tee.metadata == {"vendor": "Acme", "sku": "T-1"}
    reasons = " | ".join(f"{s.where}: {s.reason}" for s in catalog.skipped)
    assert "handle 'cap'" in reasons and "Image Src" in reasons
    assert "line 6: empty 'Handle'" in reasons


def test_shopify_csv_missing_column_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Title,Image Src\nCap,https://x/y.jpg\n")
    with pytest.raises(CatalogError, match="Handle"):
        read_catalog(path)


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "c.xml").write_text("<x/>")
    with pytest.raises(CatalogError, match="unsupported format"):
        read_catalog(tmp_path / "c.xml")
    with pytest.raises(CatalogError, match="file not found"):
        read_catalog(tmp_path / "missing.jsonl")


def test_a_shopify_description_longer_than_the_csv_default_limit_is_read(tmp_path):
    body = "<p>" + "Organic cotton, heavyweight. " * 7000 + "</p>"  # ~200 kB, over csv's 128 KiB default
    path = tmp_path / "products_export.csv"
    path.write_text('Handle,Title,Body (HTML),Image Src\r\n'
                    f'tee,Tee,"{body}",https://cdn.example/tee.jpg\r\n', encoding="utf-8", newline="")
    (tee,) = read_catalog(path).products
    assert tee.product_id == "tee" and tee.images == ("https://cdn.example/tee.jpg",)


@pytest.mark.parametrize("depth", [17, 300, 50_000])
def test_deeply_nested_jsonl_lines_are_skipped_with_a_reason(tmp_path, depth):
    nested = "[" * depth + "]" * depth
    path = tmp_path / "catalog.jsonl"
    path.write_text(json.dumps({"product_id": "ok", "title": "Ok", "images": ["a.jpg"]}) + "\n"
                    + f'{{"product_id": "deep", "title": "Deep", "images": ["b.jpg"], "extra": {nested}}}\n')
    catalog = read_catalog(path)
    assert [p.product_id for p in catalog.products] == ["ok"]
    (skipped,) = catalog.skipped
    assert skipped.where == "catalog.jsonl line 2" and "nested more than 16 levels" in skipped.reason


@pytest.mark.parametrize("name", ["catalog.jsonl", "products_export.csv"])
def test_a_catalog_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)  # no writer: reading it would wait forever
    with pytest.raises(CatalogError, match="not a regular file"):
        read_catalog(fifo)
    device = tmp_path / ("zero" + fifo.suffix)
    device.symlink_to("/dev/zero")  # reading it would never end
    with pytest.raises(CatalogError, match="not a regular file"):
        read_catalog(device)
