"""The Shopify webhook queue under attack: each shop's queue is bounded (a full one answers 429,
so Shopify delivers again, and nothing answered 200 is lost), only what applying needs is
stored and the raw body is bounded, shops take turns, an out-of-range time is a 422 and never a
500, and a skipped or failing event is logged, counted by reason in /metrics and listed to the
merchant whose shop it is, and to no other."""

import json
import logging
import shutil
import time

import pytest

from shoptag.api.jobs import JobStore
from shoptag.api.webhook_applier import WebhookApplier
from shoptag.api.webhooks import WebhookStore
from shoptag.errors import ServiceBusyError
from shoptag.settings import ModelSettings, Settings

from helpers.api import bearer, make_index, running_app
from helpers.fake_shopify import PHOTOS, SECRET, delivery, product, running_shop

SHOP_A, SHOP_B, SHOP_C = "shop-a.myshopify.com", "shop-b.myshopify.com", "shop-c.myshopify.com"
MERCHANT_A, MERCHANT_B = "merchant-a-key-0123456789", "merchant-b-key-0123456789"
CREATOR_A, OPERATOR = "creator-a-key-0123456789", "operator-key-0123456789abc"
KEYS = [{"key": MERCHANT_A, "role": "merchant", "catalogs": ["cat-a"]},
        {"key": MERCHANT_B, "role": "merchant", "catalogs": ["cat-b"]},
        {"key": CREATOR_A, "role": "creator", "catalogs": ["cat-a"]},
        {"key": OPERATOR, "role": "merchant", "catalogs": ["*"]}]
TIME = "2026-12-01T10:00:00.000000+00:00 2026-12-01T10:00:00.000000+00:00"


@pytest.fixture(scope="module")
def images():
    with running_shop([], PHOTOS) as shop:
        yield shop


@pytest.fixture(scope="module")
def built(tmp_path_factory, effnet):
    return make_index(tmp_path_factory.mktemp("built"), effnet)


@pytest.fixture
def index(built, tmp_path):
    shutil.copytree(built, tmp_path / "index", symlinks=True)
    return tmp_path / "index"


async def _idle(self):
    return None


@pytest.fixture
def held(monkeypatch):
    """The applier does not run: deliveries stay queued, as behind a long queue."""
    monkeypatch.setattr(WebhookApplier, "run_forever", _idle)


def settings_for(index, **shopify) -> Settings:
    return Settings(model=ModelSettings(spec="effnet-lite0"),
                    service={"index": index, "state_dir": index.parent / "state"},
                    shopify={"webhook_secret": SECRET, "storefront_url": "https://shop.example", **shopify},
                    fetch={"allow_hosts": ("127.0.0.1",)})


def send(client, topic, payload, webhook_id, shop=SHOP_A, **options):
    body, headers = delivery(topic, payload, webhook_id, shop=shop, **options)
    return client.post("/v1/webhooks/shopify", content=body, headers=headers)


