"""Shopify product webhooks through the real app: signed deliveries are queued and applied in
the background, a bad signature changes nothing, a replayed delivery is applied once, an older
update never overwrites a newer one, and events queued before a restart are applied once after it."""

import json
import time

import pytest

from shoptag.api.jobs import JobStore
from shoptag.api.webhooks import WebhookStore, utc_time
from shoptag.settings import ModelSettings, Settings

from helpers.api import make_index, running_app, service_settings
from helpers.fake_shopify import PHOTOS, SECRET, delivery, product, running_shop


@pytest.fixture(scope="module")
def images():
    with running_shop([], PHOTOS) as shop:
        yield shop


@pytest.fixture
def index(tmp_path, effnet):
    return make_index(tmp_path, effnet)


def settings_for(index) -> Settings:
    """The service, with the app's secret, fetching product photos from the local fake CDN."""
    return Settings(model=ModelSettings(spec="effnet-lite0"),
                    service={"index": index, "state_dir": index.parent / "state"},
                    shopify={"webhook_secret": SECRET, "storefront_url": "https://shop.example"},
                    fetch={"allow_hosts": ("127.0.0.1",)})


def send(client, topic, payload, webhook_id, **options):
    body, headers = delivery(topic, payload, webhook_id, **options)
    return client.post("/v1/webhooks/shopify", content=body, headers=headers)


def wait_applied(client, count: int, timeout_s: float = 60) -> dict:
    store = client.app.state.service.webhooks
    deadline = time.monotonic() + timeout_s
    while (done := store.counts()).get("queued", 0) or sum(done.values()) < count:
        assert time.monotonic() < deadline, done
        time.sleep(0.05)
    return done


def test_signed_events_are_applied_in_order_and_replays_once(index, effnet, images):
    with running_app(settings_for(index), effnet) as client:
        first = send(client, "products/create", product(images, 11, "moon-print", "Moon print",
                                                        "2026-12-01T10:00:00-05:00"), "w-1")
        assert first.status_code == 200 and first.json() == {"status": "queued", "webhook_id": "w-1"}
        assert send(client, "products/create", product(images, 11, "moon-print", "Moon print",
                                                       "2026-12-01T10:00:00-05:00"), "w-1").json()["status"] \
            == "duplicate"
        wait_applied(client, 1)
        moon = client.get("/v1/products/moon-print").json()["product"]
        assert moon["title"] == "Moon print" and moon["url"] == "https://shop.example/products/moon-print"
        # A newer update, then an older one delivered late: the newer state stays.
        send(client, "products/update", product(images, 11, "moon-print", "Moon print, framed",
                                                "2026-12-01T16:00:00Z"), "w-2")
        send(client, "products/update", product(images, 11, "moon-print", "Moon print (old)",
                                                "2026-12-01T15:30:00Z"), "w-3")
        assert wait_applied(client, 3) == {"applied": 2, "skipped": 1}
        assert client.get("/v1/products/moon-print").json()["product"]["title"] == "Moon print, framed"
        # A draft leaves the index; a delete of what is not indexed changes nothing.
        send(client, "products/update", {**product(images, 11, "moon-print", "Moon print", "2026-12-01T17:00:00Z"),
                                         "status": "draft"}, "w-4")
        send(client, "products/delete", {"id": 99}, "w-5", triggered_at="2026-12-01T18:00:00Z")
        wait_applied(client, 5)
        assert client.get("/v1/products/moon-print").status_code == 404


