"""The Shopify webhook queue under a flood, on a local in-process service (the tests' demo index
and fake CDN, tests/helpers/):

    python scripts/benchmark_webhooks.py [--noops 3000] [--events 10]

1. baseline: one product event of an idle shop, from delivery to the product being served;
2. shop A sends ``--noops`` signed no-op deliveries (deletes of products that are not indexed)
   from ``--senders`` connections at once: how many were accepted (200) and refused (429, Shopify redelivers);
3. shop B sends ``--events`` product creations (each a photo to fetch and embed);
4. shop C sends one product creation: its delay until the product is served;
5. the time until every accepted event of A and B is finished (the drain), from A's first delivery.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the tests' helpers
from shoptag.model import create_embedder  # noqa: E402
from shoptag.settings import ModelSettings, Settings  # noqa: E402

from helpers.api import make_index, running_app  # noqa: E402
from helpers.fake_shopify import PHOTOS, SECRET, delivery, product, running_shop  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the Shopify benchmark's distinct photos
from benchmark_shopify import distinct_photos  # noqa: E402

logger = logging.getLogger("benchmark_webhooks")


def until(check, timeout_s: float = 900) -> float:
    """Wait for ``check()``; returns the seconds waited."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout_s:
            raise SystemExit(f"timed out after {timeout_s:g} s")
        time.sleep(0.02)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--noops", type=int, default=3000)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--senders", type=int, default=8, help="concurrent connections of shop A")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("benchmark_webhooks").setLevel(logging.INFO)
    embedder = create_embedder(ModelSettings(spec="effnet-lite0", batch_size=16))
    with tempfile.TemporaryDirectory() as work:
        photos = {**PHOTOS, **distinct_photos(Path(work) / "photos", args.events + 2)}
        index = make_index(Path(work), embedder)
        with running_shop([], photos) as cdn:
            return run(args, embedder, index, cdn)


def run(args, embedder, index, cdn) -> int:
    settings = Settings(model=ModelSettings(spec="effnet-lite0"),
                        service={"index": index, "state_dir": index.parent / "state"},
                        shopify={"webhook_secret": SECRET}, fetch={"allow_hosts": ("127.0.0.1",)})
    with running_app(settings, embedder) as client:
        store = client.app.state.service.webhooks

        def send(shop: str, topic: str, payload: dict, webhook_id: str) -> int:
            body, headers = delivery(topic, payload, webhook_id, shop=f"{shop}.myshopify.com",
                                     triggered_at="2026-12-01T10:00:00Z")
            return client.post("/v1/webhooks/shopify", content=body, headers=headers).status_code

        def served(handle: str) -> bool:
            return client.get(f"/v1/products/{handle}").status_code == 200

        assert send("shop-d", "products/create", product(cdn, 900, "idle-print", "Idle", "2026-12-01T10:00:00Z",
                                                         photo="p00000.jpg"), "d-1") == 200
        idle_s = until(lambda: served("idle-print"))

        started = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as senders:  # deliveries arrive at once, as in the attack
            answers = list(senders.map(lambda n: send("shop-a", "products/delete", {"id": 100_000 + n}, f"a-{n}"),
                                       range(args.noops)))
        submitted_s = time.perf_counter() - started
        accepted, refused = answers.count(200), answers.count(429)
        for n in range(args.events):
            assert send("shop-b", "products/create", product(cdn, 2000 + n, f"b-print-{n}", f"B {n}",
                                                             "2026-12-01T10:00:00Z", photo=f"p{n + 2:05d}.jpg"),
                        f"b-{n}") == 200
        assert send("shop-c", "products/create", product(cdn, 3000, "c-print", "C", "2026-12-01T10:00:00Z",
                                                         photo="p00001.jpg"), "c-1") == 200
        c_delay_s = until(lambda: served("c-print"))
        until(lambda: not store.counts().get("queued", 0))
        drain_s = time.perf_counter() - started
        counts = store.counts()
    logger.info("idle shop, one product event to served: %.2f s", idle_s)
    logger.info("shop A: %d no-op deliveries sent in %.1f s: %d accepted, %d refused (429), %d other",
                args.noops, submitted_s, accepted, refused, args.noops - accepted - refused)
    logger.info("shop B: %d product events; shop C: 1 product event, served %.2f s after its delivery",
                args.events, c_delay_s)
    logger.info("drain of every accepted event, from A's first delivery: %.1f s; events by status: %s",
                drain_s, counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