def wait_finished(store: WebhookStore, count: int, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while (done := store.counts()).get("queued", 0) or sum(done.values()) < count:
        assert time.monotonic() < deadline, done
        time.sleep(0.05)
    return done


def metric(client, name: str, **labels) -> float:
    """The value of one series in /metrics (0 when it is not there)."""
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


# Item 2: bound, stored fields, fairness


def test_a_full_shop_queue_answers_429_and_nothing_answered_200_is_lost(index, effnet, images, held):
    settings = settings_for(index, webhook_queue_per_shop=3)
    with running_app(settings, effnet) as client:
        for n in range(3):
            assert send(client, "products/delete", {"id": 100 + n}, f"a-{n}").json()["status"] == "queued"
        refused = send(client, "products/delete", {"id": 103}, "a-3")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "busy"
        assert refused.headers["Retry-After"]
        # A delivery already stored is still answered as such, and another shop has its own places.
        assert send(client, "products/delete", {"id": 100}, "a-0").json()["status"] == "duplicate"
        assert send(client, "products/delete", {"id": 200}, "b-0", shop=SHOP_B).status_code == 200
        assert client.app.state.service.webhooks.counts() == {"queued": 4}
        assert metric(client, "shoptag_webhook_deliveries_total", answer="refused") == 1


def test_every_accepted_event_is_applied_after_a_refusal_and_the_redelivery_too(index, effnet, images, monkeypatch):
    settings = settings_for(index, webhook_queue_per_shop=2)
    with monkeypatch.context() as patched:
        patched.setattr(WebhookApplier, "run_forever", _idle)
        with running_app(settings, effnet) as client:
            answers = [send(client, "products/create", product(images, 10 + n, f"print-{n}", f"Print {n}",
                                                               "2026-12-01T10:00:00Z"), f"w-{n}").status_code
                       for n in range(3)]
            assert answers == [200, 200, 429]
    with running_app(settings, effnet) as client:  # the applier runs: both accepted ones are applied
        store = client.app.state.service.webhooks
        assert wait_finished(store, 2) == {"applied": 2}
        # Shopify delivers the refused one again: now there is room.
        assert send(client, "products/create", product(images, 12, "print-2", "Print 2", "2026-12-01T10:00:00Z"),
                    "w-2").json()["status"] == "queued"
        assert wait_finished(store, 3) == {"applied": 3}
        assert {client.get(f"/v1/products/print-{n}").status_code for n in range(3)} == {200}


def test_only_what_applying_needs_is_stored_and_the_raw_body_is_bounded(index, effnet, images):
    bulky = {**product(images, 31, "bulky-print", "Bulky print", "2026-12-01T10:00:00Z"),
             "body_html": "x" * (1900 * 1024), "variants": [{"id": n, "price": "1.00"} for n in range(200)],
             "options": [{"name": "Size", "values": ["S", "M"]}], "status": "active"}
    with running_app(settings_for(index), effnet) as client:
        answer = send(client, "products/update", bulky, "w-bulky")
        assert answer.status_code == 200
        store = client.app.state.service.webhooks
        with store._jobs.connect() as db:
            stored = db.execute("SELECT payload FROM webhook_events WHERE webhook_id = 'w-bulky'").fetchone()[0]
        assert len(stored) < 1024
        assert set(json.loads(stored)) == {"id", "handle", "title", "status", "vendor", "tags", "updated_at", "images"}
        assert wait_finished(store, 1) == {"applied": 1}
        assert client.get("/v1/products/bulky-print").json()["product"]["title"] == "Bulky print"
    with running_app(settings_for(index, webhook_max_body_bytes=64 * 1024), effnet) as client:
        too_large = send(client, "products/update", bulky, "w-bulky-2")
        assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "too_large"
    with running_app(settings_for(index, webhook_max_stored_bytes=1024), effnet) as client:
        tagged = {**product(images, 32, "tagged-print", "Tagged", "2026-12-01T10:00:00Z"), "tags": "t, " * 1000}
        refused = send(client, "products/update", tagged, "w-tagged")
        assert refused.status_code == 422 and "store" in refused.json()["error"]["message"]
        assert client.app.state.service.webhooks.counts() == {"applied": 1}  # the bulky one only


def test_shops_take_turns(tmp_path):
    store = WebhookStore(JobStore(tmp_path / "jobs.sqlite3"))
    for n in range(20):
        store.enqueue(f"a-{n}", "products/delete", SHOP_A, str(100 + n), TIME, {"id": 100 + n})
    for n in range(3):
        store.enqueue(f"b-{n}", "products/delete", SHOP_B, str(200 + n), TIME, {"id": 200 + n})
    store.enqueue("c-0", "products/delete", SHOP_C, "300", TIME, {"id": 300})
    order, last = [], None
    while (event := store.next_queued(last)) is not None:
        store.finish(event, "applied", "not indexed")
        order.append(event.webhook_id)
        last = event.shop
    assert order[:7] == ["a-0", "b-0", "c-0", "a-1", "b-1", "a-2", "b-2"]
    assert order[7:] == [f"a-{n}" for n in range(3, 20)]  # each shop's own oldest first
    with pytest.raises(ServiceBusyError):
        store.enqueue("a-20", "products/delete", SHOP_A, "120", TIME, {"id": 120}, max_queued=0)


def test_a_shop_behind_a_long_queue_waits_one_turn_not_the_queue(index, effnet, images, monkeypatch):
    settings = settings_for(index)
    with monkeypatch.context() as patched:
        patched.setattr(WebhookApplier, "run_forever", _idle)
        with running_app(settings, effnet) as client:
            for n in range(40):
                assert send(client, "products/delete", {"id": 1000 + n}, f"a-{n}").status_code == 200
            assert send(client, "products/create", product(images, 50, "c-print", "C", "2026-12-01T10:00:00Z"),
                        "c-0", shop=SHOP_C).status_code == 200
    with running_app(settings, effnet) as client:
        wait_finished(client.app.state.service.webhooks, 41)
        with client.app.state.service.webhooks._jobs.connect() as db:
            finished = [row[0] for row in db.execute("SELECT webhook_id FROM webhook_events ORDER BY finished, seq")]
        assert finished.index("c-0") <= 1  # before: 40, behind every event of shop A
        assert client.get("/v1/products/c-print").status_code == 200


# Item 6: times out of range


@pytest.mark.parametrize("where", ["header", "body"])
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_time_outside_utc_is_a_422_not_a_500(index, effnet, images, where, moment):
    with running_app(settings_for(index), effnet, raise_server_exceptions=False) as client:
        payload = product(images, 61, "time-print", "Time", moment if where == "body" else "2026-12-01T10:00:00Z")
        answers = [send(client, "products/update", payload, "w-time", triggered_at=moment if where == "header"
                        else None)]
        if where == "header":
            answers.append(send(client, "products/delete", {"id": 61}, "w-time-delete", triggered_at=moment))
        for answer in answers:
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] == "invalid_request" and "UTC" in answer.json()["error"]["message"]
        assert client.app.state.service.webhooks.counts() == {}


