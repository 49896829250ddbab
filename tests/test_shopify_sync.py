"""`shoptag catalog sync` against a local fake of the Shopify Admin API: paging and the bulk
operation give the same catalog, throttling and 429 are waited out, an interrupted sync goes on
where it stopped, a failing image keeps the product's stored vectors, and the token is never
shown."""

import json

import pytest

from shoptag.cli.main import main
from shoptag.errors import ShopifyError
from shoptag.indexing.shopify_admin import AdminClient, check_shop
from shoptag.indexing.shopify_sync import read_shop, state_path
from shoptag.indexing.store import CatalogIndex
from shoptag.settings import ShopifySettings

from helpers.fake_shopify import PHOTOS, TOKEN, FakeProduct, running_shop

SHOP = "fake-shop.myshopify.com"


def catalog() -> list[FakeProduct]:
    return [FakeProduct(1, "espresso-cup", "Espresso cup", ["cup.jpg"], variant_images=["cat.jpg"]),
            FakeProduct(2, "rocket-poster", "Falcon 9 poster", ["rocket.jpg"]),
            FakeProduct(3, "astronaut-poster", "Astronaut poster", ["astronaut.jpg", "rocket.jpg"]),
            FakeProduct(4, "draft-mug", "A draft", ["cup.jpg"], status="DRAFT"),
            FakeProduct(5, "no-photo", "No photo yet", [])]


@pytest.fixture
def shop():
    with running_shop(catalog(), PHOTOS) as fake:
        yield fake


def settings_for(shop, **overrides) -> ShopifySettings:
    return ShopifySettings(**{"access_token": TOKEN, "api_url": shop.api_url, "page_size": 2, **overrides})


@pytest.fixture
def sync_env(shop, monkeypatch, tmp_path):
    """`shoptag catalog sync` talking to the fake, images fetched from it, waits kept short."""
    for name, value in {"ACCESS_TOKEN": TOKEN, "API_URL": shop.api_url, "PAGE_SIZE": "2", "MAX_WAIT_S": "0.05",
                        "POLL_S": "0.01"}.items():
        monkeypatch.setenv(f"SHOPTAG_SHOPIFY__{name}", value)
    monkeypatch.setenv("SHOPTAG_FETCH__ALLOW_HOSTS", '["127.0.0.1"]')
    monkeypatch.setenv("SHOPTAG_FETCH__CACHE_DIR", str(tmp_path / "downloads"))
    monkeypatch.setenv("SHOPTAG_MODEL__SPEC", "effnet-lite0")
    return tmp_path / "index"


def sync(index, capsys, *flags) -> tuple[int, dict | str]:
    status = main(["catalog", "sync", "--shop", SHOP, "--index", str(index), *flags])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if status == 0 else captured.err


def test_a_small_shop_is_read_page_by_page_then_kept_up_to_date(shop, sync_env, capsys, effnet):
    status, report = sync(sync_env, capsys)
    assert status == 0, report
    assert report["read"] == {"mode": "pages", "resumed": False, "products": 3, "seconds": report["read"]["seconds"]}
    assert shop.kinds() == ["count", "page", "page", "page"]
    index = CatalogIndex.load(sync_env, effnet)
    cup = index.product("espresso-cup")
    # Ids are handles, urls the storefront's, images the product's then its variants'.
    assert cup.url == "https://fake-shop.example/products/espresso-cup" and len(cup.images) == 2
    assert cup.metadata["shopify_id"] == "gid://shopify/Product/1" and cup.metadata["tags"] == "demo, fake"
    assert {p.product_id for p in index.products} == {"espresso-cup", "rocket-poster", "astronaut-poster"}
    assert not state_path(sync_env).exists()
    # Nothing changed: nothing is embedded again. A new title is a change of that product only.
    status, again = sync(sync_env, capsys)
    assert again["products"] == {"added": 0, "changed": 0, "removed": 0, "unchanged": 3}
    assert again["images"]["embedded"] == 0
    shop.products[1].title = "Falcon 9 launch poster"
    shop.products.pop(2)
    status, changed = sync(sync_env, capsys)
    assert changed["products"] == {"added": 0, "changed": 1, "removed": 1, "unchanged": 1}
    assert CatalogIndex.load(sync_env, effnet).product("rocket-poster").title == "Falcon 9 launch poster"


def test_a_large_shop_is_read_with_a_bulk_operation_into_the_same_catalog(shop, tmp_path):
    with AdminClient(SHOP, settings_for(shop, poll_s=0.01)) as client:
        paged = read_shop(client, tmp_path / "paged", bulk_above=100, statuses=("active",))
        bulk = read_shop(client, tmp_path / "bulk", bulk_above=2, statuses=("active",))
    assert paged.mode == "pages" and bulk.mode == "bulk"
    assert [(p.product_id, p.images, p.url, p.metadata) for p in bulk.catalog.products] == \
        [(p.product_id, p.images, p.url, p.metadata) for p in paged.catalog.products]
    assert [s.where for s in bulk.catalog.skipped] == ["Shopify product 'no-photo'"]
    assert shop.kinds()[-5:] == ["count", "start_bulk", "poll_bulk", "poll_bulk", "poll_bulk"]


