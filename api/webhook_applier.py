"""Applies queued Shopify webhook events to the live index, oldest first, on the worker pool
(see ``api.webhooks`` for the rules). Like the job runner, it outlives failures of the store:
it logs them and tries again with a growing pause."""

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


class WebhookApplier:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._doorbell = Doorbell()

    def wake(self) -> None:
        self._doorbell.ring()

    async def run_forever(self) -> None:
        backoff_s = _IDLE_S / 4
        pruned_s = -_PRUNE_S
        while True:
            try:
                event = await asyncio.to_thread(self._service.webhooks.next_queued)
                if event is None:
                    if time.monotonic() - pruned_s > _PRUNE_S:
                        pruned_s = time.monotonic()
                        await asyncio.to_thread(self._service.webhooks.prune)
                    await self._doorbell.wait(_IDLE_S)
                    continue
                await self._service.pool.run(self.apply, event)
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
        except ShopTagError as exc:  # an image that fails, the last product: the stored state stays
            self._failed(event, exc.message)
        except Exception as exc:  # a payload nobody foresaw must not hold up the queue
            logger.exception("webhook %s (%s) could not be applied", event.webhook_id, event.topic)
            self._failed(event, f"internal error ({type(exc).__name__})")
        else:
            if outcome is None:
                store.finish(event, "skipped", "older than the event already applied to this product")
            else:
                store.finish(event, "applied", outcome, handle)

    def _failed(self, event: WebhookEvent, why: str) -> None:
        store = self._service.webhooks
        if store.retry_later(event, why):
            logger.warning("webhook %s (%s) not applied, to be tried again: %s", event.webhook_id, event.topic, why)
        else:
            logger.warning("webhook %s (%s) not applied, given up: %s", event.webhook_id, event.topic, why)
            store.finish(event, "failed", why)

    def _change(self, event: WebhookEvent) -> tuple[str | None, str | None]:
        """(what was done, the product's handle now), or (None, None) for an event older than
        the one already applied to its product."""
        name = catalog_of_shop(self._service.settings, event.shop)
        if name is None:
            raise ConfigError(f"no catalog holds the products of {event.shop!r} any more")
        live = self._service.catalogs.get(name).live
        last = self._service.webhooks.last_applied(event.shopify_id)
        if last is not None and event.event_time < last[1]:
            return None, None
        index = live.snapshot()
        before = last[0] if last is not None else _handle_of(index, event.shopify_id)
        stored = index.product(before) if before is not None and before in index else None
        if stored is not None and _written_after(stored, event):
            return None, None  # a `catalog sync` since wrote a newer state of the product
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
