"""A local fake of the Shopify Admin API endpoints that `shoptag catalog sync` uses, on
127.0.0.1: GraphQL (the product count, pages of products, a bulk operation that completes after
a few polls, with its JSONL result), product images, and the faults to test against
(throttling, a page over the query cost limit, 429, 5xx from some page on, a refused token).
As in Shopify, a variant's image is one of its product's media."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from shoptag.bundled import media_path

TOKEN = "shpat_fake_token_0123456789"
# The bundled real photos, under the names the fake's CDN serves them by.
PHOTOS = {"cup.jpg": media_path("coffee.jpg"), "rocket.jpg": media_path("rocket.jpg"),
          "cat.jpg": media_path("chelsea.jpg"), "astronaut.jpg": media_path("astronaut.jpg")}
API_PATH = "/admin/api/2025-10/graphql.json"


@dataclass
class FakeProduct:
    number: int
    handle: str
    title: str
    images: list[str]  # image names served by the fake under /images/
    variant_images: list[str] = field(default_factory=list)  # media too, as in Shopify
    status: str = "ACTIVE"

    @property
    def media(self) -> list[str]:
        return list(dict.fromkeys(self.images + self.variant_images))

    @property
    def gid(self) -> str:
        return f"gid://shopify/Product/{self.number}"


@dataclass
class FakeShop:
    base: str
    products: list[FakeProduct]
    images: dict[str, bytes]
    queries: list[dict] = field(default_factory=list)  # {"kind", "variables"} per GraphQL request
    throttle_next: int = 0
    too_many_next: int = 0
    fail_pages_from: int | None = None  # page requests from this one on get 500
    bulk_polls: int = 2  # polls before the bulk operation completes
    bulk_url_expired: bool = False  # the result's signed URL answers 403
    _page_requests: int = 0
    _operations: dict[str, int] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return self.base + API_PATH

    def image_url(self, name: str) -> str:
        return f"{self.base}/images/{name}"

    def kinds(self) -> list[str]:
        return [q["kind"] for q in self.queries]

    def answer(self, body: dict) -> tuple[int, dict, dict]:
        """(status, headers, JSON) for one GraphQL request."""
        query, variables = body.get("query", ""), body.get("variables") or {}
        kind = ("count" if "productsCount" in query else "start_bulk" if "bulkOperationRunQuery" in query
                else "poll_bulk" if "node(id:" in query else "page" if "products(first:" in query else "other")
        self.queries.append({"kind": kind, "variables": variables})
        if self.too_many_next:
            self.too_many_next -= 1
            return 429, {"Retry-After": "2"}, {"errors": "Too Many Requests"}
        if self.throttle_next:
            self.throttle_next -= 1
            return 200, {}, {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                             "extensions": {"cost": {"requestedQueryCost": 752, "throttleStatus": {
                                 "maximumAvailable": 2000, "currentlyAvailable": 2, "restoreRate": 100}}}}
        if kind == "count":
            return 200, {}, {"data": {"productsCount": {"count": len(self.products)}}}
        if kind == "page":
            # Shopify's estimate: each product costs itself, its fields and its media connection.
            media = re.search(r"media\(first: (\d+)\)", query)
            cost = 2 + int(variables["first"]) * (2 + int(media.group(1)) if media else 2)
            if cost > 1000:
                return 200, {}, {"errors": [{"message": f"Query cost is {cost}, which exceeds the single query max "
                                             "cost limit (1000).", "extensions": {"code": "MAX_COST_EXCEEDED",
                                                                                   "cost": cost, "maxCost": 1000}}]}
            self._page_requests += 1
            if self.fail_pages_from is not None and self._page_requests >= self.fail_pages_from:
                return 500, {}, {"errors": "Internal Server Error"}
            start = int(variables.get("after") or 0)
            page = self.products[start:start + int(variables["first"])]
            end = start + len(page)
            return 200, {}, {"data": {"products": {
                "pageInfo": {"hasNextPage": end < len(self.products), "endCursor": str(end)},
                "nodes": [{**self._fields(p), "media": {"nodes": [{"image": {"url": self.image_url(i)}}
                                                                   for i in p.media]}} for p in page]}}}
        if kind == "start_bulk":
            operation = f"gid://shopify/BulkOperation/{len(self._operations) + 1}"
            self._operations[operation] = 0
            return 200, {}, {"data": {"bulkOperationRunQuery": {"bulkOperation": {"id": operation, "status": "CREATED"},
                                                                "userErrors": []}}}
        if kind == "poll_bulk":
            operation = variables["id"]
            if operation not in self._operations:
                return 200, {}, {"data": {"node": None}}
            self._operations[operation] += 1
            done = self._operations[operation] > self.bulk_polls
            return 200, {}, {"data": {"node": {
                "id": operation, "status": "COMPLETED" if done else "RUNNING", "errorCode": None, "objectCount": "0",
                "url": f"{self.base}/bulk/{operation.rsplit('/', 1)[1]}.jsonl" if done else None,
                "partialDataUrl": None}}}
        return 200, {}, {"errors": [{"message": f"the fake does not know this query: {query[:80]}"}]}

    def bulk_result(self) -> bytes:
        lines = []
        for product in self.products:
            lines.append(self._fields(product))
            lines += [{"image": {"url": self.image_url(i)}, "__parentId": product.gid} for i in product.media]
            lines.append({"__parentId": product.gid})  # a video or 3D model: media without an image
        return "".join(json.dumps(line) + "\n" for line in lines).encode()

    @staticmethod
    def _fields(product: FakeProduct) -> dict:
        return {"id": product.gid, "handle": product.handle, "title": product.title, "status": product.status,
                "onlineStoreUrl": f"https://fake-shop.example/products/{product.handle}",
                "updatedAt": "2026-11-30T10:00:00Z", "vendor": "Fake Co", "productType": "Print",
                "tags": ["demo", "fake"]}


def _handler(shop: FakeShop):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path != API_PATH:
                self._send(404, b"{}", "application/json")
            elif self.headers.get("X-Shopify-Access-Token") != TOKEN:
                self._send(401, b'{"errors": "[API] Invalid API key or access token"}', "application/json")
            else:
                status, headers, answer = shop.answer(body)
                self._send(status, json.dumps(answer).encode(), "application/json", headers)

        def do_GET(self):
            if self.path.startswith("/bulk/") and shop.bulk_url_expired:
                self._send(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
            elif self.path.startswith("/bulk/"):
                self._send(200, shop.bulk_result(), "application/jsonl")
            elif self.path.startswith("/images/") and self.path[len("/images/"):] in shop.images:
                self._send(200, shop.images[self.path[len("/images/"):]], "image/jpeg")
            else:
                self._send(404, b"not found", "text/plain")

    return Handler


class running_shop:
    """``with running_shop(products, images) as shop:`` a FakeShop served on a free port."""

    def __init__(self, products: list[FakeProduct], images: dict[str, Path]) -> None:
        self._products = products
        self._images = {name: path.read_bytes() for name, path in images.items()}

    def __enter__(self) -> FakeShop:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), None)
        shop = FakeShop(f"http://127.0.0.1:{self._server.server_port}", self._products, self._images)
        self._server.RequestHandlerClass = _handler(shop)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return shop

    def __exit__(self, *_) -> None:
        self._server.shutdown()
        self._server.server_close()


# Webhooks, signed with the app's shared secret as Shopify signs them.
SECRET = "whsec-shared-app-secret-0123456789"


def delivery(topic: str, payload: dict, webhook_id: str, secret: str = SECRET, triggered_at: str | None = None,
             shop: str = "fake-shop.myshopify.com"):
    """A webhook delivery as Shopify signs and sends it: (body, headers)."""
    body = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature, "X-Shopify-Webhook-Id": webhook_id,
               "X-Shopify-Shop-Domain": shop, "Content-Type": "application/json",
               "X-Shopify-Triggered-At": triggered_at or "2026-12-01T10:00:00Z"}
    return body, headers


def product(images: FakeShop, number: int, handle: str, title: str, updated_at: str, photo: str = "rocket.jpg",
            status: str = "active") -> dict:
    """A product as a webhook payload carries it, its photo on the fake shop's CDN."""
    return {"id": number, "handle": handle, "title": title, "status": status, "updated_at": updated_at,
            "vendor": "Fake Co", "tags": "demo", "images": [{"id": 1, "position": 1, "src": images.image_url(photo)}]}