def test_throttling_and_429_are_waited_out_as_shopify_asks(shop, tmp_path):
    shop.throttle_next, shop.too_many_next = 1, 1
    waits: list[float] = []
    with AdminClient(SHOP, settings_for(shop), sleep=waits.append) as client:
        assert client.product_count() == 5
    # Retry-After: 2; throttled: (752 requested - 2 available) / 100 restored per second.
    assert waits == [2.0, 7.5]
    shop.throttle_next = 10
    with AdminClient(SHOP, settings_for(shop, retries=2), sleep=waits.append) as client, \
            pytest.raises(ShopifyError, match="kept throttling"):
        client.product_count()


def test_a_page_too_costly_for_shopify_is_asked_for_in_halves(shop, tmp_path):
    with AdminClient(SHOP, settings_for(shop, page_size=100)) as client:
        read = read_shop(client, tmp_path / "index", bulk_above=100, statuses=("active",))
    assert len(read.catalog.products) == 3
    assert [q["variables"]["first"] for q in shop.queries if q["kind"] == "page"] == [100, 50, 25]


def test_a_bulk_result_that_cannot_be_downloaded_is_not_waited_on_again(shop, tmp_path):
    index = tmp_path / "index"
    shop.bulk_url_expired = True
    with AdminClient(SHOP, settings_for(shop, poll_s=0.01)) as client, \
            pytest.raises(ShopifyError, match="could not be downloaded"):
        read_shop(client, index, bulk_above=2, statuses=("active",))
    assert "operation" not in json.loads(state_path(index).read_text())
    shop.bulk_url_expired = False
    with AdminClient(SHOP, settings_for(shop, poll_s=0.01)) as client:
        assert len(read_shop(client, index, bulk_above=2, statuses=("active",)).catalog.products) == 3
    assert shop.kinds().count("start_bulk") == 2


def test_an_interrupted_sync_goes_on_where_it_stopped(shop, tmp_path):
    index = tmp_path / "index"
    shop.fail_pages_from = 2  # the first page arrives, then Shopify fails
    with AdminClient(SHOP, settings_for(shop, retries=1), sleep=lambda _: None) as client, \
            pytest.raises(ShopifyError, match="answered 500"):
        read_shop(client, index, bulk_above=100, statuses=("active",))
    saved = json.loads(state_path(index).read_text())
    assert saved["cursor"] == "2" and [p["handle"] for p in saved["products"]] == ["espresso-cup", "rocket-poster"]
    shop.fail_pages_from, shop.queries[:] = None, []
    with AdminClient(SHOP, settings_for(shop), sleep=lambda _: None) as client:
        resumed = read_shop(client, index, bulk_above=100, statuses=("active",))
    assert resumed.resumed and [q["variables"].get("after") for q in shop.queries] == ["2", "4"]
    assert [p.product_id for p in resumed.catalog.products] == ["espresso-cup", "rocket-poster", "astronaut-poster"]
    resumed.written()
    assert not state_path(index).exists()


def test_an_interrupted_bulk_sync_waits_on_its_operation(shop, tmp_path):
    index = tmp_path / "index"
    shop.bulk_polls = 100
    with AdminClient(SHOP, settings_for(shop, bulk_timeout_s=0.05, poll_s=0.01)) as client, \
            pytest.raises(ShopifyError, match="did not complete"):
        read_shop(client, index, bulk_above=2, statuses=("active",))
    operation = json.loads(state_path(index).read_text())["operation"]
    shop.bulk_polls, shop.queries[:] = 0, []
    with AdminClient(SHOP, settings_for(shop)) as client:
        resumed = read_shop(client, index, bulk_above=2, statuses=("active",))
    assert shop.kinds() == ["poll_bulk"] and shop.queries[0]["variables"] == {"id": operation}
    assert resumed.resumed and len(resumed.catalog.products) == 3


def test_a_failing_image_keeps_the_products_stored_vectors(shop, sync_env, capsys, effnet):
    assert sync(sync_env, capsys)[0] == 0
    before = CatalogIndex.load(sync_env, effnet).product("astronaut-poster")
    del shop.images["astronaut.jpg"]  # the CDN loses a photo
    shop.products[2].title = "Astronaut portrait poster"
    status, report = sync(sync_env, capsys)
    assert status == 0 and report["images"]["failed"] == 1
    after = CatalogIndex.load(sync_env, effnet).product("astronaut-poster")
    assert after.title == "Astronaut portrait poster"
    assert [i.sha256 for i in after.images] == [i.sha256 for i in before.images]


def test_a_refused_token_is_an_error_that_never_shows_the_token(shop, sync_env, capsys, monkeypatch, caplog):
    monkeypatch.setenv("SHOPTAG_SHOPIFY__ACCESS_TOKEN", "shpat_wrong_token_abcdef")
    status, error = sync(sync_env, capsys)
    assert status == 1 and "refused the access token" in error
    assert "shpat_" not in error + caplog.text
    monkeypatch.delenv("SHOPTAG_SHOPIFY__ACCESS_TOKEN")
    status, error = sync(sync_env, capsys)
    assert status == 1 and "SHOPTAG_SHOPIFY__ACCESS_TOKEN" in error


@pytest.mark.parametrize("shop_name", ["evil.example.com", "https://x.myshopify.com", "a.myshopify.com/../x", ""])
def test_only_myshopify_domains_are_shops(shop_name):
    with pytest.raises(ShopifyError, match="not a SHOP.myshopify.com"):
        check_shop(shop_name)
