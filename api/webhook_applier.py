"""Applies queued Shopify webhook events to the live index, oldest first, on the worker pool
(see ``api.webhooks`` for the rules). Like the job runner, it outlives failures of the store:
it logs them and tries again with a growing pause."""

from __future__ import annotations

import asyncio
import logging

from shoptag.api.runner import Doorbell
from shoptag.api.service import Service
from shoptag.api.webhooks import WebhookEvent, product_of
from shoptag.errors import ServiceBusyError, ShopTagError
from shoptag.indexing.records import IndexedProduct, Product
from shoptag.indexing.store import CatalogIndex

logger = logging.getLogger(__name__)

_IDLE_S = 1.0
_MAX_BACKOFF_S = 5.0


class WebhookApplier:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._doorbell = Doorbell()

    def wake(self) -> None:
        self._doorbell.ring()

    async def run_forever(self) -> None:
        backoff_s = _IDLE_S / 4
        while True:
            try:
                event = await asyncio.to_thread(self._service.webhooks.next_queued)
                if event is None:
                    await self._doorbell.wait(_IDLE_S)
                    continue
                await self._service.pool.run(self.apply, event)
                backoff_s = _IDLE_S / 4
            except ServiceBusyError:  # tagging has every worker: the event waits its turn
                await asyncio.sleep(_IDLE_S / 4)
            except Exception:
                logger.exception("applying webhook events failed; trying again in %.1f s", backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(_MAX_BACKOFF_S, backoff_s * 2)

    def apply(self, event: WebhookEvent) -> None:
        """Apply one event to the index (blocking: runs on a worker) and mark it done."""
        store, live = self._service.webhooks, self._service.live_index
        last = store.last_applied(event.shopify_id)
        if last is not None and event.event_time < last[1]:
            store.finish(event, "skipped", f"older than the event of {last[1]} already applied")
            return
        index = live.snapshot()
        before = last[0] if last is not None else _handle_of(index, event.shopify_id)
        stored = index.product(before) if before is not None and before in index else None
        try:
            if event.topic == "products/delete":
                if stored is not None:
                    live.remove(stored.product_id)
                store.finish(event, "applied", "removed" if stored else "not indexed")
                return
            product = product_of(event.payload, self._service.settings.shopify.storefront_url,
                                 stored.url if stored else None)
            if stored is not None and (product is None or product.product_id != stored.product_id):
                live.remove(stored.product_id)  # not active any more, no image, or a new handle
            if product is None:
                store.finish(event, "applied", "removed: not active, or no image" if stored else "not indexed")
                return
            if stored is not None and stored.product_id == product.product_id and _unchanged(stored, product):
                store.finish(event, "applied", "unchanged", product.product_id)
                return
            live.upsert(product, self._service.index_path.parent)
            store.finish(event, "applied", "updated" if stored else "added", product.product_id)
        except ShopTagError as exc:  # an image that fails: the stored product stays as it was
            logger.warning("webhook %s (%s) not applied: %s", event.webhook_id, event.topic, exc.message)
            store.finish(event, "failed", exc.message)


def _handle_of(index: CatalogIndex, shopify_id: str) -> str | None:
    """The indexed product with this Shopify id (recorded by `catalog sync` and by webhooks)."""
    gid = f"gid://shopify/Product/{shopify_id}"
    return next((p.product_id for p in index.products if p.metadata.get("shopify_id") in (gid, shopify_id)), None)


def _unchanged(stored: IndexedProduct, product: Product) -> bool:
    return ((stored.title, stored.url, stored.metadata, [image.ref for image in stored.images])
            == (product.title, product.url, product.metadata, list(product.images)))
