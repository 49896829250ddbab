"""Shopify product webhooks: verified, queued, answered at once (see ``api.webhooks``)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from shoptag.api.catalogs import catalog_of_shop
from shoptag.api.errors import error_responses
from shoptag.api.webhooks import event_of, signature_valid
from shoptag.bounded_json import loads_bounded
from shoptag.errors import ConfigError, NotFoundError

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_MAX_HEADER_CHARS = 200


class WebhookOut(BaseModel):
    status: Literal["queued", "duplicate", "ignored"] = Field(
        description="ignored: a topic other than products/create, update and delete, or a shop whose catalog "
        "this service does not hold.")
    webhook_id: str


@router.post("/shopify", response_model=WebhookOut, responses=error_responses(400, 401, 404, 408, 413, 422))
async def shopify_webhook(request: Request) -> WebhookOut:
    """`products/create`, `products/update` and `products/delete`, signed with the app's secret
    (`X-Shopify-Hmac-Sha256`); applied to the index in the background, in order per product."""
    service = request.app.state.service
    secret = service.settings.shopify.webhook_secret
    if secret is None:
        raise NotFoundError("this service takes no Shopify webhooks (no SHOPTAG_SHOPIFY__WEBHOOK_SECRET)")
    body = await request.body()
    if not signature_valid(secret.get_secret_value(), body, request.headers.get("x-shopify-hmac-sha256")):
        raise HTTPException(401, "the webhook's X-Shopify-Hmac-Sha256 signature is not valid")
    headers = {name: request.headers.get(f"x-shopify-{name}", "")[:_MAX_HEADER_CHARS + 1]
               for name in ("topic", "webhook-id", "shop-domain", "triggered-at")}
    if not headers["webhook-id"] or len(headers["webhook-id"]) > _MAX_HEADER_CHARS:
        raise ConfigError("the webhook has no usable X-Shopify-Webhook-Id")
    try:
        payload = loads_bounded(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"the webhook body is not JSON: {exc}") from None
    event = event_of(headers["topic"], payload, headers["triggered-at"] or None)
    if event is None or catalog_of_shop(service.settings, headers["shop-domain"]) is None:
        return WebhookOut(status="ignored", webhook_id=headers["webhook-id"])
    shopify_id, event_time = event
    queued = await asyncio.to_thread(service.webhooks.enqueue, headers["webhook-id"], headers["topic"],
                                     headers["shop-domain"], shopify_id, event_time, payload)
    request.app.state.applier.wake()
    return WebhookOut(status="queued" if queued else "duplicate", webhook_id=headers["webhook-id"])
