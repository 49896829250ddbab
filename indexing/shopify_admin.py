"""A shop's products through Shopify's GraphQL Admin API: page by page for a small shop, with a
bulk operation (started, polled, its JSONL result streamed) for a large one.

Shopify limits each app by query cost: a throttled query answers ``THROTTLED`` with the bucket's
state, and the client waits until enough cost has been restored; a 429 is retried after its
``Retry-After``; 5xx answers and dropped connections are retried with a growing pause. Every
wait is bounded (``max_wait_s``), and so is the number of retries. The access token is sent in
``X-Shopify-Access-Token`` and never logged.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from shoptag.errors import ShopifyError
from shoptag.indexing.records import MAX_CATALOG_BYTES
from shoptag.settings import ShopifySettings

logger = logging.getLogger(__name__)

_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,60}\.myshopify\.com")
_MAX_LINE_CHARS = 16 * 1024 * 1024
_PRODUCT_FIELDS = "id handle title status onlineStoreUrl updatedAt vendor productType tags"
# A variant's image is always one of its product's media, so media alone lists every image. A
# page's cost is about first x (2 + media); Shopify refuses a query over 1,000
# (MAX_COST_EXCEEDED), and then the page is halved.
MEDIA_PER_PRODUCT = 20
PAGE_QUERY = f"""query Products($first: Int!, $after: String) {{
  products(first: $first, after: $after, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {_PRODUCT_FIELDS}
      media(first: {MEDIA_PER_PRODUCT}) {{ nodes {{ ... on MediaImage {{ image {{ url }} }} }} }} }}
  }}
}}"""
# Bulk queries take connections without arguments (and have no cost limit); nested rows come
# back as their own JSONL lines carrying their product's id in __parentId.
BULK_QUERY = f"""{{ products {{ edges {{ node {{ {_PRODUCT_FIELDS}
  media {{ edges {{ node {{ ... on MediaImage {{ image {{ url }} }} }} }} }} }} }} }} }}"""
COUNT_QUERY = "query { productsCount(limit: null) { count } }"
START_BULK = """mutation Start($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } }
}"""
POLL_BULK = """query Poll($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode url } }
}"""


class QueryTooCostly(ShopifyError):
    """Shopify refused a query for its cost (MAX_COST_EXCEEDED)."""


class BulkOperationEnded(ShopifyError):
    """The bulk operation is over without a result to read: failed, canceled, expired, unknown,
    or its result no longer downloadable. Another one must be started."""


def check_shop(shop: str) -> str:
    """The shop's myshopify.com domain, lower-cased, or a ``ShopifyError`` naming the problem."""
    domain = shop.strip().lower()
    if not _SHOP.fullmatch(domain):
        raise ShopifyError(f"shop {shop!r} is not a SHOP.myshopify.com domain")
    return domain


@dataclass(frozen=True)
class ShopProduct:
    """A product as the Admin API gives it (images: its media images, which include every
    variant's image)."""

    gid: str
    handle: str
    title: str
    status: str
    online_store_url: str | None
    updated_at: str
    vendor: str
    product_type: str
    tags: tuple[str, ...]
    images: tuple[str, ...]


def shop_product(row: dict, image_urls: list[str]) -> ShopProduct:
    try:
        return ShopProduct(
            gid=str(row["id"]), handle=str(row["handle"]), title=str(row["title"]), status=str(row["status"]),
            online_store_url=row.get("onlineStoreUrl"), updated_at=str(row.get("updatedAt") or ""),
            vendor=str(row.get("vendor") or ""), product_type=str(row.get("productType") or ""),
            tags=tuple(str(tag) for tag in row.get("tags") or ()), images=tuple(dict.fromkeys(image_urls)))
    except (KeyError, TypeError) as exc:
        raise ShopifyError(f"a product from Shopify lacks a field ({exc}): {str(row)[:200]}") from None


def _image_url(node: dict | None) -> str | None:
    image = (node or {}).get("image") or {}
    return image.get("url") if isinstance(image.get("url"), str) else None