# Item 12: skipped and failed events seen


def test_a_skipped_and_a_failing_event_are_logged_counted_and_listed(index, effnet, images, caplog):
    caplog.set_level(logging.INFO, logger="shoptag.api.webhook_applier")
    with running_app(settings_for(index), effnet) as client:
        store = client.app.state.service.webhooks
        send(client, "products/create", product(images, 71, "moon-print", "Moon", "2026-12-01T10:00:00Z"), "w-1")
        send(client, "products/delete", {"id": 71}, "w-2", triggered_at="2026-12-01T12:00:00Z")
        wait_finished(store, 2)
        # The create delivered again late, under a new id: skipped, and the merchant is told why.
        send(client, "products/create", product(images, 71, "moon-print", "Moon", "2026-12-01T10:00:00Z"), "w-3")
        assert wait_finished(store, 3) == {"applied": 2, "skipped": 1}
        assert any("w-3" in r.message and "older_than_applied" in r.message for r in caplog.records)
        assert metric(client, "shoptag_webhook_events_total", outcome="skipped", reason="older_than_applied") == 1
        assert metric(client, "shoptag_webhook_events_total", outcome="applied", reason="none") == 2
        listed = client.get("/v1/webhooks/events").json()["events"]
        assert [(e["webhook_id"], e["status"]) for e in listed] == [("w-3", "skipped"), ("w-2", "applied"),
                                                                     ("w-1", "applied")]
        assert "older than the event already applied" in listed[0]["outcome"]
        assert listed[0]["product_id"] == "71" and listed[0]["shop"] == SHOP_A
        # A photo that cannot be fetched: put back to be tried again, with its reason.
        send(client, "products/create", product(images, 72, "lost-print", "Lost", "2026-12-01T10:00:00Z",
                                                photo="missing.jpg"), "w-4")
        deadline = time.monotonic() + 60
        while not (events := client.get("/v1/webhooks/events?limit=1").json()["events"])[0]["attempts"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert events[0]["status"] == "queued" and events[0]["outcome"]
        body = client.get("/metrics").text
        retried = [line for line in body.splitlines()
                   if line.startswith('shoptag_webhook_events_total{outcome="retried"')]
        assert len(retried) == 1 and 'reason="bad_image"' in retried[0], retried
        assert "shop-a" not in body and "lost-print" not in body  # no shop or product is a label


def test_a_merchant_lists_only_its_own_shops_events_a_bounded_number(index, effnet, images, held, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("cat-a", "cat-b"):
        shutil.copytree(index, data / name, symlinks=True)
    settings = Settings(model=ModelSettings(spec="effnet-lite0"),
                        service={"data_dir": data, "state_dir": tmp_path / "state", "api_keys": KEYS},
                        shopify={"webhook_secret": SECRET, "webhook_events_listed": 3,
                                 "shop_catalogs": {SHOP_A: "cat-a", SHOP_B: "cat-b"}})
    with running_app(settings, effnet) as client:
        for n in range(5):
            assert send(client, "products/delete", {"id": 100 + n}, f"a-{n}", shop=SHOP_A).status_code == 200
        assert send(client, "products/delete", {"id": 200}, "b-0", shop=SHOP_B.upper()).status_code == 200

        def listed(key, query=""):
            answer = client.get(f"/v1/webhooks/events{query}", headers=bearer(key))
            return answer.status_code, [e["webhook_id"] for e in answer.json().get("events", [])]

        assert listed(MERCHANT_A, "?limit=100") == (200, ["a-4", "a-3", "a-2"])  # capped at 3
        assert listed(MERCHANT_A, "?limit=1") == (200, ["a-4"])
        assert listed(MERCHANT_B) == (200, ["b-0"])
        assert listed(MERCHANT_A, f"?shop={SHOP_B}") == (200, [])  # another merchant's shop: as if empty
        assert listed(OPERATOR, f"?shop={SHOP_B}") == (200, ["b-0"])
        assert listed(CREATOR_A)[0] == 403
        assert client.get("/v1/webhooks/events").status_code == 401
        assert listed(MERCHANT_A, "?limit=0")[0] == 422
        assert listed(MERCHANT_A, "?since=yesterday")[0] == 422