def test_a_bad_signature_is_refused_before_anything_is_read(index, effnet, images):
    with running_app(settings_for(index), effnet) as client:
        body, headers = delivery("products/create", product(images, 12, "sun-print", "Sun", "2026-12-01T10:00:00Z"),
                                 "w-9", secret="not-the-secret")
        refused = client.post("/v1/webhooks/shopify", content=body, headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        unsigned = client.post("/v1/webhooks/shopify", content=b"{not json", headers={"X-Shopify-Topic": "x"})
        assert unsigned.status_code == 401
        # Signed but another topic: answered (Shopify drops subscriptions that fail), not queued.
        other = send(client, "orders/create", {"id": 1}, "w-10")
        assert other.status_code == 200 and other.json()["status"] == "ignored"
        # Signed product event without a handle: refused with the reason.
        bad = send(client, "products/update", {"id": 12, "title": "no handle"}, "w-11")
        assert bad.status_code == 422 and "handle" in bad.json()["error"]["message"]
        assert client.app.state.service.webhooks.counts() == {}
        assert client.get("/v1/products/sun-print").status_code == 404


def test_deletes_find_products_by_their_shopify_id(index, effnet, images):
    with running_app(settings_for(index), effnet) as client:
        send(client, "products/create", product(images, 13, "star-print", "Star", "2026-12-01T10:00:00Z"), "w-11")
        wait_applied(client, 1)
        send(client, "products/delete", {"id": 13}, "w-12", triggered_at="2026-12-01T11:00:00Z")
        wait_applied(client, 2)
        assert client.get("/v1/products/star-print").status_code == 404
        # The create, delivered again late under a new id, does not bring it back.
        send(client, "products/create", product(images, 13, "star-print", "Star", "2026-12-01T10:00:00Z"), "w-13")
        assert wait_applied(client, 3)["skipped"] == 1
        assert client.get("/v1/products/star-print").status_code == 404


def test_events_queued_before_a_restart_are_applied_once_after_it(index, effnet, images):
    settings = settings_for(index)
    state = settings.service.resolved_state_dir(index)
    state.mkdir(parents=True, exist_ok=True)
    store = WebhookStore(JobStore(state / "jobs.sqlite3"))
    for number, handle in ((21, "comet-print"), (22, "planet-print")):
        payload = product(images, number, handle, handle.title(), "2026-12-01T10:00:00Z")
        assert store.enqueue(f"w-{number}", "products/create", "fake-shop.myshopify.com", str(number),
                             utc_time(payload["updated_at"]), payload)
    with running_app(settings, effnet) as client:
        assert wait_applied(client, 2) == {"applied": 2}
        versions = client.get("/readyz").json()["index_version"]
        assert {client.get(f"/v1/products/{h}").status_code for h in ("comet-print", "planet-print")} == {200}
    with running_app(settings, effnet) as client:
        time.sleep(1.5)  # the applier looks again
        assert client.get("/readyz").json()["index_version"] == versions
        assert client.app.state.service.webhooks.counts() == {"applied": 2}


def test_a_failing_event_neither_loses_the_product_nor_holds_up_the_others(index, effnet, images):
    with running_app(settings_for(index), effnet) as client:
        send(client, "products/create", product(images, 41, "a-print", "A", "2026-12-01T10:00:00Z"), "w-41")
        wait_applied(client, 1)
        # Renamed, with a photo that cannot be downloaded: the product stays under its old handle.
        renamed = product(images, 41, "b-print", "B", "2026-12-01T11:00:00Z", photo="missing.jpg")
        send(client, "products/update", renamed, "w-42")
        # A payload nobody foresaw, then a good event behind it.
        send(client, "products/update", {**product(images, 43, "c-print", "C", "2026-12-01T11:00:00Z"),
                                         "images": [{"src": images.image_url("cup.jpg"), "position": "first"},
                                                    {"src": "/etc/passwd", "position": 1}, 5]}, "w-43")
        send(client, "products/create", product(images, 44, "d-print", "D", "2026-12-01T11:00:00Z"), "w-44")
        store = client.app.state.service.webhooks
        deadline = time.monotonic() + 60
        while client.get("/v1/products/d-print").status_code != 200:
            assert time.monotonic() < deadline, store.counts()
            time.sleep(0.1)
        assert client.get("/v1/products/a-print").json()["product"]["title"] == "A"
        assert client.get("/v1/products/b-print").status_code == 404
        # The odd payload's usable photo was taken, its path was not.
        refs = [i["ref"] for i in client.get("/v1/products/c-print").json()["product"]["images"]]
        assert refs == [images.image_url("cup.jpg")]
        with store._jobs.connect() as db:  # the failed rename waits to be tried again
            attempts, status = db.execute("SELECT attempts, status FROM webhook_events WHERE webhook_id = 'w-42'"
                                          ).fetchone()
        assert (attempts, status) == (1, "queued")


def test_ties_within_a_second_go_by_delivery_time_and_a_newer_stored_state_wins(index, effnet, images):
    settings = settings_for(index).model_copy(update={"shopify": settings_for(index).shopify.model_copy(
        update={"shop": "fake-shop.myshopify.com"})})
    with running_app(settings, effnet) as client:
        same_second = "2026-12-01T12:00:00Z"
        send(client, "products/create", product(images, 51, "tie-print", "Second edit", same_second), "w-51",
             triggered_at="2026-12-01T12:00:00.800Z")
        send(client, "products/update", product(images, 51, "tie-print", "First edit", same_second), "w-52",
             triggered_at="2026-12-01T12:00:00.200Z")
        assert wait_applied(client, 2) == {"applied": 1, "skipped": 1}
        assert client.get("/v1/products/tie-print").json()["product"]["title"] == "Second edit"
        # Another shop's delivery, signed with the same app secret, is answered and ignored.
        elsewhere = product(images, 51, "tie-print", "Other shop", "2026-12-02T00:00:00Z")
        body, headers = delivery("products/update", elsewhere, "w-53")
        other = client.post("/v1/webhooks/shopify", content=body,
                            headers={**headers, "X-Shopify-Shop-Domain": "other-shop.myshopify.com"})
        assert other.json()["status"] == "ignored"
        assert client.get("/v1/products/tie-print").json()["product"]["title"] == "Second edit"


def test_a_late_delivery_does_not_overwrite_a_newer_synced_product(index, effnet, images):
    with running_app(settings_for(index), effnet) as client:
        # As `catalog sync` stores it: the Shopify id and a newer updated_at than the delivery's.
        metadata = {"shopify_id": "gid://shopify/Product/61", "updated_at": "2026-12-01T15:00:00Z"}
        synced = {"title": "Synced", "image_refs": [images.image_url("rocket.jpg")], "metadata": json.dumps(metadata)}
        assert client.put("/v1/products/late-print", data=synced).status_code == 201
        send(client, "products/update", product(images, 61, "late-print", "Late", "2026-12-01T14:00:00Z"), "w-61")
        assert wait_applied(client, 1) == {"skipped": 1}
        assert client.get("/v1/products/late-print").json()["product"]["title"] == "Synced"


def test_a_short_or_empty_secret_is_refused():
    for secret in ("", "short"):
        with pytest.raises(ValueError, match="at least 16"):
            Settings(shopify={"webhook_secret": secret})


def test_without_a_secret_webhooks_are_refused(index, effnet, images):
    with running_app(service_settings(index), effnet) as client:
        answer = send(client, "products/create", product(images, 31, "x", "X", "2026-12-01T10:00:00Z"), "w-31")
        assert answer.status_code == 404 and "WEBHOOK_SECRET" in answer.json()["error"]["message"]
