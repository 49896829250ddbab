"""Applies queued Shopify webhook events to the live index on the worker pool, shops taking
turns and each shop's events oldest first (see ``api.webhooks`` for the rules). Like the job
runner, it outlives failures of the store: it logs them and tries again with a growing pause.

Each event skipped, put back or given up is logged with its reason and counted in
``shoptag_webhook_events`` by outcome and reason (one of ``REASONS``, a fixed set: never a shop
or a product); the merchant lists their shop's events with ``GET /v1/webhooks/events``."""

from __future__ import annotations

import asyncio
import logging
import time

from shoptag.api.catalogs import catalog_of_shop, storefront_of_shop
from shoptag.api.runner import Doorbell
from shoptag.api.service import Service
from shoptag.api.webhooks import WebhookEvent, utc_time, webhook_product
from shoptag.errors import ConfigError, ServiceBusyError, ShopTagError
from shoptag.indexing.records import IndexedProduct, Product
from shoptag.indexing.store import CatalogIndex

logger = logging.getLogger(__name__)

_IDLE_S = 1.0
_MAX_BACKOFF_S = 5.0
_PRUNE_S = 3600.0
# Why an event was skipped (older than what the product has), or not applied (the error's code).
SKIP_REASONS = ("older_than_applied", "older_than_stored")
FAIL_REASONS = ("fetch_failed", "bad_image", "bad_config", "not_found", "catalog_unavailable", "index_build_failed",
                "bad_index", "other", "internal_error")
REASONS = ("none", *SKIP_REASONS, *FAIL_REASONS)


