"""Shopify product webhooks: verified, queued, answered at once (see ``api.webhooks``); and a
merchant's list of their shops' recent events and what became of them."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from shoptag.api.auth import Merchant
from shoptag.api.catalogs import catalog_of_shop
from shoptag.api.deps import Applier, RunningService
from shoptag.api.errors import error_responses
from shoptag.api.limits import body_limit
from shoptag.api.uploads import bad_form
from shoptag.api.webhooks import applied_fields, event_of, signature_valid
from shoptag.bounded_json import loads_bounded
from shoptag.errors import InvalidRequestError, NotFoundError, ServiceBusyError
from shoptag.indexing.data_folder import catalog_name_of
from shoptag.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_MAX_HEADER_CHARS = 200
_LISTED_BY_DEFAULT = 50
_LIST_PARAMS = ("limit", "shop")
_SHOP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]*\.myshopify\.com$"


class WebhookOut(BaseModel):
    status: Literal["queued", "duplicate", "ignored"] = Field(
        description="ignored: a topic other than products/create, update and delete, or a shop whose catalog "
        "this service does not hold.")
    webhook_id: str


def webhook_bytes(settings: Settings) -> int:
    return settings.shopify.webhook_max_body_bytes


@router.post("/shopify", response_model=WebhookOut,
             responses=error_responses(400, 401, 404, 408, 413, 422, 429))
@body_limit(webhook_bytes)
async def shopify_webhook(request: Request, service: RunningService, applier: Applier) -> WebhookOut:
    """`products/create`, `products/update` and `products/delete`, signed with the app's secret
    (`X-Shopify-Hmac-Sha256`); applied to the index in the background, shops taking turns, in
    order per product. 429 (Shopify delivers it again later) while the shop has
    `webhook_queue_per_shop` events waiting; only what applying needs of the payload is stored."""
    shopify = service.settings.shopify
    if shopify.webhook_secret is None:
        raise NotFoundError("this service takes no Shopify webhooks (no SHOPTAG_SHOPIFY__WEBHOOK_SECRET)")
    body = await request.body()  # at most webhook_bytes: BodyLimits counts it as it arrives
    secret = shopify.webhook_secret.get_secret_value()
    if not signature_valid(secret, body, request.headers.get("x-shopify-hmac-sha256")):
        raise HTTPException(401, "the webhook's X-Shopify-Hmac-Sha256 signature is not valid")
    headers = {name: request.headers.get(f"x-shopify-{name}", "")[:_MAX_HEADER_CHARS + 1]
               for name in ("topic", "webhook-id", "shop-domain", "triggered-at")}
    if not headers["webhook-id"] or len(headers["webhook-id"]) > _MAX_HEADER_CHARS:
        raise InvalidRequestError("the webhook has no usable X-Shopify-Webhook-Id")
    try:
        payload = loads_bounded(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError(f"the webhook body is not JSON: {exc}") from None
    event = event_of(headers["topic"], payload, headers["triggered-at"] or None)
    shop = headers["shop-domain"].lower()
    metrics = service.metrics.webhook_deliveries
    if event is None or catalog_of_shop(service.settings, shop) is None:
        metrics.labels("ignored").inc()
        return WebhookOut(status="ignored", webhook_id=headers["webhook-id"])
    shopify_id, event_time = event
    stored = applied_fields(headers["topic"], payload, shopify.webhook_max_stored_bytes)
    try:
        queued = await asyncio.to_thread(service.webhooks.enqueue, headers["webhook-id"], headers["topic"], shop,
                                         shopify_id, event_time, stored, shopify.webhook_queue_per_shop)
    except ServiceBusyError:
        metrics.labels("refused").inc()
        logger.debug("webhook %s of %s refused (429): its queue is full", headers["webhook-id"], shop)
        raise
    metrics.labels("queued" if queued else "duplicate").inc()
    applier.wake()
    return WebhookOut(status="queued" if queued else "duplicate", webhook_id=headers["webhook-id"])


class WebhookEventOut(BaseModel):
    webhook_id: str
    topic: str
    shop: str
    product_id: str = Field(description="The product's Shopify id.")
    event_time: str = Field(description="The product's updated_at (a delete's: when Shopify triggered it), UTC.")
    status: Literal["queued", "applied", "skipped", "failed"] = Field(
        description="skipped: older than what the product already has (a later event, or a catalog sync); "
        "failed: given up after its tries.")
    outcome: str | None = Field(description="What was done, or why not (for a queued event: why its last try failed).")
    attempts: int = Field(description="Tries that failed so far.")
    received: str
    finished: str | None


class WebhookEventsOut(BaseModel):
    events: list[WebhookEventOut] = Field(description="Newest first.")


@router.get("/events", response_model=WebhookEventsOut, responses=error_responses(401, 403, 422))
async def webhook_events(request: Request, service: RunningService, principal: Merchant,
                         limit: Annotated[int, Query(ge=1, description="At most webhook_events_listed.")]
                         = _LISTED_BY_DEFAULT,
                         shop: Annotated[str | None, Query(max_length=_MAX_HEADER_CHARS, pattern=_SHOP_PATTERN)]
                         = None) -> WebhookEventsOut:
    """The newest webhook events of the shops whose catalogs this key may use (or of `shop`
    among them), with what became of each: kept a week after they finish."""
    unknown = sorted(set(request.query_params) - set(_LIST_PARAMS))
    if unknown:
        raise bad_form(unknown[0], f"unknown query parameter (known: {', '.join(_LIST_PARAMS)})", location="query")
    repeated = [name for name in _LIST_PARAMS if len(request.query_params.getlist(name)) > 1]
    if repeated:
        raise bad_form(repeated[0], "given more than once", location="query")
    shops = visible_shops(service.settings, principal.catalogs)
    if shop is not None:
        shop = shop.lower()
        shops = [shop] if shops is None or shop in shops else []
    limit = min(limit, service.settings.shopify.webhook_events_listed)
    records = await asyncio.to_thread(service.webhooks.recent, shops, limit) if shops != [] else []
    return WebhookEventsOut(events=[WebhookEventOut(
        webhook_id=r.webhook_id, topic=r.topic, shop=r.shop, product_id=r.shopify_id, event_time=r.event_time,
        status=r.status, outcome=r.outcome, attempts=r.attempts, received=r.received, finished=r.finished)
        for r in records])


def visible_shops(settings: Settings, catalogs: frozenset[str] | None) -> list[str] | None:
    """The shops whose events a key that may use ``catalogs`` (None: every one) sees, as
    ``api.catalogs.catalog_of_shop`` maps shops to catalogs; None: every shop. Other shops'
    events are hidden exactly as if there were none."""
    if catalogs is None:
        return None
    service = settings.service
    if service.index is not None:  # one catalog: every shop whose webhooks it takes
        return None if catalog_name_of(service.index) in catalogs else []
    return sorted(shop for shop, catalog in settings.shopify.shop_catalogs.items() if catalog in catalogs)
