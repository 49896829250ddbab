"""Shopify sync time and webhook-to-searchable latency, against the local fake of the Admin API
that the tests use (tests/helpers/fake_shopify.py), with distinct real photos:

    python scripts/benchmark_shopify.py [--products 1000] [--webhooks 10]

Printed, with ratios to baselines measured in the same run:
- `shoptag index build` of a JSONL catalog of the same photos as local files (the same
  embedding work, no API): the baseline of the syncs;
- `shoptag catalog sync` of the whole shop into a new index (a bulk operation: the shop is
  larger than bulk_above);
- the same sync after 1 % of the products changed (half a new photo, half a new title);
- webhook to searchable: from a signed products/update delivery (a new title and photo) to the
  product's new title being served, per delivery; baseline: `PUT /v1/products/{id}` with the same
  change, which answers once the change is written.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the tests' fake shop
from shoptag.api import create_app  # noqa: E402
from shoptag.bundled import media_path  # noqa: E402
from shoptag.cli import main as shoptag  # noqa: E402
from shoptag.demo import DEMO_PRODUCTS  # noqa: E402
from shoptag.settings import OFFLINE_MODEL_SPEC, Settings  # noqa: E402

from helpers.fake_shopify import TOKEN, FakeProduct, running_shop  # noqa: E402

SECRET = "benchmark-webhook-secret"


def distinct_photos(folder: Path, count: int, seed: int = 0) -> dict[str, Path]:
    """``count`` different JPEGs: random crops of the bundled photos, hue-turned and resized."""
    rng = np.random.default_rng(seed)
    sources = [cv2.imread(str(media_path(photo))) for _, _, photo in DEMO_PRODUCTS]
    folder.mkdir(parents=True, exist_ok=True)
    photos = {}
    for number in range(count):
        source = sources[number % len(sources)]
        height, width = source.shape[:2]
        h, w = int(height * rng.uniform(0.5, 1.0)), int(width * rng.uniform(0.5, 1.0))
        y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        hsv = cv2.cvtColor(source[y:y + h, x:x + w], cv2.COLOR_BGR2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(0, 180))) % 180
        side = int(rng.integers(256, 513))
        image = cv2.resize(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), (side, side * h // w))
        name = f"p{number:05d}.jpg"
        cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, 88])
        photos[name] = folder / name
    return photos


def timed(step: list[str]) -> float:
    started = time.perf_counter()
    if shoptag(step):
        raise SystemExit(f"failed: shoptag {' '.join(step)}")
    return time.perf_counter() - started


def signed(topic: str, payload: dict, webhook_id: str) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": digest, "X-Shopify-Webhook-Id": webhook_id,
                  "X-Shopify-Shop-Domain": "bench.myshopify.com", "Content-Type": "application/json"}


def until(check, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--webhooks", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        photos = distinct_photos(folder / "photos", args.products + args.webhooks * 2 + args.products // 100 + 1)
        names = sorted(photos)
        products = [FakeProduct(n, f"product-{n:05d}", f"Product {n}", [names[n]]) for n in range(args.products)]
        spare = iter(names[args.products:])
        catalog = folder / "catalog.jsonl"
        catalog.write_text("".join(json.dumps({"product_id": p.handle, "title": p.title, "images": [
            str(photos[p.images[0]])]}) + "\n" for p in products))
        os.environ.update({"SHOPTAG_SHOPIFY__ACCESS_TOKEN": TOKEN, "SHOPTAG_FETCH__ALLOW_HOSTS": '["127.0.0.1"]',
                           "SHOPTAG_FETCH__CACHE_DIR": str(folder / "downloads"), "SHOPTAG_SHOPIFY__POLL_S": "0.2",
                           "SHOPTAG_MODEL__SPEC": OFFLINE_MODEL_SPEC})
        build_s = timed(["index", "build", str(catalog), "--index", str(folder / "built")])
        with running_shop(products, photos) as shop:
            os.environ["SHOPTAG_SHOPIFY__API_URL"] = shop.api_url
            sync = ["catalog", "sync", "--shop", "bench.myshopify.com", "--index", str(folder / "synced")]
            full_s = timed(sync)
            changed = products[:: 100]
            for number, product in enumerate(changed):
                if number % 2:
                    product.title += " (renamed)"
                else:
                    product.images = [next(spare)]
            changed_s = timed(sync)
            mode = "bulk" if "start_bulk" in shop.kinds() else "pages"

            settings = Settings(model={"spec": OFFLINE_MODEL_SPEC}, fetch={"allow_hosts": ("127.0.0.1",)},
                                service={"index": folder / "synced", "state_dir": folder / "state"},
                                shopify={"webhook_secret": SECRET})
            webhook_s, put_s = [], []
            with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
                until(lambda: client.get("/readyz").status_code == 200)
                for number in range(args.webhooks):
                    product = products[number + 1]
                    title, photo = f"{product.title} v{number}", next(spare)
                    payload = {"id": product.number, "handle": product.handle, "title": title, "status": "active",
                               "updated_at": f"2026-12-02T10:{number:02d}:00Z",
                               "images": [{"position": 1, "src": shop.image_url(photo)}]}
                    body, headers = signed("products/update", payload, f"bench-{number}")
                    started = time.perf_counter()
                    assert client.post("/v1/webhooks/shopify", content=body, headers=headers).status_code == 200
                    until(lambda h=product.handle, t=title: client.get(f"/v1/products/{h}").json()
                          .get("product", {}).get("title") == t)
                    webhook_s.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    answer = client.put(f"/v1/products/{products[-number - 1].handle}",
                                        data={"title": f"Direct {number}", "image_refs": [shop.image_url(next(spare))]})
                    assert answer.status_code in (200, 201), answer.text
                    put_s.append(time.perf_counter() - started)
    print(f"\n{args.products} products, one distinct real-photo crop each; fake Admin API on 127.0.0.1; 2 cores")
    print("| what | seconds | ratio |\n|---|---|---|")
    print(f"| baseline: `index build` of the same photos as a JSONL catalog | {build_s:.1f} | 1.00 |")
    print(f"| `catalog sync`, whole shop into a new index ({mode}) | {full_s:.1f} | {full_s / build_s:.2f} |")
    print(f"| `catalog sync` after 1 % changed ({len(changed)} products) | {changed_s:.1f} | "
          f"{changed_s / build_s:.3f} |")
    median_webhook, median_put = statistics.median(webhook_s), statistics.median(put_s)
    print(f"\nwebhook to searchable, {args.webhooks} deliveries on the synced index (in-process service)")
    print("| what | median s | max s | ratio |\n|---|---|---|---|")
    print(f"| baseline: `PUT /v1/products/{{id}}` (answered when written) | {median_put:.2f} | "
          f"{max(put_s):.2f} | 1.00 |")
    print(f"| signed `products/update` webhook until the new title is served | {median_webhook:.2f} | "
          f"{max(webhook_s):.2f} | {median_webhook / median_put:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