class AdminClient:
    def __init__(self, shop: str, settings: ShopifySettings, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        if settings.access_token is None:
            raise ShopifyError("no Admin API access token: set SHOPTAG_SHOPIFY__ACCESS_TOKEN")
        self.shop = check_shop(shop)
        self._settings = settings
        self._url = settings.api_url or f"https://{self.shop}/admin/api/{settings.api_version}/graphql.json"
        self._sleep = sleep
        self._http = httpx.Client(timeout=settings.timeout_s, transport=transport, follow_redirects=False)
        self._token = settings.access_token.get_secret_value()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def query(self, document: str, variables: dict | None = None) -> dict:
        """The ``data`` of a GraphQL answer, after the retries the module describes."""
        for attempt in range(self._settings.retries + 1):
            last = attempt == self._settings.retries
            try:
                answer = self._http.post(self._url, json={"query": document, "variables": variables or {}},
                                         headers={"X-Shopify-Access-Token": self._token})
            except httpx.TransportError as exc:
                if last:
                    raise ShopifyError(f"Shopify at {self.shop} cannot be reached: {type(exc).__name__}") from None
                self._pause(2.0 ** attempt, f"{type(exc).__name__}")
                continue
            if answer.status_code == 429 or answer.status_code >= 500:
                if last:
                    raise ShopifyError(f"Shopify answered {answer.status_code} {self._settings.retries + 1} times")
                retry_after = _seconds(answer.headers.get("Retry-After"))
                self._pause(retry_after if retry_after is not None else 2.0 ** attempt, f"HTTP {answer.status_code}")
                continue
            if answer.status_code in (401, 403):
                raise ShopifyError(f"Shopify refused the access token for {self.shop} ({answer.status_code}): "
                                   "check SHOPTAG_SHOPIFY__ACCESS_TOKEN and the app's read_products scope")
            if answer.status_code != 200:
                raise ShopifyError(f"Shopify answered {answer.status_code}: {answer.text[:200]}")
            body = _json(answer)
            errors = body.get("errors") or []
            codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                if last:
                    raise ShopifyError(f"Shopify kept throttling the query after {attempt + 1} tries")
                self._pause(_throttle_wait(body), "THROTTLED")
                continue
            if "MAX_COST_EXCEEDED" in codes:
                raise QueryTooCostly("the query costs more than Shopify allows in one query")
            if errors:
                messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
                raise ShopifyError(f"Shopify refused the query: {messages[:500]}")
            if not isinstance(body.get("data"), dict):
                raise ShopifyError("Shopify's answer has no data")
            return body["data"]
        raise AssertionError("unreachable")

    def _pause(self, seconds: float, why: str) -> None:
        wait = min(max(seconds, 0.0), self._settings.max_wait_s)
        logger.info("Shopify: %s; retrying in %.1f s", why, wait)
        self._sleep(wait)

    def product_count(self) -> int:
        return int(self.query(COUNT_QUERY)["productsCount"]["count"])

    def pages(self, after: str | None = None) -> Iterator[tuple[list[ShopProduct], str | None, bool]]:
        """(products, end cursor, has next page) per page, from the cursor ``after``."""
        first = self._settings.page_size
        while True:
            try:
                page = self.query(PAGE_QUERY, {"first": first, "after": after})["products"]
            except QueryTooCostly:
                if first == 1:
                    raise
                first = max(1, first // 2)
                logger.info("Shopify: a page of products costs too much; asking for %d at a time", first)
                continue
            products = [shop_product(node, [url for url in (_image_url(m) for m in node.get("media", {}).get(
                "nodes", [])) if url]) for node in page["nodes"]]
            after, more = page["pageInfo"]["endCursor"], bool(page["pageInfo"]["hasNextPage"])
            yield products, after, more
            if not more:
                return

    def start_bulk(self) -> str:
        started = self.query(START_BULK, {"query": BULK_QUERY})["bulkOperationRunQuery"]
        if started.get("userErrors"):
            raise ShopifyError(f"Shopify refused the bulk operation: {started['userErrors'][0].get('message')}")
        return started["bulkOperation"]["id"]

    def bulk_status(self, operation: str) -> dict:
        node = self.query(POLL_BULK, {"id": operation})["node"]
        if node is None:
            raise BulkOperationEnded(f"the bulk operation {operation} is unknown to Shopify (expired?)")
        return node

    def wait_for_bulk(self, operation: str, clock: Callable[[], float] = time.monotonic) -> str | None:
        """The result URL once the operation completes (None: it completed with no products)."""
        deadline = clock() + self._settings.bulk_timeout_s
        while True:
            status = self.bulk_status(operation)
            if status["status"] == "COMPLETED":
                return status.get("url")
            if status["status"] not in ("CREATED", "RUNNING"):
                raise BulkOperationEnded(f"the bulk operation {operation} ended {status['status']}"
                                   f" ({status.get('errorCode') or 'no error code'})")
            if clock() > deadline:
                raise ShopifyError(f"the bulk operation {operation} did not complete in "
                                   f"{self._settings.bulk_timeout_s:.0f} s; run the sync again to wait on")
            self._sleep(self._settings.poll_s)

    def bulk_products(self, url: str) -> list[ShopProduct]:
        """The products of a bulk result: each product line, then its media and variant lines."""
        rows: dict[str, dict] = {}
        images: dict[str, list[str]] = {}
        for row in self._jsonl(url):
            parent = row.get("__parentId")
            if parent is None:
                rows[str(row.get("id"))] = row
                images.setdefault(str(row.get("id")), [])
            elif (found := _image_url(row)) is not None:
                images.setdefault(str(parent), []).append(found)
        return [shop_product(row, images.get(gid, [])) for gid, row in rows.items()]

    def _jsonl(self, url: str) -> Iterator[dict]:
        received = 0
        try:
            with self._http.stream("GET", url) as answer:
                if answer.status_code != 200:
                    raise BulkOperationEnded(f"the bulk result could not be downloaded ({answer.status_code})")
                for line in answer.iter_lines():
                    received += len(line) + 1
                    if received > MAX_CATALOG_BYTES or len(line) > _MAX_LINE_CHARS:
                        raise ShopifyError(f"the bulk result is over {MAX_CATALOG_BYTES} bytes")
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise ShopifyError(f"the bulk result has a line that is not JSON: {exc}") from None
        except httpx.TransportError as exc:
            raise ShopifyError(f"the bulk result download failed: {type(exc).__name__}; run the sync again") from None


def _json(answer: httpx.Response) -> dict:
    try:
        body = answer.json()
    except ValueError:
        raise ShopifyError("Shopify's answer is not JSON") from None
    if not isinstance(body, dict):
        raise ShopifyError("Shopify's answer is not a JSON object")
    return body


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _throttle_wait(body: dict) -> float:
    """Seconds until the cost bucket holds what the throttled query asked for."""
    cost = ((body.get("extensions") or {}).get("cost") or {})
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost.get("requestedQueryCost", 0)) - float(status.get("currentlyAvailable", 0))
        return max(1.0, missing / max(float(status.get("restoreRate", 50)), 1e-6))
    except (TypeError, ValueError):
        return 1.0