class _Skipped(Exception):
    """The event is older than the product's state: nothing to do."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.reason, self.why = reason, why


class WebhookApplier:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._doorbell = Doorbell()
        self._last_shop: str | None = None  # the shop whose event was applied last: the next shop's turn
        service.metrics.watch_queue("webhooks", self._queued)

    def _queued(self) -> float:
        try:
            return self._service.webhooks.counts(timeout_s=1).get("queued", 0)
        except Exception:  # a store that fails must not fail the metrics with it
            return float("nan")

    def wake(self) -> None:
        self._doorbell.ring()

    async def run_forever(self) -> None:
        backoff_s = _IDLE_S / 4
        pruned_s = -_PRUNE_S
        while True:
            try:
                event = await asyncio.to_thread(self._service.webhooks.next_queued, self._last_shop)
                if event is None:
                    if time.monotonic() - pruned_s > _PRUNE_S:
                        pruned_s = time.monotonic()
                        await asyncio.to_thread(self._service.webhooks.prune)
                    await self._doorbell.wait(_IDLE_S)
                    continue
                await self._service.pool.run(self.apply, event)
                self._last_shop = event.shop
                backoff_s = _IDLE_S / 4
            except ServiceBusyError:  # tagging has every worker: the event waits its turn
                await asyncio.sleep(_IDLE_S / 4)
            except Exception:  # the store failing: the events stay queued
                logger.exception("applying webhook events failed; trying again in %.1f s", backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(_MAX_BACKOFF_S, backoff_s * 2)

    def apply(self, event: WebhookEvent) -> None:
        """Apply one event to the index (blocking: runs on a worker) and mark it done, or to be
        tried again: whatever goes wrong with one event, the ones behind it go on."""
        store = self._service.webhooks
        try:
            outcome, handle = self._change(event)
        except _Skipped as skipped:
            logger.info("webhook %s (%s of product %s, %s) skipped (%s): %s", event.webhook_id, event.topic,
                        event.shopify_id, event.shop, skipped.reason, skipped.why)
            store.finish(event, "skipped", skipped.why)
            self._count("skipped", skipped.reason)
        except ShopTagError as exc:  # an image that fails, the last product: the stored state stays
            self._failed(event, exc.code if exc.code in FAIL_REASONS else "other", exc.message)
        except Exception as exc:  # a payload nobody foresaw must not hold up the queue
            logger.exception("webhook %s (%s) could not be applied", event.webhook_id, event.topic)
            self._failed(event, "internal_error", f"internal error ({type(exc).__name__})")
        else:
            store.finish(event, "applied", outcome, handle)
            self._count("applied", "none")

    def _failed(self, event: WebhookEvent, reason: str, why: str) -> None:
        store = self._service.webhooks
        if store.retry_later(event, why):
            logger.warning("webhook %s (%s of product %s, %s) not applied (%s), to be tried again: %s",
                           event.webhook_id, event.topic, event.shopify_id, event.shop, reason, why)
            self._count("retried", reason)
        else:
            logger.warning("webhook %s (%s of product %s, %s) not applied (%s), given up: %s",
                           event.webhook_id, event.topic, event.shopify_id, event.shop, reason, why)
            store.finish(event, "failed", why)
            self._count("failed", reason)

    def _count(self, outcome: str, reason: str) -> None:
        self._service.metrics.webhook_events.labels(outcome, reason if reason in REASONS else "other").inc()

    def _change(self, event: WebhookEvent) -> tuple[str, str | None]:
        """(what was done, the product's handle now); ``_Skipped`` for an event older than the
        one already applied to its product, or than the product's stored state."""
        name = catalog_of_shop(self._service.settings, event.shop)
        if name is None:
            raise ConfigError(f"no catalog holds the products of {event.shop!r} any more")
        live = self._service.catalogs.get(name).live
        last = self._service.webhooks.last_applied(event.shopify_id)
        if last is not None and event.event_time < last[1]:
            raise _Skipped("older_than_applied", "older than the event already applied to this product (of "
                           f"{last[1].split(' ')[0]}); this one is of {event.event_time.split(' ')[0]}")
        index = live.snapshot()
        before = last[0] if last is not None else _handle_of(index, event.shopify_id)
        stored = index.product(before) if before is not None and before in index else None
        if stored is not None and _written_after(stored, event):  # a `catalog sync` since wrote a newer state
            raise _Skipped("older_than_stored", f"older than the indexed product {stored.product_id!r} (updated_at "
                           f"{stored.metadata.get('updated_at')}, as a catalog sync wrote it); this event is of "
                           f"{event.event_time.split(' ')[0]}")
        if event.topic == "products/delete":
            if stored is not None:
                live.remove(stored.product_id)
            return ("removed" if stored else "not indexed"), None
        product = webhook_product(event.payload, storefront_of_shop(self._service.settings, event.shop),
                                  stored.url if stored else None)
        if product is None:
            if stored is not None:
                live.remove(stored.product_id)
            return ("removed: not active, or no image" if stored else "not indexed"), None
        if stored is not None and stored.product_id == product.product_id and _unchanged(stored, product):
            return "unchanged", product.product_id
        # The new state is written before the old handle goes: a failing image removes nothing.
        live.upsert(product, self._service.settings.service.served.parent)  # http(s) images only: unused
        if stored is not None and stored.product_id != product.product_id:
            live.remove(stored.product_id)
            return f"renamed from {stored.product_id!r}", product.product_id
        return ("updated" if stored else "added"), product.product_id


def _handle_of(index: CatalogIndex, shopify_id: str) -> str | None:
    """The indexed product with this Shopify id (recorded by `catalog sync` and by webhooks)."""
    gid = f"gid://shopify/Product/{shopify_id}"
    return next((p.product_id for p in index.products if p.metadata.get("shopify_id") in (gid, shopify_id)), None)


def _written_after(stored: IndexedProduct, event: WebhookEvent) -> bool:
    """Is the stored product newer than the event (its ``updated_at``, as sync and webhooks record it)?"""
    try:
        return utc_time(stored.metadata.get("updated_at") or "") > event.event_time.split(" ")[0]
    except ConfigError:  # no time recorded (a CSV import): the event is newer
        return False


def _unchanged(stored: IndexedProduct, product: Product) -> bool:
    """The same product, but for its ``updated_at``: Shopify sends an update for any edit (a
    price, stock), and a new index version for each would be a full rewrite for nothing."""
    def shown(metadata: dict) -> dict:
        return {key: value for key, value in metadata.items() if key != "updated_at"}

    return ((stored.title, stored.url, shown(stored.metadata), [image.ref for image in stored.images])
            == (product.title, product.url, shown(product.metadata), list(product.images)))
